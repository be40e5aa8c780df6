"""The simulator's account quotas and capacity failures, through boto3 and the control API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sagemaker_async.testing import (
    SageMakerSimulator,
    SimulatorClient,
    aws_client,
    training_request,
)
from sagemaker_async.testing.control import SimulatorControlError

pytestmark = pytest.mark.integration

M5 = "ml.m5.large"
P3 = "ml.p3.2xlarge"
CAPACITY_REASON = (
    "CapacityError: Unable to provision requested ML compute capacity. "
    "Please retry using a different ML instance type."
)
# One attempt: a refused create must reach the test as it was answered.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def limit_message(instance_type: str, quota: int, in_use: int, delta: int) -> str:
    return (
        f"The account-level service limit '{instance_type} for training job usage' is {quota} "
        f"Instances, with current utilization of {in_use} Instances and a request delta of "
        f"{delta} Instances. Please use AWS Service Quotas to request an increase for this "
        "quota. If AWS Service Quotas is not available, contact AWS support to request an "
        "increase for this quota."
    )


def request(name: str, instance_type: str = M5, count: int = 1) -> dict[str, Any]:
    config = {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 10}
    return training_request(name, ResourceConfig=config)


@pytest.fixture
def sm(simulator: SageMakerSimulator, sim: SimulatorClient) -> Any:
    return aws_client("sagemaker", simulator.endpoint_url, config=NO_RETRIES)


def refused(sm: Any, name: str, **kwargs: Any) -> dict[str, Any]:
    """The error answer to a create that must be refused."""
    with pytest.raises(ClientError) as info:
        sm.create_training_job(**request(name, **kwargs))
    return dict(info.value.response)


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def status(sm: Any, name: str) -> str:
    return str(sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"])


def test_a_create_over_the_quota_is_refused_with_sagemakers_message_and_creates_nothing(
    sm: Any, sim: SimulatorClient
) -> None:
    sim.set_quotas({M5: 2})
    sim.add_rule("q-", duration=600.0)
    sm.create_training_job(**request("q-1"))
    sm.create_training_job(**request("q-2"))
    answer = refused(sm, "q-3")
    assert answer["Error"]["Code"] == "ResourceLimitExceeded"
    assert answer["Error"]["Message"] == limit_message(M5, 2, 2, 1)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sim.job("q-3") is None
    # Other instance types have no quota.
    sm.create_training_job(**request("q-gpu", instance_type=P3, count=3))
    assert sim.quotas() == {
        "quotas": {M5: 2},
        "in_use": {M5: 2, P3: 3},
        "refused": {M5: 1},
        "peak_in_use": {M5: 2, P3: 3},
    }


def test_room_is_freed_once_a_job_ends(sm: Any, sim: SimulatorClient) -> None:
    sim.set_quotas({M5: 2})
    sim.add_rule("long-", duration=600.0)
    sim.add_rule("short-", duration=1.0)
    sm.create_training_job(**request("long-1"))
    sm.create_training_job(**request("short-1"))
    assert refused(sm, "next-1")["Error"]["Message"] == limit_message(M5, 2, 2, 1)
    wait_for(lambda: status(sm, "short-1") == "Completed")
    sm.create_training_job(**request("next-1"))
    # A stopped job frees its instances too, once it is Stopped.
    sm.stop_training_job(TrainingJobName="long-1")
    wait_for(lambda: status(sm, "long-1") == "Stopped")
    sm.create_training_job(**request("next-2"))
    view = sim.quotas()
    assert (view["refused"], view["peak_in_use"]) == ({M5: 1}, {M5: 2})


def test_a_quota_of_zero_refuses_at_once(sm: Any, sim: SimulatorClient) -> None:
    sim.set_quotas({P3: 0})
    answer = refused(sm, "gpu", instance_type=P3)
    assert answer["Error"]["Code"] == "ResourceLimitExceeded"
    assert answer["Error"]["Message"] == limit_message(P3, 0, 0, 1)
    assert sim.jobs() == []


def test_concurrent_creates_for_the_last_room_admit_exactly_the_quota(
    simulator: SageMakerSimulator, sim: SimulatorClient
) -> None:
    sim.set_quotas({M5: 3})
    sim.add_rule("race-", duration=600.0)
    racers = 8
    client = aws_client("sagemaker", simulator.endpoint_url, config=NO_RETRIES)  # thread-safe
    start = threading.Barrier(racers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(index: int) -> None:
        start.wait()
        try:
            client.create_training_job(**request(f"race-{index}"))
            outcome = "created"
        except ClientError as err:
            outcome = str(err.response["Error"]["Code"])
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60.0)
    assert sorted(outcomes) == ["ResourceLimitExceeded"] * 5 + ["created"] * 3
    assert len(sim.jobs(prefix="race-")) == 3
    view = sim.quotas()
    assert (view["in_use"], view["refused"], view["peak_in_use"]) == ({M5: 3}, {M5: 5}, {M5: 3})


def test_a_capacity_failure_fails_once_then_a_job_under_a_new_name_succeeds(
    sm: Any, sim: SimulatorClient
) -> None:
    sim.add_rule("cap-", duration=1.0)
    sim.add_capacity_failure("cap-", count=1, after=5.0)
    sm.create_training_job(**request("cap-1"))
    starting = sm.describe_training_job(TrainingJobName="cap-1")
    assert (starting["TrainingJobStatus"], starting["SecondaryStatus"]) == (
        "InProgress",
        "Starting",
    )
    assert starting["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        "Insufficient capacity error from EC2 while launching instances, retrying!"
    )
    wait_for(lambda: status(sm, "cap-1") == "Failed")
    failed = sm.describe_training_job(TrainingJobName="cap-1")
    assert failed["FailureReason"] == CAPACITY_REASON
    assert "TrainingStartTime" not in failed
    assert failed["BillableTimeInSeconds"] == 0
    # The retry, under the next name, gets the rule's plan.
    sm.create_training_job(**request("cap-1-1"))
    wait_for(lambda: status(sm, "cap-1-1") == "Completed")
    (failure,) = sim.capacity_failures()
    assert (failure["failed"], failure["remaining"]) == (["cap-1"], 0)
    assert failure["failure_reason"] == CAPACITY_REASON


def test_internal_server_errors_can_fail_every_matching_job(sm: Any, sim: SimulatorClient) -> None:
    sim.add_capacity_failure("ise-", count=None, after=0.0, reason="InternalServerError")
    for name in ("ise-1", "ise-2"):
        sm.create_training_job(**request(name))
        answer = sm.describe_training_job(TrainingJobName=name)
        assert answer["TrainingJobStatus"] == "Failed"
        assert answer["FailureReason"] == (
            "InternalServerError: We encountered an internal error. Please try again."
        )
    assert sim.capacity_failures()[0]["remaining"] is None


def test_bad_settings_are_refused_naming_the_field(sim: SimulatorClient) -> None:
    with pytest.raises(SimulatorControlError, match=r"HTTP 400.*ml.m5.large"):
        sim.set_quotas({M5: -1})
    with pytest.raises(SimulatorControlError, match=r"HTTP 400.*ml.m5.huge"):
        sim.set_quotas({"ml.m5.huge": 1})
    with pytest.raises(SimulatorControlError, match=r"HTTP 400.*reason"):
        sim.add_capacity_failure("x", reason="OutOfLuck")
    assert sim.quotas()["quotas"] == {}
    assert sim.capacity_failures() == []


def test_reset_clears_quotas_and_capacity_failures(sm: Any, sim: SimulatorClient) -> None:
    sim.set_quotas({M5: 0})
    sim.add_capacity_failure("", count=None)
    refused(sm, "before")
    sim.reset()
    assert sim.quotas() == {"quotas": {}, "in_use": {}, "refused": {}, "peak_in_use": {}}
    assert sim.capacity_failures() == []
    sm.create_training_job(**request("after"))
    shown = sm.describe_training_job(TrainingJobName="after")
    # No capacity failure any more: the job starts with the first documented Starting message.
    assert shown["SecondaryStatusTransitions"][0]["StatusMessage"] == "Starting the training job"
    wait_for(lambda: status(sm, "after") == "Completed")


def test_the_in_process_helpers_match_the_control_api(
    simulator: SageMakerSimulator, sim: SimulatorClient
) -> None:
    simulator.set_quotas({P3: 1})
    simulator.add_capacity_failure("inproc-", after=1.0)
    assert sim.quotas()["quotas"] == {P3: 1}
    assert simulator.quotas() == sim.quotas()
    assert simulator.capacity_failures() == sim.capacity_failures()
    assert sim.capacity_failures()[0]["name_prefix"] == "inproc-"
