from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from sagemaker_async import errors
from sagemaker_async.events import JobWatch
from sagemaker_async.hooks import BLOCKING_LOG_TRIES, LAST_READ_TRIES, SageMakerHook
from tests.unit.fakes import (
    FakeLogs,
    FakeSageMaker,
    base_config,
    client_error,
    html_answer,
    refused_connection,
)


class ScriptedSync(FakeSageMaker):
    def __init__(self, script: list[object]) -> None:
        super().__init__()
        self.script = script

    def describe_training_job(self, TrainingJobName: str):
        self.calls.append(("describe_training_job", {}))
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        return {
            "TrainingJobName": TrainingJobName,
            "TrainingJobStatus": item,
            "SecondaryStatus": item,
        }


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> SageMakerHook:
    monkeypatch.setattr("sagemaker_async.hooks.errors.backoff", lambda attempt: 0.01)
    return SageMakerHook(aws_conn_id=None, region_name="us-east-1")


def test_blocking_wait_follows_the_job_to_its_end(hook: SageMakerHook) -> None:
    hook.client = ScriptedSync(
        ["InProgress", client_error("ThrottlingException", "x"), "Completed"]
    )
    event = hook.wait(JobWatch("job", time.time() + 10), check_interval=0.01)
    assert event["status"] == "success"


def test_blocking_wait_ends_at_the_deadline(hook: SageMakerHook) -> None:
    fake = ScriptedSync(["InProgress"])
    hook.client = fake
    event = hook.wait(JobWatch("job", time.time() + 0.3), check_interval=0.1)
    assert event["status"] == "timeout"
    assert 2 <= fake.count("describe_training_job") <= 4


def test_blocking_wait_reports_final_errors(hook: SageMakerHook) -> None:
    hook.client = ScriptedSync([client_error("AccessDeniedException", "x")])
    event = hook.wait(JobWatch("job", time.time() + 10), check_interval=0.01)
    assert event["status"] == "error" and "access denied" in event["message"]


def test_stop_ignores_a_job_that_already_ended(hook: SageMakerHook) -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed")
    hook.client = fake
    assert hook.stop("job") is False


def test_calls_retry_transient_errors_but_not_final_ones(hook: SageMakerHook) -> None:
    fake = ScriptedSync([client_error("InternalFailure", "x", status=500), "InProgress"])
    hook.client = fake
    assert hook.describe("job")["TrainingJobStatus"] == "InProgress"
    hook.client = ScriptedSync([client_error("AccessDeniedException", "x")])
    with pytest.raises(Exception, match="AccessDenied"):
        hook.describe("job")


@pytest.fixture
def quick_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors, "UNREACHABLE_PAUSES", (0.01, 0.01))


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("quick_pauses")
def test_an_endpoint_that_never_answered_gets_three_attempts(hook: SageMakerHook) -> None:
    fake = ScriptedSync([refused_connection()])
    hook.client = fake
    with pytest.raises(EndpointConnectionError):
        hook.describe("job")
    assert fake.count("describe_training_job") == 3


@pytest.mark.usefixtures("quick_pauses")
def test_once_the_endpoint_answered_refusals_are_waited_out(hook: SageMakerHook) -> None:
    fake = ScriptedSync(["InProgress", *[refused_connection()] * 4, "Completed"])
    hook.client = fake
    assert hook.describe("job")["TrainingJobStatus"] == "InProgress"
    assert hook.describe("job")["TrainingJobStatus"] == "Completed"


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("quick_pauses")
def test_blocking_wait_on_an_unreachable_endpoint_ends_in_a_final_error(
    hook: SageMakerHook,
) -> None:
    hook.client = ScriptedSync([refused_connection()])
    event = hook.wait(JobWatch("job", time.time() + 60), check_interval=0.01)
    assert event["status"] == "error" and event["retryable"] is False
    assert "connection refused; check endpoint_url" in event["message"]


@pytest.mark.timeout(10)
def test_an_answer_that_is_not_aws_fails_at_once_without_its_body(
    hook: SageMakerHook, caplog: pytest.LogCaptureFixture
) -> None:
    fake = ScriptedSync([html_answer("DescribeTrainingJob")])
    hook.client = fake
    with pytest.raises(errors.NotAwsAnswerError) as raised:
        hook.describe("job")
    assert fake.count("describe_training_job") == 1
    assert "HTTP 501 from the endpoint: not an AWS answer (text/html)" in str(raised.value)
    assert raised.value.__suppress_context__  # the page stays out of the traceback too
    assert "<" not in str(raised.value) + caplog.text


def test_a_create_answered_by_a_non_aws_server_raises_without_the_body(
    hook: SageMakerHook,
) -> None:
    fake = FakeSageMaker()
    fake.create_errors.append(html_answer("CreateTrainingJob"))
    hook.client = fake
    with pytest.raises(errors.NotAwsAnswerError, match=r"HTTP 501 .* not an AWS answer") as raised:
        hook.create(base_config())
    assert "<" not in str(raised.value)


def test_an_html_page_answered_with_200_is_not_a_job(hook: SageMakerHook) -> None:
    class Portal(FakeSageMaker):
        def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
            headers = {"content-type": "text/html; charset=utf-8"}
            return {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": headers}}

    hook.client = Portal()
    with pytest.raises(errors.NotAwsAnswerError, match=r"HTTP 200 .* not an AWS answer"):
        hook.describe("job")


class Recorder:
    """A logger that keeps each formatted line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)

    warning = info


class ThrottledLogs(FakeLogs):
    """Throttles the first ``throttled`` FilterLogEvents, as an account's 5 per second does
    when many tasks resume at once."""

    def __init__(self, streams: dict[str, list[tuple[int, str]]], throttled: int) -> None:
        super().__init__(streams)
        self.throttled = throttled

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        if self.throttled > 0:
            self.throttled -= 1
            raise client_error("ThrottlingException", "FilterLogEvents")
        return super().filter_log_events(**request)


@pytest.mark.parametrize(("throttled", "shown"), [(LAST_READ_TRIES - 1, True), (50, False)])
def test_the_last_log_reads_outlast_a_throttled_account(
    hook: SageMakerHook, monkeypatch: pytest.MonkeyPatch, throttled: int, shown: bool
) -> None:
    hook.logs_client = ThrottledLogs({"job/algo-1-1": [(1000, "last line")]}, throttled)
    logged: list[str] = []
    monkeypatch.setattr(SageMakerHook, "log", property(lambda _: Recorder(logged)))
    hook.finish_logs("job", {"state": None, "ended_at": 0})
    # Nothing reads these lines later: more tries than a read while the job runs gets.
    assert LAST_READ_TRIES > BLOCKING_LOG_TRIES
    assert ("[algo-1-1] last line" in logged) is shown
    assert any("Could not read the logs of job" in line for line in logged) is not shown
