"""The SageMaker operations the simulator answers itself, and the shapes of its responses."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from sagemaker_async.testing.jobs import TERMINAL, JobStore, SageMakerError, TrainingJob
from sagemaker_async.testing.lifecycle import Transition
from sagemaker_async.testing.listing import ListingSettings, list_page
from sagemaker_async.testing.logs import JobLogs

_JOB_OPERATIONS = frozenset(
    {"CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "ListTrainingJobs"}
)
_TAG_OPERATIONS = frozenset({"AddTags", "ListTags", "DeleteTags"})
_TRAINING_JOB_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:\d{12}:training-job/(.+)$")

Body = dict[str, Any]

# Request fields DescribeTrainingJob echoes back unchanged.
_ECHOED = (
    "HyperParameters",
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "VpcConfig",
    "StoppingCondition",
    "CheckpointConfig",
    "DebugHookConfig",
    "DebugRuleConfigurations",
    "ExperimentConfig",
    "TensorBoardOutputConfig",
    "ProfilerConfig",
    "Environment",
    "RetryStrategy",
    "RemoteDebugConfig",
    "InfraCheckConfig",
)
_FLAGS = (
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
)


def arn_job_name(arn: object) -> str | None:
    """The job name in a training-job ARN, or ``None`` for any other resource."""
    if not isinstance(arn, str):
        return None
    match = _TRAINING_JOB_ARN.match(arn)
    return match.group(1) if match else None


def job_name_in(body: Body) -> str | None:
    """The training job a request is about, if it names one."""
    name = body.get("TrainingJobName")
    if isinstance(name, str):
        return name
    return arn_job_name(body.get("ResourceArn"))


class SageMakerApi:
    """Answers the training-job and tagging operations from the job store.

    :param store: the job store.
    :param logs: the log writer, synced on every read so logs never lag a status.
    :param listing: how ListTrainingJobs applies the filters AWS leaves undocumented.
    """

    def __init__(self, store: JobStore, logs: JobLogs, listing: ListingSettings) -> None:
        self.store = store
        self.logs = logs
        self.listing = listing
        self._handlers: dict[str, Callable[[Body, str], Body]] = {
            "CreateTrainingJob": self._create,
            "DescribeTrainingJob": self._describe,
            "StopTrainingJob": self._stop,
            "ListTrainingJobs": self._list,
            "AddTags": self._add_tags,
            "ListTags": self._list_tags,
            "DeleteTags": self._delete_tags,
        }

    def handles(self, operation: str, body: Body) -> bool:
        """Whether this operation is ours; tagging is ours only for training-job ARNs."""
        if operation in _TAG_OPERATIONS:
            return arn_job_name(body.get("ResourceArn")) is not None
        return operation in _JOB_OPERATIONS

    def call(self, operation: str, body: Body, region: str) -> Body:
        """Run one operation; raises :class:`SageMakerError` as SageMaker would answer."""
        return self._handlers[operation](body, region)

    def _create(self, body: Body, region: str) -> Body:
        job = self.store.create(body, region)
        self.logs.sync(job)
        return {"TrainingJobArn": job.arn}

    def _describe(self, body: Body, region: str) -> Body:
        job = self._job(body)
        now = self.store.clock()
        self.logs.sync(job, now)
        return describe(job, now)

    def _stop(self, body: Body, region: str) -> Body:
        job = self.store.stop(str(body.get("TrainingJobName", "")))
        self.logs.sync(job)
        return {}

    def _list(self, body: Body, region: str) -> Body:
        now = self.store.clock()
        page, token = list_page(self.store, body, self.listing.time_filters, now, region)
        for job in page:  # a summary's status, like a describe's, never runs ahead of the logs
            self.logs.sync(job, now)
        self.store.note_listed([job.name for job in page])
        result: Body = {"TrainingJobSummaries": [summary(job, now) for job in page]}
        if token is not None:
            result["NextToken"] = token
        return result

    def _add_tags(self, body: Body, region: str) -> Body:
        tags = {str(t["Key"]): str(t.get("Value", "")) for t in body.get("Tags", [])}
        self.store.add_tags(self._arn_name(body), tags)
        return {"Tags": _tag_list(tags)}

    def _list_tags(self, body: Body, region: str) -> Body:
        tags = _tag_list(self.store.tags(self._arn_name(body)))
        page, token = _page(tags, body, default_size=50)
        result: Body = {"Tags": page}
        if token is not None:
            result["NextToken"] = token
        return result

    def _delete_tags(self, body: Body, region: str) -> Body:
        keys = [str(key) for key in body.get("TagKeys", [])]
        self.store.delete_tags(self._arn_name(body), keys)
        return {}

    def _job(self, body: Body) -> TrainingJob:
        return self.store.get(str(body.get("TrainingJobName", "")))

    @staticmethod
    def _arn_name(body: Body) -> str:
        name = arn_job_name(body.get("ResourceArn"))
        if name is None:
            raise SageMakerError("ValidationException", "Invalid ResourceArn")
        return name


def _page(items: list[Any], body: Body, default_size: int) -> tuple[list[Any], str | None]:
    """One page of ``items`` (ListTags); the token is simply the offset of the next page."""
    try:
        start = int(body.get("NextToken") or 0)
    except ValueError:
        raise SageMakerError("ValidationException", "Invalid pagination token") from None
    size = int(body.get("MaxResults") or default_size)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def describe(job: TrainingJob, now: float) -> dict[str, Any]:
    """The DescribeTrainingJob response for ``job`` as of ``now``."""
    reached = job.transitions(now)
    status, end = job.status(now), job.end_time(now)
    result: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "TrainingJobStatus": status,
        "SecondaryStatus": reached[-1].status,
        "SecondaryStatusTransitions": _transitions_json(reached, status in TERMINAL, now),
        "CreationTime": job.created_at,
        "LastModifiedTime": reached[-1].start,
    }
    result.update({key: copy.deepcopy(job.request[key]) for key in _ECHOED if key in job.request})
    result.update({key: bool(job.request.get(key, False)) for key in _FLAGS})
    training_start = job.training_start(now)
    if training_start is not None:
        result["TrainingStartTime"] = training_start
    if end is not None:
        result.update(_terminal_fields(job, status, end, training_start))
    return result


def summary(job: TrainingJob, now: float) -> dict[str, Any]:
    """The ListTrainingJobs entry for ``job``."""
    reached = job.transitions(now)
    item: dict[str, Any] = {
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "CreationTime": job.created_at,
        "LastModifiedTime": reached[-1].start,
        "TrainingJobStatus": job.status(now),
        "SecondaryStatus": reached[-1].status,
    }
    end = job.end_time(now)
    if end is not None:
        item["TrainingEndTime"] = end
    return item


def _transitions_json(
    reached: list[Transition], finished: bool, now: float
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for index, step in enumerate(reached):
        # A status that is over keeps the message it had when the job left it.
        left = reached[index + 1].start if index + 1 < len(reached) else now
        item: dict[str, Any] = {
            "Status": step.status,
            "StartTime": step.start,
            "StatusMessage": step.message_at(min(now, left)),
        }
        if index + 1 < len(reached):
            item["EndTime"] = reached[index + 1].start
        elif finished:
            # SageMaker closes the terminal transition at the moment it opens.
            item["EndTime"] = step.start
        items.append(item)
    return items


def _terminal_fields(
    job: TrainingJob, status: str, end: float, training_start: float | None
) -> dict[str, Any]:
    seconds = round(end - training_start) if training_start is not None else 0
    fields: dict[str, Any] = {
        "TrainingEndTime": end,
        "TrainingTimeInSeconds": seconds,
        "BillableTimeInSeconds": seconds,
    }
    if status == "Completed":
        output = str(job.request["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
        fields["ModelArtifacts"] = {"S3ModelArtifacts": f"{output}/{job.name}/output/model.tar.gz"}
        fields["FinalMetricDataList"] = [
            {"MetricName": "train:loss", "Value": 0.042, "Timestamp": end}
        ]
    if status == "Failed":
        fields["FailureReason"] = job.plan.failure_reason
    return fields
