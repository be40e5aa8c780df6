"""The job log tail against the simulator's documented CloudWatch Logs: sparse pages, late
last lines and one stream per instance, through ``dag.test()``."""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sagemaker_async import triggers
from sagemaker_async.logtail import LogFollower
from sagemaker_async.testing import SageMakerSimulator, SimulatorClient, training_request
from sagemaker_async.triggers import SageMakerTrainingTrigger
from tests.integration.dagfiles import test_dag, write_training_dag
from tests.integration.test_sweep import create_jobs

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


def run_two_instance_job(deferrable: bool) -> tuple[Any, str]:
    name = f"it-tail-{uuid.uuid4().hex[:8]}"
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 10}
    config = training_request(name, ResourceConfig=resources)
    dag_id = f"dag_{name.replace('-', '_')}"
    path = write_training_dag(
        dag_id, config, check_interval=1, print_log=True, deferrable=deferrable
    )
    (ti,) = test_dag(path, dag_id).get_task_instances()
    return ti, name


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferred"])
def test_every_line_of_every_instance_reaches_the_task_log_once(
    simulator: SageMakerSimulator,
    sim: SimulatorClient,
    deferrable: bool,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Pages as the API allows them (empty and partial, with tokens), and each stream's last
    # three lines landing two seconds after the job's final status.
    sim.set_logs(empty_pages=3, page_events=4, late_lines=3, late_lines_after=2)
    sim.add_rule("it-tail-", duration=6)
    ti, name = run_two_instance_job(deferrable)
    assert ti.state == "success"
    out = capfd.readouterr()
    text = out.out + out.err + caplog.text
    # The resumed worker repeats the last lines after this header: count before it.
    header = text.find(f"log lines of training job {name}:")
    tailed = text if header == -1 else text[:header]
    lines = simulator.log_lines(name)
    streams = {stream for stream, _ in lines}
    assert len(streams) == 2, "one stream per instance"
    shown = [f"[{s.removeprefix(name + '/')}] {m}" for s, m in lines]
    counts = {line: tailed.count(line) for line in shown}
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}


def record_tails(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """What each trigger's log tail shows, per job (the lines it would log)."""
    shown: dict[str, list[str]] = collections.defaultdict(list)

    class Recording(LogFollower):
        def __init__(self, job_name: str, emit: Callable[[str], None], **kwargs: Any) -> None:
            super().__init__(job_name, shown[job_name].append, **kwargs)

    monkeypatch.setattr(triggers, "LogFollower", Recording)
    return shown


async def tail_together(names: list[str], seconds: float) -> dict[str, dict[str, Any]]:
    async def one(name: str) -> dict[str, Any]:
        trigger = SageMakerTrainingTrigger(
            job_name=name,
            deadline=time.time() + seconds + 60,
            check_interval=1,
            instance_count=1,
        )
        (event,) = [event.payload async for event in trigger.run()]
        return event

    return dict(zip(names, await asyncio.gather(*(one(n) for n in names)), strict=True))


@pytest.mark.asyncio
async def test_many_tails_share_one_request_per_hundred_streams(
    simulator: SageMakerSimulator,
    sim: SimulatorClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 30 one-instance jobs of 15 s, read every second at a share of 2 FilterLogEvents a
    # second, two pages a read (the first one empty, as the API allows): alone, each job
    # would be read once in 30 s; together, they are read about once a second.
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__LOGS_REQUESTS_PER_SECOND", "2")
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__LOG_STREAMS_REQUESTS_PER_SECOND", "20")
    sim.set_logs(empty_pages=1, page_events=200, late_lines=0)
    names = create_jobs(sim, simulator.endpoint_url, 30, seconds=15.0)
    shown_by = record_tails(monkeypatch)
    started = time.monotonic()
    events = await tail_together(names, 15.0)
    elapsed = time.monotonic() - started
    assert {e["status"] for e in events.values()} == {"success"}
    filters = sim.logs_sts_calls()["received"].get("FilterLogEvents", 0)
    assert filters <= 2 * elapsed + 4, f"within the share: {filters} in {elapsed:.0f}s"
    for name in names:
        lines = [f"[{s.removeprefix(name + '/')}] {m}" for s, m in simulator.log_lines(name)]
        shown = shown_by[name]
        assert len(shown) == len(set(shown)), f"{name}: a line shown twice"
        assert set(shown) <= set(lines)
        # The tail kept up while the job ran: the triggerer showed most of its lines itself
        # (read alone, each job would have shown none before its end).
        assert len(shown) >= len(lines) // 2, (name, len(shown), len(lines))
