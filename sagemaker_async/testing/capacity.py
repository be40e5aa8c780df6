"""Capacity and quotas: what the simulator asks before it creates a training job.

Two things stand between a CreateTrainingJob and a job that trains:

- the account's instance quotas (:mod:`~sagemaker_async.testing.quotas`): over one, the
  create is refused with ``ResourceLimitExceeded`` and no job exists;
- capacity, injected here: the create succeeds, the job waits in ``Starting`` while
  SageMaker fails to launch its instances, then ends ``Failed``. DescribeTrainingJob's
  ``SecondaryStatusTransition.StatusMessage`` docs list "Insufficient capacity error from
  EC2 while launching instances, retrying!" among the ``Starting`` messages; the
  ``FailureReason`` texts are those SageMaker reports for these failures. Such a job never
  reaches ``Downloading``: it has no ``TrainingStartTime``, bills nothing and writes no logs.

A capacity failure applies to the first ``count`` jobs created whose names start with its
prefix; later ones keep their plan, so a retry under a new name can succeed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sagemaker_async.testing.jobs import TrainingJob
from sagemaker_async.testing.lifecycle import Plan
from sagemaker_async.testing.quotas import Quotas

#: ``FailureReason`` per kind of capacity failure.
REASONS = {
    "CapacityError": (
        "CapacityError: Unable to provision requested ML compute capacity. "
        "Please retry using a different ML instance type."
    ),
    "InternalServerError": (
        "InternalServerError: We encountered an internal error. Please try again."
    ),
}
# The Starting message while it lasts (both are documented Starting messages).
_STARTING = {
    "CapacityError": "Insufficient capacity error from EC2 while launching instances, retrying!",
    "InternalServerError": "Launching requested ML instances.",
}
_FIELDS = frozenset({"name_prefix", "count", "after", "reason"})


@dataclass
class CapacityFailure:
    """Jobs that fail for want of capacity.

    :param name_prefix: job-name prefix it applies to ("" matches every job).
    :param count: how many jobs it fails; ``None``: every matching job.
    :param after: seconds in ``Starting`` before ``Failed``; ``None``: the duration the
        job's rule (or the simulator default) gives it.
    :param reason: ``"CapacityError"`` or ``"InternalServerError"`` (see :data:`REASONS`).
    :param failed: the jobs it failed so far, oldest first.
    """

    name_prefix: str
    count: int | None = 1
    after: float | None = None
    reason: str = "CapacityError"
    failed: list[str] = field(default_factory=list)

    def matches(self, name: str) -> bool:
        """Whether a new job of this name is one it fails."""
        spent = self.count is not None and len(self.failed) >= self.count
        return not spent and name.startswith(self.name_prefix)

    def plan(self, planned: Plan) -> Plan:
        """The plan of a job it fails, whose rules would have given it ``planned``."""
        duration = planned.duration if self.after is None else self.after
        phases = (("Starting", 0.0, _STARTING[self.reason]),)
        return Plan(duration, "Failed", REASONS[self.reason], phases)

    def to_json(self) -> dict[str, Any]:
        """The failure as ``GET /_simulator/capacity_failures`` shows it."""
        remaining = None if self.count is None else self.count - len(self.failed)
        return {
            "name_prefix": self.name_prefix,
            "count": self.count,
            "after": self.after,
            "reason": self.reason,
            "failure_reason": REASONS[self.reason],
            "remaining": remaining,
            "failed": list(self.failed),
        }


def parse_capacity_failure(body: object) -> CapacityFailure:
    """The failure in a ``POST /_simulator/capacity_failures`` body; ``ValueError`` names
    the bad field.

    :param body: ``{"name_prefix": str, "count": n | null, "after": s | null, "reason": str}``;
        only ``name_prefix`` is required (``count`` 1, ``after`` null, ``reason``
        ``"CapacityError"`` by default).
    """
    if not isinstance(body, Mapping):
        raise ValueError("a capacity failure must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown capacity failure fields {unknown}; known: {sorted(_FIELDS)}")
    prefix = body.get("name_prefix")
    if not isinstance(prefix, str):
        raise ValueError(f"name_prefix must be a string, not {prefix!r}")
    count = body.get("count", 1)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a positive integer or null (every job), not {count!r}")
    after = body.get("after")
    if after is not None and (
        isinstance(after, bool)
        or not isinstance(after, (int, float))
        or not math.isfinite(after)
        or after < 0
    ):
        raise ValueError(f"after must be a non-negative number of seconds or null, not {after!r}")
    reason = body.get("reason", "CapacityError")
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {sorted(REASONS)}, not {reason!r}")
    return CapacityFailure(prefix, count, None if after is None else float(after), str(reason))


class CapacityFailures:
    """The injected capacity failures; the newest matching one fails a job. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[CapacityFailure] = []

    def add(self, body: object) -> None:
        """Add the failure in a control body (see :func:`parse_capacity_failure`)."""
        failure = parse_capacity_failure(body)
        with self._lock:
            self._failures.append(failure)

    def take(self, name: str, planned: Plan) -> Plan:
        """The plan of a job being created: failed by the newest failure matching its name
        (which counts it), else ``planned``."""
        with self._lock:
            failure = next((f for f in reversed(self._failures) if f.matches(name)), None)
            if failure is None:
                return planned
            failure.failed.append(name)
            return failure.plan(planned)

    def view(self) -> dict[str, Any]:
        """``{"capacity_failures": [...]}``: each failure as :meth:`CapacityFailure.to_json`,
        oldest first."""
        with self._lock:
            return {"capacity_failures": [f.to_json() for f in self._failures]}

    def reset(self) -> None:
        """No capacity failures."""
        with self._lock:
            self._failures.clear()


class Capacity:
    """The job store's admission: quotas first (a refused create fails no capacity
    failure's count), then capacity failures.

    :param running: the jobs ``InProgress`` or ``Stopping`` now.
    """

    def __init__(self, running: Callable[[], list[TrainingJob]]) -> None:
        self.quotas = Quotas(running)
        self.failures = CapacityFailures()

    def admit(
        self,
        request: dict[str, Any],
        region: str,
        running: Callable[[], list[TrainingJob]],
        plan: Plan,
    ) -> Plan:
        """See :class:`~sagemaker_async.testing.jobs.Admission`."""
        self.quotas.admit(request, region, running)
        return self.failures.take(str(request["TrainingJobName"]), plan)

    def reset(self) -> None:
        """No quotas, no capacity failures, no counts."""
        self.quotas.reset()
        self.failures.reset()
