"""Turning an Airflow ``aws`` connection into boto3 / aiobotocore client arguments.

The fields follow the amazon provider's connection: ``login``/``password`` are the access key
and secret; ``extra`` may hold ``region_name``, ``endpoint_url`` (or per service under
``service_config``), ``aws_session_token``, ``verify``, ``config_kwargs`` (or
``botocore_config``), ``profile_name``, and ``role_arn`` with ``assume_role_kwargs`` to work
under an assumed role. ``conn_id=None`` means boto's default credential chain. This module only
reads settings; :mod:`sagemaker_async.credentials` turns them into credentials.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from sagemaker_async.botoconfig import check_types

Verify = bool | str | None


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
#: The only ``assume_role_method`` supported; SAML and web identity federation are not.
ASSUME_ROLE = "assume_role"
#: ``RoleSessionName`` unless ``assume_role_kwargs`` names one; it shows in CloudTrail.
DEFAULT_SESSION_NAME = "airflow-sagemaker-async"


class ConnectionNotFoundError(LookupError):
    """The named Airflow connection does not exist."""


class InvalidSettingsError(ValueError):
    """A region or endpoint that can never work; the message names the setting."""


@dataclass(frozen=True)
class AssumeRole:
    """An IAM role to assume with STS, and where STS is reached.

    :param role_arn: the role's ARN.
    :param kwargs: further ``AssumeRole`` arguments (``ExternalId``, ``DurationSeconds``, ...);
        kept out of ``repr`` because an external id is a shared secret.
    :param endpoint_url: STS endpoint (``service_config.sts.endpoint_url``, else the global one).
    :param region_name: STS region (``service_config.sts.region_name``, else the client's).
    """

    role_arn: str
    kwargs: dict[str, Any] = field(default_factory=dict, repr=False)
    endpoint_url: str | None = None
    region_name: str | None = None

    def request(self) -> dict[str, Any]:
        """The ``AssumeRole`` request."""
        return {"RoleArn": self.role_arn, "RoleSessionName": DEFAULT_SESSION_NAME, **self.kwargs}


@dataclass(frozen=True)
class AwsSettings:
    """Everything needed to build a client; secrets are kept out of ``repr``.

    Credentials come from, in this order of precedence: an assumed role (with the keys, or
    else the profile or default chain, as source credentials), the keys, the profile, the
    default chain.
    """

    region_name: str | None = None
    endpoint_url: str | None = None
    verify: Verify = None
    botocore_config: dict[str, Any] | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    profile_name: str | None = None
    assume_role: AssumeRole | None = None

    def key_kwargs(self) -> dict[str, Any]:
        """The connection's own keys as ``create_client`` arguments; empty if it has none."""
        if not (self.aws_access_key_id and self.aws_secret_access_key):
            return {}
        return {
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key,
            "aws_session_token": self.aws_session_token,
        }

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``create_client`` shared by boto3 and aiobotocore.

        With a role to assume, the keys are only the source credentials of ``AssumeRole``:
        the session's credential provider supplies the role's credentials instead.
        """
        kwargs: dict[str, Any] = {
            "region_name": self.region_name,
            "endpoint_url": self.endpoint_url,
            "verify": self.verify,
        }
        if self.assume_role is None:
            kwargs.update(self.key_kwargs())
        return kwargs


def settings_from(
    login: str | None,
    password: str | None,
    extra: dict[str, Any],
    *,
    service: str = "sagemaker",
    region_name: str | None = None,
    verify: Verify = None,
    botocore_config: dict[str, Any] | None = None,
) -> AwsSettings:
    """Merge connection fields with operator arguments; the operator's arguments win."""
    # `or None`: a form field left empty may be stored as "" rather than left out.
    region = region_name or _per_service(extra, service, "region_name") or None
    return AwsSettings(
        region_name=region,
        endpoint_url=_per_service(extra, service, "endpoint_url") or None,
        verify=verify if verify is not None else extra.get("verify"),
        botocore_config=(
            botocore_config or extra.get("config_kwargs") or extra.get("botocore_config") or None
        ),
        aws_access_key_id=login or extra.get("aws_access_key_id"),
        aws_secret_access_key=password or extra.get("aws_secret_access_key"),
        aws_session_token=extra.get("aws_session_token"),
        profile_name=extra.get("profile_name") or None,
        assume_role=_assume_role(extra, region_name),
    )


def _per_service(extra: dict[str, Any], service: str, name: str) -> Any:
    """``service_config.<service>.<name>`` if set, else the connection-wide ``<name>``."""
    per_service = (extra.get("service_config") or {}).get(service) or {}
    return per_service.get(name) or extra.get(name)


def _assume_role(extra: dict[str, Any], region_name: str | None) -> AssumeRole | None:
    """The role the connection asks for, or ``None``; refuses what would run as someone else."""
    method = extra.get("assume_role_method")
    if method not in (None, ASSUME_ROLE):
        raise InvalidSettingsError(
            f"connection extra assume_role_method {method!r} is not supported: use "
            f"{ASSUME_ROLE!r} (or leave it out); SAML and web identity federation are not "
            "supported"
        )
    role_arn = extra.get("role_arn")
    kwargs = extra.get("assume_role_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise InvalidSettingsError(
            f"connection extra assume_role_kwargs must be a JSON object (AssumeRole "
            f"arguments such as ExternalId), got {type(kwargs).__name__}"
        )
    if not role_arn:
        if kwargs:
            # Dropping them would quietly run under the source identity instead of the role.
            raise InvalidSettingsError(
                "connection extra assume_role_kwargs is set but role_arn is not: "
                "add the role_arn to assume"
            )
        return None
    if not isinstance(role_arn, str) or not _ROLE_ARN.match(role_arn):
        raise InvalidSettingsError(
            f"connection extra role_arn {role_arn!r} is not an IAM role ARN "
            "(such as 'arn:aws:iam::123456789012:role/sagemaker-airflow')"
        )
    if "RoleArn" in kwargs:
        raise InvalidSettingsError(
            "connection extra assume_role_kwargs must not hold RoleArn: set role_arn instead"
        )
    sts = (extra.get("service_config") or {}).get("sts") or {}
    return AssumeRole(
        role_arn,
        dict(kwargs),
        # As the amazon provider does: the connection-wide endpoint_url is often a
        # SageMaker (VPC or FIPS) endpoint, which would never answer AssumeRole.
        endpoint_url=sts.get("endpoint_url"),
        region_name=sts.get("region_name") or region_name or extra.get("region_name"),
    )


def checked(settings: AwsSettings) -> AwsSettings:
    """``settings`` if regions and endpoints are well formed, else :class:`InvalidSettingsError`.

    Caught here because botocore would turn both into connection errors, which look
    transient and would be retried for minutes.
    """
    if settings.botocore_config:
        try:
            check_types(settings.botocore_config)
        except ValueError as exc:
            raise InvalidSettingsError(str(exc)) from None
        try:
            Config(**settings.botocore_config)
        except (TypeError, ValueError, BotoCoreError) as exc:
            # BotoCoreError: botocore's own checks of retries and s3 (a mode it does not know).
            raise InvalidSettingsError(
                f"botocore_config is not valid for botocore: {exc}"
            ) from None
    _check_region("region_name", settings.region_name)
    _check_url("endpoint_url", settings.endpoint_url)
    _check_verify(settings.verify)
    if settings.assume_role is not None:
        _check_region("service_config.sts.region_name", settings.assume_role.region_name)
        _check_url("service_config.sts.endpoint_url", settings.assume_role.endpoint_url)
    if settings.profile_name is not None and not isinstance(settings.profile_name, str):
        raise InvalidSettingsError(
            f"connection extra profile_name must be a string, got {settings.profile_name!r}"
        )
    return settings


def _check_region(name: str, region: str | None) -> None:
    if region is not None and not _REGION.match(region):
        raise InvalidSettingsError(
            f"{name} {region!r} is not an AWS region name (such as 'us-east-1')"
        )


def _check_url(name: str, url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSettingsError(
            f"{name} {url!r} is not an http(s) URL "
            "(such as 'https://api.sagemaker.us-east-1.amazonaws.com')"
        )


def _check_verify(verify: Verify) -> None:
    """A CA bundle path must exist on this host before any request: boto3 ignores it for an
    ``http`` endpoint and fails later, aiobotocore reports it as an unhandled client error
    without the path, and either would look transient. (One ``stat``, also on the
    triggerer's event loop.)"""
    if isinstance(verify, str) and not os.path.exists(verify):
        raise InvalidSettingsError(
            f"verify {verify!r}: no CA bundle at this path on host {socket.gethostname()}"
        )


def get_settings(conn_id: str | None, **overrides: Any) -> AwsSettings:
    """Resolve settings on a worker (blocking connection look-up)."""
    if conn_id is None:
        return checked(settings_from(None, None, {}, **overrides))
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConnectionNotFoundError(_not_found(conn_id)) from None
    return checked(settings_from(conn.login, conn.password, conn.extra_dejson, **overrides))


async def aget_settings(conn_id: str | None, **overrides: Any) -> AwsSettings:
    """Resolve settings in the triggerer without blocking its event loop.

    Identical look-ups in flight at the same time share one: a thousand triggers deferred
    together would otherwise each ask the triggerer's supervisor for the same connection.
    """
    key = json.dumps([conn_id, overrides], sort_keys=True, default=repr)
    lookups = _LOOKUPS.setdefault(asyncio.get_running_loop(), {})
    lookup = lookups.get(key)
    if lookup is None:
        lookup = lookups[key] = asyncio.ensure_future(_aget_settings(conn_id, **overrides))
        lookup.add_done_callback(lambda done: _forget(lookups, key, done))
    return await asyncio.shield(lookup)


def _forget(
    lookups: dict[str, asyncio.Future[AwsSettings]], key: str, done: asyncio.Future[AwsSettings]
) -> None:
    lookups.pop(key, None)
    if not done.cancelled():
        done.exception()  # retrieved here: every waiter may have been cancelled meanwhile


_LOOKUPS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Future[AwsSettings]]
] = weakref.WeakKeyDictionary()


async def _aget_settings(conn_id: str | None, **overrides: Any) -> AwsSettings:
    if conn_id is None:
        return checked(settings_from(None, None, {}, **overrides))
    try:
        conn = await BaseHook.aget_connection(conn_id)
    except AirflowNotFoundException:
        raise ConnectionNotFoundError(_not_found(conn_id)) from None
    extra = await conn.aextra_dejson()
    return checked(settings_from(conn.login, conn.password, extra, **overrides))


def _not_found(conn_id: str) -> str:
    return (
        f"aws_conn_id {conn_id!r}: no Airflow connection with this id. Create it "
        "(conn_type 'aws') or pass aws_conn_id=None to use the default credential chain."
    )
