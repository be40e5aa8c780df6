from __future__ import annotations

import json

import pytest

from sagemaker_async.connection import ConnectionNotFoundError, get_settings, settings_from


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
