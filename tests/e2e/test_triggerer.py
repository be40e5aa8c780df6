"""The operator through a real scheduler, LocalExecutor and a separate triggerer process."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime

import pytest

from sagemaker_async.naming import MAX_NAME_LENGTH, NAME_PATTERN
from sagemaker_async.testing import SageMakerSimulator
from tests.e2e.conftest import SECRETS, job_status
from tests.e2e.stack import AirflowStack, wait_for

pytestmark = pytest.mark.e2e


def trigger_events(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """What the triggerer logged for a task, across triggerer restarts, in time order."""
    return task_events(stack, dag_id, run_id, task_id, triggerer_only=True)


def task_events(
    stack: AirflowStack, dag_id: str, run_id: str, task_id: str, triggerer_only: bool = False
) -> list[str]:
    """What a task's log holds (the workers' parts and the triggerer's), in time order."""
    records = []
    for path in stack.task_log_files(dag_id, run_id, task_id):
        if ".trigger." in path.name or not triggerer_only:
            for raw in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(raw)
                    records.append((record.get("timestamp", ""), str(record.get("event", ""))))
    return [event for _, event in sorted(records)]


def task_errors(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """The exceptions a task's tries logged, as ``Type: message``, for a failure report."""
    errors = []
    for raw in stack.task_log(dag_id, run_id, task_id).splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(raw)
            # structlog's dict tracebacks: a list of {"exc_type", "exc_value", "frames"}.
            for key in ("exception", "error_detail"):
                for exc in record.get(key) or []:
                    if isinstance(exc, dict) and "exc_type" in exc:
                        errors.append(f"{exc['exc_type']}: {exc.get('exc_value')}")
    return list(dict.fromkeys(errors))


def job_log_lines(sim: SageMakerSimulator, job_name: str) -> list[str]:
    """The job's log lines as the task log shows them: ``[stream] message``."""
    return [f"[{s.removeprefix(job_name + '/')}] {m}" for s, m in sim.log_lines(job_name)]


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_deferred_tasks_release_the_only_worker_slot(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    # One executor slot; six jobs can only all be running at once if every task gave its
    # slot back while its job trains. Long jobs, so that the first is still training when
    # the sixth starts however slowly the tasks run; once all six ran at once, they end.
    e2e_simulator.add_rule("e2e-six-", duration=600)
    run_id = stack.trigger("e2e_six_jobs")

    def all_six_in_progress() -> bool:
        jobs = e2e_simulator.client.jobs("e2e-six-")
        return len(jobs) == 6 and all(job["status"] == "InProgress" for job in jobs)

    try:
        wait_for(all_six_in_progress, 180, "six jobs InProgress at the same time")
        states = stack.task_states("e2e_six_jobs", run_id)
        assert list(states.values()).count("deferred") >= 5, states
        wait_for(
            lambda: {(t, 1, -1) for t in states} <= stack.settled_runs("e2e_six_jobs", run_id),
            120,
            "the scheduler to have the six deferrals",
        )
        assert len(e2e_simulator.hurry("e2e-six-", within=3.0)) == 6
    finally:  # nothing left training on the shared stack for the next tests
        e2e_simulator.hurry("e2e-six-", within=1.0)
    assert stack.wait_for_run("e2e_six_jobs", run_id, timeout=240) == "success"
    assert set(stack.task_states("e2e_six_jobs", run_id).values()) == {"success"}
    assert all(job["status"] == "Completed" for job in e2e_simulator.client.jobs("e2e-six-"))


def test_trigger_polls_in_the_triggerer_process(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    e2e_simulator.add_rule("example-train-", duration=12)
    dag_id, task_id = "example_sagemaker_training", "train_model"
    run_id = stack.trigger(dag_id)
    seen: list[str | None] = []

    def finished() -> bool:
        state = stack.task_states(dag_id, run_id)[task_id]
        if not seen or seen[-1] != state:
            seen.append(state)
        return state in ("success", "failed", "up_for_retry")

    wait_for(finished, 180, f"{task_id} to finish")
    assert seen[-1] == "success", seen
    assert "deferred" in seen, seen
    job_name = stack.xcom(dag_id, run_id, task_id, "training_job_name")
    trigger_logs = [
        p for p in stack.task_log_files(dag_id, run_id, task_id) if ".trigger." in p.name
    ]
    assert trigger_logs, "the triggerer wrote no log for this task"
    text = "".join(p.read_text() for p in trigger_logs)
    assert f"Polling training job {job_name}" in text
    assert f"Training job {job_name}: InProgress" in text
    assert f"Training job {job_name}: Completed" in text
    result = stack.xcom(dag_id, run_id, task_id)
    assert result["Training"]["TrainingJobStatus"] == "Completed"
    # The extra links, resolved by Airflow's own operator-link machinery.
    links = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links")
    assert links["extra_links"]["SageMaker training job"] == (
        f"https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/{job_name}"
    )
    assert job_name in links["extra_links"]["SageMaker training logs"]


def test_failed_job_reason_is_in_the_task_log(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    reason = f"AlgorithmError: e2e loss became NaN at step {int(time.time())}"
    e2e_simulator.add_rule("e2e-fail-", duration=4, outcome="Failed", failure_reason=reason)
    run_id = stack.trigger("e2e_failing")
    assert stack.wait_for_run("e2e_failing", run_id, timeout=180) == "failed"
    assert stack.task_states("e2e_failing", run_id)["train"] == "failed"
    assert reason in stack.task_log("e2e_failing", run_id, "train")


def test_triggerer_restart_keeps_jobs_and_deadlines(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    budget = 60.0  # e2e_restart.BUDGET
    e2e_simulator.add_rule("e2e-restart-ok-", duration=45)
    e2e_simulator.add_rule("e2e-restart-late-", duration=600)
    run_id = stack.trigger("e2e_restart")
    wait_for(
        lambda: set(stack.task_states("e2e_restart", run_id).values()) == {"deferred"},
        120,
        "both tasks deferred",
    )
    # The job's log lines reach the task's log while it still trains.
    wait_for(
        lambda: (
            any("] epoch " in e for e in trigger_events(stack, "e2e_restart", run_id, "finishes"))
            and stack.task_states("e2e_restart", run_id)["finishes"] == "deferred"
        ),
        60,
        "epoch lines in the trigger log of a deferred task",
    )
    time.sleep(5)
    old = stack.processes["triggerer"].pid
    stack.stop_process("triggerer", grace=10)
    time.sleep(5)
    assert stack.start_process("triggerer").pid != old

    assert stack.wait_for_run("e2e_restart", run_id, timeout=240) == "failed"
    tis = stack.task_instances("e2e_restart", run_id)
    assert tis["finishes"]["state"] == "success"
    assert tis["outlives_budget"]["state"] == "failed"
    ok, late = (e2e_simulator.client.jobs(p)[0] for p in ("e2e-restart-ok-", "e2e-restart-late-"))
    assert ok["calls"]["CreateTrainingJob"] == 1 and late["calls"]["CreateTrainingJob"] == 1
    # The deadline is set when the job is created; a budget reset by the restart would end
    # the wait about 25 s later than this.
    ended = parse_time(tis["outlives_budget"]["end_date"])
    assert late["created_at"] + budget - 1 <= ended <= late["created_at"] + budget + 12
    assert "did not finish before its deadline" in stack.task_log(
        "e2e_restart", run_id, "outlives_budget"
    )
    # That was its last try: the job is stopped rather than left billing; the other one ran on.
    wait_for(
        lambda: job_status(e2e_simulator, "e2e-restart-late-") == "Stopped", 30, "late job Stopped"
    )
    assert job_status(e2e_simulator, "e2e-restart-ok-") == "Completed"
    # Across the restart no line the job wrote is missing, and few repeat (one interval's).
    written = job_log_lines(e2e_simulator, ok["name"])
    # The last lines are shown by the resumed task (the triggerer hands them over); its
    # recap of the job's last lines, after "Last N log lines of ...", repeats on purpose.
    events = task_events(stack, "e2e_restart", run_id, "finishes")
    recap = [i for i, e in enumerate(events) if " log lines of training job " in e]
    assert recap, events[-40:]
    events = events[: recap[0]]
    shown = [e for e in events if e in written]
    assert set(written) <= set(shown), (set(written) - set(shown), events[-40:])
    assert len(shown) - len(set(shown)) <= 4, f"{len(shown) - len(set(shown))} lines repeated"
    first_seen = list(dict.fromkeys(shown))
    assert first_seen == [line for line in written if line in first_seen]


#: Each example DAG and its training task.
EXAMPLE_TASKS = {
    "example_sagemaker_training": "train_model",
    "example_sagemaker_submit_only": "submit_training",
}


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_TASKS))
def test_example_dags_succeed(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator, dag_id: str
) -> None:
    # With a logical date, as a scheduled run has one.
    e2e_simulator.add_rule("example-", duration=6)
    run_id = stack.trigger(dag_id)
    assert stack.wait_for_run(dag_id, run_id, timeout=180) == "success"
    assert set(stack.task_states(dag_id, run_id).values()) == {"success"}


@pytest.mark.parametrize("how", ["rest-api", "cli"])
@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_TASKS))
def test_example_dags_succeed_without_a_logical_date(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator, dag_id: str, how: str
) -> None:
    # How users start a DAG by hand: `airflow dags trigger` without -l, a REST client, the
    # UI's trigger form with the date cleared. Airflow 3 gives such a run no logical date, so
    # a job name built from {{ ds }} or {{ ts_nodash }} fails to render.
    e2e_simulator.add_rule("example-", duration=6)
    task_id = EXAMPLE_TASKS[dag_id]
    if how == "cli":
        run_id = stack.trigger_with_cli(dag_id)
    else:
        run_id = stack.trigger(dag_id, with_logical_date=False)
    run = stack.dag_run(dag_id, run_id)
    assert run["logical_date"] is None, run
    # A failed first try is enough: the training DAG's retry would only fail the same way.
    ended = ("success", "failed", "up_for_retry")
    state = wait_for(
        lambda: (s := stack.task_states(dag_id, run_id)[task_id]) in ended and s,
        180,
        f"{task_id} to finish",
    )
    assert state == "success", task_errors(stack, dag_id, run_id, task_id)
    assert stack.wait_for_run(dag_id, run_id, timeout=120) == "success"
    assert set(stack.task_states(dag_id, run_id).values()) == {"success"}
    # The name comes from the time the run was triggered, and SageMaker accepts it.
    job_name = stack.xcom(dag_id, run_id, task_id, "training_job_name")
    assert NAME_PATTERN.match(job_name) and len(job_name) <= MAX_NAME_LENGTH, job_name
    stamp = datetime.fromisoformat(run["run_after"].replace("Z", "+00:00"))
    assert stamp.strftime("%Y%m%dt%H%M%S") in job_name, (job_name, run["run_after"])


def test_credentials_never_reach_logs_xcom_or_the_database(
    stack: AirflowStack, e2e_simulator: SageMakerSimulator
) -> None:
    # A success, a failure and a kill in this test alone; the scan covers the whole session.
    e2e_simulator.add_rule("example-submit-", duration=5)
    e2e_simulator.add_rule(
        "e2e-fail-", duration=3, outcome="Failed", failure_reason="AlgorithmError: x"
    )
    e2e_simulator.add_rule("e2e-kill-", duration=600)
    runs = {
        dag_id: stack.trigger(dag_id)
        for dag_id in ("example_sagemaker_submit_only", "e2e_failing", "e2e_kill")
    }
    wait_for(
        lambda: set(stack.task_states("e2e_kill", runs["e2e_kill"]).values()) == {"deferred"},
        120,
        "e2e_kill deferred",
    )
    for task_id in ("mark_failed", "mark_success", "clear"):
        stack.set_task_state("e2e_kill", runs["e2e_kill"], task_id, "failed")
    assert (
        stack.wait_for_run(
            "example_sagemaker_submit_only", runs["example_sagemaker_submit_only"], 120
        )
        == "success"
    )
    assert stack.wait_for_run("e2e_failing", runs["e2e_failing"], 120) == "failed"
    assert stack.wait_for_run("e2e_kill", runs["e2e_kill"], 120) == "failed"

    scanned = 0
    for path in stack.home.rglob("*"):
        if not path.is_file() or path.name == "passwords.json":
            continue
        data = path.read_bytes()
        scanned += 1
        for secret in SECRETS:
            assert secret.encode() not in data, (
                f"{secret[:8]}... found in {path.relative_to(stack.home)}"
            )
    assert scanned > 10  # task logs, trigger logs, process logs and the metadata database
    assert list(stack.home.glob("logs/dag_id=*/run_id=*/task_id=*/*.trigger.*.log"))
