"""The trigger's event payloads and the watch over one job's status, shared by both wait modes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

SUCCESS = "success"
FAILED = "failed"
STOPPED = "stopped"
TIMEOUT = "timeout"
ERROR = "error"
#: A quota wait is over: the worker tries the create again.
RETRY = "retry"

_OUTCOMES = {"Completed": SUCCESS, "Failed": FAILED, "Stopped": STOPPED}


def make_event(status: str, job_name: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one payload shape every event carries: ``status``, ``job_name``, ``message``."""
    return {"status": status, "job_name": job_name, "message": message, **extra}


@dataclass
class JobWatch:
    """Follows one job's describe responses until it ends or its deadline passes.

    :param job_name: the training job.
    :param deadline: absolute, epoch seconds; a rebuilt watch keeps the same one.
    """

    job_name: str
    deadline: float
    status: str | None = None
    secondary: str | None = None
    #: When the job was created (epoch seconds), once a describe or summary said so.
    created: float | None = None

    def observe(self, describe: dict[str, Any]) -> str | None:
        """Record a describe response or list summary; return a log line if the status
        changed. A summary without ``SecondaryStatus`` (some servers omit it) keeps the
        last one known."""
        if self.created is None and describe.get("CreationTime") is not None:
            self.created = epoch_seconds(describe["CreationTime"])
        status = str(describe.get("TrainingJobStatus"))
        secondary = describe.get("SecondaryStatus", self.secondary)
        if (status, secondary) == (self.status, self.secondary):
            return None
        self.status, self.secondary = status, secondary
        detail = _latest_message(describe)
        line = f"Training job {self.job_name}: {status}"
        if secondary is not None:
            line = f"{line} ({secondary})"
        return f"{line}: {detail}" if detail else line

    def outcome(self, describe: dict[str, Any]) -> dict[str, Any] | None:
        """The final event if the job has ended, else ``None``."""
        status = str(describe.get("TrainingJobStatus"))
        kind = _OUTCOMES.get(status)
        if kind is None:
            return None
        if kind == SUCCESS:
            message = f"Training job {self.job_name} completed"
            return make_event(kind, self.job_name, message, job_status=status)
        reason = describe.get("FailureReason")
        message = f"Training job {self.job_name} {status.lower()}: {reason or 'no reason given'}"
        # The operator tells capacity failures, which it resubmits, from the rest by these.
        return make_event(
            kind,
            self.job_name,
            message,
            job_status=status,
            secondary_status=describe.get("SecondaryStatus"),
            failure_reason=reason,
        )

    def remaining(self, now: float | None = None) -> float:
        return self.deadline - (time.time() if now is None else now)

    def timeout_event(self) -> dict[str, Any]:
        last = self.status or "unknown"
        if self.secondary:
            last = f"{last} ({self.secondary})"
        message = (
            f"Training job {self.job_name} did not finish before its deadline; last status {last}"
        )
        return make_event(TIMEOUT, self.job_name, message, job_status=self.status)

    def error_event(self, message: str, *, retryable: bool = True) -> dict[str, Any]:
        """An error ended the wait; ``retryable=False``: another try of the task would meet
        it again (a wrong endpoint, region, TLS setting or connection)."""
        return make_event(
            ERROR, self.job_name, message, job_status=self.status, retryable=retryable
        )


def status_line(describe: dict[str, Any]) -> str:
    """One line for a describe response: status, secondary status and failure reason.

    ``Training job <name> final status: Failed (Failed); failure reason: <reason>``; a job
    that has not ended says ``status now`` instead of ``final status``.
    """
    status = describe.get("TrainingJobStatus")
    kind = "final status" if status in _OUTCOMES else "status now"
    line = f"Training job {describe.get('TrainingJobName')} {kind}: {status}"
    if describe.get("SecondaryStatus"):
        line = f"{line} ({describe['SecondaryStatus']})"
    if describe.get("FailureReason"):
        line = f"{line}; failure reason: {describe['FailureReason']}"
    return line


def epoch_seconds(value: Any) -> float:
    """A response timestamp (a datetime, or epoch seconds) as epoch seconds."""
    return float(value.timestamp() if hasattr(value, "timestamp") else value)


def _latest_message(describe: dict[str, Any]) -> str | None:
    transitions = describe.get("SecondaryStatusTransitions") or []
    return transitions[-1].get("StatusMessage") if transitions else None
