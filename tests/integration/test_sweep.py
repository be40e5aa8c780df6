"""Many triggers in one event loop against the simulator, which lists training jobs as the
API reference documents (newest first, StatusEquals after the page): ListTrainingJobs passes
read their statuses, within the List share, whatever the account's history."""

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
            job_name=name, deadline=time.time() + 90, check_interval=interval, print_log=False
        )
        events = [event.payload async for event in trigger.run()]
        assert len(events) == 1
        return events[0]

    return await asyncio.gather(*(one(name) for name in names))


@pytest.mark.asyncio
@pytest.mark.parametrize("time_filters", ["after_page", "before_page"])
async def test_triggers_sharing_a_client_read_statuses_and_ends_from_the_passes(
    sim: SimulatorClient, simulator: Any, monkeypatch: pytest.MonkeyPatch, time_filters: str
) -> None:
    # Under either reading of the undocumented time filters (the passes use none), with a
    # history of finished jobs that no pass may page through.
    sim.set_listing(time_filters=time_filters)
    now = time.time()
    sim.seed_history(5000, created_from=now - 86400, created_to=now - 60)
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__LIST_REQUESTS_PER_SECOND", "5")
    names = create_jobs(sim, simulator.endpoint_url, JOBS, seconds=3.0)
    events = await run_all(names, interval=1.0)
    assert [e["status"] for e in events] == ["success"] * JOBS
    jobs = {job["name"]: job for job in sim.jobs(prefix="sw-")}
    for name in names:
        # Listed while it ran, and its end read from the listing: no describe for the end.
        assert jobs[name]["listed"] >= 2, jobs[name]
        assert jobs[name]["calls"].get("DescribeTrainingJob", 0) <= 1, jobs[name]
    described = sum(job["calls"].get("DescribeTrainingJob", 0) for job in jobs.values())
    assert described < SWEEP_MIN_TRIGGERS, "only triggers that polled before the sweep began"
    lists = sim.calls()["ListTrainingJobs"]
    assert 2 <= lists <= 10, f"one page a pass (every second, about 4 s), no history: {lists}"
    assert len(pool_for_running_loop()) == 0, "the shared client closes after the last trigger"


@pytest.mark.asyncio
async def test_a_pass_within_the_account_rate_limit_is_never_throttled(
    sim: SimulatorClient, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 250 jobs are three pages; at the default share of 1 request/s a pass takes about
    # 3 s, within an account limit of 2/s shared with nobody here.
    sim.set_rate_limits({"ListTrainingJobs": 2.0})
    names = create_jobs(sim, simulator.endpoint_url, 250, seconds=6.0)
    events = await run_all(names, interval=2.0)
    assert [e["status"] for e in events] == ["success"] * 250
    limits = sim.rate_limits()
    assert limits["throttled"].get("ListTrainingJobs", 0) == 0, limits
    assert limits["allowed"]["ListTrainingJobs"] >= 3, limits
    jobs = sim.jobs(prefix="sw-")
    described = sum(job["calls"].get("DescribeTrainingJob", 0) for job in jobs)
    assert described < 250 / 4, f"ends come from the listing: {described} describes"


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
