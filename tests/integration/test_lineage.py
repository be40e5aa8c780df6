"""OpenLineage events of a deferred training task, from Airflow's own OpenLineage listener.

The listener is set up once per process from configuration, so the DAG runs in a child
process with a file transport configured; the rest of the suite runs with OpenLineage off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from sagemaker_async.testing import SimulatorClient, training_request
from tests.integration.dagfiles import write_training_dag
from tests.integration.s3data import put_inputs

ROOT = Path(__file__).resolve().parents[2]  # the child imports tests.e2e.startup
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

_RUN_DAG = """
import sys
from datetime import datetime, timezone
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

from tests.e2e.startup.execution_api import trim_execution_api_versions

trim_execution_api_versions()
dag = DagBag(dag_folder=sys.argv[1]).get_dag(sys.argv[2])
Path(sys.argv[3]).write_text(str(dag.test(logical_date=datetime.now(timezone.utc)).state))
"""


def channel(name: str, uri: str) -> dict[str, Any]:
    source = {"S3DataType": "S3Prefix", "S3Uri": uri}
    return {"ChannelName": name, "DataSource": {"S3DataSource": source}}


def run_with_openlineage(path: Path, dag_id: str, events: Path) -> str:
    """Run the DAG in a child process and return the run's state.

    The state comes back through a file: the listener logs to stdout from its own thread,
    and its lines can land in the middle of anything the child prints.
    """
    state_file = events.with_name("state.txt")
    transport = {"type": "file", "log_file_path": str(events), "append": True}
    env = {**os.environ, "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _RUN_DAG, str(path), dag_id, str(state_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return state_file.read_text()


def datasets(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event.get(side, [])]


def test_a_deferred_task_reports_its_channels_and_model_artifact(
    sim: SimulatorClient, tmp_path: Path
) -> None:
    sim.add_rule("it-", duration=3)
    name = f"it-{uuid.uuid4().hex[:10]}"
    dag_id = f"dag_{name.replace('-', '_')}"
    channels = [channel("train", "s3://data/train/"), channel("test", "s3://data/test/")]
    put_inputs(sim.endpoint_url, "s3://data/train/", "s3://data/test/")  # checked before create
    config = training_request(name, InputDataConfig=channels)
    path = write_training_dag(dag_id, config, check_interval=1, print_log=False)
    events_file = tmp_path / "openlineage.jsonl"

    state = run_with_openlineage(path, dag_id, events_file)

    assert state == "success"
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line]
    mine = [e for e in events if e["job"]["name"] == f"{dag_id}.train"]
    starts = [e for e in mine if e["eventType"] == "START"]
    (complete,) = [e for e in mine if e["eventType"] == "COMPLETE"]
    inputs = [("s3://data", "train"), ("s3://data", "test")]
    # One START when the task starts and one when it resumes after the deferral.
    assert starts and all(datasets(e, "inputs") == inputs for e in starts)
    assert datasets(complete, "inputs") == inputs
    assert datasets(complete, "outputs") == [("s3://bucket", f"output/{name}/output/model.tar.gz")]
