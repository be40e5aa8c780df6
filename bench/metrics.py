"""From a worker's raw result and the simulator's counters to the numbers the report shows."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from probes import percentile
from scenarios import Scenario

MB = 1024 * 1024
DESCRIBE = "DescribeTrainingJob"
LIST = "ListTrainingJobs"
#: The operations that read a job's status: a poll is a describe that names the job, or a
#: ListTrainingJobs answer that includes it (the simulator counts both per job).
POLLING = (DESCRIBE, LIST)
#: The log tail's SageMaker write: its cursor saves (tag ``airflow:log-cursor``).
ADD_TAGS = "AddTags"
#: The CloudWatch Logs operations the account limits in the ``logs`` scenarios: the tail's
#: reads (trigger and resumed task), and the resumed task's last-lines recap.
FILTER, DESCRIBE_STREAMS, GET_EVENTS = "FilterLogEvents", "DescribeLogStreams", "GetLogEvents"
LOGS_OPERATIONS = (FILTER, DESCRIBE_STREAMS, GET_EVENTS)
#: Seconds a first poll may come after one interval from the job's creation: the job is
#: handed to the worker once its batch exists, and the trigger's start-up takes a moment.
FIRST_POLL_SLACK = 2.0


def summarize(scenario: Scenario, result: dict[str, Any]) -> dict[str, Any]:
    """The per-scenario numbers; raw per-job data stays out (it is large at 10k triggers)."""
    jobs = {job["name"]: job for job in result["jobs"]}
    events: dict[str, list[Any]] = result["events"]
    statuses = Counter(status for status, _, _ in events.values())
    polls = [_polls(jobs.get(name)) for name in events]
    total = sum(polls)
    calls = result.get("calls_by_operation", {})
    latencies = _latencies(scenario, events, jobs)
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "kind": scenario.kind,
        "impl": scenario.impl,
        "n": scenario.n,
        "interval": scenario.interval,
        "duration": scenario.duration,
        "print_log": scenario.print_log,
        "statuses": dict(statuses),
        "succeeded": statuses.get("success", 0),
        "rss_growth_mb": result["rss_growth"] / MB,
        "rss_baseline_mb": result["rss_baseline"] / MB,
        "rss_kb_per_trigger": result["rss_growth"] / 1024 / scenario.n,
        "cpu_seconds": result["cpu_seconds"],
        "polls": total,
        "describes": int(calls.get(DESCRIBE, 0)),
        "list_calls": int(calls.get(LIST, 0)),
        "cpu_ms_per_poll": 1000 * result["cpu_seconds"] / total if total else None,
        "cpu_ms_per_job": 1000 * result["cpu_seconds"] / scenario.n,
        "requests_per_job": (calls.get(DESCRIBE, 0) + calls.get(LIST, 0)) / scenario.n,
        "expected_polls": scenario.expected_polls,
        "polls_min": min(polls, default=0),
        "polls_median": percentile([float(p) for p in polls], 0.5),
        "polls_max": max(polls, default=0),
        "polls_within_10pct": sum(_within(p, scenario.expected_polls) for p in polls),
        "polls_on_schedule": sum(
            _on_schedule(scenario, jobs.get(name), polls[i]) for i, name in enumerate(events)
        ),
        "lag_max_s": result["lag_max"],
        "lag_p99_s": result["lag_p99"],
        "lag_max_outside_full_gc_s": result.get("lag_max_outside_full_gc"),
        "gc_full_count": result.get("gc_full_count"),
        "gc_full_max_s": result.get("gc_full_max"),
        "gc_young_max_s": result.get("gc_young_max"),
        "latency_p50_s": percentile(latencies, 0.5) if latencies else None,
        "latency_p99_s": percentile(latencies, 0.99) if latencies else None,
        "latency_max_s": max(latencies) if latencies else None,
        "wall_seconds": result["wall_seconds"],
        "creation_seconds": result["creation_seconds"],
        "aborted": result.get("aborted"),
        "log": result.get("log"),
        "sample_failure": _first_failure(events),
        "calls_by_operation": result.get("calls_by_operation", {}),
    }
    if scenario.storm is not None:
        summary["storm"] = storm_rates(scenario, result)
    summary.update(account_figures(scenario, result, jobs))
    if scenario.logs is not None:
        summary.update(log_tail_figures(scenario, result, jobs))
    return summary


def account_figures(
    scenario: Scenario, result: dict[str, Any], jobs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What the real-account scenarios are judged on, for every scenario alike.

    Requests per job per interval: every describe and list call the simulator received in
    the scenario, per job, per interval of the jobs' run (duration / interval of them).
    Throttled list calls: the share of ListTrainingJobs calls the account's limit refused.
    First read: from when a job's trigger could start (its creation, or the triggers' start
    if that came later) to the job's first poll.
    """
    calls = result.get("calls_by_operation", {})
    requests = int(calls.get(DESCRIBE, 0)) + int(calls.get(LIST, 0))
    intervals = scenario.duration / scenario.interval
    limits = result.get("rate_limits") or {}
    allowed = int((limits.get("allowed") or {}).get(LIST, 0))
    throttled = int((limits.get("throttled") or {}).get(LIST, 0))
    limited = LIST in (limits.get("limits") or {})
    first_reads = _first_reads(jobs.values(), float(result.get("go_at") or 0.0))
    account = scenario.account
    return {
        "account": None if account is None else asdict(account),
        "listing": result.get("listing"),
        "list_share": (result.get("ready") or {}).get("list_share"),
        "requests_per_job_interval": requests / scenario.n / intervals,
        "list_allowed": allowed if limited else None,
        "list_throttled": throttled if limited else None,
        "list_throttled_fraction": (
            throttled / (allowed + throttled) if limited and allowed + throttled else None
        ),
        "first_read_p50_s": percentile(first_reads, 0.5) if first_reads else None,
        "first_read_p99_s": percentile(first_reads, 0.99) if first_reads else None,
    }


def _first_reads(jobs: Iterable[dict[str, Any]], go_at: float) -> list[float]:
    values = []
    for job in jobs:
        first = _first_poll(job)
        if first is not None:
            values.append(first - max(float(job["created_at"]), go_at))
    return values


def _polls(job: dict[str, Any] | None) -> int:
    """Status reads of one job: describes naming it plus list answers including it."""
    if job is None:
        return 0
    return int((job.get("calls") or {}).get(DESCRIBE, 0)) + int(job.get("listed") or 0)


def _first_poll(job: dict[str, Any]) -> float | None:
    reads = [job.get("first_calls", {}).get(DESCRIBE), job.get("first_listed")]
    known = [float(t) for t in reads if t is not None]
    return min(known, default=None)


def _within(polls: int, expected: int) -> bool:
    return abs(polls - expected) <= 0.1 * expected


def _on_schedule(scenario: Scenario, job: dict[str, Any] | None, polls: int) -> bool:
    """Whether the first poll came within an interval of the job's creation (plus a little
    slack), and ``polls`` is within 10% of what a trigger polling every interval from that
    first poll makes until it sees the job finished.

    A trigger's first poll falls at a random point of its first interval (jitter), so the
    count a job gets depends on that phase: a first poll late in the interval can leave one
    poll fewer before the job ends. Measured from the job's own first poll, a lost or late
    poll still shows. Each poll starts an interval after the previous answer, so a poll
    that was due just before the job ended may land just after it (the loop's lateness, a
    full garbage collection among it): both counts are accepted when the job ended within
    5% of an interval after a due poll.
    """
    first = None if job is None else _first_poll(job)
    if job is None or first is None:
        return False
    if float(first) > float(job["created_at"]) + scenario.interval + FIRST_POLL_SLACK:
        return False  # the first poll itself came late
    periods = max(0.0, (completion_time(job, scenario.duration) - float(first)) / scenario.interval)
    fewest, most = 1 + math.ceil(periods - 0.05), 1 + math.ceil(periods + 0.05)
    return fewest - 0.1 * most <= polls <= most * 1.1


def completion_time(job: dict[str, Any], duration: float) -> float:
    """When the job ended: the simulator's own end time if it reports one, else the plan."""
    for key in ("end_time", "ended_at", "training_end_time"):
        if job.get(key) is not None:
            return float(job[key])
    return float(job["created_at"]) + duration


def _latencies(
    scenario: Scenario, events: dict[str, list[Any]], jobs: dict[str, dict[str, Any]]
) -> list[float]:
    """Seconds from each job's completion to its trigger's event (successful ones only)."""
    values = []
    for name, (status, fired, _) in events.items():
        job = jobs.get(name)
        if status == "success" and fired is not None and job is not None:
            values.append(float(fired) - completion_time(job, scenario.duration))
    return values


def _first_failure(events: dict[str, list[Any]]) -> str | None:
    for name, (status, _, message) in events.items():
        if status != "success":
            return f"{name}: {status}: {message}"
    return None


def storm_rates(scenario: Scenario, result: dict[str, Any]) -> dict[str, Any]:
    """Polling requests (describes and list pages) per second before, during and after the
    throttling window.

    "After" ends when the first job completes: from then on triggers finish and the rate
    falls for a reason that has nothing to do with the storm.
    """
    window = result.get("storm_window")
    samples = result["call_samples"]
    if not window or len(samples) < 2:
        return {"applied": False}
    go, (on, off) = result["go_at"], window
    first_end = min(
        (completion_time(job, scenario.duration) for job in result["jobs"]), default=off
    )
    out: dict[str, Any] = {"applied": True, "faults": result.get("fault_counters", {})}
    for label, start, end in (("before", go, on), ("during", on, off), ("after", off, first_end)):
        out[label] = _rate(samples, start, end, index=1)
        out[f"{label}_served"] = _rate(samples, start, end, index=2)
    return out


def _rate(
    samples: list[list[Any]], start: float, end: float, index: int, key: str | None = None
) -> float | None:
    """Requests per second between the samples nearest ``start`` and ``end``; ``key``
    picks an operation's count where the sample holds ``{operation: n}`` at ``index``."""
    inside = [s for s in samples if start - 0.5 <= s[0] <= end + 0.5 and s[index] is not None]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    span = float(inside[-1][0]) - float(inside[0][0])
    first, last = inside[0][index], inside[-1][index]
    if key is not None:
        first, last = first.get(key, 0), last.get(key, 0)
    return float(last - first) / span


def log_tail_figures(
    scenario: Scenario, result: dict[str, Any], jobs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What the ``logs`` scenarios are judged on: the requests the tail costs and how its
    lines fare (see ``line_figures``)."""
    samples = result.get("call_samples") or []
    go = float(result["go_at"])
    fired = [float(f) for _, f, _ in result["events"].values() if f is not None]
    last_event = max(fired, default=go)
    handover = result.get("handover") or {}
    done = float(handover.get("done_at") or last_event)
    # While the jobs run only the triggers read logs; from the first end on, resumed tasks
    # add their hand-overs, until the last one is done.
    first_end = min((completion_time(j, scenario.duration) for j in jobs.values()), default=go)
    windows = {"run": (go, first_end), "end": (first_end, done), "all": (go, done)}
    figures: dict[str, Any] = {
        "logs_account": asdict(scenario.logs) if scenario.logs else None,
        "logs_windows": {label: [start, end] for label, (start, end) in windows.items()},
        "logs_rates": {
            label: _logs_rates(samples, start, end) for label, (start, end) in windows.items()
        },
        "logs_calls": _logs_totals(samples),
        "add_tags": _add_tags(samples, go, last_event),
        "add_tags_per_s": _rate(samples, go, last_event, index=5),
        "last_event_s": last_event - go,
        "handover_done_s": done - go,
    }
    figures.update(line_figures(result))
    figures.update(handover_figures(handover))
    return figures


def _logs_rates(samples: list[list[Any]], start: float, end: float) -> dict[str, Any]:
    """Per operation, requests received per second and throttled per second (received but
    not served) in the window."""
    rates: dict[str, Any] = {}
    for operation in LOGS_OPERATIONS:
        received = _rate(samples, start, end, index=3, key=operation)
        served = _rate(samples, start, end, index=4, key=operation)
        throttled = None if received is None or served is None else received - served
        rates[operation] = {"received": received, "throttled": throttled}
    return rates


def _logs_totals(samples: list[list[Any]]) -> dict[str, dict[str, int]]:
    """Per operation, requests received and served from the triggers' start on (the
    worker's warm-up read logs before)."""
    if not samples:
        return {}
    first, last = samples[0], samples[-1]
    totals = {}
    for operation in LOGS_OPERATIONS:
        received = int(last[3].get(operation, 0)) - int(first[3].get(operation, 0))
        served = int(last[4].get(operation, 0)) - int(first[4].get(operation, 0))
        totals[operation] = {"received": received, "throttled": received - served}
    return totals


def _add_tags(samples: list[list[Any]], start: float, end: float) -> int | None:
    inside = [s for s in samples if start - 1.5 <= s[0] <= end + 1.5]
    return int(inside[-1][5] - inside[0][5]) if len(inside) >= 2 else None


def line_figures(result: dict[str, Any]) -> dict[str, Any]:
    """Every line the simulator holds for the scenario's jobs against the lines their task
    logs showed (the trigger's, then the resumed task's ``finish_logs``; the last-lines
    recap repeats lines on purpose and is left out).

    Delay: from the line's timestamp to when it was first logged. Lost: lines never shown.
    Duplicates: showings of a line after its first. Unknown: shown lines the simulator does
    not hold (a sanity check: 0).
    """
    held = result.get("sim_lines")
    if held is None:
        return {}
    by_trigger = ((result.get("shown") or {}).get("lines")) or {}
    by_task = ((result.get("handover") or {}).get("lines")) or {}
    delays: list[float] = []
    counts = Counter[str]()
    losing: set[str] = set()
    for job, lines in held.items():
        trigger_lines = (by_trigger.get(job) or {}).get("tail")
        shown = _merged(trigger_lines, (by_task.get(job) or {}).get("tail"))
        for text, stamp in lines:
            seen = shown.get(text)
            if seen is None:
                counts["lost"] += 1
                losing.add(job)
                continue
            delays.append(seen[0] - float(stamp))
            counts["by_trigger" if seen[2] else "by_task"] += 1
        texts = {text for text, _ in lines}
        counts["held"] += len(lines)
        counts["duplicates"] += sum(int(seen[1]) - 1 for seen in shown.values())
        counts["unknown"] += sum(1 for text in shown if text not in texts)
    return {
        "lines_held": counts["held"],
        "lines_shown": counts["by_trigger"] + counts["by_task"],
        "lines_by_trigger": counts["by_trigger"],
        "lines_by_task": counts["by_task"],
        "lines_lost": counts["lost"],
        "jobs_losing_lines": len(losing),
        "lines_duplicated": counts["duplicates"],
        "lines_unknown": counts["unknown"],
        "line_delay_p50_s": percentile(delays, 0.5) if delays else None,
        "line_delay_p99_s": percentile(delays, 0.99) if delays else None,
        "line_delay_max_s": max(delays) if delays else None,
        "tail_warnings": _warnings(result),
    }


def _merged(
    trigger: dict[str, list[float]] | None, task: dict[str, list[float]] | None
) -> dict[str, tuple[float, float, bool]]:
    """text -> (first time shown, times shown, whether the trigger showed it first)."""
    merged = {text: (float(t), float(n), True) for text, (t, n) in (trigger or {}).items()}
    for text, (t, n) in (task or {}).items():
        before = merged.get(text)
        if before is None:
            merged[text] = (float(t), float(n), False)
        else:
            first = min(before[0], float(t))
            merged[text] = (first, before[1] + float(n), before[0] <= float(t))
    return merged


def _warnings(result: dict[str, Any]) -> dict[str, int]:
    """How many tasks logged "Could not read the logs": the trigger's follower, the resumed
    task's ``finish_logs`` (tail) and its recap."""
    counts = Counter[str]()
    for name in (result.get("shown") or {}).get("warnings") or {}:
        counts["trigger"] += 1 if name else 0
    for messages in ((result.get("handover") or {}).get("warnings") or {}).values():
        for phase in {message.split(":", 1)[0] for message in messages}:
            counts[f"task {phase}"] += 1
    return dict(counts)


def handover_figures(handover: dict[str, Any]) -> dict[str, Any]:
    """The resumed tasks: how many ran, and how long each took from its event."""
    if not handover:
        return {}
    spans = handover.get("spans") or {}
    waits = [float(end) - float(received) for received, _, end in spans.values() if received]
    return {
        "resumed": handover.get("resumed"),
        "resumed_unfinished": handover.get("unfinished"),
        "resume_failures": len(handover.get("failures") or []),
        "resume_p50_s": percentile(waits, 0.5) if waits else None,
        "resume_p99_s": percentile(waits, 0.99) if waits else None,
    }
