"""The job log tail against the simulator's documented CloudWatch Logs: sparse pages, late
last lines and one stream per instance, through ``dag.test()``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sagemaker_async.testing import SageMakerSimulator, SimulatorClient, training_request
from tests.integration.dagfiles import test_dag, write_training_dag

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
