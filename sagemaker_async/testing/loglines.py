"""What a training job prints: one CloudWatch log stream per instance, and its lines.

SageMaker writes a training job's logs to the ``/aws/sagemaker/TrainingJobs`` group, one
stream per instance named ``<job name>/algo-<n>-<epoch seconds>``, ``n`` counting the hosts
from 1 (the hosts of every instance group of a heterogeneous cluster are numbered in the same
series). The instances are ``ResourceConfig.InstanceCount`` plus the ``InstanceCount`` of
each of its ``InstanceGroups``.

Every instance writes a line at each secondary status and one per finished epoch. The first
instance's lines are the ones a single-instance job always had; the others' epochs are a
little later each (so streams interleave) and report their own loss.
"""

from __future__ import annotations

import math

from sagemaker_async.testing.jobs import TrainingJob
from sagemaker_async.testing.quotas import requested_instances

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
EPOCH_SECONDS = 1.0

LogLine = tuple[float, str]


def instance_count(job: TrainingJob) -> int:
    """How many instances the job runs on (at least one)."""
    return max(1, sum(requested_instances(job.request).values()))


def stream_name(job: TrainingJob, host: int = 1) -> str:
    """The stream of the job's ``host``-th instance (the first by default)."""
    return f"{job.name}/algo-{host}-{int(job.created_at)}"


def stream_names(job: TrainingJob) -> list[str]:
    """One stream per instance, the first instance's first."""
    return [stream_name(job, host) for host in range(1, instance_count(job) + 1)]


def log_lines(job: TrainingJob, since: float | None, until: float, host: int = 1) -> list[LogLine]:
    """The lines the ``host``-th instance printed in ``(since, until]``, oldest first."""
    lower = job.created_at - 1.0 if since is None else since
    lines = _status_lines(job) + _epoch_lines(job, lower, until, host)
    due = [line for line in lines if lower < line[0] <= until]
    return sorted(due, key=lambda line: line[0])


def last_lines(job: TrainingJob, count: int, host: int = 1) -> list[LogLine]:
    """The last ``count`` lines the ``host``-th instance prints, as the job's timeline
    stands now (a later stop or hurry changes them)."""
    if count <= 0:
        return []
    end = job.timeline()[-1].start
    window = _training_window(job)
    # The last ``count`` epochs lie in the last ``count + 1`` seconds of training.
    lower = job.created_at - 1.0 if window is None else window[1] - (count + 1) * EPOCH_SECONDS
    lines = _status_lines(job) + _epoch_lines(job, lower, end, host)
    return sorted(lines, key=lambda line: line[0])[-count:]


def _status_lines(job: TrainingJob) -> list[LogLine]:
    timeline = job.timeline()
    lines = [(t.start, f"[{t.status}] {t.message}") for t in timeline]
    if timeline[-1].status == "Failed":
        lines.append((timeline[-1].start, f"ERROR {job.plan.failure_reason}"))
    return lines


def _training_window(job: TrainingJob) -> tuple[float, float] | None:
    """When the job is in ``Training``: from its start to the next status, if it trains."""
    timeline = job.timeline()
    index = next((i for i, t in enumerate(timeline) if t.status == "Training"), None)
    if index is None or index + 1 >= len(timeline):
        return None
    return timeline[index].start, timeline[index + 1].start


def _epoch_lines(job: TrainingJob, lower: float, until: float, host: int) -> list[LogLine]:
    """One line per finished epoch; only the window is computed, as long jobs have many."""
    window = _training_window(job)
    if window is None:
        return []
    begin = window[0]
    if host > 1:  # later hosts finish each epoch a fraction of an epoch after the first one
        begin += (host - 1) * EPOCH_SECONDS / instance_count(job)
    end = window[1]
    first = max(1, math.floor((lower - begin) / EPOCH_SECONDS))
    last = math.floor((min(until, end) - begin) / EPOCH_SECONDS)
    lines: list[LogLine] = []
    for epoch in range(first, last + 1):
        at = begin + epoch * EPOCH_SECONDS
        if at < end:
            loss = 2.0 / (epoch + 1) + 0.001 * (host - 1)
            lines.append((at, f"epoch {epoch} loss={loss:.4f}"))
    return lines
