"""The results table (printed), the JSON file and the plot of RSS and CPU against N."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from scenarios import CURVE, LOGS, OLDWATCHED, SCALE
from targets import Check

Summary = dict[str, Any]

_COLUMNS = (
    ("scenario", "{scenario}"),
    ("ok", "{succeeded}/{n}"),
    ("int/dur", "{interval:g}/{duration:g}s"),
    ("RSS+ MB", "{rss_growth_mb:.1f}"),
    ("CPU s", "{cpu_seconds:.2f}"),
    ("ms/poll", "{cpu_ms_per_poll}"),
    ("ms/job", "{cpu_ms_per_job:.1f}"),
    ("describes/lists", "{describes}/{list_calls}"),
    ("polls/job min/med/max (exp)", "{polls}"),
    ("in 10%", "{polls_within_10pct}"),
    ("on sched", "{polls_on_schedule}"),
    ("lag max s", "{lag_max_s:.3f}"),
    ("lag no-GC s", "{lag_outside_gc}"),
    ("full GCs (max s)", "{full_gcs}"),
    ("evt p50 s", "{latency_p50_s}"),
    ("evt p99 s", "{latency_p99_s}"),
    ("req/job/int", "{requests_per_job_interval}"),
    ("list thr", "{list_throttled}"),
    ("wall s", "{wall_seconds:.0f}"),
)


def _row(summary: Summary) -> list[str]:
    values = dict(summary)
    values["cpu_ms_per_poll"] = _num(summary["cpu_ms_per_poll"], 3)
    values.setdefault("list_calls", 0)
    values["lag_outside_gc"] = _num(summary.get("lag_max_outside_full_gc_s"), 3)
    values["full_gcs"] = f"{summary.get('gc_full_count')} ({_num(summary.get('gc_full_max_s'), 2)})"
    values["latency_p50_s"] = _num(summary["latency_p50_s"], 2)
    values["latency_p99_s"] = _num(summary["latency_p99_s"], 2)
    values["requests_per_job_interval"] = _num(summary.get("requests_per_job_interval"), 3)
    fraction = summary.get("list_throttled_fraction")
    values["list_throttled"] = "-" if fraction is None else f"{fraction:.1%}"
    values["polls"] = (
        f"{summary['polls_min']}/{summary['polls_median']:g}/{summary['polls_max']}"
        f" ({summary['expected_polls']})"
    )
    return [template.format(**values) for _, template in _COLUMNS]


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(summaries: list[Summary]) -> str:
    """A plain-text table, one row per scenario."""
    header = [title for title, _ in _COLUMNS]
    rows = [header, *(_row(s) for s in summaries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def storm_lines(summaries: list[Summary]) -> list[str]:
    """Describe rates around each throttling storm (received, and served where known)."""
    lines = []
    for summary in summaries:
        storm = summary.get("storm")
        if not storm:
            continue
        if not storm.get("applied"):
            lines.append(f"{summary['scenario']}: the storm was not applied")
            continue
        parts = [
            f"{label} {_num(storm[label], 1)} req/s (served {_num(storm[f'{label}_served'], 1)})"
            for label in ("before", "during", "after")
        ]
        lines.append(f"{summary['scenario']} polling request rate: " + ", ".join(parts))
        lines.append(f"  simulator fault counters: {storm.get('faults')}")
    return lines


def call_lines(summaries: list[Summary]) -> list[str]:
    """What log tailing adds: every operation the simulator received in those scenarios."""
    lines = []
    for summary in summaries:
        if summary.get("print_log"):
            calls = summary.get("calls_by_operation") or {}
            listed = ", ".join(f"{op} {count}" for op, count in sorted(calls.items()))
            lines.append(f"{summary['scenario']} (print_log=True) calls received: {listed}")
    return lines


_TAIL_COLUMNS = (
    "scenario",
    "print_log",
    "FLE/s run (thr)",
    "FLE/s all (thr)",
    "DLS/s all (thr)",
    "AddTags/s",
    "line delay p50/p99 s",
    "lost",
    "dups",
    "evt p99 s",
)


def log_tail_lines(summaries: list[Summary]) -> list[str]:
    """The ``logs`` rows side by side: CloudWatch Logs requests a second (FilterLogEvents
    while the jobs run and over the whole scenario, DescribeLogStreams over the whole, with
    the throttled ones), cursor writes a second, line delays, lines lost and shown twice,
    and the status events' p99; then where the lines came from."""
    rows = [s for s in summaries if s["kind"] == LOGS]
    if not rows:
        return []
    cells = [list(_TAIL_COLUMNS), *(_tail_row(s) for s in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_TAIL_COLUMNS))]
    lines = ["", "log tail (CloudWatch Logs limited, empty pages on):"]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    for summary in rows:
        lines += _tail_details(summary)
    return lines


def _tail_row(summary: Summary) -> list[str]:
    rates = summary.get("logs_rates") or {}
    p50, p99 = summary.get("line_delay_p50_s"), summary.get("line_delay_p99_s")
    return [
        summary["scenario"],
        str(summary["print_log"]),
        _op_rate(rates.get("run"), "FilterLogEvents"),
        _op_rate(rates.get("all"), "FilterLogEvents"),
        _op_rate(rates.get("all"), "DescribeLogStreams"),
        _num(summary.get("add_tags_per_s"), 3),
        "-" if p50 is None else f"{p50:.1f}/{_num(p99, 1)}",
        str(summary.get("lines_lost", "-")),
        str(summary.get("lines_duplicated", "-")),
        _num(summary["latency_p99_s"], 2),
    ]


def _op_rate(rates: dict[str, Any] | None, operation: str) -> str:
    rate = (rates or {}).get(operation) or {}
    received, throttled = rate.get("received"), rate.get("throttled")
    return f"{_num(received, 2)} ({_num(throttled, 2)})"


def _tail_details(summary: Summary) -> list[str]:
    calls = summary.get("logs_calls") or {}
    totals = ", ".join(
        f"{op} {c['received']} ({c['throttled']} throttled)" for op, c in sorted(calls.items())
    )
    lines = [f"  {summary['scenario']}: Logs requests from the triggers' start: {totals or '-'};"]
    lines[-1] += f" AddTags {summary.get('add_tags')}"
    if summary.get("lines_held") is None:
        return lines
    lines.append(
        f"    lines: {summary['lines_held']} held, {summary['lines_by_trigger']} first shown by"
        f" the trigger, {summary['lines_by_task']} by the resumed task, {summary['lines_lost']}"
        f" lost ({summary['jobs_losing_lines']} jobs), {summary['lines_duplicated']} shown"
        f" again, {summary['lines_unknown']} unknown; delay max"
        f" {_num(summary.get('line_delay_max_s'), 1)} s"
    )
    lines.append(
        f"    resumed tasks: {summary.get('resumed')} ({summary.get('resumed_unfinished')}"
        f" unfinished, {summary.get('resume_failures')} crashed), event to task end p50/p99"
        f" {_num(summary.get('resume_p50_s'), 1)}/{_num(summary.get('resume_p99_s'), 1)} s;"
        f" last event {_num(summary.get('last_event_s'), 0)} s and last hand-over"
        f" {_num(summary.get('handover_done_s'), 0)} s after the start;"
        f" 'Could not read the logs' in {summary.get('tail_warnings') or 'no task'}"
    )
    return lines


def account_lines(summaries: list[Summary]) -> list[str]:
    """How each real account was set up, and what listing it cost."""
    lines = []
    for summary in summaries:
        account = summary.get("account")
        if not account:
            continue
        held = []
        if account["history"]:
            held.append(f"{account['history']} older finished jobs")
        if account["newer"]:
            held.append(f"{account['newer']} newer jobs of other teams")
        rate = account["list_rate"]
        reading = (summary.get("listing") or {}).get("time_filters", account["time_filters"])
        share = summary.get("list_share")
        lines.append(
            f"{summary['scenario']}: account with {', '.join(held) or 'no other jobs'};"
            f" ListTrainingJobs limited to {'none' if rate is None else f'{rate:g}/s'},"
            f" time filters {reading}" + ("" if share is None else f"; our List share {share:g}/s")
        )
        throttled = summary.get("list_throttled")
        lines.append(
            f"  {summary['describes']} describes + {summary['list_calls']} lists"
            f" ({'no limit' if throttled is None else f'{throttled} throttled'})"
            f" = {_num(summary.get('requests_per_job_interval'), 4)} per job per interval;"
            f" first read p50/p99 {_num(summary.get('first_read_p50_s'), 1)}/"
            f"{_num(summary.get('first_read_p99_s'), 1)} s after the trigger could start"
        )
    return lines


def side_by_side_lines(summaries: list[Summary]) -> list[str]:
    """Old watched jobs: requests per job per interval of ours and amazon's, per N (a
    reported figure, not a target)."""
    by_n: dict[int, list[Summary]] = {}
    for summary in summaries:
        if summary["kind"] == OLDWATCHED:
            by_n.setdefault(summary["n"], []).append(summary)
    lines = []
    for n, rows in sorted(by_n.items()):
        parts = [
            f"{_variant(s)} {_num(s.get('requests_per_job_interval'), 3)}"
            f" (p99 {_num(s['latency_p99_s'], 1)} s, {s['succeeded']}/{s['n']} succeeded)"
            for s in rows
        ]
        lines.append(f"old watched N={n}, requests per job per interval: " + "; ".join(parts))
    return lines


def _variant(summary: Summary) -> str:
    reading = (summary.get("account") or {}).get("time_filters", "after_page")
    return summary["impl"] if reading == "after_page" else f"{summary['impl']} ({reading})"


def check_lines(checks: list[Check]) -> list[str]:
    width = max((len(c.scenario) for c in checks), default=0)
    return [
        f"{'PASS' if c.passed else 'FAIL'}  {c.scenario:<{width}}  {c.target}: {c.measured}"
        for c in checks
    ]


def write_json(path: Path, payload: dict[str, Any]) -> None:
    # allow_nan=False: a NaN would make the file unreadable for strict JSON parsers.
    path.write_text(json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def plot(path: Path, summaries: list[Summary]) -> bool:
    """RSS growth and CPU seconds against N, both implementations, at the curve's interval
    and duration; returns False when there is nothing to draw."""
    series = _series(summaries)
    if not series:
        return False  # before the import: a run of other scenarios needs no matplotlib
    import matplotlib

    matplotlib.use("Agg")  # no display on a CI machine
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    panels = (("rss_growth_mb", "RSS growth (MB)"), ("cpu_seconds", "CPU time, user+sys (s)"))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for impl, points in sorted(series.items()):
            ns = [p["n"] for p in points]
            # Log scale: the implementations differ by more than an order of magnitude.
            values = [max(p[key], 0.1) for p in points]
            ax.plot(ns, values, marker="o", label=impl)
            for n, value in zip(ns, values, strict=True):
                ax.annotate(
                    f"{value:.1f}",
                    (n, value),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=8,
                )
        ax.set_yscale("log")
        ax.margins(y=0.12)  # room for the value labels above the top points
        ax.yaxis.set_major_formatter(FuncFormatter(_tick))
        ax.yaxis.set_minor_formatter(FuncFormatter(_tick))
        ax.set_xlabel("concurrent triggers (N)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    first = next(iter(series.values()))[0]
    fig.suptitle(
        f"One event loop, jobs {first['duration']:g}s long, polled every {first['interval']:g}s"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _tick(value: float, _: object) -> str:
    """Plain numbers at 1, 2 and 5 times a power of ten; no label in between."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
    return f"{value:g}" if mantissa in (1, 2, 5) else ""


def _series(summaries: list[Summary]) -> dict[str, list[Summary]]:
    """Points per implementation: the curve scenarios, and the scale one where it polls the
    same way (same interval and duration, no log tailing)."""
    curve = [s for s in summaries if s["kind"] == CURVE]
    if not curve:
        return {}
    shape = (curve[0]["interval"], curve[0]["duration"])
    series: dict[str, list[Summary]] = {}
    for s in summaries:
        comparable = s["kind"] in (CURVE, SCALE) and (s["interval"], s["duration"]) == shape
        if comparable and not s.get("aborted"):
            series.setdefault(s["impl"], []).append(s)
    return {impl: sorted(points, key=lambda p: p["n"]) for impl, points in series.items()}
