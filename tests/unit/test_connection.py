from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sagemaker_async.connection import (
    AssumeRole,
    ConnectionNotFoundError,
    InvalidSettingsError,
    checked,
    get_settings,
    settings_from,
)


def test_connection_fields_map_to_client_arguments() -> None:
    extra = {
        "region_name": "eu-west-1",
        "endpoint_url": "http://127.0.0.1:5000",
        "aws_session_token": "tok",
        "verify": False,
    }
    settings = settings_from("AKID", "SECRET", extra)
    assert settings.client_kwargs() == {
        "region_name": "eu-west-1",
        "endpoint_url": "http://127.0.0.1:5000",
        "verify": False,
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "SECRET",
        "aws_session_token": "tok",
    }


def test_operator_arguments_override_the_connection() -> None:
    extra = {"region_name": "eu-west-1", "verify": True, "config_kwargs": {"read_timeout": 5}}
    settings = settings_from(
        None, None, extra, region_name="us-west-2", verify=False, botocore_config={"retries": {}}
    )
    assert (settings.region_name, settings.verify, settings.botocore_config) == (
        "us-west-2",
        False,
        {"retries": {}},
    )


def test_per_service_endpoint_wins_over_the_global_one() -> None:
    extra = {
        "endpoint_url": "http://global",
        "service_config": {"sagemaker": {"endpoint_url": "http://sm"}},
    }
    assert settings_from(None, None, extra).endpoint_url == "http://sm"
    assert settings_from(None, None, extra, service="logs").endpoint_url == "http://global"


def test_without_keys_the_default_chain_is_used() -> None:
    assert "aws_access_key_id" not in settings_from(None, None, {}).client_kwargs()


def test_secrets_stay_out_of_repr() -> None:
    text = repr(
        settings_from("AKIDSECRETLOOKING", "s3cr3t-value", {"aws_session_token": "t0ken-value"})
    )
    for secret in ("AKIDSECRETLOOKING", "s3cr3t-value", "t0ken-value"):
        assert secret not in text


def test_connection_from_the_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = json.dumps(
        {
            "conn_type": "aws",
            "login": "AK",
            "password": "SK",
            "extra": {"region_name": "ap-south-1"},
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_SM_TEST", uri)
    settings = get_settings("sm_test")
    assert (settings.aws_access_key_id, settings.region_name) == ("AK", "ap-south-1")


def test_unknown_connection_names_the_id() -> None:
    with pytest.raises(ConnectionNotFoundError, match="'missing_conn_abc'"):
        get_settings("missing_conn_abc")


ROLE = "arn:aws:iam::123456789012:role/sagemaker-airflow"


def role_of(extra: dict[str, Any], **overrides: Any) -> AssumeRole:
    role = settings_from("AK", "SK", extra, **overrides).assume_role
    assert role is not None
    return role


def test_role_arn_and_its_kwargs_make_an_assume_role_request() -> None:
    extra = {
        "role_arn": ROLE,
        "assume_role_method": "assume_role",
        "assume_role_kwargs": {"ExternalId": "ext-123", "DurationSeconds": 900},
    }
    assert role_of(extra).request() == {
        "RoleArn": ROLE,
        "RoleSessionName": "airflow-sagemaker-async",
        "ExternalId": "ext-123",
        "DurationSeconds": 900,
    }
    # A session name of the user's own replaces the default one.
    named = {**extra, "assume_role_kwargs": {"RoleSessionName": "team-a"}}
    assert role_of(named).request()["RoleSessionName"] == "team-a"


def test_with_a_role_the_keys_only_sign_assume_role() -> None:
    settings = settings_from("AK", "SK", {"role_arn": ROLE, "aws_session_token": "tok"})
    assert "aws_access_key_id" not in settings.client_kwargs()
    assert settings.key_kwargs() == {
        "aws_access_key_id": "AK",
        "aws_secret_access_key": "SK",
        "aws_session_token": "tok",
    }
    assert settings_from(None, None, {"role_arn": ROLE}).key_kwargs() == {}


def test_sts_uses_only_its_own_endpoint_never_the_global_one() -> None:
    extra: dict[str, Any] = {"role_arn": ROLE, "endpoint_url": "http://global"}
    assert role_of(extra).endpoint_url is None  # AWS's STS endpoint for the region
    extra["service_config"] = {"sts": {"endpoint_url": "http://sts", "region_name": "eu-west-1"}}
    role = role_of(extra, region_name="us-west-2")
    assert (role.endpoint_url, role.region_name) == ("http://sts", "eu-west-1")


def test_sts_region_follows_the_operator_then_the_connection() -> None:
    extra = {"role_arn": ROLE, "region_name": "eu-west-1"}
    assert role_of(extra).region_name == "eu-west-1"
    assert role_of(extra, region_name="ap-south-1").region_name == "ap-south-1"


def test_no_role_without_role_arn() -> None:
    assert settings_from("AK", "SK", {"assume_role_method": "assume_role"}).assume_role is None


def test_assume_role_kwargs_stay_out_of_repr() -> None:
    extra = {"role_arn": ROLE, "assume_role_kwargs": {"ExternalId": "shared-s3cr3t"}}
    text = repr(settings_from("AK", "SK", extra))
    assert ROLE in text and "shared-s3cr3t" not in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            {"role_arn": ROLE, "assume_role_kwargs": ["ExternalId"]},
            "assume_role_kwargs must be a JSON object",
            id="kwargs-not-an-object",
        ),
        pytest.param(
            {"role_arn": ROLE, "assume_role_kwargs": {"RoleArn": ROLE}},
            "must not hold RoleArn: set role_arn instead",
            id="role-in-kwargs",
        ),
        pytest.param(
            {"role_arn": "arn:aws:iam::1:role/x"},
            "role_arn 'arn:aws:iam::1:role/x' is not an IAM role ARN",
            id="short-account",
        ),
        pytest.param(
            {"role_arn": ROLE, "assume_role_method": "assume_role_with_web_identity"},
            "assume_role_method 'assume_role_with_web_identity' is not supported",
            id="web-identity",
        ),
    ],
)
def test_identity_fields_that_cannot_work_are_refused(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSettingsError, match=re.escape(message)):
        settings_from("AK", "SK", extra)


def test_sts_endpoint_and_region_are_checked() -> None:
    bad_url = {"role_arn": ROLE, "service_config": {"sts": {"endpoint_url": "sts.local"}}}
    with pytest.raises(InvalidSettingsError, match=r"^service_config\.sts\.endpoint_url 'sts"):
        checked(settings_from(None, None, bad_url))
    bad_region = {"role_arn": ROLE, "service_config": {"sts": {"region_name": "moon"}}}
    with pytest.raises(InvalidSettingsError, match=r"^service_config\.sts\.region_name 'moon'"):
        checked(settings_from(None, None, bad_region))


def test_a_ca_bundle_path_that_does_not_exist_is_refused_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing-ca.pem")
    with pytest.raises(InvalidSettingsError, match=f"^verify {re.escape(repr(missing))}: no CA"):
        checked(settings_from(None, None, {}, verify=missing))
    with pytest.raises(InvalidSettingsError, match=r"missing-ca\.pem"):
        checked(settings_from(None, None, {"verify": missing}))  # from the connection's extra
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    for verify in (str(bundle), str(tmp_path), True, False, None):
        checked(settings_from(None, None, {}, verify=verify))


def test_profile_name_and_botocore_config_alias_are_read() -> None:
    extra = {"profile_name": "analytics", "botocore_config": {"read_timeout": 7}}
    settings = settings_from(None, None, extra)
    assert (settings.profile_name, settings.botocore_config) == ("analytics", {"read_timeout": 7})
    # config_kwargs is the amazon provider's name and wins when both are set.
    both = settings_from(None, None, {**extra, "config_kwargs": {"read_timeout": 9}})
    assert both.botocore_config == {"read_timeout": 9}


@pytest.mark.asyncio
async def test_identical_lookups_in_flight_share_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from airflow.sdk import BaseHook, Connection

    from sagemaker_async.connection import aget_settings

    asked: list[str] = []

    async def lookup(conn_id: str) -> Connection:
        asked.append(conn_id)
        await asyncio.sleep(0.01)
        return Connection(conn_id=conn_id, conn_type="aws", login="AKID", password="SECRET")

    monkeypatch.setattr(BaseHook, "aget_connection", staticmethod(lookup))
    same = await asyncio.gather(*(aget_settings("aws_x", service="sagemaker") for _ in range(50)))
    other = await aget_settings("aws_x", service="logs")
    assert asked == ["aws_x", "aws_x"], "fifty identical look-ups in flight make one"
    assert {s.aws_access_key_id for s in [*same, other]} == {"AKID"}
    await aget_settings("aws_x", service="sagemaker")
    assert len(asked) == 3, "a finished look-up is not cached"
