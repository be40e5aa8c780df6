"""Writing DAG files into the test DAGs folder and running them with ``dag.test()``.

Airflow 3 runs ``dag.test()`` only for DAGs it finds in a DAG bundle, so each test writes a
real file and loads it through a DagBag: the operator and its trigger go through
serialization as they would in production.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.conftest import DAGS_FOLDER
from tests.e2e.startup.execution_api import trim_execution_api_versions

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"

_TEMPLATE = """\
from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)):
    SageMakerTrainingOperator(task_id="train", config={config!r}, **{kwargs!r})
"""


def write_training_dag(dag_id: str, config: dict[str, Any], **kwargs: Any) -> Path:
    path = Path(DAGS_FOLDER) / f"{dag_id}.py"
    path.write_text(_TEMPLATE.format(dag_id=dag_id, config=config, kwargs=kwargs))
    return path


def copy_example_dags() -> list[Path]:
    copied = []
    for source in sorted(EXAMPLE_DAGS.glob("*.py")):
        copied.append(Path(shutil.copy(source, DAGS_FOLDER)))
    return copied


def load_dag(path: Path, dag_id: str) -> Any:
    """The DAG, for ``dag.test()``, whose in-process execution API is trimmed to the versions
    the task SDK needs (``tests/e2e/startup/execution_api.py``)."""
    from airflow.dag_processing.dagbag import DagBag

    trim_execution_api_versions()

    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def test_dag(path: Path, dag_id: str) -> Any:
    """Run the DAG once; return its DagRun."""
    return load_dag(path, dag_id).test(logical_date=datetime.now(timezone.utc))


test_dag.__test__ = False  # type: ignore[attr-defined]
