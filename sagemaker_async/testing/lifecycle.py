"""A training job's plan and the secondary statuses it goes through, as a function of time.

The statuses and their messages follow DescribeTrainingJob's ``SecondaryStatus`` and
``SecondaryStatusTransition.StatusMessage`` docs in botocore's SageMaker model:

- a status's message changes while it lasts. The ``StatusMessage`` doc lists, for
  ``Starting``, "Starting the training job", "Launching requested ML instances", "Insufficient
  capacity error from EC2 while launching instances, retrying!", "Launched instance was
  unhealthy, replacing it!" and "Preparing the instances for training", and for ``Training``
  "Training image download completed. Training in progress."; its example shows ``Training``
  with "Downloading the training image" at the start of a job. A job that gets its
  instances shows the three uneventful ``Starting`` messages in turn, then ``Training``'s
  two (:data:`SCHEDULES`); the capacity messages belong to capacity failures
  (:mod:`~sagemaker_async.testing.capacity`). Each phase's last message is the one it
  always had, so the log lines (one per status, with that message) are unchanged;
- a job SageMaker ends at a ``StoppingCondition`` limit goes through ``Stopping`` to
  ``MaxRuntimeExceeded`` or ``MaxWaitTimeExceeded``, which ``SecondaryStatus`` lists under
  the ``Stopped`` primary status ("The job stopped because it exceeded the maximum allowed
  runtime" / "wait time"; see :mod:`~sagemaker_async.testing.stopping`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``(secondary status, share of the planned duration when it begins, status message)``.
Phase = tuple[str, float, str]

# The phases of a job that gets its instances: Starting, then the File-mode download,
# training and the upload of the model artifacts.
PHASES: tuple[Phase, ...] = (
    ("Starting", 0.0, "Preparing the instances for training"),
    ("Downloading", 0.1, "Downloading input data"),
    ("Training", 0.2, "Training image download completed. Training in progress."),
    ("Uploading", 0.9, "Uploading generated training model"),
)
#: The messages a phase shows in turn: ``(share of the phase when it begins, message)``;
#: the last is the phase's own. Phases not listed show their one message throughout.
SCHEDULES: dict[Phase, tuple[tuple[float, str], ...]] = {
    PHASES[0]: (
        (0.0, "Starting the training job"),
        (1 / 3, "Launching requested ML instances"),
        (2 / 3, PHASES[0][2]),
    ),
    PHASES[2]: ((0.0, "Downloading the training image"), (0.1, PHASES[2][2])),
}
#: Statuses a job ends in when SageMaker stops it at a ``StoppingCondition`` limit; the
#: primary status is then ``Stopped``.
LIMIT_STATUSES = frozenset({"MaxRuntimeExceeded", "MaxWaitTimeExceeded"})
MESSAGES = {
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "The job stopped because it exceeded the maximum allowed runtime",
    "MaxWaitTimeExceeded": "The job stopped because it exceeded the maximum allowed wait time",
}


@dataclass(frozen=True)
class Plan:
    """A job's fate, fixed when it is created.

    :param duration: seconds from creation to the outcome (unless it is stopped first).
    :param outcome: ``"Completed"`` or ``"Failed"``.
    :param failure_reason: the ``FailureReason`` of a failed job.
    :param phases: the InProgress secondary statuses it goes through; a job that never
        gets its instances stays in ``Starting`` until it fails.
    """

    duration: float
    outcome: str
    failure_reason: str
    phases: tuple[Phase, ...] = PHASES

    @property
    def gets_instances(self) -> bool:
        """Whether instances are ever launched: only then is time billed and are logs written."""
        return any(status != "Starting" for status, _, _ in self.phases)

    def training_share(self) -> float | None:
        """Share of the duration when the instances are ready (the end of ``Starting``)."""
        return next((share for status, share, _ in self.phases if status != "Starting"), None)


@dataclass(frozen=True)
class LimitStop:
    """SageMaker ending a job at a ``StoppingCondition`` limit.

    :param at: when the limit is reached and the job starts ``Stopping`` (clock seconds).
    :param status: ``"MaxRuntimeExceeded"`` or ``"MaxWaitTimeExceeded"``.
    """

    at: float
    status: str


@dataclass(frozen=True)
class Transition:
    """One secondary status with the time it began.

    :param message: its last message (the one its log line carries).
    :param schedule: ``(from, message)`` of every message it shows, oldest first; empty when
        it shows ``message`` throughout.
    """

    status: str
    start: float
    message: str
    schedule: tuple[tuple[float, str], ...] = ()

    def message_at(self, moment: float) -> str:
        """The ``StatusMessage`` shown at ``moment``."""
        shown = self.schedule[0][1] if self.schedule else self.message
        for since, text in self.schedule:
            if since > moment:
                break
            shown = text
        return shown


@dataclass(frozen=True)
class Hurry:
    """What is left of a job's plan, squeezed into a few seconds (as when a training script
    stops early): every status the job had not reached at ``at`` still comes, in order, and
    the planned outcome comes at ``at + within`` (or sooner, if it was due sooner). What it
    showed before ``at`` is unchanged. A ``StoppingCondition`` limit keeps the time it had, so
    one that falls inside the squeezed rest still stops the job there.

    :param at: when the job was hurried (clock seconds).
    :param within: seconds from then to its outcome, at most.
    """

    at: float
    within: float

    def moment(self, planned: float, end: float) -> float:
        """When something planned at ``planned`` happens, given the planned outcome ``end``."""
        if planned <= self.at:
            return planned
        return self.at + (planned - self.at) * min(self.within / (end - self.at), 1.0)

    def squeeze(self, transition: Transition, end: float) -> Transition:
        schedule = tuple((self.moment(t, end), text) for t, text in transition.schedule)
        start = self.moment(transition.start, end)
        return Transition(transition.status, start, transition.message, schedule)


def primary_status(secondary: str) -> str | None:
    """The ``TrainingJobStatus`` a job whose secondary status is ``secondary`` has, if that
    one status decides it (``None`` while it is ``InProgress``)."""
    if secondary in LIMIT_STATUSES:
        return "Stopped"
    if secondary in ("Completed", "Failed", "Stopped", "Stopping"):
        return secondary
    return None


def timeline(
    plan: Plan,
    created_at: float,
    stop_requested_at: float | None,
    stop_delay: float,
    limit: LimitStop | None = None,
    hurry: Hurry | None = None,
) -> list[Transition]:
    """Every secondary status a job goes through, including future ones.

    :param plan: the job's plan.
    :param created_at: when it was created (clock seconds).
    :param stop_requested_at: when ``StopTrainingJob`` was called, if it was.
    :param stop_delay: seconds from ``Stopping`` to the stopped status.
    :param limit: the ``StoppingCondition`` limit that ends the job before its outcome.
    :param hurry: the rest of the plan squeezed into a few seconds, if it was.
    """
    steps = _phases(plan, created_at)
    end = Transition(plan.outcome, created_at + plan.duration, MESSAGES[plan.outcome])
    if hurry is not None and hurry.at < end.start:
        steps = [hurry.squeeze(step, end.start) for step in steps]
        end = hurry.squeeze(end, end.start)
    stop = _stop(stop_requested_at, limit)
    if stop is None or (hurry is not None and stop[0] >= end.start):  # outran by the hurry
        return [*steps, end]
    at, final = stop
    kept = [t for t in steps if t.start < at] or steps[:1]
    return [
        *kept,
        Transition("Stopping", at, MESSAGES["Stopping"]),
        Transition(final, at + stop_delay, MESSAGES[final]),
    ]


def _phases(plan: Plan, created_at: float) -> list[Transition]:
    """The plan's InProgress statuses, each with its message schedule."""
    starts = [created_at + share * plan.duration for _, share, _ in plan.phases]
    ends = [*starts[1:], created_at + plan.duration]
    steps = []
    for phase, start, end in zip(plan.phases, starts, ends, strict=True):
        schedule = tuple(
            (start + share * (end - start), text) for share, text in SCHEDULES.get(phase, ())
        )
        steps.append(Transition(phase[0], start, phase[2], schedule))
    return steps


def _stop(stop_requested_at: float | None, limit: LimitStop | None) -> tuple[float, str] | None:
    """When the job starts stopping and the status it stops in: the earlier of a requested
    stop and a limit (a stop requested after the limit was reached changes nothing)."""
    if limit is not None and (stop_requested_at is None or limit.at <= stop_requested_at):
        return limit.at, limit.status
    if stop_requested_at is not None:
        return stop_requested_at, "Stopped"
    return None
