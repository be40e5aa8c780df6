"""Which job log lines reached a task's log, and when: a structlog processor that notes them.

Triggers and hooks log through structlog, and a triggerer (or a worker) routes a line to a
task's log by the context it was logged in, not by the logger. The bench does the same: the
code that runs one task sets :data:`JOB` (and :data:`PHASE`), and :class:`LineCapture`, the
first processor of structlog's chain, notes each job log line logged in that context with
the time it was logged. Job log lines are the tail's ``[<stream>] <message>``; the follower's
"Could not read the logs" warnings are counted too, as they say why lines may be missing.
"""

from __future__ import annotations

import threading
import time
from contextvars import ContextVar
from typing import Any

#: The job whose task is logging here (``None``: not a measured task, e.g. the warm-up).
JOB: ContextVar[str | None] = ContextVar("bench_job", default=None)
#: What part of the task logs: ``"tail"`` (the trigger's follower, or the resumed task's
#: ``finish_logs``) or ``"recap"`` (``report_end``: the last lines, repeated on purpose).
PHASE: ContextVar[str] = ContextVar("bench_phase", default="tail")
WARNING_PREFIX = "Could not read the logs"


class LineCapture:
    """Per job and phase: each line's first time (epoch seconds) and how often it was shown,
    and the warnings. Thread-safe: resumed tasks log from a pool of threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.lines: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.warnings: dict[str, list[str]] = {}

    def install(self) -> None:
        """Put the capture first in structlog's processor chain, in place: loggers already
        made keep a reference to that same list."""
        import structlog

        processors = structlog.get_config()["processors"]
        if not isinstance(processors, list):
            raise RuntimeError("structlog's processors are not a list; cannot capture lines")
        processors.insert(0, self)

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        job = JOB.get()
        if job is not None:
            self._note(job, _text(event_dict))
        return event_dict

    def _note(self, job: str, text: str) -> None:
        now = time.time()
        if text.startswith("["):
            with self._lock:
                shown = self.lines.setdefault(job, {}).setdefault(PHASE.get(), {})
                seen = shown.setdefault(text, [now, 0.0])
                seen[1] += 1
        elif text.startswith(WARNING_PREFIX):
            with self._lock:
                self.warnings.setdefault(job, []).append(f"{PHASE.get()}: {text}"[:300])

    def view(self) -> dict[str, Any]:
        """``{"lines": {job: {phase: {text: [first time, count]}}}, "warnings": {job: [..]}}``."""
        with self._lock:
            return {"lines": self.lines, "warnings": self.warnings}


def _text(event_dict: dict[str, Any]) -> str:
    """The message as the task log shows it; ``log.info("%s", line)`` may still carry its
    arguments here (a later processor formats them)."""
    event = str(event_dict.get("event", ""))
    args = event_dict.get("positional_args")
    if args:
        try:
            return event % tuple(args)
        except (TypeError, ValueError):
            return event
    return event
