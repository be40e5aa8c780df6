from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.utils import parse_timestamp

from sagemaker_async import errors
from sagemaker_async import pool as pool_module
from sagemaker_async.connection import AssumeRole, AwsSettings
from sagemaker_async.listshare import DEFAULT_LOG_STREAMS_SHARE, DEFAULT_LOGS_SHARE
from sagemaker_async.pacing import Pacer
from sagemaker_async.pool import ClientKey, ClientPool, SharedClient, pool_for_running_loop
from tests.unit.fakes import html_answer

# Building a client needs no network; nothing here sends a request.
SETTINGS = AwsSettings(
    region_name="us-east-1",
    endpoint_url="http://127.0.0.1:9",
    aws_access_key_id="AKIAUNITTEST",
    aws_secret_access_key="unit-secret-value",
)


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[SharedClient]:
    """Records every shared client that gets closed."""
    closed: list[SharedClient] = []
    original = SharedClient.close

    async def spy(self: SharedClient) -> None:
        closed.append(self)
        await original(self)

    monkeypatch.setattr(SharedClient, "close", spy)
    return closed


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[AwsSettings]:
    built: list[AwsSettings] = []
    original = ClientPool._build

    async def spy(self: ClientPool, settings: AwsSettings, service: str) -> SharedClient:
        built.append(settings)
        return await original(self, settings, service)

    monkeypatch.setattr(ClientPool, "_build", spy)
    return built


@pytest.mark.asyncio
async def test_identical_settings_share_one_client_built_once(builds: list[AwsSettings]) -> None:
    pool = ClientPool()
    clients = await asyncio.gather(*(pool.acquire(SETTINGS) for _ in range(50)))
    assert all(c is clients[0] for c in clients)
    assert len(builds) == 1
    assert len(pool) == 1 and pool.users(SETTINGS) == 50
    for _ in clients:
        await pool.release(SETTINGS)


@pytest.mark.asyncio
async def test_client_is_closed_when_the_last_user_leaves(closes: list[SharedClient]) -> None:
    pool = ClientPool()
    first = await pool.acquire(SETTINGS)
    await pool.acquire(SETTINGS)
    await pool.release(SETTINGS)
    assert closes == [] and pool.users(SETTINGS) == 1
    await pool.release(SETTINGS)
    assert closes == [first]
    assert len(pool) == 0 and pool.users(SETTINGS) == 0
    again = await pool.acquire(SETTINGS)
    assert again is not first  # a fresh client after the old one was closed
    await pool.release(SETTINGS)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "change",
    [
        {"aws_access_key_id": "AKIAOTHER"},
        {"aws_secret_access_key": "other-secret"},
        {"aws_session_token": "token"},
        {"region_name": "eu-west-1"},
        {"endpoint_url": "http://127.0.0.1:10"},
        {"verify": False},
        {"botocore_config": {"read_timeout": 5}},
    ],
)
async def test_different_settings_get_different_clients(change: dict[str, Any]) -> None:
    pool = ClientPool()
    other = AwsSettings(**{**SETTINGS.__dict__, **change})
    a, b = await pool.acquire(SETTINGS), await pool.acquire(other)
    assert a is not b and len(pool) == 2
    await pool.release(SETTINGS)
    await pool.release(other)


@pytest.mark.asyncio
async def test_different_services_get_different_clients() -> None:
    pool = ClientPool()
    sagemaker, logs = await pool.acquire(SETTINGS), await pool.acquire(SETTINGS, "logs")
    assert sagemaker is not logs
    assert sagemaker.client.meta.service_model.service_name == "sagemaker"
    assert logs.client.meta.service_model.service_name == "logs"
    # Log tails spend the CloudWatch Logs share; status polls never wait behind them.
    assert logs.pacer is not sagemaker.pacer and logs.pacer.cap == DEFAULT_LOGS_SHARE
    # Finding stream names spends a limit of its own, apart from the reads.
    assert logs.pacers["describe_log_streams"].cap == DEFAULT_LOG_STREAMS_SHARE
    assert not sagemaker.pacers
    await pool.release(SETTINGS)
    await pool.release(SETTINGS, "logs")


@pytest.mark.asyncio
async def test_a_user_cancelled_while_the_client_builds_leaves_nothing_open(
    closes: list[SharedClient],
) -> None:
    pool = ClientPool()
    waiter = asyncio.ensure_future(pool.acquire(SETTINGS))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert len(pool) == 0
    for _ in range(100):  # the build finishes in a thread, then the client is closed
        if closes:
            break
        await asyncio.sleep(0.05)
    assert len(closes) == 1


def test_each_event_loop_has_its_own_pool_and_clients_stay_in_their_loop() -> None:
    async def borrow() -> tuple[ClientPool, SharedClient]:
        pool = pool_for_running_loop()
        return pool, await pool.acquire(SETTINGS)

    first_loop, second_loop = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        pool_a, client_a = first_loop.run_until_complete(borrow())
        pool_b, client_b = second_loop.run_until_complete(borrow())
        assert pool_a is not pool_b and client_a is not client_b
        with pytest.raises(RuntimeError, match="event loop that did not create it"):
            second_loop.run_until_complete(
                client_a.call("describe_training_job", TrainingJobName="x")
            )
        first_loop.run_until_complete(pool_a.release(SETTINGS))
        second_loop.run_until_complete(pool_b.release(SETTINGS))
    finally:
        first_loop.close()
        second_loop.close()


def test_pool_key_holds_no_secret_in_clear() -> None:
    key = ClientKey.of(SETTINGS, "sagemaker")
    assert "unit-secret-value" not in repr(key) and "AKIAUNITTEST" not in repr(key)


@pytest.mark.asyncio
async def test_configured_rate_cap_reaches_the_pacer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__MAX_REQUESTS_PER_SECOND", "12.5")
    assert pool_module.configured_max_rps() == 12.5
    pool = ClientPool(pool_module.configured_max_rps())
    shared = await pool.acquire(SETTINGS)
    assert shared.pacer.cap == 12.5
    await pool.release(SETTINGS)


@pytest.mark.asyncio
async def test_calls_beyond_the_connection_count_wait_before_building_a_request() -> None:
    pool = ClientPool()
    settings = replace(SETTINGS, botocore_config={"max_pool_connections": 3})
    shared = await pool.acquire(settings)
    in_flight, most = 0, 0

    async def describe(**kwargs: Any) -> dict[str, Any]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return {"TrainingJobName": kwargs["TrainingJobName"]}

    shared.client.describe_training_job = describe  # stands in for the HTTP call
    answers = await asyncio.gather(
        *(shared.call("describe_training_job", TrainingJobName=f"j{i}") for i in range(20))
    )
    assert [a["TrainingJobName"] for a in answers] == [f"j{i}" for i in range(20)]
    assert most == 3
    await pool.release(settings)


@pytest.mark.parametrize(("configured", "cap"), [(3, 3), (0, None), (None, None)])
def test_in_flight_cap_follows_the_connection_count(configured: Any, cap: int | None) -> None:
    # 0 means "no limit" to aiohttp; a semaphore of 0 would let no call through.
    expected = pool_module.DEFAULT_MAX_CONNECTIONS if cap is None else cap
    assert pool_module.in_flight_cap(configured) == expected


@pytest.mark.parametrize(
    "value", [1764233000, 1764233000.125, "2025-11-27T08:43:20.125Z", "2025-11-27T08:43:20+02:00"]
)
def test_timestamps_parse_as_botocore_would(value: Any) -> None:
    ours = pool_module.epoch_or_text_timestamp(value)
    theirs = parse_timestamp(value)
    assert ours == theirs
    assert ours.utcoffset() == theirs.utcoffset()
    assert ours.isoformat() == theirs.isoformat()


def test_pooled_clients_use_the_quick_timestamp_parser_and_a_fixed_user_agent() -> None:
    closer, client = pool_module._build_client(AwsSettings(region_name="us-east-1"), "sagemaker")
    try:
        # The endpoint builds the parser of every response from this factory.
        parser = client._endpoint._response_parser_factory.create_parser("json")
        assert parser._timestamp_parser is pool_module.epoch_or_text_timestamp
        agent = client._user_agent_creator.to_string()
        assert agent.startswith("sagemaker-async/") and " botocore/" in agent
    finally:
        asyncio.run(closer.__aexit__(None, None, None))


ROLE = AssumeRole("arn:aws:iam::123456789012:role/a", {"ExternalId": "shared-s3cr3t"})


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"profile_name": "analytics"}, id="profile"),
        pytest.param({"assume_role": None}, id="no-role"),
        pytest.param(
            {"assume_role": replace(ROLE, role_arn="arn:aws:iam::123456789012:role/b")},
            id="other-role",
        ),
        pytest.param({"assume_role": replace(ROLE, kwargs={"ExternalId": "x"})}, id="kwargs"),
        pytest.param({"assume_role": replace(ROLE, kwargs={})}, id="no-kwargs"),
        pytest.param({"assume_role": replace(ROLE, endpoint_url="http://sts")}, id="sts-endpoint"),
        pytest.param({"assume_role": replace(ROLE, region_name="eu-west-1")}, id="sts-region"),
    ],
)
def test_identity_changes_the_pool_key(change: dict[str, Any]) -> None:
    base = replace(SETTINGS, assume_role=ROLE)
    other = replace(base, **change)
    assert ClientKey.of(other, "sagemaker") != ClientKey.of(base, "sagemaker")
    assert ClientKey.of(other, "sagemaker") == ClientKey.of(replace(other), "sagemaker")


def test_pool_key_names_the_role_but_not_its_kwargs() -> None:
    text = repr(ClientKey.of(replace(SETTINGS, assume_role=ROLE, profile_name="p"), "sagemaker"))
    assert ROLE.role_arn in text and "profile_name='p'" in text
    assert "shared-s3cr3t" not in text and "unit-secret-value" not in text


@pytest.mark.asyncio
async def test_a_role_client_closes_its_sts_client_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiobotocore.client import AioBaseClient

    closed: list[str] = []
    original = AioBaseClient.__aexit__

    async def spy(self: Any, *exc_info: Any) -> None:
        closed.append(self.meta.service_model.service_name)
        await original(self, *exc_info)

    monkeypatch.setattr(AioBaseClient, "__aexit__", spy)
    pool = ClientPool()
    settings = replace(SETTINGS, assume_role=ROLE)
    shared = await pool.acquire(settings)
    assert shared.client.meta.service_model.service_name == "sagemaker"
    assert closed == []
    await pool.release(settings)
    assert sorted(closed) == ["sagemaker", "sts"]


class NonAwsServer:
    """An aiobotocore-shaped client whose endpoint answers HTML pages."""

    meta = SimpleNamespace(endpoint_url="http://127.0.0.1:9")

    async def describe_training_job(self, **kwargs: Any) -> Any:
        raise html_answer("DescribeTrainingJob")

    async def list_training_jobs(self, **kwargs: Any) -> Any:
        headers = {"content-type": "text/html"}
        return {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": headers}}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("operation", "status"), [("describe_training_job", 501), ("list_training_jobs", 200)]
)
async def test_an_answer_that_is_not_aws_is_raised_in_one_line_naming_the_endpoint(
    operation: str, status: int
) -> None:
    shared = SharedClient(
        NonAwsServer(), Pacer(), asyncio.get_running_loop(), AsyncExitStack(), asyncio.Semaphore(1)
    )
    with pytest.raises(errors.NotAwsAnswerError) as raised:
        await shared.call(operation)
    message = raised.value.response["Error"]["Message"]
    assert message == (
        f"HTTP {status} from http://127.0.0.1:9: not an AWS answer (text/html); check endpoint_url"
    )
    assert "<" not in str(raised.value)
    # The page stays out of the traceback too.
    assert raised.value.__context__ is None or raised.value.__suppress_context__


class LogsCalls:
    """Answers at once and keeps the order of the calls."""

    def __init__(self) -> None:
        self.done: list[str] = []

    async def describe_log_streams(self, **kwargs: Any) -> Any:
        self.done.append("describe_log_streams")
        return {}

    async def filter_log_events(self, **kwargs: Any) -> Any:
        self.done.append("filter_log_events")
        return {}


@pytest.mark.asyncio
async def test_callers_waiting_for_one_operation_s_pace_leave_the_connections_to_others() -> None:
    fake = LogsCalls()
    shared = SharedClient(
        fake,
        Pacer(),
        asyncio.get_running_loop(),
        AsyncExitStack(),
        asyncio.Semaphore(1),
        {"describe_log_streams": Pacer(1.0)},  # one call a second
    )
    finds = [asyncio.ensure_future(shared.call("describe_log_streams")) for _ in range(3)]
    await asyncio.sleep(0.05)  # the first find has gone out; two wait for their turns
    await asyncio.wait_for(shared.call("filter_log_events"), 0.5)
    await asyncio.gather(*finds)
    assert fake.done.index("filter_log_events") == 1
