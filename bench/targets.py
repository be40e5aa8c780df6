"""The issue's targets, checked against measured summaries (nothing here is hard-coded pass)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scenarios import CURVE, HUGE, SCALE, STORM

Summary = dict[str, Any]


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
    checks = _compare(summaries)
    per_kind: dict[str, Callable[[Summary], list[Check]]] = {
        SCALE: _scale,
        HUGE: _huge,
        STORM: _storm,
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
    ours, amazon = by_key[("ours", n)], by_key[("amazon", n)]
    label = f"compare N={n}"
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


def _lag(summary: Summary, label: str) -> Check:
    lag = summary["lag_max_s"]
    measured = f"{lag:.3f} s"
    if summary.get("gc_full_count") is not None:
        measured += (
            f" ({summary['lag_max_outside_full_gc_s']:.3f} s outside the"
            f" {summary['gc_full_count']} full GCs, longest {summary['gc_full_max_s']:.3f} s)"
        )
    return Check(label, "max loop lag < 0.2 s", measured, lag < 0.2)


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
