"""Capacity: waiting for room under an instance quota, and which failed jobs to resubmit.

Two kinds of failure are not the user's code and usually pass by themselves:

- ``CreateTrainingJob`` answers ``ResourceLimitExceeded`` while the account's running jobs
  use the instance type's quota ("... for training job usage"). Nothing was created: the task
  waits, deferred, and tries the create again with jittered backoff.
- A created job ends for want of capacity: ``FailureReason`` ``CapacityError: ...`` or
  ``InternalServerError: ...``, or a managed spot job stopped with ``SecondaryStatus``
  ``MaxWaitTimeExceeded`` ("The job stopped because it exceeded the maximum allowed wait
  time", DescribeTrainingJob's ``SecondaryStatus`` docs). The task resubmits it under the
  next free name.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from airflow.sdk.exceptions import AirflowFailException
from botocore.exceptions import ClientError

from sagemaker_async import errors

#: How long a task waits for room under a quota, in all, by default (seconds). The jobs
#: holding the quota are often long trainings, and a waiting task costs only a trigger.
DEFAULT_CAPACITY_TIMEOUT = 24 * 3600
#: How many times a job that failed for capacity is resubmitted, by default.
DEFAULT_CAPACITY_RETRIES = 3
#: What marks a failed or stopped job as a capacity failure, by default: a ``FailureReason``
#: prefix or a ``SecondaryStatus``.
DEFAULT_CAPACITY_REASONS = ("CapacityError", "InternalServerError", "MaxWaitTimeExceeded")
#: The wait between tries grows from ``check_interval`` up to this many times it.
BACKOFF_CAP_FACTOR = 10
#: The shortest wait between tries (seconds): as long as the trigger's default resume hold
#: (:data:`sagemaker_async.triggers.RESUME_HOLD`), which a shorter wait would only run into.
MIN_QUOTA_WAIT = 10.0
QUOTA_ERROR = "ResourceLimitExceeded"

# The numbers of SageMaker's instance quota message: "The account-level service limit
# '<type> for training job usage' is <n> Instances, with current utilization of <n>
# Instances and a request delta of <n> Instances. ..." The error code alone decides that
# the task waits; the numbers only tell a request that can never fit from one that waits.
_QUOTA_NUMBERS = re.compile(
    r"'(?P<quota_name>[^']+)' is (?P<quota>\d+) Instances?, with current utilization of "
    r"(?P<in_use>\d+) Instances? and a request delta of (?P<delta>\d+) Instances?"
)


@dataclass(frozen=True)
class QuotaRefusal:
    """A create refused for an instance quota, with the figures SageMaker gave (if any).

    :param message: SageMaker's message, as sent.
    :param quota_name: e.g. ``ml.p3.2xlarge for training job usage``.
    :param quota: instances the quota allows.
    :param delta: instances the request asked for.
    """

    message: str
    quota_name: str | None = None
    quota: int | None = None
    in_use: int | None = None
    delta: int | None = None

    @property
    def never_fits(self) -> bool:
        """Whether the request needs more instances than the quota allows at all."""
        return self.quota is not None and self.delta is not None and self.delta > self.quota

    @property
    def short(self) -> str:
        """One line for the log: the quota and its use, or SageMaker's message."""
        if self.quota is None:
            return self.message
        return f"'{self.quota_name}' is {self.quota}, {self.in_use} in use, {self.delta} asked"


def quota_refusal(exc: BaseException) -> QuotaRefusal | None:
    """The refusal in a create's error, or ``None`` if it is another error."""
    if errors.error_code(exc) != QUOTA_ERROR:
        return None
    if not isinstance(exc, ClientError):
        return None
    message = str(exc.response.get("Error", {}).get("Message", ""))
    found = _QUOTA_NUMBERS.search(message)
    if found is None:
        return QuotaRefusal(message)
    return QuotaRefusal(
        message,
        found["quota_name"],
        int(found["quota"]),
        int(found["in_use"]),
        int(found["delta"]),
    )


def next_try_in(tries: int, check_interval: float) -> float:
    """Seconds until the next create, after ``tries`` refused ones (1 or more).

    The ceiling doubles from ``check_interval`` up to ``BACKOFF_CAP_FACTOR`` times it, and is
    never under twice :data:`MIN_QUOTA_WAIT`; the wait is drawn from its upper half, so tasks
    refused together try again spread over that half instead of all at once when room
    appears.
    """
    growth = min(2 ** max(tries - 1, 0), BACKOFF_CAP_FACTOR)
    ceiling = max(check_interval * growth, 2 * MIN_QUOTA_WAIT)
    return random.uniform(ceiling / 2, ceiling)


def capacity_failure(event: Mapping[str, Any], reasons: Sequence[str]) -> str | None:
    """Which of ``reasons`` a ``failed`` or ``stopped`` event matches, if any.

    A reason matches the ``FailureReason``'s code (the text before its first ``:``) or the
    job's ``SecondaryStatus``. A job stopped by a user (``SecondaryStatus`` ``Stopped``)
    never matches.
    """
    if event.get("status") not in ("failed", "stopped"):
        return None
    code = str(event.get("failure_reason") or "").split(":", 1)[0].strip()
    secondary = event.get("secondary_status")
    return next((r for r in reasons if r in (code, secondary) and r != "Stopped"), None)


def attempt_record(event: Mapping[str, Any]) -> dict[str, Any]:
    """How an earlier attempt ended, as the task's result lists it."""
    return {
        "TrainingJobName": event["job_name"],
        "TrainingJobStatus": event.get("job_status"),
        "SecondaryStatus": event.get("secondary_status"),
        "FailureReason": event.get("failure_reason"),
    }


def check_capacity_arguments(
    capacity_timeout: float, capacity_retries: int, reasons: Sequence[str]
) -> None:
    """Fail at DAG parse time on capacity arguments that can never work."""
    if (
        isinstance(capacity_timeout, bool)
        or not isinstance(capacity_timeout, int | float)
        or capacity_timeout < 0
    ):
        raise ValueError(
            "capacity_timeout must be a number of seconds, 0 or more (0: never wait), "
            f"got {capacity_timeout!r}"
        )
    if isinstance(capacity_retries, bool) or not isinstance(capacity_retries, int):
        raise ValueError(f"capacity_retries must be an integer, got {capacity_retries!r}")
    if capacity_retries < 0:
        raise ValueError(f"capacity_retries must be 0 or more, got {capacity_retries!r}")
    if isinstance(reasons, str) or not all(isinstance(r, str) and r for r in reasons):
        raise ValueError(
            f"capacity_failure_reasons must be a list of non-empty strings, got {reasons!r}"
        )


@dataclass(frozen=True)
class CapacityState:
    """What a task remembers of capacity between its resumes, kept in XCom (``dag.test()``
    drops a deferral's kwargs; XCom lasts the whole try).

    :param attempts: earlier jobs of this try that ended for want of capacity, oldest first
        (see :func:`attempt_record`).
    :param since: when the current quota wait's first refused create was made; ``None``
        while the task is not waiting.
    :param tries: refused creates in the current quota wait.
    """

    attempts: tuple[dict[str, Any], ...] = ()
    since: float | None = None
    tries: int = 0

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> CapacityState:
        if not value:
            return cls()
        return cls(tuple(value.get("attempts") or ()), value.get("since"), value.get("tries", 0))

    def to_json(self) -> dict[str, Any]:
        return {"attempts": list(self.attempts), "since": self.since, "tries": self.tries}

    def refused(self, now: float) -> CapacityState:
        """After one more refused create."""
        return CapacityState(self.attempts, self.since or now, self.tries + 1)

    def created(self) -> CapacityState:
        """After a create that succeeded: no wait goes on."""
        return CapacityState(self.attempts)

    def resubmitted(self, event: Mapping[str, Any]) -> CapacityState:
        """After the job of ``event`` ended for want of capacity and is resubmitted."""
        return CapacityState((*self.attempts, attempt_record(event)))


class Log(Protocol):
    """What the policy needs of a logger (the task's)."""

    def info(self, event: Any, *args: Any) -> Any: ...

    def warning(self, event: Any, *args: Any) -> Any: ...


@dataclass(frozen=True)
class CapacityPolicy:
    """The operator's capacity arguments, and the decisions they make.

    :param timeout: ``capacity_timeout``, seconds.
    :param retries: ``capacity_retries``.
    :param reasons: ``capacity_failure_reasons``.
    :param check_interval: the operator's, the first step of the backoff.
    """

    timeout: float
    retries: int
    reasons: Sequence[str]
    check_interval: float

    def room_wait(
        self, job_name: str, refusal: QuotaRefusal, state: CapacityState, log: Log
    ) -> float:
        """Seconds until the next create after a quota refusal.

        Fails the task for good (an Airflow retry would only wait again) when the request
        can never fit, or when the wait has lasted ``timeout``.

        :param state: the task's state, this refusal counted (:meth:`CapacityState.refused`).
        """
        tries = state.tries
        if refusal.never_fits:
            raise AirflowFailException(
                f"Training job {job_name} can never start: it asks for {refusal.delta} "
                f"instances and the quota '{refusal.quota_name}' allows {refusal.quota}. "
                "Request an increase in AWS Service Quotas."
            )
        waited = time.time() - (state.since or time.time())
        if waited >= self.timeout:
            raise AirflowFailException(
                f"No room for training job {job_name} after waiting {waited:.0f}s "
                f"(capacity_timeout={self.timeout}s): {refusal.message}"
            )
        # Near the end the wait shrinks to what is left, but never under MIN_QUOTA_WAIT.
        delay = max(
            min(next_try_in(tries, self.check_interval), self.timeout - waited), MIN_QUOTA_WAIT
        )
        if tries == 1:
            log.warning(
                "No room for training job %s under the account's instance quota (%s): "
                "waiting for room without holding a worker slot, %ss at most "
                "(capacity_timeout); next try in %.0fs",
                job_name,
                refusal.message,
                self.timeout,
                delay,
            )
        else:
            log.info(
                "Still no room for training job %s (%s) after waiting %.0fs; next try in %.0fs",
                job_name,
                refusal.short,
                waited,
                delay,
            )
        return delay

    def resubmits(
        self, event: Mapping[str, Any], attempts: Sequence[Mapping[str, Any]], log: Log
    ) -> bool:
        """Whether a job that ended is resubmitted: it ended for want of capacity, and
        ``retries`` are not used up by the earlier ``attempts``."""
        reason = capacity_failure(event, self.reasons)
        if reason is None:
            return False
        if len(attempts) >= self.retries:
            log.warning(
                "Training job %s ended for want of capacity (%s); not resubmitting it: "
                "capacity_retries=%s used up",
                event["job_name"],
                reason,
                self.retries,
            )
            return False
        log.warning(
            "Training job %s ended for want of capacity (%s): resubmitting it under the next "
            "free name (%s of %s)",
            event["job_name"],
            reason,
            len(attempts) + 1,
            self.retries,
        )
        return True
