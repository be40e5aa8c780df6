"""The issue's targets, checked against measured summaries (nothing here is hard-coded pass)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scenarios import CURVE, HISTORY, HUGE, LOGS, OLDWATCHED, SCALE, STORM

from sagemaker_async.coverage import PAGE_SIZE
from sagemaker_async.listshare import DEFAULT_LIST_SHARE

Summary = dict[str, Any]
#: Most requests (describes and lists) per job per interval while jobs run, with history.
MAX_REQUESTS_PER_JOB_INTERVAL = 0.1
#: Largest share of the account's list calls that its limit may refuse.
MAX_LIST_THROTTLED = 0.05
#: How far the tailing row's completion-to-event p99 may be from its twin's without tailing.
MAX_TAIL_LATENCY_CHANGE = 0.10


@dataclass(frozen=True)
class Check:
    """One target: what it asks, what was measured, and whether that meets it."""

    scenario: str
    target: str
    measured: str
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "target": self.target,
            "measured": self.measured,
            "passed": self.passed,
        }


def check_all(summaries: list[Summary]) -> list[Check]:
    """Every target that the scenarios measured can be checked against."""
    checks = [*_compare(summaries), *_compare_history(summaries), *_log_tail(summaries)]
    per_kind: dict[str, Callable[[Summary], list[Check]]] = {
        SCALE: _scale,
        HUGE: _huge,
        STORM: _storm,
        HISTORY: _history,
        OLDWATCHED: _oldwatched,
    }
    for summary in summaries:
        rule = per_kind.get(summary["kind"])
        if rule is not None:
            checks.extend(rule(summary))
    return checks


def _ratio(numerator: float, denominator: float) -> float:
    # Our growth can be ~0 (or slightly negative, as freed memory is returned): then the
    # ratio is as large as it gets.
    return numerator / denominator if denominator > 0 else float("inf")


def _compare(summaries: list[Summary]) -> list[Check]:
    """Ours vs amazon at the largest N both ran."""
    curve = [s for s in summaries if s["kind"] == CURVE]
    by_key = {(s["impl"], s["n"]): s for s in curve}
    common = sorted({n for impl, n in by_key if impl == "ours" and ("amazon", n) in by_key})
    if not common:
        return []
    n = common[-1]
    return _ratios(by_key[("ours", n)], by_key[("amazon", n)], f"compare N={n}")


def _compare_history(summaries: list[Summary]) -> list[Check]:
    """Ours vs amazon on an account with history, at every N both ran: the same ratios as
    on an empty account (the issue: no worse than today)."""
    history = [s for s in summaries if s["kind"] == HISTORY and not s.get("aborted")]
    by_key = {(s["impl"], s["n"]): s for s in history}
    checks = []
    for impl, n in sorted(by_key):
        if impl == "ours" and ("amazon", n) in by_key:
            label = f"history compare N={n}"
            checks += _ratios(by_key[("ours", n)], by_key[("amazon", n)], label)
    return checks


def _log_tail(summaries: list[Summary]) -> list[Check]:
    """Each tailing ``logs`` row against its twin without tailing (same N, interval and
    account): no line lost, and the status events as fresh as without the tail."""
    rows = [s for s in summaries if s["kind"] == LOGS and not s.get("aborted")]
    twins = {(s["n"], s["interval"]): s for s in rows if not s["print_log"]}
    checks = []
    for tailing in (s for s in rows if s["print_log"]):
        label = f"log tail N={tailing['n']}"
        checks += [_valid(tailing, label), _lines_lost(tailing, label)]
        twin = twins.get((tailing["n"], tailing["interval"]))
        if twin is not None:
            checks += [_valid(twin, label), _latency_unchanged(tailing, twin, label)]
    return checks


def _lines_lost(summary: Summary, label: str) -> Check:
    lost = summary.get("lines_lost")
    measured = (
        "lines not read"
        if lost is None
        else f"{lost} of {summary['lines_held']} lines ({summary['jobs_losing_lines']} jobs)"
    )
    return Check(label, "no log line lost", measured, lost == 0)


def _latency_unchanged(tailing: Summary, twin: Summary, label: str) -> Check:
    """The tail's requests go through a client of their own and a share of their own: the
    status events must not wait for them."""
    ours, theirs = tailing["latency_p99_s"], twin["latency_p99_s"]
    within = (
        ours is not None
        and theirs is not None
        and abs(ours - theirs) <= MAX_TAIL_LATENCY_CHANGE * theirs
    )
    measured = f"{_fmt(ours)} s vs {_fmt(theirs)} s without tailing"
    if ours is not None and theirs:
        measured += f" ({(ours - theirs) / theirs:+.1%})"
    return Check(
        label,
        f"completion-to-event p99 within {MAX_TAIL_LATENCY_CHANGE:.0%} of the twin's"
        " (print_log=False)",
        measured,
        within,
    )


def _ratios(ours: Summary, amazon: Summary, label: str) -> list[Check]:
    rss = _ratio(amazon["rss_growth_mb"], ours["rss_growth_mb"])
    cpu = _ratio(amazon["cpu_seconds"], ours["cpu_seconds"])
    return [
        _valid(ours, label),
        _valid(amazon, label),
        Check(
            label,
            "RSS growth >= 20x smaller than amazon's",
            f"{ours['rss_growth_mb']:.1f} vs {amazon['rss_growth_mb']:.1f} MB = {rss:.1f}x",
            rss >= 20,
        ),
        Check(
            label,
            "CPU >= 10x smaller than amazon's",
            f"{ours['cpu_seconds']:.2f} vs {amazon['cpu_seconds']:.2f} s = {cpu:.1f}x",
            cpu >= 10,
        ),
    ]


def _valid(summary: Summary, label: str) -> Check:
    """Numbers only mean something if the triggers did their job."""
    return Check(
        label,
        f"{summary['impl']}: every trigger fired success",
        f"{summary['succeeded']}/{summary['n']} {summary['statuses']}",
        summary["succeeded"] == summary["n"],
    )


def _lag(summary: Summary, label: str, limit: float = 0.2) -> Check:
    lag = summary["lag_max_s"]
    measured = f"{lag:.3f} s"
    if summary.get("gc_full_count") is not None:
        measured += (
            f" ({summary['lag_max_outside_full_gc_s']:.3f} s outside the"
            f" {summary['gc_full_count']} full GCs, longest {summary['gc_full_max_s']:.3f} s)"
        )
    return Check(label, f"max loop lag < {limit:g} s", measured, lag < limit)


def _rss(summary: Summary, label: str, limit_mb: float) -> Check:
    rss = summary["rss_growth_mb"]
    return Check(label, f"RSS growth < {limit_mb:.0f} MB", f"{rss:.1f} MB", rss < limit_mb)


def _scale(summary: Summary) -> list[Check]:
    label = f"scale N={summary['n']}"
    per_poll = summary["cpu_ms_per_poll"]
    latency = summary["latency_p99_s"]
    bound = summary["interval"] + 2
    on_schedule, n = summary["polls_on_schedule"], summary["n"]
    return [
        _valid(summary, label),
        _rss(summary, label, 50),
        Check(
            label,
            "CPU < 1 ms per poll",
            "n/a" if per_poll is None else f"{per_poll:.2f} ms",
            per_poll is not None and per_poll < 1,
        ),
        _lag(summary, label),
        Check(
            label,
            "every job polled within 10% of the count its first poll implies",
            f"{on_schedule}/{n} ({summary['polls_within_10pct']}/{n} at"
            f" {summary['expected_polls']}; min {summary['polls_min']},"
            f" max {summary['polls_max']})",
            on_schedule == n,
        ),
        Check(
            label,
            f"completion-to-event p99 < {bound:g} s",
            "n/a" if latency is None else f"{latency:.2f} s",
            latency is not None and latency < bound,
        ),
    ]


def _huge(summary: Summary) -> list[Check]:
    label = f"huge N={summary['n']}"
    return [_valid(summary, label), _rss(summary, label, 300), _lag(summary, label)]


def _history(summary: Summary) -> list[Check]:
    """Ours on an account with history (amazon's row is judged by the ratios only)."""
    if summary["impl"] != "ours":
        return []
    label = f"history N={summary['n']}"
    per_interval = summary["requests_per_job_interval"]
    return [
        _valid(summary, label),
        _freshness(summary, label, history_latency_bound(summary)),
        Check(
            label,
            f"<= {MAX_REQUESTS_PER_JOB_INTERVAL:g} requests per job per interval",
            f"{per_interval:.4f} ({summary['describes']} describes + {summary['list_calls']}"
            " lists)",
            per_interval <= MAX_REQUESTS_PER_JOB_INTERVAL,
        ),
        _list_throttling(summary, label),
        _lag(summary, label, 0.2 if summary["n"] <= 1000 else 0.5),
    ]


def history_latency_bound(summary: Summary) -> float:
    """2 x interval while one pass fits in an interval; beyond, where the List share bounds
    freshness, interval + 1.5 x the pass time the share allows (N=10,000 at 1 request a
    second: 100 pages, 10 + 1.5 x 100 = 160 s)."""
    interval = float(summary["interval"])
    share = summary.get("list_share") or DEFAULT_LIST_SHARE
    pass_seconds = math.ceil(summary["n"] / PAGE_SIZE) / share
    return 2 * interval if pass_seconds <= interval else interval + 1.5 * pass_seconds


def _oldwatched(summary: Summary) -> list[Check]:
    """Ours when the watched jobs lie behind newer jobs of other teams; the requests per job
    per interval of both implementations are reported beside each other, not judged."""
    if summary["impl"] != "ours":
        return []
    label = f"{summary['kind']} N={summary['n']}"
    reading = (summary.get("account") or {}).get("time_filters", "after_page")
    if reading != "after_page":
        label += f" ({reading})"
    return [_valid(summary, label), _freshness(summary, label, 2 * summary["interval"])]


def _freshness(summary: Summary, label: str, bound: float) -> Check:
    latency = summary["latency_p99_s"]
    return Check(
        label,
        f"completion-to-event p99 <= {bound:g} s",
        "n/a" if latency is None else f"{latency:.2f} s",
        latency is not None and latency <= bound,
    )


def _list_throttling(summary: Summary, label: str) -> Check:
    fraction = summary.get("list_throttled_fraction")
    if summary.get("list_throttled") is None:
        measured = "no limit was set"
    elif fraction is None:
        measured = "no list call"
    else:
        total = summary["list_allowed"] + summary["list_throttled"]
        measured = f"{fraction:.1%} ({summary['list_throttled']} of {total})"
    return Check(
        label,
        f"< {MAX_LIST_THROTTLED:.0%} of list calls throttled",
        measured,
        summary.get("list_throttled") is not None
        and (fraction is None or fraction < MAX_LIST_THROTTLED),
    )


def _storm(summary: Summary) -> list[Check]:
    label = f"storm N={summary['n']}"
    storm = summary.get("storm") or {}
    before, during = storm.get("before"), storm.get("during")
    measured = (
        "storm not applied"
        if not storm.get("applied")
        else f"{_fmt(before)} -> {_fmt(during)} -> {_fmt(storm.get('after'))} req/s"
    )
    slower = before is not None and during is not None and during < before
    return [
        _valid(summary, label),
        Check(label, "polling request rate during storm < before", measured, slower),
    ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
