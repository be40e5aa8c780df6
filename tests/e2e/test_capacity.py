"""Quota waits and capacity resubmissions through the real scheduler and triggerer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sagemaker_async.testing import SageMakerSimulator
from tests.e2e.dags.e2e_capacity import INSTANCE_TYPE
from tests.e2e.stack import AirflowStack
from tests.e2e.test_triggerer import task_errors

pytestmark = pytest.mark.e2e

TASKS = [f"train_{i}" for i in range(6)]


@pytest.fixture
def quota_of_two(e2e_simulator: SageMakerSimulator) -> Iterator[None]:
    e2e_simulator.client.set_quotas({INSTANCE_TYPE: 2})
    try:
        yield
    finally:
        e2e_simulator.client.set_quotas({})


@pytest.mark.usefixtures("quota_of_two")
def test_six_tasks_share_a_quota_of_two_while_deferred(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    # Long enough that the third create comes while two jobs run (the one executor slot
    # starts tasks one after another).
    e2e_simulator.add_rule("e2e-cap-", duration=15)
    run_id = stack.trigger("e2e_capacity", with_logical_date=False)
    most_in_progress, most_waiting_deferred = 0, 0
    deadline = time.monotonic() + 300
    while stack.dag_run_state("e2e_capacity", run_id) not in ("success", "failed"):
        assert time.monotonic() < deadline, "the run did not finish in 300 s"
        jobs = e2e_simulator.client.jobs("e2e-cap-")
        states = stack.task_states("e2e_capacity", run_id)
        in_progress = sum(1 for j in jobs if j["status"] == "InProgress")
        # A task deferred while no job of its own exists is waiting for room.
        waiting = [
            task
            for task, state in states.items()
            if state == "deferred"
            and not any(j["name"].startswith(f"e2e-cap-{task[-1]}-") for j in jobs)
        ]
        most_in_progress = max(most_in_progress, in_progress)
        most_waiting_deferred = max(most_waiting_deferred, len(waiting))
        time.sleep(1.0)
    instances = stack.task_instances("e2e_capacity", run_id)
    failed = {t: task_errors(stack, "e2e_capacity", run_id, t) for t in TASKS}
    assert {t: ti["state"] for t, ti in instances.items()} == dict.fromkeys(TASKS, "success"), (
        failed
    )
    assert {ti["try_number"] for ti in instances.values()} == {1}, "an Airflow retry was used"
    quotas = e2e_simulator.client.quotas()
    assert quotas["peak_in_use"][INSTANCE_TYPE] == 2 and most_in_progress <= 2
    assert quotas["refused"][INSTANCE_TYPE] >= 1
    assert most_waiting_deferred >= 1, "no task was seen deferred while waiting for room"
    assert len(e2e_simulator.client.jobs("e2e-cap-")) == 6
    waited = [
        t for t in TASKS if "No room for training job" in stack.task_log("e2e_capacity", run_id, t)
    ]
    assert waited, "no task log says it waited for room"


def test_capacity_failures_are_resubmitted_and_algorithm_errors_are_not(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    # Jobs that end well after their tasks deferred, as real ones do (Airflow 3.3 races a
    # trigger that fires within seconds of the deferral; see triggers.RESUME_HOLD).
    e2e_simulator.add_rule("e2e-capfail-", duration=12)
    e2e_simulator.client.add_capacity_failure("e2e-capfail-capacity-", count=1, after=12)
    e2e_simulator.add_rule(
        "e2e-capfail-algorithm-", duration=12, outcome="Failed", failure_reason="AlgorithmError: x"
    )
    run_id = stack.trigger("e2e_capacity_failures", with_logical_date=False)
    assert stack.wait_for_run("e2e_capacity_failures", run_id, timeout=240) == "failed"
    instances = stack.task_instances("e2e_capacity_failures", run_id)
    assert instances["capacity"]["state"] == "success"
    assert instances["algorithm"]["state"] == "failed"
    assert {ti["try_number"] for ti in instances.values()} == {1}
    capacity_jobs = sorted(j["name"] for j in e2e_simulator.client.jobs("e2e-capfail-capacity-"))
    assert len(capacity_jobs) == 2 and capacity_jobs[1] == f"{capacity_jobs[0]}-1"
    result = stack.xcom("e2e_capacity_failures", run_id, "capacity")
    assert result["Training"]["TrainingJobName"] == capacity_jobs[1]
    assert [a["TrainingJobName"] for a in result["Attempts"]] == [capacity_jobs[0]]
    assert result["Attempts"][0]["FailureReason"].startswith("CapacityError:")
    assert (
        stack.xcom("e2e_capacity_failures", run_id, "capacity", "training_job_name")
        == (capacity_jobs[1])
    )
    assert len(e2e_simulator.client.jobs("e2e-capfail-algorithm-")) == 1
