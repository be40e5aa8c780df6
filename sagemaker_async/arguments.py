"""Checks of the operator's arguments: at DAG parse time, and once templates are rendered."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from sagemaker_async.connection import AwsSettings, checked
from sagemaker_async.naming import ACTIONS


def rendered_text(name: str, value: object) -> str | None:
    """A rendered ``aws_conn_id`` or ``region_name``: a string, or ``None`` for an empty one
    (a template such as ``{{ var.value.get('region', '') }}`` renders unset as ``""``)."""
    if isinstance(value, str):
        return value.strip() or None
    if value is None:
        return None
    raise AirflowFailException(f"{name} must be a string or None, got {value!r}")


def rendered_verify(value: object) -> bool | str | None:
    """A rendered ``verify``: templates render booleans as ``"True"``/``"False"``, which boto
    would take for CA bundle paths."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value is None or isinstance(value, bool | str):
        return value
    raise AirflowFailException(f"verify must be a boolean, a CA bundle path or None, got {value!r}")


def check_arguments(
    action: str,
    check_interval: float,
    max_attempts: int | None,
    max_ingestion_time: float | None,
    botocore_config: dict[str, Any] | None,
) -> None:
    """Fail at DAG parse time on arguments that can never work."""
    if action not in ACTIONS:
        raise ValueError(
            f"action_if_job_exists={action!r} is not one of {', '.join(repr(a) for a in ACTIONS)}"
        )
    if not positive(check_interval):
        raise ValueError(
            f"check_interval must be a positive number of seconds, got {check_interval!r}"
        )
    if max_attempts is not None and (
        not positive(max_attempts) or not isinstance(max_attempts, int)
    ):
        raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
    if botocore_config:
        checked(AwsSettings(botocore_config=botocore_config))
    if "proxies" in (botocore_config or {}):
        # Trigger kwargs are stored in plain text; proxy URLs may carry passwords.
        raise ValueError(
            "botocore_config must not hold 'proxies': put them in the connection's "
            "extra 'config_kwargs', which is never stored with the trigger"
        )
    if max_ingestion_time is not None and not positive(max_ingestion_time):
        raise ValueError(
            "max_ingestion_time must be a positive number of seconds or None, "
            f"got {max_ingestion_time!r}"
        )


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
