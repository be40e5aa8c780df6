"""Every DAG in example_dags/ runs green against the simulator through dag.test()."""

from __future__ import annotations

import pytest

from sagemaker_async.testing import SimulatorClient
from tests.integration.dagfiles import EXAMPLE_DAGS, copy_example_dags, load_dag, test_dag

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

EXAMPLES = {path.stem: path for path in copy_example_dags()}


def test_examples_are_all_collected() -> None:
    assert set(EXAMPLES) == {p.stem for p in EXAMPLE_DAGS.glob("*.py")}
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("dag_id", sorted(EXAMPLES))
def test_example_dag_succeeds(sim: SimulatorClient, dag_id: str) -> None:
    path = EXAMPLES[dag_id]
    run = test_dag(path, dag_id)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states and set(states.values()) == {"success"}, states
    created = sum(job["calls"].get("CreateTrainingJob", 0) for job in sim.jobs())
    training_tasks = [
        t for t in load_dag(path, dag_id).tasks if t.task_type == "SageMakerTrainingOperator"
    ]
    assert created == len(training_tasks)
