"""The simulated lifecycle through boto3: StoppingCondition limits end jobs as SageMaker
documents, and status messages change within a status."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemaker_async.testing import (
    SageMakerSimulator,
    SimulatorClient,
    SimulatorControlError,
    aws_client,
    training_request,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def sm(simulator: SageMakerSimulator, sim: SimulatorClient) -> Any:
    return aws_client("sagemaker", simulator.endpoint_url)


def wait_until_stopped(sm: Any, name: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = sm.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return job
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_job_past_its_max_runtime_is_stopped_as_max_runtime_exceeded(
    simulator: SageMakerSimulator, sm: Any, sim: SimulatorClient
) -> None:
    # Training would start after 0.4 s and run 3.6 s; the limit stops it after 1 s.
    sim.add_rule("overrun", duration=4.0)
    sm.create_training_job(
        **training_request("overrun", StoppingCondition={"MaxRuntimeInSeconds": 1})
    )
    seen = set()
    job = sm.describe_training_job(TrainingJobName="overrun")
    while job["TrainingJobStatus"] in ("InProgress", "Stopping"):
        seen.add(job["TrainingJobStatus"])
        time.sleep(0.05)
        job = sm.describe_training_job(TrainingJobName="overrun")
    assert seen == {"InProgress", "Stopping"}
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == [
        "Stopping",
        "MaxRuntimeExceeded",
    ]
    ran = job["TrainingEndTime"] - job["TrainingStartTime"]
    assert 1.0 <= ran.total_seconds() < 4.0 - 0.4
    (summary,) = sm.list_training_jobs(StatusEquals="Stopped")["TrainingJobSummaries"]
    assert (summary["TrainingJobName"], summary["SecondaryStatus"]) == (
        "overrun",
        "MaxRuntimeExceeded",
    )
    with pytest.raises(ClientError, match="in status Stopped"):
        sm.stop_training_job(TrainingJobName="overrun")
    lines = [message for _, message in simulator.log_lines("overrun")]
    assert lines[-2:] == [
        "[Stopping] Stopping the training job",
        "[MaxRuntimeExceeded] The job stopped because it exceeded the maximum allowed runtime",
    ]


def test_a_spot_job_past_its_max_wait_time_is_stopped_as_max_wait_time_exceeded(
    sm: Any, sim: SimulatorClient
) -> None:
    sim.add_rule("spot", duration=4.0)
    condition = {"MaxRuntimeInSeconds": 3, "MaxWaitTimeInSeconds": 1}
    sm.create_training_job(
        **training_request("spot", StoppingCondition=condition, EnableManagedSpotTraining=True)
    )
    job = wait_until_stopped(sm, "spot")
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxWaitTimeExceeded")


def test_jobs_within_their_limits_complete(sm: Any, sim: SimulatorClient) -> None:
    sim.add_rule("quick", duration=1.0)
    sm.create_training_job(
        **training_request("quick", StoppingCondition={"MaxRuntimeInSeconds": 1})
    )
    assert wait_until_stopped(sm, "quick")["TrainingJobStatus"] == "Completed"


def test_status_messages_change_within_a_status(sm: Any, sim: SimulatorClient) -> None:
    # Starting lasts 3 s: a new message after 1 s and another after 2 s.
    sim.add_rule("slow", duration=30.0)
    sm.create_training_job(**training_request("slow"))
    shown: list[tuple[str, str]] = []
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        last = sm.describe_training_job(TrainingJobName="slow")["SecondaryStatusTransitions"][-1]
        seen = (last["Status"], last["StatusMessage"])
        if not shown or shown[-1] != seen:
            shown.append(seen)
        if seen[0] == "Downloading":
            break
        time.sleep(0.1)
    expected = [
        ("Starting", "Starting the training job"),
        ("Starting", "Launching requested ML instances"),
        ("Starting", "Preparing the instances for training"),
        ("Downloading", "Downloading input data"),
    ]
    # In that order; a describe slowed down by a busy machine may miss one of them.
    assert shown == [message for message in expected if message in shown]
    assert len(shown) >= 3 and shown[-1] == expected[-1]
    first = sm.describe_training_job(TrainingJobName="slow")["SecondaryStatusTransitions"][0]
    assert first["StatusMessage"] == "Preparing the instances for training"  # as it left it


def test_hurried_jobs_complete_within_seconds_through_the_api(
    sm: Any, sim: SimulatorClient
) -> None:
    sim.add_rule("hurry-", duration=600.0)
    for name in ("hurry-a", "hurry-b"):
        sm.create_training_job(**training_request(name))
    assert sorted(sim.hurry("hurry-", within=1.0)) == ["hurry-a", "hurry-b"]
    for name in ("hurry-a", "hurry-b"):
        job = wait_until_stopped(sm, name, timeout=10.0)
        assert job["TrainingJobStatus"] == "Completed"
        seen = [t["Status"] for t in job["SecondaryStatusTransitions"]]
        assert seen == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    with pytest.raises(SimulatorControlError, match="positive number of seconds"):
        sim.hurry("hurry-", within=0)
