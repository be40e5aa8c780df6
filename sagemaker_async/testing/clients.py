"""boto3 clients for the simulator: its endpoint, a region and keys it accepts."""

from __future__ import annotations

from typing import Any


def aws_client(
    service: str, endpoint_url: str, region_name: str = "us-east-1", **extra: Any
) -> Any:
    """A boto3 client of ``service`` pointed at the simulator.

    :param service: e.g. ``"sagemaker"``, ``"logs"``, ``"s3"``, ``"iam"``.
    :param endpoint_url: the simulator's base URL.
    :param region_name: the region to sign for.
    :param extra: more ``boto3.client`` arguments, e.g. ``config``.
    """
    import boto3  # here, not at import: DAG files that only want training_request stay light

    # The simulator accepts any keys; these are never the ones a test looks for in logs.
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name=region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        **extra,
    )
