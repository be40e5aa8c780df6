"""An account's history: many jobs that finished before the test began, seeded cheaply.

Real accounts are not empty, and ListTrainingJobs pages through every job of any status
(its ``StatusEquals`` filters only the page taken), so the simulator can hold tens of
thousands of finished jobs. They go straight into the job store: no CreateTrainingJob, no
copy of a request each (they share one), no call counters, and no CloudWatch logs (their
streams would have been written long ago; the log ticker never visits them).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sagemaker_async.testing.jobs import (
    DEFAULT_FAILURE_REASON,
    JobStore,
    SageMakerError,
    TrainingJob,
    training_job_arn,
    validate_create,
)
from sagemaker_async.testing.lifecycle import Plan
from sagemaker_async.testing.requests import training_request

#: Defaults: the history ends an hour ago and spans 30 days before that.
DEFAULT_GAP = 3600.0
DEFAULT_SPAN = 30 * 86400.0
#: The longest a seeded job ran (seconds); shorter when that would end it after now.
MAX_RUN = 600.0
MAX_COUNT = 1_000_000  # names carry a six-digit index
REGION = "us-east-1"
_FIELDS = frozenset(
    {"count", "created_from", "created_to", "prefix", "failed_fraction", "stopped_fraction"}
)
# Share of a stopped job's run before StopTrainingJob; it is Stopped at the end of the run.
_STOPPED_AT = 0.9


@dataclass(frozen=True)
class HistorySpec:
    """What to seed: ``count`` jobs named ``f"{prefix}-{i:06d}"``, created evenly over
    ``[created_from, created_to]`` (epoch seconds), oldest first, in the given shares."""

    count: int
    created_from: float
    created_to: float
    prefix: str = "history"
    failed_fraction: float = 0.1
    stopped_fraction: float = 0.05


def parse_history(body: object, now: float) -> HistorySpec:
    """The spec in a ``POST /_simulator/history`` body; raises ``ValueError`` naming the field.

    :param body: ``{"count": n, "created_from": s, "created_to": s, "prefix": str,
        "failed_fraction": f, "stopped_fraction": f}``; only ``count`` is required.
    :param now: the current time (epoch seconds): no seeded job may end after it.
    """
    if not isinstance(body, Mapping):
        raise ValueError("the history must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown history fields: {unknown}")
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer from 0 to {MAX_COUNT}, not {count!r}")
    created_to = _number(body, "created_to", now - DEFAULT_GAP)
    created_from = _number(body, "created_from", created_to - DEFAULT_SPAN)
    if created_to > now:
        raise ValueError("created_to must not be in the future: the jobs have all finished")
    if created_from > created_to:
        raise ValueError("created_from must not be after created_to")
    prefix = body.get("prefix", "history")
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be a string, not {prefix!r}")
    try:
        validate_create(training_request(f"{prefix}-000000"))
    except SageMakerError as err:
        raise ValueError(f"prefix {prefix!r} makes invalid job names: {err.message}") from None
    failed = _number(body, "failed_fraction", 0.1)
    stopped = _number(body, "stopped_fraction", 0.05)
    if not (0 <= failed <= 1 and 0 <= stopped <= 1 and failed + stopped <= 1):
        raise ValueError("failed_fraction and stopped_fraction must be >= 0 and sum to <= 1")
    return HistorySpec(count, created_from, created_to, prefix, failed, stopped)


def _number(body: Mapping[str, Any], field: str, default: float) -> float:
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{field} must be a finite number, not {value!r}")
    return float(value)


def history_jobs(spec: HistorySpec, now: float, seed: int = 0) -> list[TrainingJob]:
    """The seeded jobs, oldest first; the outcomes are shuffled with a fixed ``seed``.

    Each ran ``min(MAX_RUN, now - created)`` seconds, so each has ended by ``now``. A
    stopped job was asked to stop :data:`_STOPPED_AT` of the way through and was Stopped at
    the end of its run (the lifecycle's ``stop_requested_at``; ``Stopped`` is no plan outcome).
    """
    failed = round(spec.count * spec.failed_fraction)
    stopped = min(spec.count - failed, round(spec.count * spec.stopped_fraction))
    outcomes = ["Failed"] * failed + ["Stopped"] * stopped
    outcomes += ["Completed"] * (spec.count - len(outcomes))
    random.Random(seed).shuffle(outcomes)
    request = training_request(spec.prefix)  # one dict for all: describe copies what it echoes
    step = (spec.created_to - spec.created_from) / max(1, spec.count - 1)
    jobs = []
    for index, outcome in enumerate(outcomes):
        created = spec.created_to if spec.count == 1 else spec.created_from + index * step
        run = max(0.0, min(MAX_RUN, now - created))
        name = f"{spec.prefix}-{index:06d}"
        planned = "Completed" if outcome == "Stopped" else outcome
        job = TrainingJob(
            name=name,
            arn=training_job_arn(REGION, name),
            region=REGION,
            request=request,
            created_at=created,
            plan=Plan(run, planned, DEFAULT_FAILURE_REASON),
            stop_delay=run * (1 - _STOPPED_AT),
            writes_logs=False,
        )
        if outcome == "Stopped":
            job.stop_requested_at = created + run * _STOPPED_AT
        jobs.append(job)
    return jobs


def seed_history(store: JobStore, spec: HistorySpec) -> int:
    """Add the history to the store; returns how many jobs were added.

    :raises SageMakerError: ``ResourceInUse`` if a name is taken (nothing is added then).
    """
    jobs = history_jobs(spec, store.clock())
    store.add_finished(jobs)
    return len(jobs)
