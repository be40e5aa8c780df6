"""The hook Airflow's provider manager names for the ``aws`` connection type.

Only registered when the amazon provider is absent (see :mod:`sagemaker_async.conntype`). It
gives the type its name and form; the operator and trigger read connections through
:mod:`sagemaker_async.connection`, with this hook or without it.
"""

from __future__ import annotations

from typing import ClassVar

from airflow.sdk import BaseHook

from sagemaker_async.connection import AwsSettings, get_settings


class AwsConnectionHook(BaseHook):
    """An Airflow connection of type ``aws``, as this package reads it.

    :param aws_conn_id: the connection's id; ``None`` for boto's default chain.
    """

    conn_type: ClassVar[str] = "aws"
    conn_name_attr: ClassVar[str] = "aws_conn_id"
    default_conn_name: ClassVar[str] = "aws_default"
    hook_name: ClassVar[str] = "Amazon Web Services (sagemaker-async)"

    def __init__(self, aws_conn_id: str | None = default_conn_name) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id

    def get_conn(self) -> AwsSettings:
        """The connection's settings, checked (region, endpoint, role, botocore config)."""
        return get_settings(self.aws_conn_id)
