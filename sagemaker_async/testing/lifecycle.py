"""A training job's plan and the secondary statuses it goes through, as a function of time.

The statuses and their messages follow DescribeTrainingJob's ``SecondaryStatus`` and
``SecondaryStatusTransition.StatusMessage`` docs in botocore's SageMaker model.
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
MESSAGES = {
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
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


@dataclass(frozen=True)
class Transition:
    """One secondary status with the time it began."""

    status: str
    start: float
    message: str


def timeline(
    plan: Plan, created_at: float, stop_requested_at: float | None, stop_delay: float
) -> list[Transition]:
    """Every secondary status a job goes through, including future ones.

    :param plan: the job's plan.
    :param created_at: when it was created (clock seconds).
    :param stop_requested_at: when ``StopTrainingJob`` was called, if it was.
    :param stop_delay: seconds from ``Stopping`` to ``Stopped``.
    """
    duration = plan.duration
    steps = [Transition(s, created_at + share * duration, m) for s, share, m in plan.phases]
    if stop_requested_at is None:
        end = Transition(plan.outcome, created_at + duration, MESSAGES[plan.outcome])
        return [*steps, end]
    kept = [t for t in steps if t.start < stop_requested_at] or steps[:1]
    return [
        *kept,
        Transition("Stopping", stop_requested_at, MESSAGES["Stopping"]),
        Transition("Stopped", stop_requested_at + stop_delay, MESSAGES["Stopped"]),
    ]
