"""Turning an Airflow ``aws`` connection into boto3 / aiobotocore client arguments.

The fields follow the amazon provider's connection: ``login``/``password`` are the access key
and secret; ``extra`` may hold ``region_name``, ``endpoint_url`` (or per service under
``service_config``), ``aws_session_token``, ``verify`` and ``config_kwargs``. ``conn_id=None``
means boto's default credential chain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from botocore.config import Config

Verify = bool | str | None


_UNSUPPORTED_EXTRA = ("role_arn", "assume_role_method", "assume_role_kwargs", "profile_name")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


class ConnectionNotFoundError(LookupError):
    """The named Airflow connection does not exist."""


class InvalidSettingsError(ValueError):
    """A region or endpoint that can never work; the message names the setting."""


@dataclass(frozen=True)
class AwsSettings:
    """Everything needed to build a client; secrets are kept out of ``repr``."""

    region_name: str | None = None
    endpoint_url: str | None = None
    verify: Verify = None
    botocore_config: dict[str, Any] | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``create_client`` shared by boto3 and aiobotocore."""
        kwargs: dict[str, Any] = {
            "region_name": self.region_name,
            "endpoint_url": self.endpoint_url,
            "verify": self.verify,
        }
        if self.aws_access_key_id and self.aws_secret_access_key:
            kwargs["aws_access_key_id"] = self.aws_access_key_id
            kwargs["aws_secret_access_key"] = self.aws_secret_access_key
            kwargs["aws_session_token"] = self.aws_session_token
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
    if unsupported := [key for key in _UNSUPPORTED_EXTRA if extra.get(key)]:
        # Ignoring them would quietly run under another identity, maybe in another account.
        raise InvalidSettingsError(
            f"connection extra {', '.join(map(repr, unsupported))} is not supported yet; use "
            "a connection with keys (or none, for the default credential chain)"
        )
    per_service = (extra.get("service_config") or {}).get(service) or {}
    return AwsSettings(
        region_name=region_name or per_service.get("region_name") or extra.get("region_name"),
        endpoint_url=per_service.get("endpoint_url") or extra.get("endpoint_url"),
        verify=verify if verify is not None else extra.get("verify"),
        botocore_config=botocore_config or extra.get("config_kwargs") or None,
        aws_access_key_id=login or extra.get("aws_access_key_id"),
        aws_secret_access_key=password or extra.get("aws_secret_access_key"),
        aws_session_token=extra.get("aws_session_token"),
    )


def checked(settings: AwsSettings) -> AwsSettings:
    """``settings`` if its region and endpoint are well formed, else :class:`InvalidSettingsError`.

    Caught here because botocore would turn both into connection errors, which look
    transient and would be retried for minutes.
    """
    if settings.botocore_config:
        try:
            Config(**settings.botocore_config)
        except (TypeError, ValueError) as exc:
            raise InvalidSettingsError(
                f"botocore_config is not valid for botocore: {exc}"
            ) from None
    region = settings.region_name
    if region is not None and not _REGION.match(region):
        raise InvalidSettingsError(
            f"region_name {region!r} is not an AWS region name (such as 'us-east-1')"
        )
    url = settings.endpoint_url
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidSettingsError(
                f"endpoint_url {url!r} is not an http(s) URL "
                "(such as 'https://api.sagemaker.us-east-1.amazonaws.com')"
            )
    return settings


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
    """Resolve settings in the triggerer without blocking its event loop."""
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
