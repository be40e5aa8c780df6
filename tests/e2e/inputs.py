"""The S3 training data the example DAGs read, put into the simulator as a data pipeline would.

``example_sagemaker_training`` reads ``s3://<SAGEMAKER_BUCKET>/data/<run date>/train/``, and
the operator checks that every S3 input has data before it creates a job (``check_s3_inputs``,
as the amazon provider does). Against AWS that data is the user's; against the simulator (the
simulator serves moto's S3 on the same endpoint) the tests and ``make demo`` put it there.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sagemaker_async.testing import aws_client

#: The example DAGs' default ``SAGEMAKER_BUCKET``.
EXAMPLE_BUCKET = "example-training-bucket"
_ROWS = b"label,x1,x2\n1.5,0.2,3.1\n0.7,1.4,2.2\n"


def input_dates(around: date | None = None, days: int = 1) -> list[date]:
    """``around`` (today, UTC) and ``days`` either side of it.

    A run's data date is its logical date, or for a run triggered by hand the time it was
    triggered; either side of today covers a run triggered just before or after midnight.
    """
    middle = around or datetime.now(timezone.utc).date()
    return [middle + timedelta(days=n) for n in range(-days, days + 1)]


def put_example_inputs(
    endpoint_url: str, dates: list[date] | None = None, bucket: str = EXAMPLE_BUCKET
) -> list[str]:
    """Create ``bucket`` and one small CSV under each date's ``train/`` prefix; return the URIs."""
    s3 = aws_client("s3", endpoint_url)
    s3.create_bucket(Bucket=bucket)
    uris = []
    for day in dates or input_dates():
        key = f"data/{day.isoformat()}/train/part-00000.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=_ROWS)
        uris.append(f"s3://{bucket}/{key}")
    return uris
