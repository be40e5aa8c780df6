from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import DeferredRefreshableCredentials

from sagemaker_async.connection import settings_from
from sagemaker_async.credentials import (
    AioRoleCredentials,
    RoleCredentials,
    aio_session,
    boto3_session,
    shared_loader,
)

ROLE = "arn:aws:iam::123456789012:role/sagemaker-airflow"
# Nothing here sends a request: STS is only reached when credentials are first used.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Shared config and credentials files with an ``analytics`` profile, and nothing else."""
    config, creds = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[profile analytics]\nregion = eu-central-1\n")
    creds.write_text(
        "[analytics]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.mark.usefixtures("profiles")
def test_profile_supplies_keys_and_region_to_boto3() -> None:
    session = boto3_session(settings_from(None, None, {"profile_name": "analytics"}))
    assert session.get_credentials().access_key == "AKIAPROFILE"
    assert session.client("sagemaker").meta.region_name == "eu-central-1"


@pytest.mark.usefixtures("profiles")
@pytest.mark.asyncio
async def test_profile_supplies_keys_and_region_to_aiobotocore() -> None:
    async with AsyncExitStack() as stack:
        session = await aio_session(settings_from(None, None, {"profile_name": "analytics"}), stack)
        credentials = await session.get_credentials()
        assert (await credentials.get_frozen_credentials()).access_key == "AKIAPROFILE"
        assert session.get_config_variable("region") == "eu-central-1"


@pytest.mark.usefixtures("profiles")
def test_a_role_gives_the_session_refreshable_credentials_fetched_on_first_use() -> None:
    extra = {"role_arn": ROLE, "profile_name": "analytics", "endpoint_url": UNREACHABLE}
    session = boto3_session(settings_from(None, None, extra))
    credentials = session.get_credentials()
    assert isinstance(credentials, RoleCredentials)
    assert credentials.method == "assume-role"
    # Deferred: building the session and a client sent nothing to STS.
    session.client("sagemaker")


@pytest.mark.asyncio
async def test_a_role_gives_the_aio_session_refreshable_credentials() -> None:
    extra = {"role_arn": ROLE, "endpoint_url": UNREACHABLE, "region_name": "us-east-1"}
    async with AsyncExitStack() as stack:
        session = await aio_session(settings_from("AK", "SK", extra), stack)
        assert isinstance(await session.get_credentials(), AioRoleCredentials)


@pytest.mark.asyncio
async def test_every_session_of_a_process_shares_one_loader_whose_paths_stay_put() -> None:
    settings = settings_from("AK", "SK", {"region_name": "us-east-1"})
    first = boto3_session(settings)
    paths = list(shared_loader().search_paths)
    second = boto3_session(settings)
    loader = second._session.get_component("data_loader")
    assert loader is first._session.get_component("data_loader") is shared_loader()
    assert shared_loader().search_paths == paths  # boto3 adds its folder once, not per session
    async with AsyncExitStack() as stack:
        session = await aio_session(settings, stack)
        assert session.get_component("data_loader") is shared_loader()


def metadata(lifetime: float, key: str) -> dict[str, Any]:
    expiry = datetime.now(timezone.utc) + timedelta(seconds=lifetime)
    return {"access_key": key, "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}


class Sts:
    """Counts ``AssumeRole`` calls; each issues a new key id."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return metadata(self.lifetime, f"ASIA{self.calls}")

    async def acall(self) -> dict[str, Any]:
        await asyncio.sleep(0.01)  # a request in flight, so concurrent callers overlap
        return self()


def test_credentials_are_fetched_once_until_they_near_expiry() -> None:
    sts = Sts(lifetime=3600)
    credentials = RoleCredentials(sts)
    assert sts.calls == 0
    keys = {credentials.get_frozen_credentials().access_key for _ in range(20)}
    assert keys == {"ASIA1"} and sts.calls == 1


def test_fifteen_minute_credentials_are_not_refreshed_on_every_call() -> None:
    # botocore's fixed 15-minute window would fetch 900-second credentials on every call.
    plain_sts, sts = Sts(lifetime=900), Sts(lifetime=900)
    plain = DeferredRefreshableCredentials(plain_sts, "assume-role")
    scaled = RoleCredentials(sts)
    for _ in range(5):
        plain.get_frozen_credentials()
        scaled.get_frozen_credentials()
    assert plain_sts.calls == 5
    assert sts.calls == 1


def test_short_lived_credentials_are_refreshed_in_their_last_quarter() -> None:
    sts = Sts(lifetime=1.0)
    credentials = RoleCredentials(sts)
    assert credentials.get_frozen_credentials().access_key == "ASIA1"
    assert credentials.get_frozen_credentials().access_key == "ASIA1"
    time.sleep(0.8)
    assert credentials.get_frozen_credentials().access_key == "ASIA2"
    assert sts.calls == 2


@pytest.mark.asyncio
async def test_concurrent_callers_share_one_assume_role() -> None:
    sts = Sts(lifetime=1.0)
    credentials = AioRoleCredentials(sts.acall)
    first = await asyncio.gather(*(credentials.get_frozen_credentials() for _ in range(50)))
    assert {c.access_key for c in first} == {"ASIA1"} and sts.calls == 1
    await asyncio.sleep(0.8)
    # Due for refresh: one caller refreshes, the others carry on with what is still valid.
    await asyncio.gather(*(credentials.get_frozen_credentials() for _ in range(50)))
    assert sts.calls == 2
    assert (await credentials.get_frozen_credentials()).access_key == "ASIA2"
