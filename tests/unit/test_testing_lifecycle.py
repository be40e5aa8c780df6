"""The simulated job lifecycle: status messages over time and StoppingCondition limits."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_async.testing import training_request
from sagemaker_async.testing.api import describe, summary
from sagemaker_async.testing.capacity import Capacity
from sagemaker_async.testing.jobs import JobStore, Rule, SageMakerError, TrainingJob
from sagemaker_async.testing.lifecycle import LimitStop, Plan
from sagemaker_async.testing.stopping import DEFAULT_MAX_RUNTIME, limit_stop

START = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> JobStore:
    # 100 s jobs: Starting 0-10, Downloading 10-20, Training 20-90, Uploading 90-100.
    return JobStore(default_duration=100.0, stop_delay=5.0, clock=clock)


def create(store: JobStore, name: str, **overrides: Any) -> TrainingJob:
    return store.create(training_request(name, **overrides), "us-east-1")


def messages(job: TrainingJob, now: float) -> list[tuple[str, str]]:
    return [
        (t["Status"], t["StatusMessage"]) for t in describe(job, now)["SecondaryStatusTransitions"]
    ]


def test_starting_shows_the_documented_messages_in_turn(store: JobStore) -> None:
    job = create(store, "steps")
    seen = [messages(job, START + at)[-1] for at in (0.0, 3.0, 3.4, 6.7, 9.9)]
    assert seen == [
        ("Starting", "Starting the training job"),
        ("Starting", "Starting the training job"),
        ("Starting", "Launching requested ML instances"),
        ("Starting", "Preparing the instances for training"),
        ("Starting", "Preparing the instances for training"),
    ]


def test_training_first_downloads_its_image(store: JobStore) -> None:
    job = create(store, "image")
    assert messages(job, START + 20.0)[-1] == ("Training", "Downloading the training image")
    assert messages(job, START + 27.0)[-1] == (
        "Training",
        "Training image download completed. Training in progress.",
    )


def test_a_status_that_is_over_keeps_its_last_message(store: JobStore) -> None:
    job = create(store, "done")
    assert messages(job, START + 100.0) == [
        ("Starting", "Preparing the instances for training"),
        ("Downloading", "Downloading input data"),
        ("Training", "Training image download completed. Training in progress."),
        ("Uploading", "Uploading generated training model"),
        ("Completed", "Training job completed"),
    ]


def test_a_status_cut_short_by_a_stop_keeps_the_message_it_had(
    store: JobStore, clock: Clock
) -> None:
    job = create(store, "cut")
    clock.now = START + 4.0
    store.stop("cut")
    assert messages(job, START + 30.0) == [
        ("Starting", "Launching requested ML instances"),
        ("Stopping", "Stopping the training job"),
        ("Stopped", "Training job stopped"),
    ]


def test_a_capacity_failure_keeps_its_own_starting_message(store: JobStore) -> None:
    store.admission = Capacity(store.running)
    store.admission.failures.add({"name_prefix": "cap-", "after": 30.0})
    job = create(store, "cap-1")
    for at in (0.0, 15.0, 29.0):
        assert messages(job, START + at) == [
            (
                "Starting",
                "Insufficient capacity error from EC2 while launching instances, retrying!",
            )
        ]


def test_max_runtime_counts_from_the_training_start_then_the_job_is_stopped(
    store: JobStore,
) -> None:
    job = create(store, "long", StoppingCondition={"MaxRuntimeInSeconds": 30})
    assert job.limit == LimitStop(START + 10.0 + 30.0, "MaxRuntimeExceeded")
    assert job.status(START + 39.9) == "InProgress"
    stopping = describe(job, START + 40.0)
    assert (stopping["TrainingJobStatus"], stopping["SecondaryStatus"]) == ("Stopping", "Stopping")
    ended = describe(job, START + 45.0)
    assert (ended["TrainingJobStatus"], ended["SecondaryStatus"]) == (
        "Stopped",
        "MaxRuntimeExceeded",
    )
    assert messages(job, START + 45.0)[-3:] == [
        ("Training", "Training image download completed. Training in progress."),
        ("Stopping", "Stopping the training job"),
        ("MaxRuntimeExceeded", "The job stopped because it exceeded the maximum allowed runtime"),
    ]
    assert ended["TrainingEndTime"] == START + 45.0
    assert ended["TrainingTimeInSeconds"] == 35
    assert "ModelArtifacts" not in ended and "FailureReason" not in ended
    assert summary(job, START + 45.0)["TrainingJobStatus"] == "Stopped"
    assert job.end_time(START + 45.0) == START + 45.0


def test_a_job_stopped_by_its_limit_cannot_be_stopped_again(store: JobStore, clock: Clock) -> None:
    job = create(store, "limited", StoppingCondition={"MaxRuntimeInSeconds": 30})
    clock.now = START + 42.0
    store.stop("limited")  # while Stopping: accepted, changes nothing
    assert job.timeline()[-1].status == "MaxRuntimeExceeded"
    clock.now = START + 45.0
    with pytest.raises(SageMakerError, match="in status Stopped"):
        store.stop("limited")
    assert store.running() == []


def test_a_stop_requested_before_the_limit_wins(store: JobStore, clock: Clock) -> None:
    job = create(store, "early", StoppingCondition={"MaxRuntimeInSeconds": 30})
    clock.now = START + 25.0
    store.stop("early")
    assert [t.status for t in job.timeline()][-2:] == ["Stopping", "Stopped"]
    assert job.status(START + 30.0) == "Stopped"


def test_a_job_that_ends_within_its_limits_is_not_affected(store: JobStore) -> None:
    store.add_rule(Rule("fits-", duration=40.0))
    # Training starts at 4 s and would run 36 s: exactly the limit.
    job = create(store, "fits-1", StoppingCondition={"MaxRuntimeInSeconds": 36})
    assert job.limit is None
    assert job.status(START + 40.0) == "Completed"


def test_max_runtime_defaults_to_one_day() -> None:
    plan = Plan(duration=2 * DEFAULT_MAX_RUNTIME, outcome="Completed", failure_reason="")
    stop = limit_stop({"StoppingCondition": {}}, plan, 0.0)
    assert stop == LimitStop(0.1 * plan.duration + DEFAULT_MAX_RUNTIME, "MaxRuntimeExceeded")


def test_managed_spot_training_stops_at_its_max_wait_time(store: JobStore) -> None:
    condition = {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 50}
    spot = create(store, "spot", StoppingCondition=condition, EnableManagedSpotTraining=True)
    assert spot.limit == LimitStop(START + 50.0, "MaxWaitTimeExceeded")
    shown = describe(spot, START + 55.0)
    assert (shown["TrainingJobStatus"], shown["SecondaryStatus"]) == (
        "Stopped",
        "MaxWaitTimeExceeded",
    )
    assert shown["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        "The job stopped because it exceeded the maximum allowed wait time"
    )
    # Without managed spot training the wait time means nothing.
    assert create(store, "on-demand", StoppingCondition=condition).limit is None


def test_the_earlier_limit_applies() -> None:
    plan = Plan(duration=100.0, outcome="Completed", failure_reason="")
    request = {
        "EnableManagedSpotTraining": True,
        "StoppingCondition": {"MaxRuntimeInSeconds": 20, "MaxWaitTimeInSeconds": 40},
    }
    assert limit_stop(request, plan, 0.0) == LimitStop(30.0, "MaxRuntimeExceeded")
    request["StoppingCondition"]["MaxWaitTimeInSeconds"] = 25
    assert limit_stop(request, plan, 0.0) == LimitStop(25.0, "MaxWaitTimeExceeded")


def test_a_job_that_never_trains_has_no_runtime_but_waits_at_most_its_max_wait(
    store: JobStore,
) -> None:
    store.admission = Capacity(store.running)
    store.admission.failures.add({"name_prefix": "", "count": None, "after": 80.0})
    stuck = create(store, "stuck", StoppingCondition={"MaxRuntimeInSeconds": 1})
    assert stuck.limit is None and stuck.status(START + 80.0) == "Failed"
    condition = {"MaxRuntimeInSeconds": 1, "MaxWaitTimeInSeconds": 60}
    spot = create(store, "spot", StoppingCondition=condition, EnableManagedSpotTraining=True)
    assert [t.status for t in spot.timeline()] == ["Starting", "Stopping", "MaxWaitTimeExceeded"]
    assert spot.status(START + 65.0) == "Stopped"


def test_a_hurried_job_keeps_its_past_and_goes_through_the_rest_in_order(
    store: JobStore, clock: Clock
) -> None:
    job = create(store, "hurried")
    before = messages(job, START + 30.0)
    clock.now = START + 30.0
    assert store.hurry("hurr", within=4.0) == ["hurried"]
    assert messages(job, START + 30.0) == before  # nothing it showed changes
    statuses = [(t.status, round(t.start - START, 2)) for t in job.timeline()]
    # Uploading was due at 90 s of 100: 60 of the 70 s left, squeezed into 4 s.
    assert statuses == [
        ("Starting", 0.0),
        ("Downloading", 10.0),
        ("Training", 20.0),
        ("Uploading", round(30.0 + 60.0 * 4.0 / 70.0, 2)),
        ("Completed", 34.0),
    ]
    assert job.status(START + 33.9) == "InProgress"
    ended = describe(job, START + 34.0)
    assert (ended["TrainingJobStatus"], ended["TrainingEndTime"]) == ("Completed", START + 34.0)
    assert store.hurry("hurr", within=1.0) == []  # hurried once; an ended job is not


def test_a_job_hurried_while_starting_still_trains_before_its_outcome(
    store: JobStore, clock: Clock
) -> None:
    store.add_rule(Rule("slow-", outcome="Failed", failure_reason="AlgorithmError: x"))
    job = create(store, "slow-1")
    clock.now = START + 5.0
    store.hurry("slow-", within=2.0)
    assert [t.status for t in job.timeline()] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Failed",
    ]
    assert job.status(START + 7.0) == "Failed"
    assert messages(job, START + 6.5)[-1][0] in ("Training", "Uploading")


def test_hurry_leaves_stopping_and_other_jobs_alone(store: JobStore, clock: Clock) -> None:
    stopping, other = create(store, "h-stop"), create(store, "other")
    clock.now = START + 30.0
    store.stop("h-stop")
    assert store.hurry("h-", within=1.0) == []
    assert stopping.timeline()[-1].status == "Stopped"
    assert other.hurry is None and other.status(START + 99.0) == "InProgress"


def test_a_hurried_job_ends_before_a_limit_that_would_have_stopped_it(
    store: JobStore, clock: Clock
) -> None:
    job = create(store, "limit-h", StoppingCondition={"MaxRuntimeInSeconds": 60})
    assert job.limit is not None  # it would stop at 70 s, before its planned 100 s
    clock.now = START + 30.0
    store.hurry("limit-h", within=2.0)
    assert job.status(START + 32.0) == "Completed"
    assert [t.status for t in job.timeline()][-1] == "Completed"


def test_a_hurry_never_stretches_a_job_that_was_ending_sooner(
    store: JobStore, clock: Clock
) -> None:
    job = create(store, "nearly")
    clock.now = START + 99.0
    store.hurry("nearly", within=5.0)
    assert job.timeline()[-1].start == START + 100.0


def test_a_stop_after_a_hurry_stops_the_job_from_where_it_got(
    store: JobStore, clock: Clock
) -> None:
    job = create(store, "hs")
    clock.now = START + 5.0
    store.hurry("hs", within=10.0)  # Downloading from about 6.1 s, Training from about 7.1 s
    clock.now = START + 8.0
    store.stop("hs")
    assert [t.status for t in job.timeline()] == [
        "Starting",
        "Downloading",
        "Training",
        "Stopping",
        "Stopped",
    ]
    assert job.status(START + 13.0) == "Stopped"


def test_a_limit_inside_the_hurried_rest_still_stops_the_job(store: JobStore, clock: Clock) -> None:
    job = create(store, "lim-in", StoppingCondition={"MaxRuntimeInSeconds": 21})
    assert job.limit == LimitStop(START + 31.0, "MaxRuntimeExceeded")
    clock.now = START + 30.0
    store.hurry("lim-in", within=2.0)  # the outcome would come at 32 s
    assert [t.status for t in job.timeline()][-2:] == ["Stopping", "MaxRuntimeExceeded"]
    assert job.status(START + 36.0) == "Stopped"
