"""The simulator's quotas and capacity failures, on a job store with a fake clock (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_async.testing import training_request
from sagemaker_async.testing.api import describe
from sagemaker_async.testing.capacity import REASONS, Capacity, parse_capacity_failure
from sagemaker_async.testing.jobs import JobStore, Rule, SageMakerError
from sagemaker_async.testing.quotas import parse_quotas, quota_exceeded, requested_instances

M5 = "ml.m5.large"
P3 = "ml.p3.2xlarge"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> JobStore:
    store = JobStore(default_duration=100.0, stop_delay=5.0, clock=clock)
    store.admission = Capacity(store.running)
    return store


@pytest.fixture
def capacity(store: JobStore) -> Capacity:
    assert isinstance(store.admission, Capacity)
    return store.admission


def request(name: str, instance_type: str = M5, count: int = 1) -> dict[str, Any]:
    config = {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 10}
    return training_request(name, ResourceConfig=config)


def refusal(store: JobStore, name: str, **kwargs: Any) -> str:
    with pytest.raises(SageMakerError) as info:
        store.create(request(name, **kwargs), "us-east-1")
    assert info.value.code == "ResourceLimitExceeded"
    assert info.value.status == 400
    with pytest.raises(SageMakerError):
        store.get(name)  # nothing was created
    return info.value.message


def test_the_message_has_sagemakers_shape() -> None:
    assert quota_exceeded(P3, 4, 3, 2).message == (
        "The account-level service limit 'ml.p3.2xlarge for training job usage' is 4 "
        "Instances, with current utilization of 3 Instances and a request delta of 2 "
        "Instances. Please use AWS Service Quotas to request an increase for this quota. If "
        "AWS Service Quotas is not available, contact AWS support to request an increase for "
        "this quota."
    )


def test_requested_instances_count_the_resource_config_and_its_instance_groups() -> None:
    groups = [
        {"InstanceType": M5, "InstanceCount": 2, "InstanceGroupName": "a"},
        {"InstanceType": P3, "InstanceCount": 3, "InstanceGroupName": "b"},
        {"InstanceType": P3, "InstanceCount": 0, "InstanceGroupName": "c"},
    ]
    assert requested_instances({"ResourceConfig": {"InstanceGroups": groups}}) == {M5: 2, P3: 3}
    config = {"InstanceType": M5, "InstanceCount": 4, "InstanceGroups": groups[:1]}
    assert requested_instances({"ResourceConfig": config}) == {M5: 6}
    assert requested_instances({"ResourceConfig": {"InstanceType": M5, "InstanceCount": 0}}) == {}
    assert requested_instances({"ResourceConfig": "nonsense"}) == {}
    assert requested_instances({}) == {}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({M5: -1}, M5),
        ({M5: 1.5}, M5),
        ({M5: True}, M5),
        ({M5: "2"}, M5),
        ({"ml.m5.largee": 1}, "ml.m5.largee"),
        ([M5], "JSON object"),
    ],
)
def test_bad_quotas_are_refused_naming_the_key(body: object, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_quotas(body)


def test_quotas_parse() -> None:
    assert parse_quotas({P3: 4, M5: 0}) == {P3: 4, M5: 0}
    assert parse_quotas({}) == {}


def test_a_create_over_the_quota_is_refused_and_room_is_freed_when_a_job_ends(
    store: JobStore, capacity: Capacity, clock: Clock
) -> None:
    capacity.quotas.configure({M5: 2})
    store.add_rule(Rule("short-", duration=10.0))
    store.create(request("short-1"), "us-east-1")
    store.create(request("long-1"), "us-east-1")
    message = refusal(store, "extra-1")
    assert "is 2 Instances, with current utilization of 2 Instances and a request delta of 1" in (
        message
    )
    # Another type has no quota.
    store.create(request("other", instance_type=P3, count=8), "us-east-1")
    clock.now += 10.0  # short-1 completes
    store.create(request("extra-2"), "us-east-1")
    view = capacity.quotas.view()
    assert view["quotas"] == {M5: 2}
    assert view["in_use"] == {M5: 2, P3: 8}
    assert view["refused"] == {M5: 1}
    assert view["peak_in_use"] == {M5: 2, P3: 8}


def test_a_request_of_several_instances_counts_them_all(
    store: JobStore, capacity: Capacity
) -> None:
    capacity.quotas.configure({P3: 4})
    store.create(request("a", instance_type=P3, count=3), "us-east-1")
    message = refusal(store, "b", instance_type=P3, count=2)
    assert "is 4 Instances, with current utilization of 3 Instances and a request delta of 2" in (
        message
    )
    store.create(request("c", instance_type=P3, count=1), "us-east-1")


def test_a_quota_of_zero_refuses_every_job_of_its_type(store: JobStore, capacity: Capacity) -> None:
    capacity.quotas.configure({P3: 0})
    message = refusal(store, "gpu", instance_type=P3)
    assert "is 0 Instances, with current utilization of 0 Instances and a request delta of 1" in (
        message
    )
    assert capacity.quotas.view()["refused"] == {P3: 1}


def test_a_stopping_job_holds_its_instances_until_it_is_stopped(
    store: JobStore, capacity: Capacity, clock: Clock
) -> None:
    capacity.quotas.configure({M5: 1})
    store.create(request("a"), "us-east-1")
    clock.now += 1.0
    store.stop("a")
    assert store.get("a").status(clock.now) == "Stopping"
    refusal(store, "b")
    clock.now += 5.0  # the stop delay
    assert store.get("a").status(clock.now) == "Stopped"
    store.create(request("b"), "us-east-1")


def test_each_region_counts_its_own_jobs(store: JobStore, capacity: Capacity) -> None:
    capacity.quotas.configure({M5: 1})
    store.create(request("east"), "us-east-1")
    store.create(request("west"), "eu-west-1")
    with pytest.raises(SageMakerError):
        store.create(request("west-2"), "eu-west-1")
    assert capacity.quotas.view("eu-west-1")["in_use"] == {M5: 1}
    assert capacity.quotas.view("eu-west-1")["refused"] == {M5: 1}
    assert capacity.quotas.view()["refused"] == {}


def test_the_peak_counts_from_when_quotas_are_set(
    store: JobStore, capacity: Capacity, clock: Clock
) -> None:
    store.create(request("before"), "us-east-1")
    assert capacity.quotas.view()["peak_in_use"] == {}  # not followed before quotas are set
    capacity.quotas.configure({})  # no limit, but the peak is followed from now
    assert capacity.quotas.view()["peak_in_use"] == {M5: 1}
    store.create(request("second", count=3), "us-east-1")
    clock.now += 200.0  # both ended
    view = capacity.quotas.view()
    assert view["in_use"] == {}
    assert view["peak_in_use"] == {M5: 4}
    capacity.reset()
    assert capacity.quotas.view() == {"quotas": {}, "in_use": {}, "refused": {}, "peak_in_use": {}}


def test_a_capacity_failure_waits_in_starting_then_fails_without_training(
    store: JobStore, capacity: Capacity, clock: Clock
) -> None:
    capacity.failures.add({"name_prefix": "cap-", "after": 30.0})
    job = store.create(request("cap-1"), "us-east-1")
    assert not job.writes_logs
    clock.now += 29.0
    shown = describe(job, clock.now)
    assert (shown["TrainingJobStatus"], shown["SecondaryStatus"]) == ("InProgress", "Starting")
    assert shown["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        "Insufficient capacity error from EC2 while launching instances, retrying!"
    )
    clock.now += 1.0
    shown = describe(job, clock.now)
    assert shown["TrainingJobStatus"] == "Failed"
    assert shown["FailureReason"] == REASONS["CapacityError"]
    assert [t["Status"] for t in shown["SecondaryStatusTransitions"]] == ["Starting", "Failed"]
    assert "TrainingStartTime" not in shown
    assert shown["BillableTimeInSeconds"] == 0
    # The failure was spent on cap-1: the retry under a new name trains and completes.
    retry = store.create(request("cap-2"), "us-east-1")
    assert retry.writes_logs
    clock.now += 100.0
    assert retry.status(clock.now) == "Completed"
    (failure,) = capacity.failures.view()["capacity_failures"]
    assert (failure["failed"], failure["remaining"]) == (["cap-1"], 0)


def test_capacity_failures_take_the_rule_duration_and_the_newest_applies_first(
    store: JobStore, capacity: Capacity, clock: Clock
) -> None:
    store.add_rule(Rule("job-", duration=7.0))
    capacity.failures.add({"name_prefix": "job-", "count": None, "reason": "InternalServerError"})
    capacity.failures.add({"name_prefix": "job-gpu", "count": 1, "after": 2.0})
    first = store.create(request("job-gpu-1"), "us-east-1")
    second = store.create(request("job-gpu-2"), "us-east-1")
    assert (first.plan.failure_reason, first.plan.duration) == (REASONS["CapacityError"], 2.0)
    assert second.plan.failure_reason == REASONS["InternalServerError"]
    assert second.plan.duration == 7.0  # no "after": the rule's duration
    assert second.timeline()[0].message == "Launching requested ML instances."
    clock.now += 7.0
    assert second.status(clock.now) == "Failed"


def test_a_create_refused_by_a_quota_spends_no_capacity_failure(
    store: JobStore, capacity: Capacity
) -> None:
    capacity.quotas.configure({P3: 0})
    capacity.failures.add({"name_prefix": "", "count": 1})
    refusal(store, "gpu", instance_type=P3)
    assert store.create(request("cpu"), "us-east-1").plan.outcome == "Failed"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "name_prefix"),
        ({"name_prefix": 1}, "name_prefix"),
        ({"name_prefix": "a", "count": 0}, "count"),
        ({"name_prefix": "a", "count": True}, "count"),
        ({"name_prefix": "a", "after": -1}, "after"),
        ({"name_prefix": "a", "after": "5"}, "after"),
        ({"name_prefix": "a", "reason": "Nope"}, "reason"),
        ({"name_prefix": "a", "times": 2}, "times"),
    ],
)
def test_bad_capacity_failures_are_refused_naming_the_field(
    body: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        parse_capacity_failure(body)


def test_a_store_without_admission_is_unchanged(clock: Clock) -> None:
    store = JobStore(default_duration=100.0, clock=clock)
    job = store.create(request("plain", instance_type=P3, count=100), "us-east-1")
    assert job.writes_logs
    assert [t.status for t in job.timeline()] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert store.running() == [job]
