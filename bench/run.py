"""``make bench``: our trigger against the amazon provider's, N at a time in one event loop.

Starts the SageMaker simulator in its own process, runs every scenario in a fresh worker
process (``bench/worker.py``) so each RSS figure starts clean, prints a table and the pass or
fail of each target, and writes ``bench.json`` and ``bench.png`` (``bench-quick.*`` for
``--quick``) under ``bench/results/``. Exits non-zero only if a scenario could not be
measured; missed targets are results, not errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from metrics import summarize
from report import (
    account_lines,
    call_lines,
    check_lines,
    log_tail_lines,
    plot,
    side_by_side_lines,
    storm_lines,
    table,
    write_json,
)
from runner import ScenarioError, has_account_setup, has_fault_injection, run_scenario
from scenarios import STORM, Scenario, full_run, quick_run
from simproc import SimulatorProcess, create_jobs, describe_capacity
from targets import check_all

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (~7 minutes)")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="run only these scenarios (e.g. curve-ours-100)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    return parser.parse_args(argv)


class Clock:
    """Progress lines stamped with the seconds since the run began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        print(f"[{self.elapsed:6.1f}s] {message}", flush=True)


def select(args: argparse.Namespace) -> list[Scenario]:
    scenarios = quick_run() if args.quick else full_run()
    if args.only:
        scenarios = [s for s in scenarios if s.name in args.only]
        if not scenarios:
            raise SystemExit(f"no scenario named {args.only}")
    return scenarios


def one_line(summary: dict[str, Any]) -> str:
    p99 = summary["latency_p99_s"]
    line = (
        f"{summary['succeeded']}/{summary['n']} succeeded, "
        f"RSS +{summary['rss_growth_mb']:.1f} MB, CPU {summary['cpu_seconds']:.2f} s, "
        f"{summary['polls']} polls ({summary['describes']} describes, "
        f"{summary['list_calls']} list calls), lag max {summary['lag_max_s']:.3f} s, "
        f"event p99 {'n/a' if p99 is None else f'{p99:.2f} s'}"
    )
    if summary.get("account"):
        line += f", {summary['requests_per_job_interval']:.3f} requests/job/interval"
        if summary.get("list_throttled") is not None:
            line += f", {summary['list_throttled']} list calls throttled"
        if summary.get("list_share") is not None:
            line += f", List share {summary['list_share']:g}/s"
    if summary.get("lines_held") is not None:
        delay = summary["line_delay_p99_s"]
        line += (
            f", {summary['lines_lost']} of {summary['lines_held']} log lines lost,"
            f" line delay p99 {'n/a' if delay is None else f'{delay:.1f} s'}"
        )
    return line


def account_setup(scenario: Scenario) -> str:
    account = scenario.account
    if account is None:
        return ""
    parts = [f"{account.history} older jobs"] if account.history else []
    parts += [f"{account.newer} newer jobs"] if account.newer else []
    parts += [f"list limit {account.list_rate:g}/s"] if account.list_rate else []
    return f" ({', '.join([*parts, account.time_filters])})"


def measure_all(
    sim: SimulatorProcess, scenarios: list[Scenario], logs: Path, clock: Clock
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run the scenarios one after another; returns the summaries and the problems met."""
    summaries: list[dict[str, Any]] = []
    problems: list[str] = []
    faults = has_fault_injection(sim.client)
    accounts = has_account_setup(sim.client)
    for index, scenario in enumerate(scenarios):
        if scenario.kind == STORM and not faults:
            problems.append(f"{scenario.name}: skipped, the simulator has no fault injection")
            clock.say(problems[-1])
            continue
        if scenario.account is not None and not accounts:
            problems.append(f"{scenario.name}: skipped, the simulator cannot set up accounts")
            clock.say(problems[-1])
            continue
        clock.say(
            f"{scenario.name}: N={scenario.n}, every {scenario.interval:g}s, "
            f"jobs {scenario.duration:g}s{account_setup(scenario)}"
        )
        try:
            raw = run_scenario(sim, scenario, f"b{index}", logs)
        except ScenarioError as err:
            problems.append(f"{scenario.name}: not measured: {err}")
            clock.say(problems[-1])
            continue
        # Per-job raw data (events, counters, samples) for anyone who wants to dig deeper.
        write_json(logs / f"{scenario.name}.raw.json", raw)
        summary = summarize(scenario, raw)
        summaries.append(summary)
        clock.say(f"{scenario.name}: {one_line(summary)}")
    return summaries, problems


def probe_simulator(sim: SimulatorProcess) -> float:
    """How many describes a second the simulator serves, to judge the scenarios against."""
    sim.client.reset()
    create_jobs(sim.endpoint_url, ["probe"], threads=1)
    capacity = describe_capacity(sim.endpoint_url, "probe")
    sim.client.reset()
    return capacity


def versions() -> dict[str, str]:
    names = (
        "sagemaker-async",
        "apache-airflow-core",
        "apache-airflow-providers-amazon",
        "aiobotocore",
        "botocore",
        "moto",
    )
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = select(args)
    results: Path = args.results
    logs = results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stem = "bench-quick" if args.quick else "bench"
    clock = Clock()
    with SimulatorProcess(logs / "simulator.log") as sim:
        clock.say(f"simulator pid {sim.pid} at {sim.endpoint_url}")
        capacity = probe_simulator(sim)
        clock.say(f"simulator serves ~{capacity:.0f} describes/s to 8 threads")
        summaries, problems = measure_all(sim, scenarios, logs, clock)
    checks = check_all(summaries)
    wall = clock.elapsed
    print("\n" + table(summaries))
    reported = side_by_side_lines(summaries)
    log_tail = log_tail_lines(summaries)
    details = [
        *storm_lines(summaries),
        *call_lines(summaries),
        *account_lines(summaries),
        *reported,
        *log_tail,
    ]
    for line in [*details, "", *check_lines(checks), *problems]:
        print(line)
    payload = {
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "versions": versions(),
        "simulator_describes_per_second": capacity,
        "wall_seconds": wall,
        "scenarios": summaries,
        "checks": [c.to_json() for c in checks],
        "reported": reported,
        "log_tail": log_tail,
        "problems": problems,
    }
    write_json(results / f"{stem}.json", payload)
    written = [results / f"{stem}.json"]
    if plot(results / f"{stem}.png", summaries):
        written.append(results / f"{stem}.png")
    print("\nwrote " + " and ".join(str(path) for path in written))
    print(f"total wall time {wall:.0f} s; worker logs in {logs}")
    return 1 if any("not measured" in p for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main())
