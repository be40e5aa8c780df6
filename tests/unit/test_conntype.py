"""The ``aws`` connection type: registered by this package only when the amazon provider is not."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

import sagemaker_async
from sagemaker_async import conntype
from sagemaker_async.connection import AwsSettings
from sagemaker_async.connection_hook import AwsConnectionHook


def provider_info(monkeypatch: pytest.MonkeyPatch, amazon: bool) -> dict[str, object]:
    monkeypatch.setattr(conntype, "amazon_provider_installed", lambda: amazon)
    info = sagemaker_async.get_provider_info()
    schema = json.loads((resources.files("airflow") / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    return info


def test_without_the_amazon_provider_the_aws_type_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (entry,) = provider_info(monkeypatch, amazon=False)["connection-types"]  # type: ignore[misc]
    assert entry["connection-type"] == "aws"
    assert entry["hook-class-name"] == "sagemaker_async.connection_hook.AwsConnectionHook"
    assert set(entry["conn-fields"]) == {
        "region_name",
        "endpoint_url",
        "role_arn",
        "profile_name",
        "aws_session_token",
    }
    assert entry["conn-fields"]["aws_session_token"]["schema"]["format"] == "password"
    assert entry["ui-field-behaviour"]["hidden-fields"] == ["host", "schema", "port"]


def test_with_the_amazon_provider_the_type_is_left_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "connection-types" not in provider_info(monkeypatch, amazon=True)


def test_the_amazon_provider_is_found_by_its_distribution() -> None:
    try:
        import airflow.providers.amazon  # noqa: F401
    except ImportError:
        assert not conntype.amazon_provider_installed()
    else:
        assert conntype.amazon_provider_installed()


def test_the_hook_declares_what_the_provider_manager_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AwsConnectionHook.conn_type == "aws"
    assert AwsConnectionHook.conn_name_attr == "aws_conn_id"
    assert AwsConnectionHook.default_conn_name == "aws_default"
    assert AwsConnectionHook.hook_name
    conn = {"conn_type": "aws", "extra": {"region_name": "eu-west-1", "endpoint_url": ""}}
    monkeypatch.setenv("AIRFLOW_CONN_FORM_MADE", json.dumps(conn))
    # An empty form field arrives as "": it means "not set", not an invalid URL.
    assert AwsConnectionHook("form_made").get_conn() == AwsSettings(region_name="eu-west-1")
