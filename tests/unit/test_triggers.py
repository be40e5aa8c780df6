from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, HTTPClientError

from sagemaker_async import errors, get_provider_info, pacing, triggers
from sagemaker_async.triggers import SageMakerTrainingTrigger
from tests.unit.fakes import (
    ScriptedAsyncClient,
    client_error,
    html_answer,
    refused_connection,
    route_triggers_to,
)


def make_trigger(**overrides: Any) -> SageMakerTrainingTrigger:
    kwargs: dict[str, Any] = {
        "job_name": "job",
        "deadline": time.time() + 30,
        "check_interval": 0.01,
        "aws_conn_id": None,
        "region_name": "us-east-1",
        "print_log": False,
    }
    kwargs.update(overrides)
    return SageMakerTrainingTrigger(**kwargs)


@pytest.fixture
def use_client(monkeypatch: pytest.MonkeyPatch):
    """Make the trigger talk to a scripted client instead of AWS."""

    def install(client: ScriptedAsyncClient) -> ScriptedAsyncClient:
        route_triggers_to(monkeypatch, client)
        monkeypatch.setattr(triggers, "_retry_delay", lambda exc, failures: 0.01)
        return client

    return install


async def first_event(trigger: SageMakerTrainingTrigger) -> dict[str, Any]:
    events = [e.payload async for e in trigger.run()]
    assert len(events) == 1, "the trigger must fire exactly one event"
    return events[0]


def test_serialize_round_trip_rebuilds_an_identical_trigger() -> None:
    trigger = make_trigger(
        verify="/etc/ca.pem", botocore_config={"read_timeout": 5}, print_log=False
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "sagemaker_async.triggers.SageMakerTrainingTrigger"
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_serialized_kwargs_hold_no_credentials() -> None:
    _, kwargs = make_trigger(aws_conn_id="aws_prod").serialize()
    forbidden = {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "password",
        "config",
    }
    assert forbidden.isdisjoint(kwargs)


def test_triggers_share_their_class_logger() -> None:
    first, second = make_trigger(job_name="a"), make_trigger(job_name="b")
    assert first.log is second.log
    assert first.log is SageMakerTrainingTrigger.logger()

    class Subclass(SageMakerTrainingTrigger):
        pass

    third = Subclass(job_name="c", deadline=time.time() + 30)
    assert third.log is not first.log, "a subclass logs under its own name"
    assert third.log is Subclass(job_name="d", deadline=time.time() + 30).log


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("final", "reason", "status"),
    [
        ("Completed", None, "success"),
        ("Failed", "AlgorithmError: boom", "failed"),
        ("Stopped", None, "stopped"),
    ],
)
async def test_terminal_status_becomes_its_event(
    use_client, final: str, reason: str | None, status: str
) -> None:
    done = {"TrainingJobStatus": final, "SecondaryStatus": final, "FailureReason": reason}
    client = use_client(ScriptedAsyncClient(["InProgress", "InProgress", done]))
    event = await first_event(make_trigger())
    assert event["status"] == status
    assert event["job_name"] == "job"
    assert client.describes == 3
    if reason:
        assert reason in event["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize("final", ["Completed", "Failed"])
async def test_a_triggerers_trigger_holds_its_event(
    use_client, monkeypatch: pytest.MonkeyPatch, final: str
) -> None:
    # A job that had already ended: without the hold the event would come at once, possibly
    # before the scheduler handled the worker's exit on deferral.
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__RESUME_HOLD", "0.5")
    client = use_client(ScriptedAsyncClient([{"TrainingJobStatus": final}]))
    trigger = make_trigger()
    trigger.trigger_id = 7  # as the triggerer sets it
    started = time.monotonic()
    event = await first_event(trigger)
    assert time.monotonic() - started >= 0.5
    assert event["status"] == {"Completed": "success", "Failed": "failed"}[final]
    assert client.describes == 1


@pytest.mark.asyncio
async def test_a_quota_wait_holds_its_event(monkeypatch: pytest.MonkeyPatch) -> None:
    # The quota wait resumes its task the same way.
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__RESUME_HOLD", "0.5")
    trigger = triggers.SageMakerQuotaWaitTrigger("job", 0.0)
    trigger.trigger_id = 7
    started = time.monotonic()
    events = [e.payload async for e in trigger.run()]
    assert time.monotonic() - started >= 0.5
    assert [e["status"] for e in events] == ["retry"]


@pytest.mark.parametrize(
    ("setting", "hold"),
    [("0.5", 0.5), ("0", 0.0), ("10s", 10.0), ("nan", 10.0), ("inf", 10.0), ("-1", 10.0)],
)
def test_a_bad_resume_hold_falls_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    setting: str,
    hold: float,
) -> None:
    # Read as the trigger starts: a bad value must never crash a trigger whose job has ended.
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__RESUME_HOLD", setting)
    trigger = make_trigger()
    trigger.trigger_id = 7
    before = time.monotonic()
    release = triggers._release_at(trigger)
    assert before + hold <= release <= time.monotonic() + hold
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert ("resume_hold must be" in logged) == (hold == triggers.RESUME_HOLD)


@pytest.mark.asyncio
async def test_a_trigger_run_in_line_does_not_hold(use_client) -> None:
    # dag.test() runs a trigger without a trigger row, and no scheduler races it; the
    # default hold (10 s) would show.
    use_client(ScriptedAsyncClient([{"TrainingJobStatus": "Completed"}]))
    started = time.monotonic()
    event = await first_event(make_trigger())
    assert time.monotonic() - started < triggers.RESUME_HOLD / 2
    assert event["status"] == "success"


def test_the_declared_resume_hold_is_the_one_applied() -> None:
    options = get_provider_info()["config"]["sagemaker_async"]["options"]
    assert float(options["resume_hold"]["default"]) == triggers.RESUME_HOLD


@pytest.mark.asyncio
async def test_deadline_gives_timeout_event_naming_last_status(use_client) -> None:
    use_client(
        ScriptedAsyncClient([{"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}])
    )
    event = await first_event(make_trigger(deadline=time.time() + 0.2, check_interval=0.05))
    assert event["status"] == "timeout"
    assert "job" in event["message"] and "InProgress (Training)" in event["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize("ending", ["success", "error", "cancelled"])
async def test_the_pooled_client_is_released_however_the_wait_ends(
    monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    script: list[Any] = {
        "success": ["Completed"],
        "error": [client_error("AccessDeniedException", "DescribeTrainingJob")],
        "cancelled": ["InProgress"],
    }[ending]
    pool = route_triggers_to(monkeypatch, ScriptedAsyncClient(script))
    waiting = asyncio.ensure_future(first_event(make_trigger(check_interval=0.01)))
    if ending == "cancelled":
        await asyncio.sleep(0.1)
        waiting.cancel()
    done = await asyncio.gather(waiting, return_exceptions=True)
    if ending != "cancelled":
        assert done[0]["status"] == ending
    assert (pool.acquired, pool.released) == (1, 1)


class SlowClient(ScriptedAsyncClient):
    """Answers after ``latency`` seconds and records when each describe was asked."""

    def __init__(self, script: list[Any], latency: float) -> None:
        super().__init__(script)
        self.latency = latency
        self.asked: list[float] = []

    async def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.asked.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self.latency)
        return await super().describe_training_job(TrainingJobName)


@pytest.mark.asyncio
async def test_polls_keep_their_cadence_whatever_each_call_takes(
    use_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pacing.random, "uniform", lambda low, high: 0.0)  # no first-poll jitter
    client = use_client(SlowClient(["InProgress"] * 5 + ["Completed"], latency=0.2))
    event = await first_event(make_trigger(check_interval=0.3))
    assert event["status"] == "success"
    assert len(client.asked) == 6
    # One interval apart: a sleep of one interval after each answer would make them 0.5 s.
    # Measured from the first poll rather than poll to poll: on a busy machine a poll woken
    # late is followed sooner by the next, on time. The bound lies halfway between the two.
    start = client.asked[0]
    assert all(t - start > i * 0.3 - 0.02 for i, t in enumerate(client.asked)), client.asked
    assert client.asked[-1] - start < 5 * 0.4, client.asked


@pytest.mark.asyncio
async def test_rebuilt_trigger_keeps_the_original_deadline(use_client) -> None:
    use_client(ScriptedAsyncClient(["InProgress"]))
    original = make_trigger(deadline=time.time() + 1.0, check_interval=0.05)
    _, kwargs = original.serialize()
    await asyncio.sleep(0.6)  # the triggerer restarts some time later
    rebuilt = SageMakerTrainingTrigger(**kwargs)
    started = time.monotonic()
    event = await first_event(rebuilt)
    waited = time.monotonic() - started
    assert event["status"] == "timeout"
    assert waited < 0.8, f"budget was reset: waited {waited:.2f}s of a remaining ~0.4s"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "transient",
    [
        client_error("ThrottlingException", "DescribeTrainingJob"),
        client_error("InternalFailure", "DescribeTrainingJob", status=500),
        client_error("SomethingNew", "DescribeTrainingJob", status=503),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectionResetError(),
        asyncio.TimeoutError(),
    ],
)
async def test_transient_errors_are_retried_without_spending_the_budget(
    use_client, transient
) -> None:
    client = use_client(ScriptedAsyncClient([transient] * 5 + ["Completed"]))
    event = await first_event(make_trigger())
    assert event["status"] == "success"
    assert client.describes == 6


@pytest.mark.asyncio
async def test_transient_errors_until_the_deadline_end_in_timeout(use_client) -> None:
    use_client(ScriptedAsyncClient([client_error("ThrottlingException", "DescribeTrainingJob")]))
    event = await first_event(make_trigger(deadline=time.time() + 0.2))
    assert event["status"] == "timeout"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("UnrecognizedClientException", "rejected the credentials"),
        ("AccessDeniedException", "access denied"),
        ("ValidationException", "not found"),
    ],
)
async def test_final_errors_end_the_wait_with_an_error_event(
    use_client, code: str, words: str
) -> None:
    client = use_client(ScriptedAsyncClient([client_error(code, "DescribeTrainingJob")]))
    event = await first_event(make_trigger())
    assert event["status"] == "error"
    assert words in event["message"]
    assert client.describes == 1


@pytest.mark.asyncio
async def test_an_unexpected_exception_is_an_error_event_not_a_crash(use_client) -> None:
    # What aiobotocore raises when refreshed credentials are already expired.
    expired = RuntimeError("Credentials were refreshed, but the refreshed credentials are expired")
    use_client(ScriptedAsyncClient([expired]))
    event = await first_event(make_trigger())
    assert event["status"] == "error"
    assert event["message"] == f"unexpected error: {expired}"


@pytest.mark.asyncio
async def test_unknown_connection_is_an_error_event() -> None:
    # No connection named like this exists; the look-up fails before any client is built.
    event = await first_event(make_trigger(aws_conn_id="no_such_connection_xyz"))
    assert event["status"] == "error"
    assert "no_such_connection_xyz" in event["message"]


@pytest.mark.asyncio
async def test_on_kill_stops_the_job(use_client) -> None:
    client = use_client(ScriptedAsyncClient(["InProgress"]))
    await make_trigger().on_kill()
    assert client.stops == ["job"]


@pytest.mark.asyncio
async def test_on_kill_leaves_the_job_when_cancel_on_kill_is_off(use_client) -> None:
    client = use_client(ScriptedAsyncClient(["InProgress"]))
    await make_trigger(cancel_on_kill=False).on_kill()
    assert client.stops == []


@pytest.mark.asyncio
async def test_cleanup_never_stops_the_job(use_client) -> None:
    client = use_client(ScriptedAsyncClient(["InProgress"]))
    await make_trigger().cleanup()
    assert client.stops == []


@pytest.fixture
def quick_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors, "UNREACHABLE_PAUSES", (0.01, 0.01))


@pytest.mark.asyncio
@pytest.mark.usefixtures("quick_pauses")
async def test_an_endpoint_never_reached_ends_in_an_error_after_a_few_attempts(
    use_client,
) -> None:
    client = use_client(ScriptedAsyncClient([refused_connection()]))
    event = await first_event(make_trigger())
    # Quickly, in one line; the task keeps its retry, since the worker reached the endpoint
    # before deferring (an outage is as likely as a wrong setting), and the retry's own
    # bounded look-up fails for good if the endpoint is really wrong.
    assert (event["status"], event["retryable"]) == ("error", True)
    assert "connection refused; check endpoint_url" in event["message"]
    assert client.describes == 3


@pytest.mark.asyncio
@pytest.mark.usefixtures("quick_pauses")
async def test_once_the_job_was_seen_refusals_are_waited_out(use_client) -> None:
    client = use_client(
        ScriptedAsyncClient(["InProgress", *[refused_connection()] * 5, "Completed"])
    )
    event = await first_event(make_trigger())
    assert event["status"] == "success"
    assert client.describes == 7


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "words"),
    [
        (html_answer("DescribeTrainingJob"), "HTTP 501 from the endpoint: not an AWS answer"),
        (HTTPClientError(error=FileNotFoundError(2, "No such file")), "check verify"),
    ],
    ids=["html-501", "ca-bundle-unloadable"],
)
async def test_a_client_set_up_wrong_ends_the_wait_at_once(
    use_client, error: Exception, words: str
) -> None:
    client = use_client(ScriptedAsyncClient([error]))
    event = await first_event(make_trigger())
    assert (event["status"], event["retryable"]) == ("error", False)
    assert words in event["message"]
    assert "<" not in event["message"] and "\n" not in event["message"]
    assert client.describes == 1


@pytest.mark.asyncio
async def test_a_missing_ca_bundle_is_an_error_event_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "corp-ca.pem")
    event = await asyncio.wait_for(first_event(make_trigger(verify=missing)), timeout=30)
    assert (event["status"], event["retryable"]) == ("error", False)
    assert missing in event["message"]


@pytest.mark.asyncio
async def test_final_aws_errors_leave_the_task_its_retries(use_client) -> None:
    use_client(ScriptedAsyncClient([client_error("AccessDeniedException", "DescribeTrainingJob")]))
    event = await first_event(make_trigger())
    assert (event["status"], event["retryable"]) == ("error", True)
