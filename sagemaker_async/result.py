"""The task's XCom result: ``{"Training": <DescribeTrainingJob response>}``, kept small.

A describe is usually a few kilobytes, but the API lets it grow: 100 hyperparameters of 2,500
characters, 100 environment variables, a transition per secondary status, debugger and
profiler rule statuses. XCom lands in Airflow's metadata database and in the UI, so above
:data:`MAX_RESULT_BYTES` whole fields are left out, bulkiest-and-least-used first, until the
result fits. What a downstream task needs (name, ARN, status, failure reason, model artifact,
times, billable seconds) is never left out, and DescribeTrainingJob still has everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Protocol

#: Size of the result's JSON (UTF-8 bytes) above which fields are left out.
MAX_RESULT_BYTES = 64 * 1024
#: Left out in this order until the result fits.
TRIM_ORDER = (
    "SecondaryStatusTransitions",
    "DebugRuleEvaluationStatuses",
    "ProfilerRuleEvaluationStatuses",
    "DebugRuleConfigurations",
    "ProfilerRuleConfigurations",
    "HyperParameters",
    "Environment",
    "InputDataConfig",
    "FinalMetricDataList",
)
#: Never left out.
KEEP = frozenset(
    {
        "TrainingJobName",
        "TrainingJobArn",
        "TrainingJobStatus",
        "SecondaryStatus",
        "FailureReason",
        "ModelArtifacts",
        "OutputDataConfig",
        "ResourceConfig",
        "StoppingCondition",
        "CreationTime",
        "TrainingStartTime",
        "TrainingEndTime",
        "LastModifiedTime",
        "TrainingTimeInSeconds",
        "BillableTimeInSeconds",
    }
)
#: Key of the result listing the fields left out (present only when some were).
TRIMMED_KEY = "TrimmedFields"


class WarningLog(Protocol):
    """What the result needs of a logger (the task's, or a stdlib one)."""

    def warning(self, event: Any, *args: Any) -> Any: ...


def training_result(describe: Mapping[str, Any], log: WarningLog | None = None) -> dict[str, Any]:
    """The XCom result of a describe: plain JSON (datetimes as ISO strings), size-bounded.

    :param describe: the ``DescribeTrainingJob`` response.
    :param log: where to say which fields were left out, if any.
    """
    body = {k: v for k, v in describe.items() if k != "ResponseMetadata"}
    training: dict[str, Any] = json.loads(json.dumps(body, default=_iso))
    size = _size(training)
    if size <= MAX_RESULT_BYTES:
        return {"Training": training}
    left_out = [name for name in TRIM_ORDER if name in training]
    for index, name in enumerate(left_out):
        del training[name]
        if _size(training) <= MAX_RESULT_BYTES:
            left_out = left_out[: index + 1]
            break
    else:
        # Still too big (fields this module does not know of): keep only the essentials.
        rest = [name for name in training if name not in KEEP]
        for name in rest:
            del training[name]
        left_out += rest
    if log is not None:
        log.warning(
            "The result of training job %s is %d bytes, over %d: left out of the XCom value "
            "(see %r there; DescribeTrainingJob has them): %s",
            training.get("TrainingJobName"),
            size,
            MAX_RESULT_BYTES,
            TRIMMED_KEY,
            ", ".join(left_out),
        )
    return {"Training": training, TRIMMED_KEY: left_out}


def summary_line(training: Mapping[str, Any]) -> str:
    """One line for the log of a job that completed: its model, times and final metrics."""
    artifacts = (training.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    metrics = ", ".join(
        f"{m.get('MetricName')}={m.get('Value')}" for m in training.get("FinalMetricDataList") or []
    )
    return (
        f"Training job {training.get('TrainingJobName')} {training.get('TrainingJobStatus')}: "
        f"model {artifacts}, training {training.get('TrainingTimeInSeconds')}s, "
        f"billable {training.get('BillableTimeInSeconds')}s"
        + (f", final metrics {metrics}" if metrics else "")
    )


def _size(value: object) -> int:
    return len(json.dumps(value).encode())


def _iso(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
