"""The benchmark's scenarios (full and quick runs) and the targets each kind must meet."""

from __future__ import annotations

from dataclasses import dataclass

#: Kinds of scenario; the targets are attached to the kind, not to a particular N.
CURVE, SCALE, HUGE, STORM, LOGS = "curve", "scale", "huge", "storm", "logs"
#: References, not targets: the same jobs polled by bare aiobotocore calls (``impl`` "bare"),
#: followed by triggers that only sleep until their job's end (``impl`` "idle"), or by ours
#: in a process that froze its start-up objects (``freeze_after_start``).
FLOOR = "floor"


@dataclass(frozen=True)
class Storm:
    """The polling operations (DescribeTrainingJob, ListTrainingJobs) throttled from ``start``
    for ``length`` seconds after the triggers start."""

    start: float
    length: float
    throttle_fraction: float = 0.5


@dataclass(frozen=True)
class Scenario:
    """N triggers of one implementation on N jobs that run ``duration`` seconds.

    ``print_log`` turns on our trigger's CloudWatch log tailing. It is off everywhere but in
    the ``logs`` scenario: the amazon trigger reads no logs, so a fair comparison of polling
    leaves them out, and the tailing's extra calls (one more describe per job among them)
    would blur the per-job describe counts.
    """

    kind: str
    impl: str
    n: int
    interval: float
    duration: float
    storm: Storm | None = None
    print_log: bool = False
    freeze_after_start: bool = False

    @property
    def name(self) -> str:
        frozen = "-frozen" if self.freeze_after_start else ""
        return f"{self.kind}-{self.impl}-{self.n}{frozen}"

    @property
    def expected_polls(self) -> int:
        """Polls while the job runs, plus the one that sees it finished."""
        return round(self.duration / self.interval) + 1


def warm_job(prefix: str) -> str:
    """The job a worker runs one trigger on before measuring; it has already ended."""
    return f"{prefix}-warm"


def full_run() -> list[Scenario]:
    """About 21 minutes on 2 cores.

    The 10k scenario polls every 60 s: the simulator serves a few hundred describes a second
    while its log ticker also writes lines for all 10k jobs, and 10k / 60 s stays well below.
    """
    curve = [
        Scenario(CURVE, impl, n, interval=10, duration=40)
        for n in (100, 250, 500)
        for impl in ("ours", "amazon")
    ]
    return [
        *curve,
        Scenario(SCALE, "ours", 1000, interval=10, duration=40),
        Scenario(FLOOR, "bare", 1000, interval=10, duration=40),
        Scenario(HUGE, "ours", 10000, interval=60, duration=120),
        Scenario(FLOOR, "idle", 10000, interval=60, duration=120),
        Scenario(FLOOR, "ours", 10000, interval=60, duration=120, freeze_after_start=True),
        Scenario(STORM, "ours", 300, interval=5, duration=90, storm=Storm(start=20, length=30)),
        Scenario(LOGS, "ours", 500, interval=10, duration=40, print_log=True),
    ]


def quick_run() -> list[Scenario]:
    """A smoke run of every code path in about two minutes; the sizes are too small for the
    targets to mean much."""
    curve = [
        Scenario(CURVE, impl, n, interval=2, duration=6)
        for n in (10, 30)
        for impl in ("ours", "amazon")
    ]
    return [
        *curve,
        Scenario(SCALE, "ours", 60, interval=2, duration=6),
        Scenario(FLOOR, "bare", 60, interval=2, duration=6),
        Scenario(HUGE, "ours", 200, interval=3, duration=6),
        Scenario(FLOOR, "idle", 200, interval=3, duration=6),
        Scenario(FLOOR, "ours", 200, interval=3, duration=6, freeze_after_start=True),
        Scenario(STORM, "ours", 40, interval=1, duration=16, storm=Storm(start=4, length=5)),
        Scenario(LOGS, "ours", 30, interval=2, duration=6, print_log=True),
    ]
