"""Operator extra links: the training job in the SageMaker console and its CloudWatch logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from sagemaker_async.logtail import LOG_GROUP

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey


def console_root(region: str) -> str:
    """The AWS console of the region's partition."""
    if region.startswith("cn-"):
        return f"https://{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return f"https://{region}.console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def training_job_url(region: str, job_name: str) -> str:
    return f"{console_root(region)}/sagemaker/home?region={region}#/jobs/{job_name}"


def training_logs_url(region: str, job_name: str) -> str:
    # The CloudWatch console wants its fragment escaped twice ("/" -> "$252F").
    group = LOG_GROUP.replace("/", "$252F")
    return (
        f"{console_root(region)}/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{group}$3FlogStreamNameFilter$3D{job_name}$252F"
    )


class _TrainingJobLinkBase(BaseOperatorLink):
    """Builds its URL from the job the operator ran and the region it ran in."""

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        job_name = getattr(operator, "job_name", None)
        if not job_name:
            return ""
        region = getattr(operator, "job_region", None)
        return self.url(region, job_name) if region else ""

    def url(self, region: str, job_name: str) -> str:
        raise NotImplementedError


class SageMakerTrainingJobLink(_TrainingJobLinkBase):
    """The training job's page in the SageMaker console."""

    name = "SageMaker training job"

    def url(self, region: str, job_name: str) -> str:
        return training_job_url(region, job_name)


class SageMakerTrainingLogsLink(_TrainingJobLinkBase):
    """The training job's log streams in the CloudWatch console."""

    name = "SageMaker training logs"

    def url(self, region: str, job_name: str) -> str:
        return training_logs_url(region, job_name)
