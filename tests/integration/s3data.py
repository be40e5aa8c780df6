"""Input data in the simulator's S3 (moto's), for jobs whose inputs are checked before create."""

from __future__ import annotations

import boto3


def put_inputs(endpoint_url: str, *uris: str) -> None:
    """Make each ``s3://bucket/key-or-prefix`` name at least one object, as real inputs do."""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for uri in uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3.create_bucket(Bucket=bucket)  # us-east-1: idempotent for the bucket's owner
        s3.put_object(
            Bucket=bucket, Key=f"{key}part-0.csv" if key.endswith("/") else key, Body=b"1"
        )
