"""The SageMaker simulator, driven through plain boto3 / aiobotocore clients and its CLI."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from sagemaker_async.testing import (
    SageMakerSimulator,
    SimulatorClient,
    aws_client,
    training_request,
)
from sagemaker_async.testing.control import SimulatorControlError

REGION = "us-east-1"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
IN_PROGRESS_ORDER = ["Starting", "Downloading", "Training", "Uploading"]
# One attempt in all: botocore's "max_attempts" counts retries, so 1 would still retry once.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[SageMakerSimulator]:
    with SageMakerSimulator(default_duration=2.0, stop_delay=0.5) as sim:
        yield sim


@pytest.fixture
def control(server: SageMakerSimulator) -> SimulatorClient:
    client = server.client
    client.reset()
    return client


@pytest.fixture
def sm(server: SageMakerSimulator, control: SimulatorClient) -> Any:
    return aws_client("sagemaker", server.endpoint_url)


@pytest.fixture
def logs(server: SageMakerSimulator) -> Any:
    return aws_client("logs", server.endpoint_url)


@pytest.fixture
def strict(server: SageMakerSimulator, control: SimulatorClient) -> Any:
    """A SageMaker client that never retries, so every injected fault reaches the test."""
    return aws_client("sagemaker", server.endpoint_url, config=NO_RETRIES)


def wait_for(sm: Any, name: str, statuses: set[str], timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = sm.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def error_code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_health(server: SageMakerSimulator, control: SimulatorClient) -> None:
    assert control.health()
    assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
    assert not SimulatorClient("http://127.0.0.1:9", timeout=1.0).health()


def test_job_progresses_then_completes(sm: Any) -> None:
    sm.create_training_job(**training_request("progress", HyperParameters={"epochs": "3"}))
    seen: list[str] = []
    job = wait_for(sm, "progress", {"InProgress"})
    while job["TrainingJobStatus"] == "InProgress":
        if not seen or seen[-1] != job["SecondaryStatus"]:
            seen.append(job["SecondaryStatus"])
        assert "ModelArtifacts" not in job and "TrainingEndTime" not in job
        time.sleep(0.05)
        job = sm.describe_training_job(TrainingJobName="progress")

    assert seen == [s for s in IN_PROGRESS_ORDER if s in seen] and len(seen) >= 3
    assert job["TrainingJobStatus"] == job["SecondaryStatus"] == "Completed"
    transitions = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert transitions == [*IN_PROGRESS_ORDER, "Completed"]
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
        "s3://bucket/output/progress/output/model.tar.gz"
    )
    assert isinstance(job["BillableTimeInSeconds"], int) and job["BillableTimeInSeconds"] >= 1
    assert isinstance(job["TrainingTimeInSeconds"], int)
    assert job["TrainingEndTime"] > job["TrainingStartTime"] > job["CreationTime"]
    assert job["HyperParameters"] == {"epochs": "3"}
    assert job["TrainingJobArn"] == "arn:aws:sagemaker:us-east-1:123456789012:training-job/progress"
    assert job["FinalMetricDataList"][0]["MetricName"] == "train:loss"


def test_rules_choose_outcome_newest_match_wins(sm: Any, control: SimulatorClient) -> None:
    control.add_rule("", duration=1.0)
    control.add_rule("fail-", duration=1.0, outcome="Failed", failure_reason="AlgorithmError: boom")
    sm.create_training_job(**training_request("fail-1"))
    sm.create_training_job(**training_request("ok-1"))

    failed = wait_for(sm, "fail-1", {"Completed", "Failed", "Stopped"})
    assert failed["TrainingJobStatus"] == failed["SecondaryStatus"] == "Failed"
    assert failed["FailureReason"] == "AlgorithmError: boom"
    assert "ModelArtifacts" not in failed
    assert wait_for(sm, "ok-1", {"Completed", "Failed"})["TrainingJobStatus"] == "Completed"


def test_bad_rule_is_rejected(control: SimulatorClient) -> None:
    with pytest.raises(SimulatorControlError):
        control.add_rule("x", outcome="Exploded")


def test_stop_goes_through_stopping_to_stopped(sm: Any, control: SimulatorClient) -> None:
    control.add_rule("long-", duration=30.0)
    sm.create_training_job(**training_request("long-1"))
    sm.stop_training_job(TrainingJobName="long-1")

    stopping = sm.describe_training_job(TrainingJobName="long-1")
    assert stopping["TrainingJobStatus"] == stopping["SecondaryStatus"] == "Stopping"
    sm.stop_training_job(TrainingJobName="long-1")  # again while stopping: accepted
    stopped = wait_for(sm, "long-1", {"Stopped"}, timeout=5.0)
    assert stopped["SecondaryStatus"] == "Stopped"
    assert "TrainingEndTime" in stopped and "ModelArtifacts" not in stopped
    assert [t["Status"] for t in stopped["SecondaryStatusTransitions"]][-2:] == [
        "Stopping",
        "Stopped",
    ]
    with pytest.raises(ClientError) as err:
        sm.stop_training_job(TrainingJobName="long-1")
    assert error_code(err) == "ValidationException"
    assert "not in progress" in str(err.value)


def test_duplicate_create_is_resource_in_use(sm: Any) -> None:
    sm.create_training_job(**training_request("dup"))
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**training_request("dup"))
    assert error_code(err) == "ResourceInUse"


def test_unknown_job_is_validation_exception(sm: Any) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/nope"
    calls: list[Callable[[], Any]] = [
        lambda: sm.describe_training_job(TrainingJobName="nope"),
        lambda: sm.stop_training_job(TrainingJobName="nope"),
        lambda: sm.list_tags(ResourceArn=arn),
    ]
    for call in calls:
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == "ValidationException"
        assert err.value.response["Error"]["Message"] == "Requested resource not found."


def test_tags(sm: Any, control: SimulatorClient) -> None:
    tags = [{"Key": "dag_id", "Value": "d"}, {"Key": "task_id", "Value": "t"}]
    arn = sm.create_training_job(**training_request("tagged", Tags=tags))["TrainingJobArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == tags

    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "extra", "Value": "1"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["task_id"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [tags[0], {"Key": "extra", "Value": "1"}]
    job = control.job("tagged")
    assert job is not None and job["tags"] == {"dag_id": "d", "extra": "1"}


def test_call_counts_per_job_and_total(sm: Any, control: SimulatorClient) -> None:
    with pytest.raises(ClientError):
        sm.describe_training_job(TrainingJobName="counted")  # a look-up before creating
    sm.create_training_job(**training_request("counted"))
    sm.create_training_job(**training_request("other"))
    for _ in range(3):
        sm.describe_training_job(TrainingJobName="counted")
    sm.stop_training_job(TrainingJobName="counted")
    sm.list_training_jobs()

    job = control.job("counted")
    assert job is not None and job["status"] == "Stopping"
    assert job["calls"] == {"CreateTrainingJob": 1, "DescribeTrainingJob": 4, "StopTrainingJob": 1}
    assert control.calls() == {
        "CreateTrainingJob": 2,
        "DescribeTrainingJob": 4,
        "StopTrainingJob": 1,
        "ListTrainingJobs": 1,
    }
    control.reset()
    assert control.calls() == {} and control.jobs() == [] and control.job("counted") is None


def test_list_training_jobs_filters_and_pages(sm: Any, control: SimulatorClient) -> None:
    control.add_rule("quick-", duration=0.0)
    for name in ("quick-a", "quick-b", "slow-a"):
        sm.create_training_job(**training_request(name))

    done = sm.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"]
    assert sorted(j["TrainingJobName"] for j in done) == ["quick-a", "quick-b"]
    # NameContains ignores case. By default it filters each page of MaxResults jobs (as
    # StatusEquals does), so quick-b's page comes back empty; "before_page" skips it.
    query = {"NameContains": "-A", "MaxResults": 1, "SortOrder": "Ascending"}
    assert list_names(sm, **query) == [["quick-a"], [], ["slow-a"]]
    control.set_listing("before_page")
    assert list_names(sm, **query) == [["quick-a"], ["slow-a"]]


def list_names(sm: Any, **query: Any) -> list[list[str]]:
    """The job names of every page of a ListTrainingJobs pass, page by page."""
    pages: list[list[str]] = []
    while True:
        page = sm.list_training_jobs(**query)
        pages.append([j["TrainingJobName"] for j in page["TrainingJobSummaries"]])
        if "NextToken" not in page:
            return pages
        query["NextToken"] = page["NextToken"]


def test_logs_stream_has_lines(sm: Any, logs: Any, control: SimulatorClient) -> None:
    control.add_rule("logged", duration=2.0)
    sm.create_training_job(**training_request("logged"))
    created = control.job("logged")
    assert created is not None
    assert wait_for(sm, "logged", {"Completed"})["TrainingJobStatus"] == "Completed"

    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix="logged/")
    names = [s["logStreamName"] for s in streams["logStreams"]]
    assert names == [f"logged/algo-1-{int(created['created_at'])}"]
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=names[0], startFromHead=True)
    lines = [e["message"] for e in events["events"]]
    assert lines[0].startswith("[Starting]") and lines[-1].startswith("[Completed]")
    assert any(line.startswith("epoch 1 loss=") for line in lines)


def test_other_services_pass_through_to_moto(server: SageMakerSimulator) -> None:
    sts = aws_client("sts", server.endpoint_url)
    assert sts.get_caller_identity()["Account"] == "123456789012"


def test_each_job_call_records_the_key_that_signed_it(
    server: SageMakerSimulator, sm: Any, control: SimulatorClient
) -> None:
    sm.create_training_job(**training_request("signed-1"))
    other = boto3.client(
        "sagemaker",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id="ASIAOTHERKEY",
        aws_secret_access_key="other",
    )
    other.describe_training_job(TrainingJobName="signed-1")
    job = control.job("signed-1")
    assert job is not None
    assert job["signers"] == [
        ["CreateTrainingJob", "testing"],
        ["DescribeTrainingJob", "ASIAOTHERKEY"],
    ]


def test_connections_are_kept_alive_between_requests(server: SageMakerSimulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(3):  # all on the one connection: each answer leaves it open
            connection.request("GET", "/_simulator/health", body=b"{}")
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Connection") != "close"
            assert json.loads(response.read()) == {"ok": True}
    finally:
        connection.close()


def test_first_call_of_each_operation_is_timed_per_job(sm: Any, control: SimulatorClient) -> None:
    before = time.time()
    sm.create_training_job(**training_request("timed-1"))
    time.sleep(0.2)
    middle = time.time()
    for _ in range(2):
        sm.describe_training_job(TrainingJobName="timed-1")
    job = control.job("timed-1")
    assert job is not None
    firsts = job["first_calls"]
    assert set(firsts) == {"CreateTrainingJob", "DescribeTrainingJob"}
    assert before <= firsts["CreateTrainingJob"] < middle <= firsts["DescribeTrainingJob"]
    assert firsts["DescribeTrainingJob"] <= time.time()


def test_assume_role_is_recorded_and_its_lifetime_can_be_shortened(
    server: SageMakerSimulator, control: SimulatorClient
) -> None:
    sts = aws_client("sts", server.endpoint_url)
    role = "arn:aws:iam::123456789012:role/r"
    moto_default = sts.assume_role(RoleArn=role, RoleSessionName="s1")["Credentials"]
    control.set_credential_lifetime(3)
    short = sts.assume_role(RoleArn=role, RoleSessionName="s2", ExternalId="ext")["Credentials"]
    now = time.time()
    assert moto_default["Expiration"].timestamp() - now > 3000  # moto: DurationSeconds (1 h)
    assert 0 < short["Expiration"].timestamp() - now <= 3.5
    assumed = control.assumed_roles()
    assert [a["access_key"] for a in assumed] == [
        moto_default["AccessKeyId"],
        short["AccessKeyId"],
    ]
    assert short["AccessKeyId"].startswith("ASIA")
    assert all(a["source_key"] == "testing" for a in assumed)
    assert assumed[1]["request"] == {
        "RoleArn": role,
        "RoleSessionName": "s2",
        "ExternalId": "ext",
    }
    with pytest.raises(SimulatorControlError, match="credential_lifetime must be a positive"):
        control.set_credential_lifetime(0)
    control.reset()
    assert control.assumed_roles() == []
    after_reset = sts.assume_role(RoleArn=role, RoleSessionName="s3")["Credentials"]
    assert after_reset["Expiration"].timestamp() - time.time() > 3000


@pytest.mark.asyncio
async def test_aiobotocore_describe(
    server: SageMakerSimulator, control: SimulatorClient, sm: Any
) -> None:
    # Long enough to be still training however long the client takes to build on a busy machine.
    control.add_rule("async-", duration=60.0)
    sm.create_training_job(**training_request("async-1"))
    session = get_session()
    async with session.create_client(
        "sagemaker",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as client:
        job = await client.describe_training_job(TrainingJobName="async-1")
        with pytest.raises(ClientError) as err:
            await client.describe_training_job(TrainingJobName="missing")
    assert job["TrainingJobStatus"] == "InProgress"
    assert error_code(err) == "ValidationException"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_until_sigterm() -> None:
    port = free_port()
    faults = ["--throttle-fraction", "0.25", "--latency", "0.01"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sagemaker_async.testing", "--port", str(port), *faults],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        client = SimulatorClient(f"http://127.0.0.1:{port}")
        assert client.wait_until_healthy(timeout=30.0)
        config = client.faults()["config"]
        assert (config["throttle_fraction"], config["latency"]) == (0.25, 0.01)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == (
            f"sagemaker-simulator listening on http://127.0.0.1:{port}"
        )
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# Fault injection. The `strict` client makes one attempt per call, so each fault shows.


def status_of(err: pytest.ExceptionInfo[ClientError]) -> int:
    return int(err.value.response["ResponseMetadata"]["HTTPStatusCode"])


def describe_outcomes(sm: Any, name: str, count: int) -> list[str]:
    """Per call: "ok" or the error code."""
    outcomes: list[str] = []
    for _ in range(count):
        try:
            sm.describe_training_job(TrainingJobName=name)
            outcomes.append("ok")
        except ClientError as err:
            outcomes.append(str(err.response["Error"]["Code"]))
    return outcomes


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def test_throttled_create_creates_no_job(strict: Any, control: SimulatorClient) -> None:
    control.set_faults(throttle_fraction=1.0)
    with pytest.raises(ClientError) as err:
        strict.create_training_job(**training_request("throttled"))
    assert error_code(err) == "ThrottlingException" and status_of(err) == 400
    assert err.value.response["Error"]["Message"] == "Rate exceeded"
    assert control.jobs() == []
    assert control.calls() == {"CreateTrainingJob": 1}  # received...
    assert control.served_calls() == {}  # ...but never handled
    assert control.faults()["counters"]["throttled"] == 1


def test_throttle_fraction_is_kept_and_seed_repeats(strict: Any, control: SimulatorClient) -> None:
    strict.create_training_job(**training_request("busy"))
    control.set_faults(throttle_fraction=0.3, seed=1)
    first = describe_outcomes(strict, "busy", 100)
    throttled = first.count("ThrottlingException")
    assert set(first) == {"ok", "ThrottlingException"} and 15 <= throttled <= 45

    control.set_faults(throttle_fraction=0.3, seed=1)
    again = describe_outcomes(strict, "busy", 20)
    assert again == first[:20]
    job = control.job("busy")
    assert job is not None and job["calls"]["DescribeTrainingJob"] == 120
    served = 120 - throttled - again.count("ThrottlingException")
    assert job["served_calls"] == {"CreateTrainingJob": 1, "DescribeTrainingJob": served}
    assert control.faults()["counters"]["throttled"] == 120 - served


def test_error_burst_fails_during_the_burst_only(strict: Any, control: SimulatorClient) -> None:
    strict.create_training_job(**training_request("bursty"))
    # Bursts of 2 s every 4 s: each call lands a second or more from a window's edge, however
    # slowly a busy machine answers.
    control.set_faults(error_burst={"every": 4.0, "length": 2.0})
    set_at = time.monotonic()
    with pytest.raises(ClientError) as first:
        strict.describe_training_job(TrainingJobName="bursty")
    sleep_until(set_at + 3.0)
    assert strict.describe_training_job(TrainingJobName="bursty")["TrainingJobName"] == "bursty"
    sleep_until(set_at + 5.0)
    with pytest.raises(ClientError) as second:
        strict.describe_training_job(TrainingJobName="bursty")
    # Server errors alternate between SageMaker's two usual ones.
    assert (status_of(first), error_code(first)) == (500, "InternalFailure")
    assert (status_of(second), error_code(second)) == (503, "ServiceUnavailable")
    assert control.faults()["counters"]["errors"] == 2


def test_latency_delays_answers(strict: Any, control: SimulatorClient) -> None:
    control.set_faults(latency=0.5)
    start = time.monotonic()
    strict.list_training_jobs()
    assert time.monotonic() - start >= 0.5
    assert control.faults()["counters"]["delayed"] == 1


def test_dropped_connection_is_a_connection_error(
    strict: Any, control: SimulatorClient, server: SageMakerSimulator
) -> None:
    control.set_faults(drop_fraction=1.0)
    with pytest.raises(Exception) as err:
        strict.describe_training_job(TrainingJobName="x")
    assert isinstance(err.value, (HTTPClientError, BotoConnectionError))
    assert control.faults()["counters"]["dropped"] == 1
    control.clear_faults()
    with pytest.raises(ClientError) as after:
        strict.describe_training_job(TrainingJobName="x")
    assert error_code(after) == "ValidationException"  # answered again, server intact


@pytest.mark.asyncio
async def test_aiobotocore_sees_dropped_connection(
    server: SageMakerSimulator, control: SimulatorClient
) -> None:
    control.set_faults(drop_fraction=1.0)
    async with get_session().create_client(
        "sagemaker",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    ) as client:
        with pytest.raises(Exception) as err:
            await client.describe_training_job(TrainingJobName="x")
    assert isinstance(err.value, (HTTPClientError, BotoConnectionError))


def test_down_for_answers_503_then_recovers(strict: Any, control: SimulatorClient) -> None:
    control.set_faults(down_for=3.0)  # the first call lands in it however busy the machine
    set_at = time.monotonic()
    with pytest.raises(ClientError) as err:
        strict.list_training_jobs()
    assert (status_of(err), error_code(err)) == (503, "ServiceUnavailable")
    assert 0 < control.faults()["down_remaining"] <= 3.0
    sleep_until(set_at + 3.05)
    assert strict.list_training_jobs()["TrainingJobSummaries"] == []
    assert control.faults()["counters"]["down"] == 1


def test_operations_filter(strict: Any, control: SimulatorClient) -> None:
    control.set_faults(throttle_fraction=1.0, operations=["DescribeTrainingJob"])
    strict.create_training_job(**training_request("filtered"))
    strict.list_training_jobs()
    with pytest.raises(ClientError) as err:
        strict.describe_training_job(TrainingJobName="filtered")
    assert error_code(err) == "ThrottlingException"
    assert control.served_calls() == {"CreateTrainingJob": 1, "ListTrainingJobs": 1}


def test_create_then_fail_creates_the_job(strict: Any, control: SimulatorClient) -> None:
    control.set_faults(error_fraction=1.0, operations=["CreateTrainingJob"], create_then_fail=True)
    with pytest.raises(ClientError) as err:
        strict.create_training_job(**training_request("ambiguous"))
    assert (status_of(err), error_code(err)) == (500, "InternalFailure")
    job = control.job("ambiguous")
    assert job is not None and job["served_calls"] == {"CreateTrainingJob": 1}
    assert strict.describe_training_job(TrainingJobName="ambiguous")["TrainingJobStatus"] in {
        "InProgress",
        "Completed",
    }
    counters = control.faults()["counters"]
    assert (counters["errors"], counters["created_then_failed"]) == (1, 1)


def test_clear_and_reset(strict: Any, control: SimulatorClient) -> None:
    control.set_faults(throttle_fraction=1.0, seed=7)
    with pytest.raises(ClientError):
        strict.list_training_jobs()
    control.clear_faults()
    strict.list_training_jobs()
    view = control.faults()
    assert view["config"]["throttle_fraction"] == 0.0 and view["config"]["seed"] is None
    assert view["counters"]["throttled"] == 1  # clearing keeps the counts

    control.set_faults(latency=5.0)
    control.reset()
    view = control.faults()
    assert view["config"]["latency"] == 0.0 and set(view["counters"].values()) == {0}


def test_control_api_and_other_services_are_never_faulted(
    server: SageMakerSimulator, control: SimulatorClient
) -> None:
    sts = aws_client("sts", server.endpoint_url, config=NO_RETRIES)
    control.set_faults(down_for=30.0, drop_fraction=1.0, latency=5.0)
    start = time.monotonic()
    assert control.health() and control.jobs() == [] and control.calls() == {}
    assert sts.get_caller_identity()["Account"] == "123456789012"
    assert time.monotonic() - start < 4.0, "a call was delayed by the 5 s latency"
    assert set(control.faults()["counters"].values()) == {0}


@pytest.mark.parametrize(
    "settings",
    [
        {"throttle_fraction": 1.5},
        {"latency": -1},
        {"latency": True},
        {"error_burst": {"every": 1.0}},
        {"error_burst": {"every": 1.0, "length": 2.0}},
        {"operations": ["DescribeTrainingJobs"]},  # a typo would silently fault nothing
        {"operations": []},
        {"seed": "one"},
        {"create_then_fail": "yes"},
        {"throttle": 0.5},
    ],
)
def test_bad_fault_settings_are_rejected(control: SimulatorClient, settings: Any) -> None:
    with pytest.raises(SimulatorControlError, match="HTTP 400"):
        control.set_faults(**settings)
    assert control.faults()["config"]["throttle_fraction"] == 0.0


def test_in_process_faults(server: SageMakerSimulator, strict: Any) -> None:
    server.set_faults(throttle_fraction=1.0, operations=["ListTrainingJobs"])
    with pytest.raises(ClientError) as err:
        strict.list_training_jobs()
    assert error_code(err) == "ThrottlingException"
    assert server.faults()["counters"]["throttled"] == 1
    server.clear_faults()
    assert strict.list_training_jobs()["TrainingJobSummaries"] == []


def test_json_protocol_answers_are_labelled_as_aws_labels_them(logs: Any) -> None:
    # moto labels CloudWatch Logs answers text/html; AWS sends application/x-amz-json-1.1,
    # and a client that refuses HTML pages from a wrong endpoint must not refuse these.
    seen: list[str] = []
    logs.meta.events.register(
        "after-call.cloudwatch-logs.DescribeLogGroups",
        lambda http_response, **_: seen.append(http_response.headers.get("content-type")),
    )
    logs.describe_log_groups()
    assert seen == ["application/x-amz-json-1.1"]
