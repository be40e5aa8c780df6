"""Waiting for room under a quota and resubmitting capacity failures, without Airflow retries."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    TaskDeferralTimeout,
    TaskDeferred,
)
from botocore.exceptions import ClientError

from sagemaker_async.capacity import (
    BACKOFF_CAP_FACTOR,
    DEFAULT_CAPACITY_REASONS,
    MIN_QUOTA_WAIT,
    CapacityState,
    capacity_failure,
    next_try_in,
    quota_refusal,
)
from sagemaker_async.operators import CAPACITY_KEY, SageMakerTrainingOperator
from sagemaker_async.testing.quotas import quota_exceeded
from sagemaker_async.triggers import SageMakerQuotaWaitTrigger
from tests.unit.fakes import OURS, FakeSageMaker, FakeTI, client_error
from tests.unit.test_operators import created_names, make_operator, run


def refused(quota: int = 2, in_use: int = 2, delta: int = 1) -> ClientError:
    """SageMaker's answer to a create over the instance quota (the simulator's text)."""
    error = quota_exceeded("ml.p3.2xlarge", quota, in_use, delta)
    body = {"Error": {"Code": error.code, "Message": error.message}}
    return ClientError({**body, "ResponseMetadata": {"HTTPStatusCode": 400}}, "CreateTrainingJob")


def ended(
    status: str, reason: str | None, secondary: str | None = None, job: str = "job"
) -> dict[str, Any]:
    """A trigger's event for a job that ended unsuccessfully."""
    return {
        "status": status.lower(),
        "job_name": job,
        "message": f"Training job {job} {status.lower()}: {reason}",
        "job_status": status,
        "secondary_status": secondary or status,
        "failure_reason": reason,
    }


CAPACITY = "CapacityError: Unable to provision requested ML compute capacity."


# The policy's pieces.


def test_a_quota_refusal_is_read_with_its_figures() -> None:
    refusal = quota_refusal(refused(quota=4, in_use=3, delta=2))
    assert refusal is not None
    assert (refusal.quota_name, refusal.quota, refusal.in_use, refusal.delta) == (
        "ml.p3.2xlarge for training job usage",
        4,
        3,
        2,
    )
    assert not refusal.never_fits


def test_a_request_larger_than_the_quota_never_fits() -> None:
    zero = quota_refusal(refused(quota=0, in_use=0, delta=1))
    assert zero is not None and zero.never_fits
    too_big = quota_refusal(refused(quota=4, in_use=0, delta=5))
    assert too_big is not None and too_big.never_fits


def test_a_quota_refusal_of_another_shape_waits_rather_than_failing() -> None:
    refusal = quota_refusal(client_error("ResourceLimitExceeded", "CreateTrainingJob"))
    assert refusal is not None and refusal.quota is None and not refusal.never_fits
    assert refusal.short == "simulated ResourceLimitExceeded"


def test_other_errors_are_not_quota_refusals() -> None:
    assert quota_refusal(client_error("ValidationException", "CreateTrainingJob")) is None
    assert quota_refusal(ValueError("ResourceLimitExceeded")) is None


def test_backoff_grows_to_its_cap_and_stays_in_the_upper_half() -> None:
    for tries in range(1, 12):
        ceiling = 30 * min(2 ** (tries - 1), BACKOFF_CAP_FACTOR)
        for _ in range(50):
            assert ceiling / 2 <= next_try_in(tries, 30) <= ceiling
    assert max(next_try_in(20, 30) for _ in range(200)) <= 30 * BACKOFF_CAP_FACTOR


def test_no_try_comes_sooner_than_the_floor_even_with_a_short_interval() -> None:
    delays = [next_try_in(tries, 1) for tries in range(1, 8) for _ in range(50)]
    assert min(delays) >= MIN_QUOTA_WAIT and max(delays) <= 2 * MIN_QUOTA_WAIT


def test_tasks_refused_together_try_again_spread_out() -> None:
    # 100 tasks at the cap: their next tries cover the window, not one moment.
    delays = sorted(next_try_in(10, 30) for _ in range(100))
    assert delays[-1] - delays[0] > 0.6 * (30 * BACKOFF_CAP_FACTOR / 2)
    assert len({round(d) for d in delays}) > 50


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (ended("Failed", CAPACITY), "CapacityError"),
        (ended("Failed", "InternalServerError: We encountered an internal error."), None),
        (ended("Stopped", None, "MaxWaitTimeExceeded"), "MaxWaitTimeExceeded"),
        (ended("Failed", "AlgorithmError: boom"), None),
        (ended("Stopped", None, "Stopped"), None),
        (ended("Stopped", None, "MaxRuntimeExceeded"), None),
    ],
)
def test_which_ended_jobs_are_capacity_failures(event: dict[str, Any], reason: str | None) -> None:
    # "Stopped" in the list never makes a user's stop a capacity failure.
    reasons = ("CapacityError", "MaxWaitTimeExceeded", "Stopped")
    assert capacity_failure(event, reasons) == reason


def test_the_default_reasons_are_the_three_capacity_failures() -> None:
    internal = ended("Failed", "InternalServerError: We encountered an internal error.")
    assert capacity_failure(internal, DEFAULT_CAPACITY_REASONS) == "InternalServerError"
    assert (
        capacity_failure({"status": "success", "job_name": "j"}, DEFAULT_CAPACITY_REASONS) is None
    )


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"capacity_timeout": -1}, "capacity_timeout"),
        ({"capacity_timeout": "1h"}, "capacity_timeout"),
        ({"capacity_retries": -1}, "capacity_retries"),
        ({"capacity_retries": 1.5}, "capacity_retries"),
        ({"capacity_failure_reasons": "CapacityError"}, "capacity_failure_reasons"),
        ({"capacity_failure_reasons": ["CapacityError", ""]}, "capacity_failure_reasons"),
    ],
)
def test_bad_capacity_arguments_fail_at_parse_time(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        make_operator(FakeSageMaker(), **kwargs)


# Waiting for room under a quota.


def waiting(since: float, tries: int) -> FakeTI:
    """A task instance whose quota wait began at ``since`` and was refused ``tries`` times."""
    return FakeTI(xcom={CAPACITY_KEY: {"attempts": [], "since": since, "tries": tries}})


def resume_after_wait(op: SageMakerTrainingOperator, ti: FakeTI) -> Any:
    """Resume as Airflow does when the quota wait's trigger fires."""
    event = {"status": "retry", "job_name": "job", "message": "again"}
    return op.resume_execution("execute_after_quota_wait", {"event": event}, {"ti": ti})  # type: ignore[arg-type]


def quota_wait(op: SageMakerTrainingOperator, ti: FakeTI) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        run(op, ti)
    return deferred.value


def test_a_refused_create_waits_deferred_and_creates_nothing() -> None:
    fake = FakeSageMaker()
    fake.create_errors.append(refused())
    op = make_operator(fake, check_interval=30)
    ti = FakeTI()
    before = time.time()
    deferred = quota_wait(op, ti)
    trigger = deferred.trigger
    assert isinstance(trigger, SageMakerQuotaWaitTrigger)
    assert before + 15 <= trigger.until <= time.time() + 30
    assert deferred.method_name == "execute_after_quota_wait"
    assert ti.xcom[CAPACITY_KEY]["tries"] == 1
    assert before <= ti.xcom[CAPACITY_KEY]["since"] <= time.time()
    _, kwargs = trigger.serialize()
    assert set(kwargs) == {"job_name", "until"}  # the request never travels with the trigger
    assert fake.jobs == {} and "training_job_name" not in ti.xcom
    # Room appeared: the resumed task creates the job in the same try.
    resume_after_wait(op, ti)
    assert created_names(fake) == ["job", "job"]
    assert ti.xcom["training_job_name"] == "job" and ti.try_number == 1
    assert ti.xcom[CAPACITY_KEY] == {"attempts": [], "since": None, "tries": 0}


def test_each_refusal_waits_longer_and_logs_how_long_it_has_waited(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeSageMaker()
    fake.create_errors.extend([refused(), refused()])
    op = make_operator(fake, check_interval=30)
    ti = FakeTI()
    quota_wait(op, ti)
    ti.xcom[CAPACITY_KEY]["since"] -= 100  # the first try was 100 s ago
    waited_since = ti.xcom[CAPACITY_KEY]["since"]
    with pytest.raises(TaskDeferred) as second:
        resume_after_wait(op, ti)
    assert ti.xcom[CAPACITY_KEY]["tries"] == 2
    assert ti.xcom[CAPACITY_KEY]["since"] == waited_since
    assert 30 <= second.value.trigger.until - time.time() <= 60  # type: ignore[attr-defined]
    log = capsys.readouterr().out
    assert "waiting for room without holding a worker slot" in log
    assert "after waiting 100s" in log


def test_a_request_larger_than_its_quota_fails_at_once() -> None:
    fake = FakeSageMaker()
    fake.create_errors.append(refused(quota=0, in_use=0, delta=1))
    with pytest.raises(AirflowFailException, match=r"can never start.*allows 0"):
        run(make_operator(fake))
    assert fake.jobs == {}


def test_the_wait_ends_at_capacity_timeout_without_a_retry() -> None:
    fake = FakeSageMaker()
    fake.create_errors.append(refused())
    op = make_operator(fake, capacity_timeout=600)
    with pytest.raises(AirflowFailException, match=r"No room .* \(capacity_timeout=600s\)"):
        resume_after_wait(op, waiting(time.time() - 601, 5))
    assert fake.jobs == {}


def test_the_last_try_comes_no_later_than_capacity_timeout() -> None:
    fake = FakeSageMaker()
    fake.create_errors.append(refused())
    op = make_operator(fake, capacity_timeout=600, check_interval=300)
    with pytest.raises(TaskDeferred) as deferred:
        resume_after_wait(op, waiting(time.time() - 590, 5))
    # 10 s were left: the last try comes then (and never sooner than MIN_QUOTA_WAIT).
    until = deferred.value.trigger.until  # type: ignore[attr-defined]
    assert time.time() + MIN_QUOTA_WAIT - 1 <= until <= time.time() + MIN_QUOTA_WAIT + 1


def test_no_quota_wait_is_shorter_than_the_floor_even_at_the_end() -> None:
    fake = FakeSageMaker()
    fake.create_errors.append(refused())
    op = make_operator(fake, capacity_timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        resume_after_wait(op, waiting(time.time() - 598, 5))  # 2 s left
    until = deferred.value.trigger.until  # type: ignore[attr-defined]
    assert until >= time.time() + MIN_QUOTA_WAIT - 1


def test_capacity_timeout_zero_fails_at_the_first_refusal() -> None:
    fake = FakeSageMaker()
    fake.create_errors.append(refused())
    with pytest.raises(AirflowFailException, match="capacity_timeout=0"):
        run(make_operator(fake, capacity_timeout=0))


def test_a_blocking_task_waits_for_room_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("sagemaker_async.operators.time.sleep", slept.append)
    fake = FakeSageMaker()
    fake.create_errors.extend([refused(), refused()])
    result, _ = run(make_operator(fake, deferrable=False, check_interval=10))
    assert result["Training"]["TrainingJobName"] == "job"
    # check_interval=10: the ceiling starts at 2 x MIN_QUOTA_WAIT = 20 s.
    assert len(slept) == 2 and all(MIN_QUOTA_WAIT <= s <= 20 for s in slept)
    assert created_names(fake) == ["job"] * 3


def test_killing_a_task_that_waits_for_room_stops_nothing() -> None:
    fake = FakeSageMaker()
    fake.create_errors.append(refused())
    op = make_operator(fake)
    deferred = quota_wait(op, FakeTI())
    asyncio.run(deferred.trigger.on_kill())
    op.on_kill()
    assert fake.jobs == {} and fake.count("stop_training_job") == 0


@pytest.mark.asyncio
async def test_a_rebuilt_quota_wait_keeps_its_moment() -> None:
    until = time.time() + 1.5
    classpath, kwargs = SageMakerQuotaWaitTrigger("job", until).serialize()
    assert classpath == "sagemaker_async.triggers.SageMakerQuotaWaitTrigger"
    await asyncio.sleep(1.0)  # the triggerer restarts; the trigger is built again
    rebuilt = SageMakerQuotaWaitTrigger(**kwargs)
    started = time.monotonic()
    events = [event async for event in rebuilt.run()]
    # The half second left, not the whole wait again (seconds apart, for a busy machine).
    assert time.monotonic() - started < 1.25
    assert [e.payload["status"] for e in events] == ["retry"]
    late = SageMakerQuotaWaitTrigger("job", time.time() - 60)
    assert [e.payload["job_name"] async for e in late.run()] == ["job"]


# Resubmitting jobs that ended for want of capacity.


def resume(op: SageMakerTrainingOperator, ti: FakeTI, event: dict[str, Any]) -> Any:
    return op.execute_complete({"ti": ti}, event)  # type: ignore[arg-type]


def test_a_capacity_failure_is_resubmitted_under_the_next_name() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Failed", OURS)
    op = make_operator(fake, wait_for_completion=True, print_log=False)
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as deferred:
        resume(op, ti, ended("Failed", CAPACITY))
    assert created_names(fake) == ["job-1"]
    assert deferred.value.trigger.job_name == "job-1"  # type: ignore[attr-defined]
    assert ti.xcom["training_job_name"] == "job-1"
    attempts = ti.xcom[CAPACITY_KEY]["attempts"]
    assert attempts == [
        {
            "TrainingJobName": "job",
            "TrainingJobStatus": "Failed",
            "SecondaryStatus": "Failed",
            "FailureReason": CAPACITY,
        }
    ]
    # The resubmitted job completes: the result names it and lists the earlier attempt.
    fake.jobs["job-1"]["TrainingJobStatus"] = "Completed"
    success = {"status": "success", "job_name": "job-1", "message": "done"}
    result = resume(op, ti, success)
    assert result["Training"]["TrainingJobName"] == "job-1"
    assert result["Attempts"] == attempts


def test_killing_after_a_resubmit_stops_the_current_job() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Failed", OURS)
    op = make_operator(fake, wait_for_completion=True, print_log=False)
    with pytest.raises(TaskDeferred) as deferred:
        resume(op, FakeTI(), ended("Failed", CAPACITY))
    trigger = deferred.value.trigger
    assert trigger.job_name == "job-1" and trigger.cancel_on_kill  # type: ignore[attr-defined]
    op.on_kill()  # a blocking wait's kill, which follows the same current job
    assert [r for o, r in fake.calls if o == "stop_training_job"] == [{"TrainingJobName": "job-1"}]


def test_an_algorithm_error_is_not_resubmitted() -> None:
    fake = FakeSageMaker()
    op = make_operator(fake, wait_for_completion=True, print_log=False)
    with pytest.raises(AirflowException, match="AlgorithmError"):
        resume(op, FakeTI(), ended("Failed", "AlgorithmError: boom"))
    assert created_names(fake) == []


def test_resubmits_stop_at_capacity_retries(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeSageMaker()
    op = make_operator(fake, wait_for_completion=True, print_log=False, capacity_retries=1)
    earlier = [{"TrainingJobName": "job", "FailureReason": CAPACITY}]
    ti = FakeTI(xcom={CAPACITY_KEY: {"attempts": earlier, "since": None, "tries": 0}})
    with pytest.raises(AirflowException, match="CapacityError"):
        resume(op, ti, ended("Failed", CAPACITY, job="job-1"))
    assert created_names(fake) == []
    assert "capacity_retries=1 used up" in capsys.readouterr().out


def test_a_resubmit_refused_for_quota_waits_and_keeps_the_attempts() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Failed", OURS)
    fake.create_errors.append(refused())
    op = make_operator(fake, wait_for_completion=True, print_log=False)
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as deferred:
        resume(op, ti, ended("Failed", CAPACITY))
    assert isinstance(deferred.value.trigger, SageMakerQuotaWaitTrigger)
    assert [a["TrainingJobName"] for a in ti.xcom[CAPACITY_KEY]["attempts"]] == ["job"]
    # Room appears: the resubmitted job is created and waited for, in the same try.
    with pytest.raises(TaskDeferred) as waiting:
        resume_after_wait(op, ti)
    assert waiting.value.trigger.job_name == "job-1"  # type: ignore[attr-defined]
    assert created_names(fake) == ["job-1", "job-1"]


def test_a_retry_after_a_worker_crash_reattaches_to_the_resubmitted_job() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Failed", OURS)
    fake.add_job("job-1", "InProgress", OURS)
    _, ti = run(make_operator(fake, retries=1), FakeTI(try_number=2, max_tries=1))
    assert created_names(fake) == []
    assert ti.xcom["training_job_name"] == "job-1"


def test_a_deferral_timeout_after_a_resubmit_stops_the_current_job() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Failed", OURS)
    fake.add_job("job-1", "InProgress", OURS)
    ti = FakeTI(xcom={"training_job_name": "job-1"})
    with pytest.raises(TaskDeferralTimeout):
        make_operator(fake, max_attempts=3).resume_execution(  # type: ignore[arg-type]
            "__fail__", {"error": "Trigger timeout"}, {"ti": ti}
        )
    assert [r for o, r in fake.calls if o == "stop_training_job"] == [{"TrainingJobName": "job-1"}]


def test_the_state_survives_its_json_round_trip() -> None:
    state = CapacityState().refused(100.0).refused(200.0).resubmitted(ended("Failed", CAPACITY))
    assert state.since is None and state.tries == 0  # a resubmission starts no wait
    assert CapacityState.from_json(json.loads(json.dumps(state.to_json()))) == state
    waiting = CapacityState().refused(100.0).refused(200.0)
    assert (waiting.since, waiting.tries) == (100.0, 2)
    assert waiting.created() == CapacityState()
    assert CapacityState.from_json(None) == CapacityState()
