"""The benchmark's scenarios (full and quick runs) and the targets each kind must meet."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Kinds of scenario; the targets are attached to the kind, not to a particular N.
CURVE, SCALE, HUGE, STORM, LOGS = "curve", "scale", "huge", "storm", "logs"
#: Real accounts: finished jobs behind the watched ones (``history``), or other teams' jobs
#: created after them (``oldwatched``), with the account's ListTrainingJobs rate limited.
HISTORY, OLDWATCHED = "history", "oldwatched"
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
class Account:
    """What the simulated account holds besides the scenario's jobs, and how it answers.

    :param history: finished jobs created (by the simulator's default) over the 30 days
        before an hour ago, so all older than the watched jobs.
    :param newer: finished jobs of other teams created after the watched jobs (between the
        last watched job's creation and the triggers' start).
    :param list_rate: the account's ListTrainingJobs limit, requests per second (token
        bucket, burst ``max(1, rate)``), shared by everything that lists; ``None``: no limit.
    :param time_filters: how the simulator applies the undocumented ``CreationTime*`` and
        ``NameContains`` filters, ``"after_page"`` (its default) or ``"before_page"``.
    """

    history: int = 0
    newer: int = 0
    list_rate: float | None = None
    time_filters: str = "after_page"


@dataclass(frozen=True)
class LogsAccount:
    """The account's CloudWatch Logs as the log tail meets it in AWS (set on the simulator
    before the jobs exist).

    :param filter_rate: ``FilterLogEvents`` per second, the account's limit (AWS: 5, not
        adjustable), a token bucket with a burst of as many, shared by every caller.
    :param describe_streams_rate: ``DescribeLogStreams`` per second (AWS: 25), which the
        resumed task's last-lines recap calls.
    :param empty_pages: empty pages (with a ``nextToken``) each ``FilterLogEvents`` pass
        begins with, as its API reference allows; late lines keep the simulator's default.
    """

    filter_rate: float = 5.0
    describe_streams_rate: float = 25.0
    empty_pages: int = 1

    def rate_limits(self) -> dict[str, float]:
        return {
            "FilterLogEvents": self.filter_rate,
            "DescribeLogStreams": self.describe_streams_rate,
        }


@dataclass(frozen=True)
class Scenario:
    """N triggers of one implementation on N jobs that run ``duration`` seconds.

    ``print_log`` turns on our trigger's CloudWatch log tailing. It is off everywhere but in
    the ``logs`` scenario: the amazon trigger reads no logs, so a fair comparison of polling
    leaves them out, and the tailing's extra calls (one more describe per job among them)
    would blur the per-job describe counts. ``logs`` sets the account's CloudWatch Logs up;
    a ``logs`` row with ``print_log`` off is the twin its status latency is compared with
    (named ``-no-log``).
    """

    kind: str
    impl: str
    n: int
    interval: float
    duration: float
    storm: Storm | None = None
    print_log: bool = False
    freeze_after_start: bool = False
    account: Account | None = None
    logs: LogsAccount | None = None
    end_spread: float = 0.0

    @property
    def name(self) -> str:
        frozen = "-frozen" if self.freeze_after_start else ""
        # The default reading is left out of the name; the other one is a variant.
        before = (
            "-before-page" if self.account and self.account.time_filters != "after_page" else ""
        )
        quiet = "-no-log" if self.logs is not None and not self.print_log else ""
        return f"{self.kind}-{self.impl}-{self.n}{frozen}{before}{quiet}"

    def duration_rules(self, prefix: str) -> list[tuple[str, float]]:
        """The simulator's plans for the jobs named ``{prefix}-{i:05d}``: all ``duration``
        long, or, with ``end_spread``, groups of ten ending evenly over that many seconds
        after ``duration`` (the newest matching rule wins, so the groups go after the
        catch-all)."""
        rules = [(f"{prefix}-", self.duration)]
        if self.end_spread > 0:
            groups = math.ceil(self.n / 10)
            rules += [
                (f"{prefix}-{group:04d}", self.duration + self.end_spread * group / groups)
                for group in range(groups)
            ]
        return rules

    @property
    def expected_polls(self) -> int:
        """Polls while the job runs, plus the one that sees it finished."""
        return round(self.duration / self.interval) + 1


def warm_job(prefix: str) -> str:
    """The job a worker runs one trigger on before measuring; it has already ended."""
    return f"{prefix}-warm"


def full_run() -> list[Scenario]:
    """About 65 minutes on 2 cores: the 22 base scenarios, and the real accounts'. The log
    tail pair takes about 22 of them: the tailing row's 1,000 resumed tasks read the jobs'
    last lines through the account's 5 FilterLogEvents a second, which takes about 10
    minutes after the jobs end.

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
        *logs_pair(1000, interval=30, duration=300),
        *account_scenarios(),
    ]


def logs_pair(n: int, interval: float, duration: float) -> list[Scenario]:
    """N tailing triggers on an account with AWS's CloudWatch Logs limits and empty pages,
    and the same N, interval, duration and account without tailing (the twin whose
    completion-to-event latency the tailing must leave unchanged). Run one after the other
    in the same run, so the machine's load is as alike as it gets.

    The full run's 300 s jobs at a 30 s interval last ten intervals: the first interval
    spreads the triggers' first polls and the tails find their streams (1,000
    ``DescribeLogStreams`` at the default share of 5 a second), so the tail's steady state
    (about ten batched reads of 100 streams an interval, at the triggerer's 1 request a
    second) lasts most of the rest, and the completion-to-event figures come from polls and
    sweeps on their regular cadence, not from start-up.

    The jobs end evenly over one interval (``end_spread``). Ending all within the two
    seconds their creation takes, they met the sweep at one phase of its pass, so each
    row's p99 was one draw of that phase: the same code's twin measured 29.6, 29.4 and
    17.4 s in three runs. Spread, every phase is met and the p99 is the design's.
    """
    account = LogsAccount()
    return [
        Scenario(
            LOGS,
            "ours",
            n,
            interval,
            duration,
            print_log=print_log,
            logs=account,
            end_spread=interval,
        )
        for print_log in (True, False)
    ]


def account_scenarios() -> list[Scenario]:
    """Real accounts, polled every 10 s, with the account's ListTrainingJobs at 2/s.

    Durations, so that the passes the targets speak of are in steady state while jobs run:

    - history, N=1,000: 10 pages, one 10 s pass per interval; 60 s jobs see six passes.
    - history, N=10,000: 100 pages, a pass of about 100 s at our List share of 1/s; the
      jobs are created over a minute or more, so 300 s jobs see two or three full passes
      after the last job exists before any ends.
    - old watched, N=1,000: 200 pages of newer jobs lie in front of the watched ones; a
      first pass, not knowing the jobs' ages, pages until paging stops paying (about 110
      pages; 130 s from the triggers' start in a trial run) before they learn to describe
      their own jobs. 240 s jobs outlive it by ten intervals, with room for a slower
      machine, so the p99 measures that steady state.
    """
    history = Account(history=50_000, list_rate=2.0)
    older = Account(newer=20 * 1000, list_rate=2.0)
    return [
        Scenario(HISTORY, "ours", 1000, interval=10, duration=60, account=history),
        Scenario(HISTORY, "amazon", 1000, interval=10, duration=60, account=history),
        Scenario(HISTORY, "ours", 10000, interval=10, duration=300, account=history),
        Scenario(OLDWATCHED, "ours", 1000, interval=10, duration=240, account=older),
        Scenario(OLDWATCHED, "amazon", 1000, interval=10, duration=240, account=older),
        # The sweep sends no time filter, so the reading should not matter: this shows it.
        Scenario(
            OLDWATCHED,
            "ours",
            1000,
            interval=10,
            duration=240,
            account=Account(newer=20 * 1000, list_rate=2.0, time_filters="before_page"),
        ),
    ]


def quick_run() -> list[Scenario]:
    """A smoke run of every code path in about seven minutes; the sizes are too small for the
    targets to mean much.

    The old-watched rows keep the full run's 20 newer jobs per watched one and its 10 s
    interval: at N=200 the 40 pages of newer jobs lie past the point where paging pays
    (about 29 pages), as at N=1,000, so the describe fallback runs (at a 3 s interval the
    sweep would page down to the watched jobs instead).
    """
    curve = [
        Scenario(CURVE, impl, n, interval=2, duration=6)
        for n in (10, 30)
        for impl in ("ours", "amazon")
    ]
    history = Account(history=2000, list_rate=2.0)
    older = Account(newer=20 * 200, list_rate=2.0)
    return [
        *curve,
        Scenario(SCALE, "ours", 60, interval=2, duration=6),
        Scenario(FLOOR, "bare", 60, interval=2, duration=6),
        Scenario(HUGE, "ours", 200, interval=3, duration=6),
        Scenario(FLOOR, "idle", 200, interval=3, duration=6),
        Scenario(FLOOR, "ours", 200, interval=3, duration=6, freeze_after_start=True),
        Scenario(STORM, "ours", 40, interval=1, duration=16, storm=Storm(start=4, length=5)),
        *logs_pair(30, interval=2, duration=8),
        Scenario(HISTORY, "ours", 60, interval=3, duration=12, account=history),
        Scenario(HISTORY, "amazon", 60, interval=3, duration=12, account=history),
        Scenario(HISTORY, "ours", 200, interval=3, duration=12, account=history),
        Scenario(OLDWATCHED, "ours", 200, interval=10, duration=50, account=older),
        Scenario(OLDWATCHED, "amazon", 200, interval=10, duration=50, account=older),
        Scenario(
            OLDWATCHED,
            "ours",
            200,
            interval=10,
            duration=50,
            account=Account(newer=20 * 200, list_rate=2.0, time_filters="before_page"),
        ),
    ]
