"""Quota waits and capacity resubmissions through ``dag.test()`` against the simulator."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import boto3
import pytest

from sagemaker_async.testing import (
    SageMakerSimulator,
    SimulatorClient,
    SimulatorControlError,
    training_request,
)
from tests.integration.dagfiles import test_dag, write_training_dag
from tests.integration.test_operators import xcom

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

GPU = "ml.p3.2xlarge"
#: How long a job started from outside the task holds the quota unless it is stopped.
HOLD_SECONDS = 600


def gpu_request(name: str) -> dict[str, Any]:
    resources = {"InstanceType": GPU, "InstanceCount": 1, "VolumeSizeInGB": 10}
    return training_request(name, ResourceConfig=resources)


def run_gpu_dag(name: str, **operator_kwargs: Any) -> Any:
    """Run a one-task DAG training ``name`` on one GPU instance; return its task instance."""
    dag_id = f"dag_{name.replace('-', '_')}"
    operator_kwargs.setdefault("check_interval", 1)
    path = write_training_dag(dag_id, gpu_request(name), print_log=False, **operator_kwargs)
    (ti,) = test_dag(path, dag_id).get_task_instances()
    return ti


def sagemaker(simulator: SageMakerSimulator) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=simulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def hold(simulator: SageMakerSimulator) -> str:
    """Start a job of one GPU instance from outside the task (a rule sets how long); return
    its name."""
    name = f"it-hold-{uuid.uuid4().hex[:8]}"
    sagemaker(simulator).create_training_job(**gpu_request(name))
    return name


def new_name() -> str:
    return f"it-cap-{uuid.uuid4().hex[:8]}"


def test_a_full_quota_is_waited_out_in_the_same_try(
    sim: SimulatorClient, simulator: SageMakerSimulator
) -> None:
    sim.set_quotas({GPU: 1})
    sim.add_rule("it-hold-", duration=HOLD_SECONDS)
    sim.add_rule("it-cap-", duration=1)
    holder = hold(simulator)
    # Room appears only once the task has been refused: it must have waited for it.
    freer = threading.Thread(target=stop_when_refused, args=(sim, simulator, holder))
    freer.start()
    try:
        ti = run_gpu_dag(name := new_name())
    finally:
        freer.join()
    assert ti.state == "success" and ti.try_number == 1
    quotas = sim.quotas()
    assert quotas["refused"][GPU] >= 1
    assert quotas["peak_in_use"][GPU] == 1
    assert [j["name"] for j in sim.jobs(name)] == [name]
    assert xcom(ti)["Training"]["TrainingJobStatus"] == "Completed"


def stop_when_refused(sim: SimulatorClient, simulator: SageMakerSimulator, holder: str) -> None:
    """Stop the holder once the task was refused (at the latest after 240 s, within the
    test's timeout: dag.test() has taken 100 s to start a task on a busy machine), whatever
    happens: a control request that times out must not leave the task waiting out the
    holder."""
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and not refused(sim):
            time.sleep(0.2)
    finally:
        sagemaker(simulator).stop_training_job(TrainingJobName=holder)


def refused(sim: SimulatorClient) -> bool:
    try:
        return bool(sim.quotas()["refused"])
    except SimulatorControlError:
        return False  # asked again on the next turn


def test_the_wait_for_room_ends_at_capacity_timeout(
    sim: SimulatorClient, simulator: SageMakerSimulator
) -> None:
    sim.set_quotas({GPU: 1})
    # The holder outlasts the test: only the capacity timeout can end the wait. (On a busy
    # machine dag.test() has taken 100 s to start the task.)
    sim.add_rule("it-hold-", duration=HOLD_SECONDS)
    holder = hold(simulator)
    name = new_name()
    try:
        ti = run_gpu_dag(name, capacity_timeout=12, retries=2)
    finally:
        sagemaker(simulator).stop_training_job(TrainingJobName=holder)
    assert ti.state == "failed" and ti.try_number == 1
    assert sim.jobs(name) == []
    assert sim.quotas()["refused"][GPU] >= 2


def test_a_request_over_the_quota_fails_at_once_without_a_job(sim: SimulatorClient) -> None:
    sim.set_quotas({GPU: 0})
    name = new_name()
    ti = run_gpu_dag(name, retries=2)
    assert ti.state == "failed" and ti.try_number == 1
    assert sim.jobs(name) == []
    assert sim.quotas()["refused"][GPU] == 1


def test_a_capacity_failure_is_resubmitted_and_both_jobs_are_in_the_result(
    sim: SimulatorClient,
) -> None:
    name = new_name()
    sim.add_rule("it-cap-", duration=1)
    sim.add_capacity_failure(name, count=1, after=1)
    ti = run_gpu_dag(name)
    assert ti.state == "success" and ti.try_number == 1
    assert sorted(j["name"] for j in sim.jobs(name)) == [name, f"{name}-1"]
    result = xcom(ti)
    assert result["Training"]["TrainingJobName"] == f"{name}-1"
    assert xcom(ti, "training_job_name") == f"{name}-1"
    (attempt,) = result["Attempts"]
    assert attempt["TrainingJobName"] == name
    assert attempt["FailureReason"].startswith("CapacityError:")


def test_an_algorithm_error_is_not_resubmitted(sim: SimulatorClient) -> None:
    name = new_name()
    sim.add_rule(name, duration=1, outcome="Failed", failure_reason="AlgorithmError: boom")
    ti = run_gpu_dag(name)
    assert ti.state == "failed"
    assert [j["name"] for j in sim.jobs(name)] == [name]
