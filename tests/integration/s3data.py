"""Input data in the simulator's S3 (moto's), for jobs whose inputs are checked before create."""

from __future__ import annotations

from sagemaker_async.testing import aws_client


def put_inputs(endpoint_url: str, *uris: str) -> None:
    """Make each ``s3://bucket/key-or-prefix`` name at least one object, as real inputs do."""
    s3 = aws_client("s3", endpoint_url)
    for uri in uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3.create_bucket(Bucket=bucket)  # us-east-1: idempotent for the bucket's owner
        s3.put_object(
            Bucket=bucket, Key=f"{key}part-0.csv" if key.endswith("/") else key, Body=b"1"
        )
