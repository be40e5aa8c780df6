"""Training-job log lines, written into moto's CloudWatch Logs backend in-process.

What each instance prints is in :mod:`~sagemaker_async.testing.loglines`; this module writes
it as it falls due. With late lines on (:class:`~sagemaker_async.testing.logpages.LogConfig`),
each stream's last lines are held back until some seconds after the job's final status.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from moto.logs.exceptions import ResourceAlreadyExistsException, ResourceNotFoundException
from moto.logs.models import logs_backends

from sagemaker_async.testing.jobs import ACCOUNT_ID, TrainingJob
from sagemaker_async.testing.loglines import (
    LOG_GROUP,
    LogLine,
    last_lines,
    log_lines,
    stream_name,
    stream_names,
)
from sagemaker_async.testing.logpages import LogConfig, LogSettings

log = logging.getLogger(__name__)

#: A job's key: its Region and its first stream (which names the job and its creation).
JobKey = tuple[str, str]


class JobLogs:
    """Copies each job's due log lines into moto, remembering how far each job got.

    :param clock: the time source (epoch seconds).
    :param is_current: whether a job still exists; lines of forgotten jobs are not written.
    :param account_id: the moto account whose logs backend receives the lines.
    :param settings: the CloudWatch Logs settings (late lines); ``None``: the defaults.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        is_current: Callable[[TrainingJob], bool] = lambda job: True,
        account_id: str = ACCOUNT_ID,
        settings: LogSettings | None = None,
    ) -> None:
        self._clock = clock
        self._is_current = is_current
        self._account_id = account_id
        self.settings = settings or LogSettings()
        # Serializes writers: the ticker thread and request threads both sync jobs.
        self._lock = threading.Lock()
        self._cursors: dict[JobKey, float | None] = {}
        self._streams: dict[JobKey, list[str]] = {}
        self._withheld: dict[tuple[JobKey, str], list[LogLine]] = {}
        self._finished: set[JobKey] = set()
        self._pending: dict[JobKey, TrainingJob] = {}

    def sync(self, job: TrainingJob, now: float | None = None) -> None:
        """Write the job's lines that are due by ``now`` (the clock's reading if ``None``)
        and not yet written. A caller that answers with the job's status passes the moment
        it reads the status at, so the lines never lag the status it reports (unless late
        lines are on)."""
        if not job.writes_logs:
            return
        key = (job.region, stream_name(job))
        with self._lock:
            # Checked under the lock so a reset cannot slip in and leave an orphan stream.
            if key in self._finished or not self._is_current(job):
                self._pending.pop(key, None)
                return
            self._pending[key] = job  # kept until its streams are complete, should a write fail
            now = self._clock() if now is None else now
            cursor = self._cursors.get(key)
            if now <= (cursor or -1.0):
                return  # a later reading was synced already (requests run in parallel)
            end = job.end_time(now)
            holding = self._holding(end, now)
            self._write_due(job, key, cursor, now, holding)
            self._cursors[key] = now
            if end is not None and not holding:
                # Nothing is printed after the terminal status, so these streams are complete.
                self._finished.add(key)
                del self._pending[key]

    def _write_due(
        self, job: TrainingJob, key: JobKey, cursor: float | None, now: float, holding: int
    ) -> None:
        """Write each stream's lines in ``(cursor, now]``, but for the last ``holding``."""
        streams = self._streams.get(key) or self._streams.setdefault(key, stream_names(job))
        for host, stream in enumerate(streams, start=1):
            lines = log_lines(job, cursor, now, host)
            lines = self._hold(key, stream, lines, last_lines(job, holding, host))
            if lines or key not in self._cursors:
                self._write(job.region, stream, lines)

    def _holding(self, end: float | None, now: float) -> int:
        """How many last lines of each stream are held back now (0: none)."""
        config: LogConfig = self.settings.current()
        if not config.late or (end is not None and now >= end + config.late_lines_after):
            return 0
        return config.late_lines

    def _hold(
        self, key: JobKey, stream: str, lines: list[LogLine], held: list[LogLine]
    ) -> list[LogLine]:
        """The lines to write now: the new ones and those held back before, but for the
        stream's last lines as planned now (``held``), which are kept for later."""
        withheld = self._withheld.pop((key, stream), [])
        if not withheld and not held:
            return lines
        late = set(held)
        due = withheld + lines
        kept = [line for line in due if line in late]
        if kept:
            self._withheld[key, stream] = kept
        # Sorted: a line held back, then released by a stop that changed the last lines,
        # goes before the newer ones.
        return sorted((line for line in due if line not in late), key=lambda line: line[0])

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
            for (region, _), streams in self._streams.items():
                backend = logs_backends[self._account_id][region]
                for stream in streams:
                    with contextlib.suppress(ResourceNotFoundException):
                        backend.delete_log_stream(LOG_GROUP, stream)
            self._cursors.clear()
            self._streams.clear()
            self._withheld.clear()
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
