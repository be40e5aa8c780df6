"""The ``aws`` connection type, registered with Airflow when the amazon provider is absent.

Without a provider that registers ``aws``, Airflow does not know the type: ``airflow
connections add --conn-type aws`` falls back to ``generic`` and the UI offers no AWS form. The
amazon provider registers ``aws`` itself, with the same fields; when it is installed, this
package leaves the type to it. Registering it twice would make Airflow log a warning on every
start and mix the two packages' form fields (Airflow keeps the first registration, in package
name order, which would be the amazon provider's). This module imports nothing from Airflow:
Airflow reads the provider info while it is importing itself.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

AMAZON_PROVIDER = "apache-airflow-providers-amazon"
HOOK_CLASS = "sagemaker_async.connection_hook.AwsConnectionHook"
CONN_TYPE = "aws"


def amazon_provider_installed() -> bool:
    """Whether the amazon provider's distribution is installed (it registers ``aws``)."""
    try:
        metadata.distribution(AMAZON_PROVIDER)
    except metadata.PackageNotFoundError:
        return False
    return True


def connection_types() -> list[dict[str, Any]]:
    """The ``connection-types`` entry of the provider info: ``aws``, unless the amazon
    provider is installed and registers it."""
    if amazon_provider_installed():
        return []
    return [
        {
            "connection-type": CONN_TYPE,
            "hook-class-name": HOOK_CLASS,
            "hook-name": "Amazon Web Services (sagemaker-async)",
            "ui-field-behaviour": {
                "hidden-fields": ["host", "schema", "port"],
                "relabeling": {
                    "login": "AWS Access Key ID",
                    "password": "AWS Secret Access Key",
                },
                "placeholders": {
                    "login": "leave empty to use a profile, a role or the default chain",
                    "extra": '{"region_name": "us-east-1", "assume_role_kwargs": '
                    '{"ExternalId": "..."}, "config_kwargs": {"retries": {"mode": "standard"}}}',
                },
            },
            # Shown as form fields; the UI stores each in extra under its own name, which is
            # where the operator and the trigger read it.
            "conn-fields": {
                "region_name": _field("Region", "AWS region, such as us-east-1."),
                "endpoint_url": _field(
                    "Endpoint URL",
                    "Endpoint of SageMaker, CloudWatch Logs and the IAM and S3 checks (a "
                    "local simulator, say); service_config in extra sets one per service. "
                    "Not used for AssumeRole.",
                ),
                "role_arn": _field(
                    "Role ARN", "IAM role to assume with STS AssumeRole for every call."
                ),
                "profile_name": _field(
                    "Profile name", "Profile of the shared AWS config and credentials files."
                ),
                "aws_session_token": _field(
                    "Session token", "Session token that goes with the access key.", secret=True
                ),
            },
        }
    ]


def _field(label: str, description: str, *, secret: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"
    return {"label": label, "description": description, "schema": schema}
