from __future__ import annotations

import time

import pytest

from sagemaker_async.events import JobWatch
from sagemaker_async.hooks import SageMakerHook
from tests.unit.fakes import FakeSageMaker, client_error


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
