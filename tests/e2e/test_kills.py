"""No job left behind: user kills, deferral timeouts and retries through the real stack."""

from __future__ import annotations

import time

import pytest

from sagemaker_async.testing import SageMakerSimulator
from tests.e2e.conftest import job_status
from tests.e2e.stack import AirflowStack, wait_for

pytestmark = pytest.mark.e2e

KILL_TASKS = ("mark_failed", "mark_success", "clear")


def trigger_logs(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """The triggerer's log files for a task: one appears once its trigger runs."""
    files = stack.task_log_files(dag_id, run_id, task_id)
    return [p.name for p in files if ".trigger." in p.name]


def creates(sim: SageMakerSimulator, prefix: str) -> int:
    return sum(j["calls"].get("CreateTrainingJob", 0) for j in sim.client.jobs(prefix))


def test_user_actions_on_deferred_tasks_stop_their_jobs(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    e2e_simulator.add_rule("e2e-kill-", duration=600)
    run_id = stack.trigger("e2e_kill")
    wait_for(
        lambda: set(stack.task_states("e2e_kill", run_id).values()) == {"deferred"},
        120,
        "the three tasks deferred",
    )
    # This run's jobs, not those of another test's run of the DAG on the same stack.
    names = [stack.xcom("e2e_kill", run_id, t, "training_job_name") for t in KILL_TASKS]
    # A trigger no triggerer has started yet runs no code when its task is killed (see the
    # README's cancel_on_kill); act once every trigger runs, as a user who saw it wait would.
    wait_for(
        lambda: all(trigger_logs(stack, "e2e_kill", run_id, t) for t in KILL_TASKS),
        60,
        "a running trigger for each task",
    )
    stack.set_task_state("e2e_kill", run_id, "mark_failed", "failed")
    stack.set_task_state("e2e_kill", run_id, "mark_success", "success")
    stack.clear_task("e2e_kill", run_id, "clear")
    acted = time.monotonic()
    wait_for(
        lambda: all((e2e_simulator.client.job(n) or {}).get("status") == "Stopped" for n in names),
        30,
        "all three jobs Stopped",
    )
    assert time.monotonic() - acted < 30
    # The cleared task runs again: as its own job was stopped, under the next suffix.
    wait_for(
        lambda: e2e_simulator.client.job(f"{names[2]}-1") is not None,
        120,
        "the cleared task's new job",
    )
    stack.set_task_state("e2e_kill", run_id, "clear", "failed")


def test_deferral_timeout_stops_the_job(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    e2e_simulator.add_rule("e2e-deferral-timeout-", duration=600)
    stack.stop_process("triggerer", grace=10)
    try:
        run_id = stack.trigger("e2e_deferral_timeout")
        # Budget 10 s plus the DAG's 5 s of grace, then the scheduler times the deferral out.
        assert stack.wait_for_run("e2e_deferral_timeout", run_id, timeout=180) == "failed"
    finally:
        stack.start_process("triggerer")
    wait_for(
        lambda: job_status(e2e_simulator, "e2e-deferral-timeout-") == "Stopped",
        30,
        "the job Stopped",
    )
    log = stack.task_log("e2e_deferral_timeout", run_id, "train")
    assert "failed or timed out" in log and "Requested stop of training job" in log


def test_retries_reattach_instead_of_starting_a_second_job(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    # The first try's 20 s budget ends while its job trains; a retry is due, so the job is
    # left running and the second try re-attaches to it. The jobs train until the test hurries
    # each to its end once its task's second try has deferred on it and the scheduler has the
    # report of that: however late a retry comes on a busy machine, its job still runs (a
    # finished one would get a successor, by design).
    retries = {"budget_then_retry": "e2e-retry-budget-", "dies_after_submit": "e2e-retry-dies-"}
    for prefix in retries.values():
        e2e_simulator.add_rule(prefix, duration=600)
    run_id = stack.trigger("e2e_retry")
    waiting = dict(retries)

    def hurry_the_deferred_retries() -> bool:
        tries = stack.task_tries("e2e_retry", run_id)
        settled = stack.settled_runs("e2e_retry", run_id)
        for task_id in list(waiting):
            if tries[task_id] == (2, "deferred") and (task_id, 2, -1) in settled:
                assert len(e2e_simulator.hurry(waiting.pop(task_id), within=2.0)) == 1
        return not waiting

    try:
        wait_for(hurry_the_deferred_retries, 240, "both retries deferred", interval=0.5)
    finally:  # nothing left training on the shared stack for the next tests
        for prefix in retries.values():
            e2e_simulator.hurry(prefix, within=1.0)
    assert stack.wait_for_run("e2e_retry", run_id, timeout=240) == "success"
    tis = stack.task_instances("e2e_retry", run_id)
    for task_id, prefix in retries.items():
        assert tis[task_id]["try_number"] == 2, task_id
        assert creates(e2e_simulator, prefix) == 1, task_id
        assert len(e2e_simulator.client.jobs(prefix)) == 1
        assert job_status(e2e_simulator, prefix) == "Completed"
    log = stack.task_log("e2e_retry", run_id, "budget_then_retry")
    assert "did not finish before its deadline" in log and "Re-attaching to training job" in log
