"""Every DAG in example_dags/ runs green against the simulator through dag.test()."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from sagemaker_async.testing import SimulatorClient
from tests.integration.dagfiles import EXAMPLE_DAGS, copy_example_dags, load_dag, test_dag
from tests.integration.s3data import put_inputs

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

EXAMPLES = {path.stem: path for path in copy_example_dags()}


def test_examples_are_all_collected() -> None:
    assert set(EXAMPLES) == {p.stem for p in EXAMPLE_DAGS.glob("*.py")}
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("dag_id", sorted(EXAMPLES))
def test_example_dag_succeeds(sim: SimulatorClient, dag_id: str) -> None:
    path = EXAMPLES[dag_id]
    put_example_inputs(sim)
    run = test_dag(path, dag_id)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states and set(states.values()) == {"success"}, states
    created = sum(job["calls"].get("CreateTrainingJob", 0) for job in sim.jobs())
    training_tasks = [
        t for t in load_dag(path, dag_id).tasks if t.task_type == "SageMakerTrainingOperator"
    ]
    assert created == len(training_tasks)


def put_example_inputs(sim: SimulatorClient) -> None:
    """The training example's input, one folder per day, exists before it is checked: today's
    and tomorrow's (UTC), so a run started just before midnight finds its own."""
    bucket = os.environ.get("SAGEMAKER_BUCKET", "example-training-bucket")
    today = datetime.now(timezone.utc).date()
    days = (today, today + timedelta(days=1))
    put_inputs(sim.endpoint_url, *(f"s3://{bucket}/data/{day.isoformat()}/train/" for day in days))
