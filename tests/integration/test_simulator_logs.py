"""The simulator's CloudWatch Logs as AWS documents it, through boto3 and the control API:
sparse FilterLogEvents pages, 50 streams a page, a stream per instance, late last lines,
rate limits and faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from sagemaker_async.testing import (
    SageMakerSimulator,
    SimulatorClient,
    aws_client,
    training_request,
)
from sagemaker_async.testing.control import SimulatorControlError

pytestmark = pytest.mark.integration

GROUP = "/aws/sagemaker/TrainingJobs"
# One attempt: every throttle and fault reaches the test.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def sm(simulator: SageMakerSimulator, sim: SimulatorClient) -> Any:
    return aws_client("sagemaker", simulator.endpoint_url, config=NO_RETRIES)


@pytest.fixture
def logs(simulator: SageMakerSimulator, sim: SimulatorClient) -> Any:
    return aws_client("logs", simulator.endpoint_url, config=NO_RETRIES)


def resources(count: int) -> dict[str, Any]:
    return {"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 10}


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def finished(sm: Any, name: str) -> dict[str, Any]:
    """The describe that first reports the job's final status."""
    answer: dict[str, Any] = {}

    def ended() -> bool:
        answer.update(sm.describe_training_job(TrainingJobName=name))
        return answer["TrainingJobStatus"] in ("Completed", "Failed", "Stopped")

    wait_for(ended)
    return answer


def streams(logs: Any, name: str) -> list[str]:
    page = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=f"{name}/")
    return [s["logStreamName"] for s in page["logStreams"]]


def read_pass(logs: Any, **request: Any) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Every page of one FilterLogEvents pass: event ids per page, and all events."""
    pages: list[list[str]] = []
    events: list[dict[str, Any]] = []
    while True:
        page = logs.filter_log_events(logGroupName=GROUP, interleaved=True, **request)
        pages.append([event["eventId"] for event in page["events"]])
        events += page["events"]
        if "nextToken" not in page:
            return pages, events
        request["nextToken"] = page["nextToken"]


def test_filter_log_events_pages_may_be_empty_or_partial_and_still_yield_every_event_once(
    sm: Any, logs: Any, sim: SimulatorClient
) -> None:
    sim.add_rule("paged", duration=4.0)
    sm.create_training_job(**training_request("paged", ResourceConfig=resources(2)))
    finished(sm, "paged")
    names = streams(logs, "paged")
    assert len(names) == 2
    _, everything = read_pass(logs, logStreamNames=names)  # moto's own pages
    assert len(everything) > 10

    sim.set_logs(empty_pages=2, page_events=3)
    pages, events = read_pass(logs, logStreamNames=names)
    assert pages[:2] == [[], []] and pages[-1] == []  # a token, then nothing after all
    assert all(1 <= len(page) <= 3 for page in pages[2:-1])
    assert events == everything  # each event once, in order
    stamps = [(e["timestamp"], e["ingestionTime"], int(e["eventId"])) for e in events]
    assert stamps == sorted(stamps)
    paginated = logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, logStreamNames=names, PaginationConfig={"PageSize": 2}
    )
    assert [e for page in paginated for e in page["events"]] == everything
    assert sim.log_settings() == {
        "empty_pages": 2,
        "page_events": 3,
        "late_lines": 3,
        "late_lines_after": 0.0,
    }


def test_describe_log_streams_answers_fifty_streams_a_page(
    simulator: SageMakerSimulator, sm: Any, logs: Any, sim: SimulatorClient
) -> None:
    sim.add_rule("wide", duration=0.5)
    sm.create_training_job(**training_request("wide", ResourceConfig=resources(55)))
    finished(sm, "wide")
    first = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="wide/")
    assert len(first["logStreams"]) == 50 and "nextToken" in first
    second = logs.describe_log_streams(
        logGroupName=GROUP, logStreamNamePrefix="wide/", nextToken=first["nextToken"]
    )
    assert len(second["logStreams"]) == 5 and "nextToken" not in second
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="wide/", limit=51)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert len({stream for stream, _ in simulator.log_lines("wide")}) == 55


def test_each_instance_of_each_group_writes_its_own_stream(
    simulator: SageMakerSimulator, sm: Any, sim: SimulatorClient
) -> None:
    groups = [
        {"InstanceGroupName": "cpu", "InstanceType": "ml.m5.large", "InstanceCount": 2},
        {"InstanceGroupName": "gpu", "InstanceType": "ml.p3.2xlarge", "InstanceCount": 1},
    ]
    config = {"InstanceGroups": groups, "VolumeSizeInGB": 10}
    sim.add_rule("hetero", duration=3.0)
    sm.create_training_job(**training_request("hetero", ResourceConfig=config))
    created = sim.job("hetero")
    assert created is not None
    finished(sm, "hetero")
    lines = simulator.log_lines("hetero")
    epoch = int(created["created_at"])
    assert sorted({stream for stream, _ in lines}) == [
        f"hetero/algo-{n}-{epoch}" for n in (1, 2, 3)
    ]
    epochs = [(stream, line) for stream, line in lines if line.startswith("epoch 1 ")]
    assert len(epochs) == 3 and len({line for _, line in epochs}) == 3  # each its own loss


def test_the_last_lines_can_land_after_the_final_status(
    sm: Any, logs: Any, sim: SimulatorClient
) -> None:
    sim.set_logs(late_lines=2, late_lines_after=2.0)
    sim.add_rule("late", duration=1.0)
    sm.create_training_job(**training_request("late"))
    final = finished(sm, "late")
    assert final["TrainingJobStatus"] == "Completed"
    (summary,) = sm.list_training_jobs(NameContains="late")["TrainingJobSummaries"]
    assert summary["TrainingJobStatus"] == "Completed"  # describe and list agree
    (stream,) = streams(logs, "late")

    def messages() -> list[str]:
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
        return [event["message"] for event in page["events"]]

    assert messages()[-1] == "[Training] Training image download completed. Training in progress."
    wait_for(lambda: messages()[-1] == "[Completed] Training job completed", timeout=10.0)
    ended_at = int(final["TrainingEndTime"].timestamp() * 1000)
    page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    assert page["events"][-1]["timestamp"] == ended_at  # its own time, though written late
    assert messages()[-2] == "[Uploading] Uploading generated training model"


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


def test_rate_limits_throttle_the_logs_operations_the_package_calls(
    sm: Any, logs: Any, sim: SimulatorClient
) -> None:
    sm.create_training_job(**training_request("limited"))
    sm.describe_training_job(TrainingJobName="limited")  # writes its first lines
    (stream,) = streams(logs, "limited")
    calls: dict[str, Callable[[], Any]] = {
        "FilterLogEvents": lambda: logs.filter_log_events(logGroupName=GROUP),
        "DescribeLogStreams": lambda: logs.describe_log_streams(logGroupName=GROUP),
        "GetLogEvents": lambda: logs.get_log_events(logGroupName=GROUP, logStreamName=stream),
    }
    sim.set_rate_limits({op: {"rate": 0.01, "burst": 2} for op in calls})
    for operation, call in calls.items():
        call()
        call()
        assert error_of(call) == (400, "ThrottlingException", "Rate exceeded"), operation
    view = sim.rate_limits()
    assert view["allowed"] == dict.fromkeys(calls, 2)
    assert view["throttled"] == dict.fromkeys(calls, 1)


def test_faults_reach_logs_operations_only_when_named(
    sm: Any, logs: Any, sim: SimulatorClient
) -> None:
    sm.create_training_job(**training_request("faulted"))
    sim.set_faults(throttle_fraction=1.0, down_for=30.0)  # SageMaker only
    assert streams(logs, "faulted")
    assert set(sim.faults()["counters"].values()) == {0}

    sim.set_faults(error_fraction=1.0, operations=["FilterLogEvents"])
    assert error_of(lambda: logs.filter_log_events(logGroupName=GROUP))[:2] == (
        500,
        "InternalFailure",
    )
    assert streams(logs, "faulted")
    sim.set_faults(drop_fraction=1.0, operations=["DescribeLogStreams"])
    with pytest.raises((HTTPClientError, ConnectionError)):
        streams(logs, "faulted")
    counters = sim.faults()["counters"]
    assert (counters["errors"], counters["dropped"]) == (1, 1)


def test_log_settings_are_checked_set_in_process_and_reset(
    simulator: SageMakerSimulator, sim: SimulatorClient
) -> None:
    with pytest.raises(SimulatorControlError, match=r"HTTP 400.*page_events"):
        sim.set_logs(page_events=0)
    with pytest.raises(SimulatorControlError, match=r"HTTP 400.*late_lines_after"):
        sim.set_logs(late_lines_after=-1.0)
    simulator.set_logs(empty_pages=1, late_lines=1, late_lines_after=5.0)
    assert sim.log_settings() == simulator.log_settings()
    assert sim.log_settings()["late_lines_after"] == 5.0
    sim.reset()
    assert sim.log_settings() == {
        "empty_pages": 0,
        "page_events": None,
        "late_lines": 3,
        "late_lines_after": 0.0,
    }
