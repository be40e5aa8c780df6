"""Injected transient faults: a DAG of several training tasks still succeeds, once each.

Each case runs a three-task deferrable DAG through ``dag.test()`` while the simulator
throttles, answers 5xx in bursts, answers slowly or is down, and then checks that every task
succeeded on its first try, that exactly one job exists per task, and that the fault fired.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sagemaker_async.testing import SimulatorClient, training_request
from sagemaker_async.testing.faults import FaultSettings
from tests.conftest import DAGS_FOLDER
from tests.integration.dagfiles import load_dag

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

TASKS = 3
JOB_SECONDS = 3.0

_TEMPLATE = """\
from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator

CONFIG = {config!r}

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)):
    for name in {names!r}:
        SageMakerTrainingOperator(
            task_id=name.replace("-", "_"),
            config={{**CONFIG, "TrainingJobName": name}},
            deferrable=True,
            check_interval=1,
            max_attempts=120,
            retries=0,
        )
"""


def write_dag(dag_id: str, names: list[str]) -> Path:
    """A DAG file with one independent training task per job name."""
    path = Path(DAGS_FOLDER) / f"{dag_id}.py"
    path.write_text(_TEMPLATE.format(dag_id=dag_id, config=training_request(""), names=names))
    return path


FAULTS: dict[str, tuple[FaultSettings, str]] = {
    "throttling-30pct": ({"throttle_fraction": 0.3}, "throttled"),
    "5xx-bursts": ({"error_burst": {"every": 4, "length": 1.5}}, "errors"),
    "latency-2s": ({"latency": 2.0}, "delayed"),
    "down-20s": ({"down_for": 20}, "down"),
}


@pytest.mark.parametrize(("faults", "counter"), FAULTS.values(), ids=FAULTS.keys())
def test_dag_succeeds_once_per_task_under_fault(
    sim: SimulatorClient,
    faults: FaultSettings,
    counter: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    prefix = f"flt-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(TASKS)]
    dag_id = f"dag_{prefix.replace('-', '_')}"
    sim.add_rule(prefix, duration=JOB_SECONDS)
    dag = load_dag(write_dag(dag_id, names), dag_id)
    sim.set_faults(**faults)  # windows (down_for, error_burst) count from here
    try:
        run = dag.test(logical_date=datetime.now(timezone.utc))
        fired = sim.faults()["counters"]
    finally:
        sim.clear_faults()

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert {t: (ti.state, ti.try_number) for t, ti in tis.items()} == {
        name.replace("-", "_"): ("success", 1) for name in names
    }, "a task failed, or needed a retry, because of a transient error"
    # dag.test() logs this once per trigger it runs: every task really waited deferred.
    assert (capfd.readouterr().out + caplog.text).count("running trigger in line") == TASKS

    jobs = [job for job in sim.jobs() if job["name"].startswith(prefix)]
    assert sorted(job["name"] for job in jobs) == names, "a duplicate or renamed job"
    for job in jobs:
        assert job["status"] == "Completed"
        assert job["tags"]["airflow:task_id"] == job["name"].replace("-", "_")
        # Faulted creates did nothing; exactly one reached the job store.
        assert job["served_calls"].get("CreateTrainingJob") == 1, job
    assert sim.served_calls()["CreateTrainingJob"] == TASKS

    assert fired[counter] > 0, f"the fault never fired: {fired}"
