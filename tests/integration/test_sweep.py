"""Many triggers in one event loop against the simulator: one ListTrainingJobs sweep per
interval reads their statuses, and each job is described once, when it has ended."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from sagemaker_async.pool import pool_for_running_loop
from sagemaker_async.sweep import SWEEP_MIN_TRIGGERS
from sagemaker_async.testing import SimulatorClient, training_request
from sagemaker_async.triggers import SageMakerTrainingTrigger

pytestmark = pytest.mark.integration

JOBS = SWEEP_MIN_TRIGGERS + 5


def create_jobs(sim: SimulatorClient, endpoint: str, count: int, seconds: float) -> list[str]:
    import boto3

    prefix = f"sw-{uuid.uuid4().hex[:6]}"
    sim.add_rule(prefix, duration=seconds)
    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    for name in names:
        client.create_training_job(**training_request(name))
    return names


async def run_all(names: list[str], interval: float) -> list[dict[str, Any]]:
    async def one(name: str) -> dict[str, Any]:
        trigger = SageMakerTrainingTrigger(
            job_name=name, deadline=time.time() + 60, check_interval=interval, print_log=False
        )
        events = [event.payload async for event in trigger.run()]
        assert len(events) == 1
        return events[0]

    return await asyncio.gather(*(one(name) for name in names))


@pytest.mark.asyncio
async def test_triggers_sharing_a_client_read_statuses_from_one_sweep(
    sim: SimulatorClient, simulator: Any
) -> None:
    names = create_jobs(sim, simulator.endpoint_url, JOBS, seconds=3.0)
    events = await run_all(names, interval=1.0)
    assert [e["status"] for e in events] == ["success"] * JOBS
    jobs = {job["name"]: job for job in sim.jobs()}
    for name in names:
        # Listed while it ran; described once, when the sweep no longer listed it.
        assert jobs[name]["listed"] >= 2, jobs[name]
        assert jobs[name]["calls"].get("DescribeTrainingJob") == 1, jobs[name]
    lists = sim.calls()["ListTrainingJobs"]
    assert 2 <= lists <= 8, f"one request per sweep (every second, about 4 s): {lists}"
    assert len(pool_for_running_loop()) == 0, "the shared client closes after the last trigger"


@pytest.mark.asyncio
async def test_throttled_sweeps_slow_down_and_every_trigger_still_succeeds(
    sim: SimulatorClient, simulator: Any
) -> None:
    names = create_jobs(sim, simulator.endpoint_url, JOBS, seconds=6.0)
    sim.set_faults(throttle_fraction=1.0, operations=["ListTrainingJobs"])

    async def lift_later() -> int:
        await asyncio.sleep(4.0)
        received = sim.calls().get("ListTrainingJobs", 0)
        await asyncio.to_thread(sim.clear_faults)
        return received

    lifter = asyncio.ensure_future(lift_later())
    events = await run_all(names, interval=0.5)
    during_storm = await lifter
    assert [e["status"] for e in events] == ["success"] * JOBS
    # Unthrottled, 4 s of 0.5 s sweeps would be 8 requests; paused for 2, then 4 intervals
    # after each throttled one, the sweep asks far less often.
    assert 1 <= during_storm <= 4, during_storm
    # Every request made while the fault was on was throttled (one more may have slipped in
    # between counting and lifting it).
    assert during_storm <= sim.faults()["counters"]["throttled"] <= during_storm + 1
