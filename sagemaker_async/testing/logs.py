"""Training-job log lines, written into moto's CloudWatch Logs backend in-process."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable

from moto.logs.exceptions import ResourceAlreadyExistsException, ResourceNotFoundException
from moto.logs.models import logs_backends

from sagemaker_async.testing.jobs import ACCOUNT_ID, TrainingJob

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
EPOCH_SECONDS = 1.0

log = logging.getLogger(__name__)

LogLine = tuple[float, str]


def stream_name(job: TrainingJob) -> str:
    """The job's log stream, named the way SageMaker names the first instance's stream."""
    return f"{job.name}/algo-1-{int(job.created_at)}"


def log_lines(job: TrainingJob, since: float | None, until: float) -> list[LogLine]:
    """The lines the job printed in ``(since, until]``, oldest first."""
    lower = job.created_at - 1.0 if since is None else since
    lines = _status_lines(job) + _epoch_lines(job, lower, until)
    due = [line for line in lines if lower < line[0] <= until]
    return sorted(due, key=lambda line: line[0])


def _status_lines(job: TrainingJob) -> list[LogLine]:
    timeline = job.timeline()
    lines = [(t.start, f"[{t.status}] {t.message}") for t in timeline]
    if timeline[-1].status == "Failed":
        lines.append((timeline[-1].start, f"ERROR {job.plan.failure_reason}"))
    return lines


def _epoch_lines(job: TrainingJob, lower: float, until: float) -> list[LogLine]:
    """One line per finished epoch; only the window is computed, as long jobs have many."""
    timeline = job.timeline()
    index = next((i for i, t in enumerate(timeline) if t.status == "Training"), None)
    if index is None or index + 1 >= len(timeline):
        return []
    begin, end = timeline[index].start, timeline[index + 1].start
    first = max(1, math.floor((lower - begin) / EPOCH_SECONDS))
    last = math.floor((min(until, end) - begin) / EPOCH_SECONDS)
    lines: list[LogLine] = []
    for epoch in range(first, last + 1):
        at = begin + epoch * EPOCH_SECONDS
        if at < end:
            lines.append((at, f"epoch {epoch} loss={2.0 / (epoch + 1):.4f}"))
    return lines


class JobLogs:
    """Copies each job's due log lines into moto, remembering how far each stream got.

    :param clock: the time source (epoch seconds).
    :param is_current: whether a job still exists; lines of forgotten jobs are not written.
    :param account_id: the moto account whose logs backend receives the lines.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        is_current: Callable[[TrainingJob], bool] = lambda job: True,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self._clock = clock
        self._is_current = is_current
        self._account_id = account_id
        # Serializes writers: the ticker thread and request threads both sync jobs.
        self._lock = threading.Lock()
        self._cursors: dict[tuple[str, str], float | None] = {}
        self._finished: set[tuple[str, str]] = set()
        self._pending: dict[tuple[str, str], TrainingJob] = {}

    def sync(self, job: TrainingJob, now: float | None = None) -> None:
        """Write the job's lines that are due by ``now`` (the clock's reading if ``None``)
        and not yet written. A caller that answers with the job's status passes the moment
        it reads the status at, so the lines never lag the status it reports."""
        if not job.writes_logs:
            return
        key = (job.region, stream_name(job))
        with self._lock:
            # Checked under the lock so a reset cannot slip in and leave an orphan stream.
            if key in self._finished or not self._is_current(job):
                self._pending.pop(key, None)
                return
            self._pending[key] = job  # kept until its stream is complete, should a write fail
            now = self._clock() if now is None else now
            if now <= (self._cursors.get(key) or -1.0):
                return  # a later reading was synced already (requests run in parallel)
            lines = log_lines(job, self._cursors.get(key), now)
            if lines or key not in self._cursors:
                self._write(job.region, key[1], lines)
            self._cursors[key] = now
            if job.end_time(now) is not None:
                # Nothing is printed after the terminal status, so this stream is complete.
                self._finished.add(key)
                del self._pending[key]

    def pending(self) -> list[TrainingJob]:
        """The jobs synced before whose streams are not complete yet."""
        with self._lock:
            return list(self._pending.values())

    def sync_pending(self) -> None:
        """Sync every pending job, logging (not raising) failures so the ticker keeps going.

        Every job created through the API is synced once then, so the pending ones are all
        that can still be owed lines: a tick costs nothing per finished job, however long
        the account's history.
        """
        for job in self.pending():
            try:
                self.sync(job)
            except Exception:
                log.exception("could not write log lines for %s", job.name)

    def reset(self) -> None:
        """Delete the streams this instance wrote and forget their progress."""
        with self._lock:
            for region, stream in self._cursors:
                backend = logs_backends[self._account_id][region]
                with contextlib.suppress(ResourceNotFoundException):
                    backend.delete_log_stream(LOG_GROUP, stream)
            self._cursors.clear()
            self._finished.clear()
            self._pending.clear()

    def _write(self, region: str, stream: str, lines: list[LogLine]) -> None:
        backend = logs_backends[self._account_id][region]
        with contextlib.suppress(ResourceAlreadyExistsException):
            backend.create_log_group(LOG_GROUP, {})
        backend.ensure_log_stream(LOG_GROUP, stream)
        if lines:
            events = [{"timestamp": int(ts * 1000), "message": msg} for ts, msg in lines]
            backend.put_log_events(LOG_GROUP, stream, events)


class LogTicker:
    """A daemon thread that syncs the pending jobs' logs every ``interval`` seconds.

    :param logs: the log writer.
    :param interval: seconds between ticks.
    """

    def __init__(self, logs: JobLogs, interval: float = 0.5) -> None:
        self._logs = logs
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sagemaker-sim-logs", daemon=True)

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and wait for the thread to end."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self._logs.sync_pending()
