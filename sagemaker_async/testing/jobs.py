"""Simulated training jobs and their thread-safe store (plans and rules, calls, creates)."""

from __future__ import annotations

import copy
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sagemaker_async.testing.index import CreationIndex, CreationKey
from sagemaker_async.testing.lifecycle import (
    Hurry,
    LimitStop,
    Plan,
    Transition,
    primary_status,
    timeline,
)
from sagemaker_async.testing.stopping import limit_stop

ACCOUNT_ID = "123456789012"
DEFAULT_FAILURE_REASON = "AlgorithmError: simulated failure"
OUTCOMES = ("Completed", "Failed")
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
NOT_FOUND = "Requested resource not found."

_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")

_REQUIRED = (
    "AlgorithmSpecification",
    "RoleArn",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
)


class SageMakerError(Exception):
    """An error answered the way SageMaker does: an error code plus a message.

    :param code: the AWS error code (``__type``), e.g. ``ValidationException``.
    :param message: the human-readable message.
    :param status: the HTTP status code.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Rule:
    """How jobs whose name starts with ``name_prefix`` behave; ``None`` keeps the default."""

    name_prefix: str
    duration: float | None = None
    outcome: str = "Completed"
    failure_reason: str | None = None


@dataclass
class TrainingJob:
    """A training job; everything observable is derived from the clock at read time."""

    name: str
    arn: str
    region: str
    request: dict[str, Any]
    created_at: float
    plan: Plan
    stop_delay: float
    tags: dict[str, str] = field(default_factory=dict)
    stop_requested_at: float | None = None
    # False for a seeded history (it ended before the simulator ran) and for a job that
    # never got instances: no logs either way.
    writes_logs: bool = True
    # The StoppingCondition limit that ends it before its planned outcome, if one does.
    limit: LimitStop | None = None
    # The rest of its plan squeezed into a few seconds by the control API, if it was.
    hurry: Hurry | None = None

    def timeline(self) -> list[Transition]:
        """Every secondary status the job will go through, including future ones."""
        stop, delay = self.stop_requested_at, self.stop_delay
        return timeline(self.plan, self.created_at, stop, delay, self.limit, self.hurry)

    def transitions(self, now: float) -> list[Transition]:
        """The secondary statuses reached by ``now``."""
        return [t for t in self.timeline() if t.start <= now] or self.timeline()[:1]

    def secondary_status(self, now: float) -> str:
        """The current ``SecondaryStatus``."""
        return self.transitions(now)[-1].status

    def status(self, now: float) -> str:
        """The current ``TrainingJobStatus``."""
        plain = self.stop_requested_at is None and self.limit is None and self.hurry is None
        if plain:  # without the timeline
            ended = now >= self.created_at + self.plan.duration
            return self.plan.outcome if ended else "InProgress"
        return primary_status(self.secondary_status(now)) or "InProgress"

    def end_time(self, now: float) -> float | None:
        """When the job reached its terminal status, or ``None`` while it has not."""
        last = self.transitions(now)[-1]
        return last.start if primary_status(last.status) in TERMINAL else None

    def training_start(self, now: float) -> float | None:
        """When the instances were ready (the end of ``Starting``), if that happened."""
        return next((t.start for t in self.transitions(now) if t.status == "Downloading"), None)


class Admission(Protocol):
    """Asked by :meth:`JobStore.create`, under the store's lock, before it creates a job."""

    def admit(
        self,
        request: dict[str, Any],
        region: str,
        running: Callable[[], list[TrainingJob]],
        plan: Plan,
    ) -> Plan:
        """Refuse the job (raise :class:`SageMakerError`) or return its plan.

        :param running: the store's jobs ``InProgress`` or ``Stopping`` now, any region.
        :param plan: the plan the rules give it.
        """
        ...


def validate_create(request: dict[str, Any]) -> str:
    """Check a CreateTrainingJob request the way SageMaker would; return the job name."""
    name = request.get("TrainingJobName")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SageMakerError(
            "ValidationException",
            f"1 validation error detected: Value '{name}' at 'trainingJobName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: "
            "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
        )
    missing = [key for key in _REQUIRED if key not in request]
    if missing:
        raise SageMakerError("ValidationException", f"Missing required field(s): {missing}")
    if "S3OutputPath" not in request["OutputDataConfig"]:
        raise SageMakerError("ValidationException", "OutputDataConfig.S3OutputPath is required")
    return name


def training_job_arn(region: str, name: str) -> str:
    """The ARN SageMaker gives a training job."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:training-job/{name}"


class JobStore:
    """Thread-safe home of the simulated jobs, the plan rules and the call counters.

    :param default_duration: seconds a job stays ``InProgress`` when no rule matches.
    :param stop_delay: seconds a stopped job stays ``Stopping`` before it is ``Stopped``.
    :param clock: the time source (epoch seconds).
    :param admission: asked before each create; ``None`` admits every job as planned.
    """

    def __init__(
        self,
        default_duration: float = 5.0,
        stop_delay: float = 1.0,
        clock: Callable[[], float] = time.time,
        admission: Admission | None = None,
    ) -> None:
        self.default_duration = default_duration
        self.stop_delay = stop_delay
        self.clock = clock
        self.admission = admission
        self._lock = threading.RLock()
        self._jobs: dict[str, TrainingJob] = {}
        # Created jobs not yet seen ended, so finding the running ones skips the history.
        self._live: dict[str, TrainingJob] = {}
        self._by_creation = CreationIndex()
        self._rules: list[Rule] = []
        # Calls as received (faulted ones included) and as served (answered by the handler).
        self._calls: Counter[str] = Counter()
        self._job_calls: dict[str, Counter[str]] = {}
        self._served: Counter[str] = Counter()
        self._job_served: dict[str, Counter[str]] = {}
        # Per job, ``(operation, access key id)`` of every call received, in order.
        self._job_signers: dict[str, list[tuple[str, str | None]]] = {}
        # Per job, when each operation first named it (clock seconds).
        self._job_first_calls: dict[str, dict[str, float]] = {}
        # Per job, how many ListTrainingJobs answers included it, and when the first did.
        self._job_listed: Counter[str] = Counter()
        self._job_first_listed: dict[str, float] = {}

    def add_rule(self, rule: Rule) -> None:
        """Add a plan rule; later rules win over earlier ones."""
        if rule.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {rule.outcome!r}")
        if rule.duration is not None and rule.duration < 0:
            raise ValueError("duration must not be negative")
        with self._lock:
            self._rules.append(rule)

    def plan_for(self, name: str) -> Plan:
        """The plan a job of this name gets: the newest matching rule over the defaults."""
        with self._lock:
            rule = next((r for r in reversed(self._rules) if name.startswith(r.name_prefix)), None)
        if rule is None:
            return Plan(self.default_duration, "Completed", DEFAULT_FAILURE_REASON)
        duration = self.default_duration if rule.duration is None else rule.duration
        reason = rule.failure_reason or DEFAULT_FAILURE_REASON
        return Plan(duration, rule.outcome, reason)

    def count(
        self,
        operation: str,
        job_name: str | None,
        *,
        served: bool = False,
        signer: str | None = None,
    ) -> None:
        """Record one SageMaker call (also per job when it names one).

        :param served: ``False``: the call was received (before any injected fault);
            ``True``: it also got past the faults and was handled.
        :param signer: the access key id that signed a received call.
        """
        totals = self._served if served else self._calls
        per_job = self._job_served if served else self._job_calls
        with self._lock:
            totals[operation] += 1
            if job_name is not None:
                per_job.setdefault(job_name, Counter())[operation] += 1
                if not served:
                    self._job_signers.setdefault(job_name, []).append((operation, signer))
                    firsts = self._job_first_calls.setdefault(job_name, {})
                    firsts.setdefault(operation, self.clock())

    def note_listed(self, names: list[str]) -> None:
        """Record that a ListTrainingJobs answer included these jobs (a status read each)."""
        with self._lock:
            now = self.clock()
            for name in names:
                self._job_listed[name] += 1
                self._job_first_listed.setdefault(name, now)

    def job_listed(self, name: str) -> tuple[int, float | None]:
        """How many ListTrainingJobs answers included the job, and when the first did."""
        with self._lock:
            return self._job_listed[name], self._job_first_listed.get(name)

    def calls(self, *, served: bool = False) -> dict[str, int]:
        """Totals of every SageMaker operation received (or, with ``served``, handled)."""
        with self._lock:
            return dict(self._served if served else self._calls)

    def create(self, request: dict[str, Any], region: str) -> TrainingJob:
        """Create a job from a CreateTrainingJob request."""
        name = validate_create(request)
        tags = {str(t["Key"]): str(t.get("Value", "")) for t in request.get("Tags", [])}
        with self._lock:
            if name in self._jobs:
                raise SageMakerError(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account and region, and a "
                    f"training job with this name already exists ({self._jobs[name].arn})",
                )
            now, plan = self.clock(), self.plan_for(name)
            if self.admission is not None:
                # Under the lock: two creates must not both take the last of a quota.
                plan = self.admission.admit(request, region, lambda: self._running(now), plan)
            job = TrainingJob(
                name=name,
                arn=training_job_arn(region, name),
                region=region,
                request=copy.deepcopy(request),
                created_at=now,
                plan=plan,
                stop_delay=self.stop_delay,
                tags=tags,
                writes_logs=plan.gets_instances,
                limit=limit_stop(request, plan, now),
            )
            self._jobs[name] = job
            self._live[name] = job
            self._by_creation.add(job)
            return job

    def running(self) -> list[TrainingJob]:
        """The jobs ``InProgress`` or ``Stopping`` now (a seeded history has none)."""
        with self._lock:
            return self._running(self.clock())

    def _running(self, now: float) -> list[TrainingJob]:
        # An ended job never runs again, so it leaves the live set for good.
        ended = [name for name, job in self._live.items() if job.status(now) in TERMINAL]
        for name in ended:
            del self._live[name]
        return list(self._live.values())

    def add_finished(self, jobs: list[TrainingJob]) -> None:
        """Add jobs that ended already (a seeded history), without counters.

        :raises SageMakerError: ``ResourceInUse`` if a name is taken; nothing is added then.
        """
        with self._lock:
            taken = next((job.name for job in jobs if job.name in self._jobs), None)
            if taken is not None:
                raise SageMakerError("ResourceInUse", f"a job named {taken} already exists")
            self._jobs.update((job.name, job) for job in jobs)
            self._by_creation.merge(jobs)

    def by_creation(self, after: CreationKey | None, desc: bool, limit: int) -> list[TrainingJob]:
        """Up to ``limit`` jobs strictly after ``after`` in creation order (newest first if
        ``desc``), O(log n + limit)."""
        with self._lock:
            return self._by_creation.after(after, desc, limit)

    def get(self, name: str) -> TrainingJob:
        """The job called ``name``; SageMaker's not-found error if there is none."""
        with self._lock:
            job = self._jobs.get(name)
        if job is None:
            raise SageMakerError("ValidationException", NOT_FOUND)
        return job

    def stop(self, name: str) -> TrainingJob:
        """Ask a running job to stop; stopping a stopping job again is a no-op."""
        with self._lock:
            job = self.get(name)
            now = self.clock()
            status = job.status(now)
            if status in TERMINAL:
                raise SageMakerError(
                    "ValidationException",
                    f"The request was rejected because the training job is in status {status} "
                    "and is not in progress.",
                )
            if job.stop_requested_at is None:
                job.stop_requested_at = now
            return job

    def hurry(self, prefix: str, within: float) -> list[str]:
        """Squeeze what is left of every ``InProgress`` job whose name starts with ``prefix``
        into ``within`` seconds (:class:`Hurry`), once per job; the names of those hurried."""
        with self._lock:
            now = self.clock()
            hurried = []
            for job in self._jobs.values():
                if not job.name.startswith(prefix) or job.hurry is not None:
                    continue
                if job.status(now) == "InProgress":
                    job.hurry = Hurry(now, within)
                    hurried.append(job.name)
            return hurried

    def add_tags(self, name: str, tags: dict[str, str]) -> None:
        """Add or overwrite tags on a job."""
        with self._lock:
            self.get(name).tags.update(tags)

    def delete_tags(self, name: str, keys: list[str]) -> None:
        """Remove tags from a job; unknown keys are ignored, as SageMaker does."""
        with self._lock:
            job = self.get(name)
            for key in keys:
                job.tags.pop(key, None)

    def tags(self, name: str) -> dict[str, str]:
        """A copy of a job's tags."""
        with self._lock:
            return dict(self.get(name).tags)

    def jobs(self, prefix: str | None = None) -> list[TrainingJob]:
        """A snapshot of all jobs (or those whose name starts with ``prefix``), oldest first."""
        with self._lock:
            jobs = self._by_creation.snapshot()
        return jobs if prefix is None else [job for job in jobs if job.name.startswith(prefix)]

    def job_calls(self, name: str, *, served: bool = False) -> dict[str, int]:
        """The calls received (or, with ``served``, handled) that named this job."""
        with self._lock:
            return dict((self._job_served if served else self._job_calls).get(name, {}))

    def job_signers(self, name: str) -> list[tuple[str, str | None]]:
        """``(operation, access key id)`` of every call received that named this job."""
        with self._lock:
            return list(self._job_signers.get(name, []))

    def job_first_calls(self, name: str) -> dict[str, float]:
        """When each operation first named this job (clock seconds)."""
        with self._lock:
            return dict(self._job_first_calls.get(name, {}))

    def is_current(self, job: TrainingJob) -> bool:
        """Whether ``job`` is still in the store (not forgotten by a reset)."""
        with self._lock:
            return self._jobs.get(job.name) is job

    def reset(self) -> None:
        """Forget every job, rule and counter."""
        with self._lock:
            self._jobs.clear()
            self._live.clear()
            self._by_creation.clear()
            self._rules.clear()
            self._calls.clear()
            self._job_calls.clear()
            self._served.clear()
            self._job_served.clear()
            self._job_signers.clear()
            self._job_first_calls.clear()
            self._job_listed.clear()
            self._job_first_listed.clear()
