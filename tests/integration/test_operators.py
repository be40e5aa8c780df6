"""The operator end to end through ``dag.test()`` against the SageMaker simulator."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import boto3
import pytest

from sagemaker_async.testing import SageMakerSimulator, SimulatorClient, training_request
from tests.integration.dagfiles import test_dag, write_training_dag

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


def training_config(name: str) -> dict[str, Any]:
    # A templated number, to show rendering and coercion on the way.
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": "{{ 1 }}", "VolumeSizeInGB": 10}
    return training_request(name, ResourceConfig=resources)


def run_dag(**operator_kwargs: Any) -> tuple[Any, str]:
    """Run a one-task DAG; return its task instance and the job name it was given."""
    name = f"it-{uuid.uuid4().hex[:10]}"
    dag_id = f"dag_{name.replace('-', '_')}"
    operator_kwargs.setdefault("check_interval", 1)
    path = write_training_dag(dag_id, training_config(name), **operator_kwargs)
    (ti,) = test_dag(path, dag_id).get_task_instances()
    return ti, name


def xcom(ti: Any, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, key=key)
            .one()
        )
        return XComModel.deserialize_value(row)


def test_no_wait_submits_and_succeeds_at_once(sim: SimulatorClient) -> None:
    sim.add_rule("it-", duration=30)
    ti, name = run_dag(wait_for_completion=False)
    assert ti.state == "success"
    assert sim.job(name)["status"] == "InProgress"
    assert xcom(ti, "training_job_name") == name
    assert xcom(ti)["Training"]["TrainingJobName"] == name


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferred"])
def test_waiting_modes_reach_success(
    sim: SimulatorClient,
    deferrable: bool,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim.add_rule("it-", duration=4)
    started = time.monotonic()
    ti, name = run_dag(deferrable=deferrable)
    assert ti.state == "success"
    # dag.test() says so when it runs a trigger: the deferred mode must really defer.
    assert ("running trigger in line" in capfd.readouterr().out + caplog.text) is deferrable
    assert time.monotonic() - started >= 4, "the task returned before the job ended"
    result = xcom(ti)["Training"]
    assert result["TrainingJobStatus"] == "Completed"
    assert result["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"{name}/output/model.tar.gz")
    assert isinstance(result["CreationTime"], str)
    job = sim.job(name)
    assert job["calls"]["CreateTrainingJob"] == 1
    assert job["calls"]["DescribeTrainingJob"] >= 3


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferred"])
def test_failed_job_fails_the_task_with_its_reason(
    sim: SimulatorClient,
    deferrable: bool,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    reason = f"AlgorithmError: loss exploded {uuid.uuid4().hex[:6]}"
    sim.add_rule("it-", duration=2, outcome="Failed", failure_reason=reason)
    ti, name = run_dag(deferrable=deferrable)
    assert ti.state == "failed"
    assert sim.job(name)["status"] == "Failed"
    out = capfd.readouterr()
    assert reason in out.out + out.err + caplog.text


def stop_when_running(endpoint_url: str, prefix: str) -> threading.Thread:
    """Stop the first job named ``prefix...`` as soon as it is in progress (from outside)."""
    client = boto3.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def stopper() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = client.list_training_jobs(NameContains=prefix)["TrainingJobSummaries"]
            if jobs:
                client.stop_training_job(TrainingJobName=jobs[0]["TrainingJobName"])
                return
            time.sleep(0.2)

    thread = threading.Thread(target=stopper, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferred"])
def test_stopped_job_fails_the_task(
    simulator: SageMakerSimulator, sim: SimulatorClient, deferrable: bool
) -> None:
    sim.add_rule("it-", duration=30)
    stopper = stop_when_running(simulator.endpoint_url, "it-")
    ti, name = run_dag(deferrable=deferrable)
    stopper.join()
    assert ti.state == "failed"
    assert sim.job(name)["status"] == "Stopped"


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferred"])
def test_exhausted_budget_fails_naming_job_and_status(
    sim: SimulatorClient,
    deferrable: bool,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Far longer than the 2 x 1 s budget even on a busy machine: the job is still training
    # when the budget runs out, which the status check at the end proves.
    sim.add_rule("it-", duration=600)
    started = time.monotonic()
    ti, name = run_dag(deferrable=deferrable, max_attempts=2, check_interval=1)
    assert ti.state == "failed"
    # Seconds alone and under a minute on a busy machine; a budget that did not hold would
    # wait out the job.
    assert time.monotonic() - started < 120
    out = capfd.readouterr()
    text = out.out + out.err + caplog.text
    assert f"Training job {name} did not finish before its deadline; last status InProgress" in text
    assert "max_attempts=2 x check_interval=1s" in text
    # The last try gave up for good, so the job must not keep running (and billing).
    assert sim.job(name)["status"] in ("Stopping", "Stopped")


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferred"])
def test_job_log_lines_reach_the_task_log_in_order(
    simulator: SageMakerSimulator,
    sim: SimulatorClient,
    deferrable: bool,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim.add_rule("it-", duration=5)
    ti, name = run_dag(deferrable=deferrable, print_log=True)
    assert ti.state == "success"
    lines = simulator.log_lines(name)
    written = [message for _, message in lines]
    assert any(m.startswith("epoch ") for m in written)
    out = capfd.readouterr()
    text = out.out + out.err + caplog.text
    short = lines[0][0].removeprefix(f"{name}/")
    positions = [text.find(f"[{short}] {message}") for message in written]
    assert -1 not in positions, "a line the job wrote is missing from the task log"
    assert positions == sorted(positions), "the job's lines are out of order in the task log"


@pytest.mark.parametrize("outcome", ["Completed", "Failed"])
def test_resumed_task_log_carries_the_final_status_and_last_log_lines(
    simulator: SageMakerSimulator,
    sim: SimulatorClient,
    outcome: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The worker's own log must say why the job ended, for log stores without the
    # triggerer's part of the task log.
    reason = f"AlgorithmError: diverged {uuid.uuid4().hex[:6]}" if outcome == "Failed" else None
    sim.add_rule("it-", duration=4, outcome=outcome, failure_reason=reason)
    ti, name = run_dag(deferrable=True, print_log=True)
    assert ti.state == ("success" if outcome == "Completed" else "failed")
    out = capfd.readouterr()
    text = out.out + out.err + caplog.text
    final = f"Training job {name} final status: {outcome} ({outcome})"
    if reason:
        final = f"{final}; failure reason: {reason}"
    assert final in text
    lines = simulator.log_lines(name)
    last = [f"[{stream.removeprefix(name + '/')}] {message}" for stream, message in lines][-20:]
    header = text.find(f"Last {len(last)} log lines of training job {name}:")
    assert header != -1, "the resumed task did not log the job's last lines"
    positions = [text.find(line, header) for line in last]
    assert -1 not in positions, "a last line of the job is missing after the resume"
    assert positions == sorted(positions)


def test_templated_connection_arguments_render_in_a_real_run(sim: SimulatorClient) -> None:
    # The amazon provider's template fields: rendered for the worker and for the trigger.
    sim.add_rule("it-", duration=2)
    ti, name = run_dag(
        aws_conn_id="{{ 'aws_' ~ 'default' }}",
        region_name="{{ 'us-east-' ~ 1 }}",
        verify="{{ False }}",
        deferrable=True,
    )
    assert ti.state == "success"
    assert sim.job(name)["status"] == "Completed"
