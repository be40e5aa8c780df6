"""What a worker measures about its own process: peak RSS, CPU time and event-loop lag."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path

import psutil

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def rss() -> int:
    """Resident set size of this process, bytes."""
    return int(psutil.Process().memory_info().rss)


def cpu_seconds() -> float:
    """User + system CPU time of the whole process (every thread), seconds."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def reset_kernel_peak() -> bool:
    """Restart the kernel's peak-RSS counter (Linux: write 5 to clear_refs); True if it worked."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def kernel_peak() -> int | None:
    """The kernel's peak RSS (VmHWM) in bytes, if this platform has it."""
    try:
        lines = _STATUS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


class RssSampler:
    """Samples RSS from a thread, so a blocked event loop cannot hide a peak.

    :param period: seconds between samples.
    :param limit: bytes; ``exceeded`` is set once RSS passes it (a guard for the machine).
    """

    def __init__(self, period: float = 0.05, limit: int | None = None) -> None:
        self.period = period
        self.limit = limit
        self.peak = 0
        self.exceeded = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self.peak = rss()
        self._thread.start()

    def stop(self) -> int:
        """Stop sampling; returns the peak seen, bytes."""
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())
        return self.peak

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(self.period):
            current = int(process.memory_info().rss)
            self.peak = max(self.peak, current)
            if self.limit is not None and current > self.limit:
                self.exceeded.set()


class LagProbe:
    """Sleeps ``period`` on the loop again and again and records how late it wakes up.

    The lateness is the time other callbacks held the loop: what every trigger on it waits.
    """

    def __init__(self, period: float = 0.05) -> None:
        self.period = period
        self.lags: list[float] = []
        self.woke: list[float] = []  # monotonic time of each wake-up, matching ``lags``
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            now = loop.time()
            self.lags.append(max(0.0, now - before - self.period))
            self.woke.append(now)

    @property
    def max(self) -> float:
        return max(self.lags, default=0.0)

    def percentile(self, q: float) -> float:
        return percentile(self.lags, q)

    def max_outside(self, spans: list[tuple[float, float]]) -> float:
        """The worst lateness of the sleeps that no span (start, end) overlapped."""
        worst = 0.0
        for lag, woke in zip(self.lags, self.woke, strict=True):
            began = woke - self.period - lag
            if not any(start < woke and end > began for start, end in spans):
                worst = max(worst, lag)
        return worst


class GcProbe:
    """Times the interpreter's garbage collections through ``gc.callbacks``.

    A full (generation 2) collection walks every tracked object of the process with the
    GIL held: the loop stops for its whole length, whoever allocated the objects.
    """

    def __init__(self) -> None:
        self.full: list[tuple[float, float]] = []  # (start, end), monotonic, generation 2
        self.young_max = 0.0
        self._began = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._began = now
        elif info["generation"] == 2:
            self.full.append((self._began, now))
        else:
            self.young_max = max(self.young_max, now - self._began)

    @property
    def full_max(self) -> float:
        return max((end - start for start, end in self.full), default=0.0)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]
