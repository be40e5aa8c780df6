"""How long a task waits for its training job: the budget a user gave, or the job's own limits.

Without ``max_attempts`` or ``max_ingestion_time`` the wait lasts as long as SageMaker itself
would let the job run (its ``StoppingCondition``), plus a margin. A task that swaps in this
operator for a long job then never gives up on a job SageMaker is still running.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: ``StoppingCondition.MaxRuntimeInSeconds`` when the request leaves it out: "The default
#: value is 1 day" (SageMaker API reference, ``StoppingCondition``).
DEFAULT_MAX_RUNTIME = 86_400
#: Fixed part of the margin past the job's own limit: provisioning instances and downloading
#: data before the clock starts, and SageMaker's 120 s ``SIGTERM`` window and the model upload
#: after it stops the job ("including any time spent ... uploading models after it has been
#: stopped", same reference).
MARGIN_SECONDS = 3_600
#: Proportional part of the margin: uploads and downloads grow with the job's size.
MARGIN_FRACTION = 0.1


@dataclass(frozen=True)
class WaitBudget:
    """How long one try waits for its job.

    :param seconds: the wait, from when the try submits or re-attaches.
    :param explicit: whether the user set it (``max_attempts`` or ``max_ingestion_time``);
        only an explicit budget may stop a job that is still running (see the operator).
    :param text: how it was computed, for the timeout message.
    """

    seconds: float
    explicit: bool
    text: str


def wait_budget(
    config: Mapping[str, Any] | None,
    check_interval: float,
    max_attempts: int | None,
    max_ingestion_time: float | None,
) -> WaitBudget:
    """The wait for one try; ``max_ingestion_time`` wins over ``max_attempts``, as before.

    :param config: the prepared ``CreateTrainingJob`` request (``None`` if it is not known:
        the job's default limits are assumed).
    """
    if max_ingestion_time is not None:
        return WaitBudget(
            float(max_ingestion_time), True, f"max_ingestion_time={max_ingestion_time}s"
        )
    if max_attempts is not None:
        seconds = float(check_interval * max_attempts)
        text = f"max_attempts={max_attempts} x check_interval={check_interval}s = {seconds:g}s"
        return WaitBudget(seconds, True, text)
    limit = job_limit_seconds(config or {})
    margin = margin_seconds(limit)
    text = (
        f"no max_attempts or max_ingestion_time: the job's StoppingCondition allows {limit}s,"
        f" plus a margin of {margin:g}s = {limit + margin:g}s"
    )
    return WaitBudget(limit + margin, False, text)


def job_limit_seconds(config: Mapping[str, Any]) -> int:
    """The longest SageMaker lets the job run, from its request's ``StoppingCondition``.

    ``MaxWaitTimeInSeconds`` (managed spot) already includes the runtime: "It is the amount
    of time spent waiting for Spot capacity plus the amount of time the job can run. It must
    be equal to or greater than ``MaxRuntimeInSeconds``" (API reference). So the job runs for
    at most the larger of the two. ``MaxPendingTimeInSeconds`` bounds the wait for capacity
    before the job starts, so it comes on top.
    """
    condition = config.get("StoppingCondition") or {}
    runtime = int(condition.get("MaxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME)
    spot_wait = int(condition.get("MaxWaitTimeInSeconds") or 0)
    pending = int(condition.get("MaxPendingTimeInSeconds") or 0)
    return max(runtime, spot_wait) + pending


def margin_seconds(limit: float) -> float:
    """What the default wait adds to the job's own limit: one hour plus a tenth of it."""
    return MARGIN_SECONDS + MARGIN_FRACTION * limit
