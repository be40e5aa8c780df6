"""Sessions whose credentials follow the connection: keys, profile, or an assumed role.

With ``role_arn`` the session's credential provider hands out refreshable credentials that
call STS ``AssumeRole`` on first use and again shortly before they expire, so a wait of many
hours never signs a request with expired credentials. The source credentials of
``AssumeRole`` are the connection's keys, or else the profile's (or the default chain's).
The same logic serves boto3 (worker) and aiobotocore (triggerer).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from functools import partial
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioDeferredRefreshableCredentials
from aiobotocore.session import AioSession
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import ProfileNotFound
from botocore.validate import ParamValidator

from sagemaker_async.connection import AssumeRole, AwsSettings, InvalidSettingsError

#: How botocore names credentials obtained with ``AssumeRole``.
METHOD = "assume-role"
#: The credential lifetime botocore's refresh windows (15 and 10 minutes) are made for.
_NOMINAL_LIFETIME = 3600.0

Metadata = dict[str, Any]


@functools.cache
def shared_loader() -> botocore.loaders.Loader:
    """The process's botocore data loader: its cache keeps the parsed service models, whose
    JSON parsing is most of what building a client costs (and holds the GIL for tens of
    milliseconds)."""
    return botocore.loaders.create_loader()


def boto3_session(settings: AwsSettings) -> boto3.session.Session:
    """A boto3 session for ``settings`` (blocking: reads the shared config files)."""
    session = _with_profile(_new_session(settings), settings)
    role = settings.assume_role
    if role is not None:
        source = _with_profile(_new_session(settings), settings)
        config = client_config(settings, Config)
        sts = source.create_client("sts", config=config, **_sts_kwargs(settings, role))
        _check_request(sts, role)
        credentials = RoleCredentials(partial(_assume, sts, role))
        session.register_component("credential_provider", _Provider(credentials))
    boto = boto3.session.Session(botocore_session=session)
    # Each boto3 session appends its data folder to the loader's search paths: once is enough.
    paths = shared_loader().search_paths
    paths[:] = dict.fromkeys(paths)
    return boto


async def aio_session(settings: AwsSettings, stack: AsyncExitStack) -> AioSession:
    """An aiobotocore session for ``settings``; ``stack`` closes its STS client, if any.

    Blocking (config files, service models): call it off the event loop thread.
    """
    session = _with_profile(_new_aio_session(settings), settings)
    role = settings.assume_role
    if role is not None:
        source = _with_profile(_new_aio_session(settings), settings)
        sts = await stack.enter_async_context(
            source.create_client(
                "sts", config=client_config(settings, AioConfig), **_sts_kwargs(settings, role)
            )
        )
        _check_request(sts, role)
        credentials = AioRoleCredentials(partial(_aassume, sts, role))
        session.register_component("credential_provider", _AioProvider(credentials))
    return session


class _LifetimeScaledWindows:
    """Refresh windows scaled down for credentials that live less than an hour.

    botocore starts refreshing 15 minutes before expiry (10 minutes: every caller waits for
    the refresh). Credentials of 15 minutes, the shortest ``DurationSeconds``, would be
    refreshed on every call; scaled, they are refreshed once in their last quarter.
    """

    _scale = 1.0

    def refresh_needed(self, refresh_in: int | None = None) -> bool:
        if refresh_in is None:
            refresh_in = self._advisory_refresh_timeout  # type: ignore[attr-defined]
        return bool(super().refresh_needed(refresh_in * self._scale))  # type: ignore[misc]

    def _note_lifetime(self, metadata: Metadata) -> Metadata:
        expiry = datetime.fromisoformat(metadata["expiry_time"])
        lifetime = (expiry - datetime.now(timezone.utc)).total_seconds()
        self._scale = min(1.0, max(lifetime, 0.0) / _NOMINAL_LIFETIME)
        return metadata


class RoleCredentials(_LifetimeScaledWindows, DeferredRefreshableCredentials):
    """An assumed role's credentials for botocore, fetched on first use and refreshed.

    :param fetch: calls ``AssumeRole``; returns botocore's credential metadata.
    """

    def __init__(self, fetch: Callable[[], Metadata]) -> None:
        super().__init__(refresh_using=lambda: self._note_lifetime(fetch()), method=METHOD)


class AioRoleCredentials(_LifetimeScaledWindows, AioDeferredRefreshableCredentials):  # type: ignore[misc]
    """An assumed role's credentials for aiobotocore, fetched on first use and refreshed.

    :param fetch: calls ``AssumeRole``; returns botocore's credential metadata.
    """

    def __init__(self, fetch: Callable[[], Awaitable[Metadata]]) -> None:
        async def refresh() -> Metadata:
            return self._note_lifetime(await fetch())

        super().__init__(refresh_using=refresh, method=METHOD)


class _Provider:
    """Stands in for botocore's credential resolver: always these credentials."""

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials

    def load_credentials(self) -> Any:
        return self.credentials


class _AioProvider(_Provider):
    async def load_credentials(self) -> Any:
        return self.credentials


def _assume(sts: Any, role: AssumeRole) -> Metadata:
    return _metadata(sts.assume_role(**role.request()))


async def _aassume(sts: Any, role: AssumeRole) -> Metadata:
    return _metadata(await sts.assume_role(**role.request()))


def _metadata(response: dict[str, Any]) -> Metadata:
    """``AssumeRole``'s answer in the form botocore's refreshable credentials take."""
    credentials = response["Credentials"]
    return {
        "access_key": credentials["AccessKeyId"],
        "secret_key": credentials["SecretAccessKey"],
        "token": credentials["SessionToken"],
        "expiry_time": credentials["Expiration"].isoformat(),
    }


def _new_session(settings: AwsSettings) -> botocore.session.Session:
    session = botocore.session.Session(profile=settings.profile_name)
    session.register_component("data_loader", shared_loader())
    return session


def _new_aio_session(settings: AwsSettings) -> AioSession:
    session = AioSession(profile=settings.profile_name)
    session.register_component("data_loader", shared_loader())
    return session


def _with_profile(session: Any, settings: AwsSettings) -> Any:
    """``session``, once its profile is known to exist (botocore says so only later)."""
    if settings.profile_name is not None:
        try:
            session.get_scoped_config()
        except ProfileNotFound:
            raise InvalidSettingsError(
                f"connection extra profile_name {settings.profile_name!r}: no such profile in "
                "the shared AWS config and credentials files"
            ) from None
    return session


def _sts_kwargs(settings: AwsSettings, role: AssumeRole) -> dict[str, Any]:
    """STS client arguments: STS's own endpoint and region, the connection's keys."""
    return {
        "region_name": role.region_name,
        "endpoint_url": role.endpoint_url,
        "verify": settings.verify,
        **settings.key_kwargs(),
    }


def client_config(settings: AwsSettings, kind: Callable[..., Any]) -> Any:
    """The botocore ``Config`` (or ``AioConfig``: ``kind``) of ``settings``, or ``None``."""
    return kind(**settings.botocore_config) if settings.botocore_config else None


def _check_request(sts: Any, role: AssumeRole) -> None:
    """Refuse ``assume_role_kwargs`` that botocore would refuse on every refresh."""
    shape = sts.meta.service_model.operation_model("AssumeRole").input_shape
    report = ParamValidator().validate(role.request(), shape)
    if report.has_errors():
        # botocore's report quotes the offending values; an ExternalId is a secret.
        problems = (_VALUE.sub("", line) for line in report.generate_report().splitlines())
        raise InvalidSettingsError(
            "connection extra assume_role_kwargs is not valid for AssumeRole: "
            + "; ".join(problems)
        )


_VALUE = re.compile(r", value: .*?(?=, (?:type|valid)\b|$)")
