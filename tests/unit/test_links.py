from __future__ import annotations

from typing import Any

import pytest

from sagemaker_async.links import SageMakerTrainingJobLink, SageMakerTrainingLogsLink
from sagemaker_async.operators import SageMakerTrainingOperator
from tests.unit.fakes import FakeSageMaker, FakeTI
from tests.unit.test_operators import make_operator


@pytest.mark.parametrize(
    ("region", "console"),
    [
        ("us-east-1", "https://us-east-1.console.aws.amazon.com"),
        ("eu-central-1", "https://eu-central-1.console.aws.amazon.com"),
        ("cn-north-1", "https://cn-north-1.console.amazonaws.cn"),
        ("us-gov-west-1", "https://us-gov-west-1.console.amazonaws-us-gov.com"),
    ],
)
def test_links_point_at_the_job_in_its_region_and_partition(region: str, console: str) -> None:
    op: Any = SageMakerTrainingOperator(
        task_id="t", config={}, aws_conn_id=None, region_name=region
    )
    op._job_name = "my-job-1"
    job = SageMakerTrainingJobLink().get_link(op, ti_key=None)  # type: ignore[arg-type]
    logs = SageMakerTrainingLogsLink().get_link(op, ti_key=None)  # type: ignore[arg-type]
    assert job == f"{console}/sagemaker/home?region={region}#/jobs/my-job-1"
    assert logs.startswith(
        f"{console}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
    )
    assert "$252Faws$252Fsagemaker$252FTrainingJobs" in logs and "my-job-1" in logs


def test_links_are_empty_before_a_job_exists() -> None:
    op = SageMakerTrainingOperator(
        task_id="t", config={}, aws_conn_id=None, region_name="us-east-1"
    )
    assert SageMakerTrainingJobLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]


def test_operator_declares_both_links_and_knows_its_job_after_submit() -> None:
    fake = FakeSageMaker()
    op = make_operator(fake)
    op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert {link.name for link in op.operator_extra_links} == {
        "SageMaker training job",
        "SageMaker training logs",
    }
    assert (op.job_name, op.job_region) == ("job", "us-east-1")
