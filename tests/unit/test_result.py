"""The XCom result: the describe as plain JSON, with bulky fields left out above a size bound."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from sagemaker_async.operators import SageMakerTrainingOperator
from sagemaker_async.result import KEEP, MAX_RESULT_BYTES, TRIMMED_KEY, training_result
from tests.unit.fakes import FakeSageMaker, FakeTI, base_config

WHEN = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def describe(**extra: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": "job",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/job",
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/job/output/model.tar.gz"},
        "CreationTime": WHEN,
        "TrainingStartTime": WHEN,
        "TrainingEndTime": WHEN,
        "TrainingTimeInSeconds": 120,
        "BillableTimeInSeconds": 120,
        "ResponseMetadata": {"HTTPStatusCode": 200},
        **extra,
    }


def size(result: dict[str, Any]) -> int:
    return len(json.dumps(result["Training"]).encode())


def test_a_small_describe_is_returned_whole_as_plain_json() -> None:
    result = training_result(describe(HyperParameters={"eta": "0.2"}))
    assert result == {
        "Training": {
            **{k: v for k, v in describe().items() if k != "ResponseMetadata"},
            "CreationTime": WHEN.isoformat(),
            "TrainingStartTime": WHEN.isoformat(),
            "TrainingEndTime": WHEN.isoformat(),
            "HyperParameters": {"eta": "0.2"},
        }
    }


def test_the_largest_describe_the_api_allows_is_trimmed_below_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transitions = [
        {"Status": "Training", "StartTime": WHEN, "StatusMessage": "m" * 500} for _ in range(200)
    ]
    big = describe(
        HyperParameters={f"p{i}": "v" * 2500 for i in range(100)},  # the model's maximums
        SecondaryStatusTransitions=transitions,
        FinalMetricDataList=[{"MetricName": "rmse", "Value": 0.5, "Timestamp": WHEN}],
    )
    log = logging.getLogger("test.result")
    with caplog.at_level(logging.WARNING, logger="test.result"):
        result = training_result(big, log)
    assert size(result) <= MAX_RESULT_BYTES
    # Transitions go first, then hyperparameters; the metrics still fit, so they stay.
    assert result[TRIMMED_KEY] == ["SecondaryStatusTransitions", "HyperParameters"]
    assert result["Training"]["FinalMetricDataList"][0]["MetricName"] == "rmse"
    assert {"TrainingJobName", "TrainingJobStatus", "ModelArtifacts"} <= set(result["Training"])
    (record,) = caplog.records
    assert "left out of the XCom value" in record.getMessage()
    assert "SecondaryStatusTransitions, HyperParameters" in record.getMessage()


def test_only_the_essentials_remain_when_unknown_fields_are_too_big() -> None:
    result = training_result(describe(SomeFutureField="x" * (2 * MAX_RESULT_BYTES)))
    assert set(result["Training"]) <= KEEP
    assert result[TRIMMED_KEY] == ["SomeFutureField"]
    assert result["Training"]["ModelArtifacts"]["S3ModelArtifacts"].endswith("model.tar.gz")


def test_the_operator_returns_the_trimmed_result() -> None:
    fake = FakeSageMaker()
    op = SageMakerTrainingOperator(
        task_id="t",
        config=base_config(),
        aws_conn_id=None,
        region_name="us-east-1",
        wait_for_completion=False,
    )
    op.hook.client = fake
    original = fake.describe_training_job

    def bulky(TrainingJobName: str) -> dict[str, Any]:
        values = {f"p{i}": "v" * 2500 for i in range(100)}
        return {**original(TrainingJobName=TrainingJobName), "HyperParameters": values}

    fake.describe_training_job = bulky  # type: ignore[method-assign]
    result = op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert result is not None
    assert result[TRIMMED_KEY] == ["HyperParameters"]
    assert size(result) <= MAX_RESULT_BYTES
