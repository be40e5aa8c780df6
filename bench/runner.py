"""Runs one scenario: fresh worker process, jobs in the simulator, samples, storm, results."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from metrics import ADD_TAGS, LIST, POLLING
from scenarios import Account, LogsAccount, Scenario, Storm, warm_job
from simproc import SimulatorProcess, create_jobs, simulator_log_lines

from sagemaker_async.testing import SimulatorClient

WORKER = Path(__file__).with_name("worker.py")
RESUMER = Path(__file__).with_name("resumer.py")
RESULT_MARK = "BENCH "
#: A trigger's event as it fires (``print_log`` scenarios), for the resumed tasks.
EVENT_MARK = "BENCH-EVENT "
#: Worker slots resuming tasks after their events (``bench/resumer.py``).
RESUME_THREADS = 16
#: Name prefixes of the seeded jobs; never of the form "{scenario prefix}-", so a look-up
#: of the scenario's jobs by prefix leaves them out.
HISTORY_PREFIX, NEWER_PREFIX = "history", "others"
#: Seconds from the first to the last newer job's creation, at least.
NEWER_SPAN = 1.0
#: Names per line handed to the worker, as create_jobs hands over a batch (16 threads x 2).
HAND_OVER_BATCH = 32


class ScenarioError(RuntimeError):
    """A scenario could not be measured (the worker failed or went silent)."""


class WorkerProcess:
    """``bench/worker.py`` in its own process; result lines are read by a thread.

    :param argv: the worker's command line.
    :param log_dir: where its stderr and its own stdout log go.
    :param name: the scenario name, used for the log file names.
    :param on_event: gets each event line (``BENCH-EVENT``, JSON) as the worker prints it.
    """

    def __init__(
        self,
        argv: list[str],
        log_dir: Path,
        name: str,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.log = log_dir / f"{name}.log"
        self._stderr_path = log_dir / f"{name}.stderr.log"
        self._on_event = on_event
        self._lock = threading.Lock()  # the reader thread and the main thread both send
        self._lines: queue.Queue[str | None] = queue.Queue()
        with self._stderr_path.open("wb") as stderr:
            self._proc = subprocess.Popen(
                [*argv, "--log", str(self.log)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith(RESULT_MARK):
                self._lines.put(line[len(RESULT_MARK) :])
            elif line.startswith(EVENT_MARK) and self._on_event is not None:
                # A receiver that went away says so in its own result; keep reading ours.
                with contextlib.suppress(ScenarioError):
                    self._on_event(line[len(EVENT_MARK) :].strip())
        self._lines.put(None)

    def result(self, timeout: float) -> dict[str, Any]:
        """The next result line, parsed; raises if the worker exits or times out first."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise ScenarioError(f"worker silent for {timeout:.0f}s; see {self.log}") from None
        if line is None:
            raise ScenarioError(f"worker exited ({self._proc.wait()}):\n{self._tail()}")
        return dict(json.loads(line))

    def _tail(self) -> str:
        return self._stderr_path.read_text(errors="replace")[-3000:]

    def send(self, line: str) -> None:
        stdin: IO[str] | None = self._proc.stdin
        assert stdin is not None
        try:
            with self._lock:
                stdin.write(line + "\n")
                stdin.flush()
        except (OSError, ValueError):  # ValueError: stdin already closed
            raise ScenarioError(f"worker exited ({self._proc.wait()}):\n{self._tail()}") from None

    def stop(self) -> None:
        """Close its stdin (a worker still reading names exits on EOF), wait briefly for a
        clean exit, then kill it by pid."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()


class CallSampler:
    """Reads the simulator's call counters once a second, from a thread.

    Samples are ``(epoch seconds, polling requests received, served)``; served is ``None``
    where the simulator does not tell them apart. With ``logs``, each sample goes on with
    the CloudWatch Logs calls received and served (``{operation: n}`` each) and the
    ``AddTags`` calls received (the log tail's cursor saves).
    """

    def __init__(self, client: SimulatorClient, period: float = 1.0, logs: bool = False) -> None:
        self.client = client
        self.period = period
        self.logs = logs
        self.samples: list[tuple[Any, ...]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="call-sampler", daemon=True)

    def start(self) -> None:
        self._sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def _sample(self) -> None:
        now = time.time()
        calls = self.client.calls()
        received = _polling(calls)
        # Received counts throttled calls too; served ones only exist with fault injection.
        served_calls = getattr(self.client, "served_calls", None)
        served = None if served_calls is None else _polling(served_calls())
        if not self.logs:
            self.samples.append((now, int(received), served))
            return
        logs = self.client.logs_sts_calls()
        tags = int(calls.get(ADD_TAGS, 0))
        self.samples.append((now, int(received), served, logs["received"], logs["served"], tags))


def _polling(calls: dict[str, int]) -> int:
    return sum(int(calls.get(operation, 0)) for operation in POLLING)


def has_fault_injection(client: SimulatorClient) -> bool:
    return all(hasattr(client, name) for name in ("set_faults", "clear_faults", "faults"))


def has_account_setup(client: SimulatorClient) -> bool:
    names = ("set_listing", "set_rate_limits", "rate_limits", "seed_history")
    return all(hasattr(client, name) for name in names)


class StormSchedule:
    """Turns throttling on and off at the scenario's times, from a thread."""

    def __init__(self, client: SimulatorClient, storm: Storm, started: float) -> None:
        self.client = client
        self.storm = storm
        self.on_at = started + storm.start
        self.off_at = self.on_at + storm.length
        self.applied: tuple[float, float] | None = None
        self.fault_counters: dict[str, Any] = {}
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storm", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._cancel.set()
        self._thread.join()
        # Never leave faults behind for the next scenario, even after an error.
        self.client.clear_faults()

    def _run(self) -> None:
        if self._cancel.wait(max(0.0, self.on_at - time.time())):
            return
        self.client.set_faults(
            throttle_fraction=self.storm.throttle_fraction, operations=list(POLLING)
        )
        on = time.time()
        self._cancel.wait(max(0.0, self.off_at - time.time()))
        self.client.clear_faults()
        self.applied = (on, time.time())
        self.fault_counters = dict(self.client.faults().get("counters", {}))


def worker_argv(scenario: Scenario, endpoint: str, prefix: str) -> list[str]:
    flags = ["--print-log"] if scenario.print_log else []
    flags += ["--freeze-after-start"] if scenario.freeze_after_start else []
    return [
        sys.executable,
        str(WORKER),
        "--impl",
        scenario.impl,
        "--n",
        str(scenario.n),
        "--interval",
        str(scenario.interval),
        "--duration",
        str(scenario.duration),
        "--endpoint",
        endpoint,
        "--prefix",
        prefix,
        *flags,
    ]


def prepare_simulator(sim: SimulatorProcess, scenario: Scenario, prefix: str) -> None:
    """Clean slate, the account, then the plans: scenario jobs run ``duration`` (spread as the
    scenario says), the warm-up job is done."""
    sim.client.reset()
    if scenario.account is not None:
        prepare_account(sim.client, scenario.account)
    if scenario.logs is not None:
        prepare_logs(sim.client, scenario.logs)
    for name_prefix, duration in scenario.duration_rules(prefix):
        sim.client.add_rule(name_prefix, duration=duration)
    # Added last so it wins over the "{prefix}-" rule for this one name.
    sim.client.add_rule(warm_job(prefix), duration=0)
    create_jobs(sim.endpoint_url, [warm_job(prefix)], threads=1)


def prepare_account(client: SimulatorClient, account: Account) -> None:
    """The listing's reading, the history behind the jobs to come and the account's limits.

    The history is seeded over the simulator's default span, the 30 days before an hour
    ago: older than every job of the scenario. The limits are set after it, so their
    counters start clean (seeding makes no calls anyway).
    """
    client.set_listing(time_filters=account.time_filters)
    if account.history:
        client.seed_history(account.history, prefix=HISTORY_PREFIX)
    if account.list_rate is not None:
        client.set_rate_limits({LIST: account.list_rate})


def prepare_logs(client: SimulatorClient, logs: LogsAccount) -> None:
    """The account's CloudWatch Logs limits (added to any limit already set) and empty
    pages; late lines keep the simulator's default."""
    limits: dict[str, float | dict[str, float]] = dict(client.rate_limits().get("limits") or {})
    limits.update(logs.rate_limits())
    client.set_rate_limits(limits)
    client.set_logs(empty_pages=logs.empty_pages)


def read_log_lines(sim: SimulatorProcess, names: list[str]) -> dict[str, list[list[Any]]]:
    """Every line the simulator holds for the jobs, read once the scenario is over: limits
    and empty pages lifted first, so the reading is complete and quick (the counters were
    read before)."""
    sim.client.set_rate_limits({})
    sim.client.set_logs()
    return simulator_log_lines(sim.endpoint_url, names)


def resume_budget(scenario: Scenario) -> float:
    """Seconds the resumed tasks may take after the last event: at the account's 5
    FilterLogEvents a second, 1,000 hand-overs of a few pages each take many minutes."""
    return max(120.0, 3.0 * scenario.n)


def start_resumer(sim: SimulatorProcess, scenario: Scenario, log_dir: Path) -> WorkerProcess | None:
    """The resumed tasks' process (``bench/resumer.py``) for a tailing scenario of ours."""
    if not scenario.print_log or scenario.impl != "ours":
        return None
    argv = [sys.executable, str(RESUMER), "--endpoint", sim.endpoint_url]
    argv += ["--threads", str(RESUME_THREADS), "--budget", str(resume_budget(scenario))]
    return WorkerProcess(argv, log_dir, f"{scenario.name}.resumer")


def seed_newer(client: SimulatorClient, count: int, after: float) -> None:
    """Other teams' jobs, all created after the watched ones (the last of which was created
    before ``after``, epoch seconds) and before now, and finished by now.

    At least a second apart from first to last: spread over a few microseconds, 20,000
    creation times would collide in a float's precision (ties are legal, just unlike AWS).
    """
    time.sleep(max(0.0, after + NEWER_SPAN - time.time()))
    client.seed_history(count, created_from=after, created_to=time.time(), prefix=NEWER_PREFIX)


def hand_over(worker: WorkerProcess, names: list[str], size: int = HAND_OVER_BATCH) -> None:
    """Give the worker names of jobs that already exist, a batch per line, as a triggerer
    picks up deferred tasks a few at a time."""
    for first in range(0, len(names), size):
        worker.send(" ".join(names[first : first + size]))


def run_scenario(
    sim: SimulatorProcess, scenario: Scenario, prefix: str, log_dir: Path
) -> dict[str, Any]:
    """Measure one scenario; returns the worker's result plus the simulator's view.

    Jobs are normally handed to the worker batch by batch as they are created. With newer
    jobs of other teams, the watched jobs are created first, the newer ones seeded after
    them, and only then do the triggers start (a triggerer taking over old deferrals).
    """
    prepare_simulator(sim, scenario, prefix)
    resumer = start_resumer(sim, scenario, log_dir)
    worker = WorkerProcess(
        worker_argv(scenario, sim.endpoint_url, prefix),
        log_dir,
        scenario.name,
        on_event=None if resumer is None else resumer.send,
    )
    sampler = CallSampler(sim.client, logs=scenario.logs is not None)
    storm: StormSchedule | None = None
    handover: dict[str, Any] | None = None
    account = scenario.account
    newer = account.newer if account is not None else 0
    names = [f"{prefix}-{i:05d}" for i in range(scenario.n)]
    try:
        ready = worker.result(timeout=180)
        if resumer is not None:
            resumer.result(timeout=180)  # its imports are done
        if newer:
            creation = create_jobs(sim.endpoint_url, names)
            seed_newer(sim.client, newer, after=time.time())
        sampler.start()
        worker.send("start")
        started = time.time()
        if scenario.storm is not None:
            storm = StormSchedule(sim.client, scenario.storm, started)
            storm.start()
        if newer:
            hand_over(worker, names)
        else:
            creation = create_jobs(
                sim.endpoint_url, names, on_batch=lambda batch: worker.send(" ".join(batch))
            )
        worker.send("end")
        result = worker.result(timeout=scenario.duration * 3 + 180)
        if resumer is not None:
            # Every event has been forwarded: the worker prints its result after them.
            resumer.send("end")
            handover = resumer.result(timeout=resume_budget(scenario) + 180)
    finally:
        if storm is not None:
            storm.stop()
        if sampler.samples:
            sampler.stop()
        worker.stop()
        if resumer is not None:
            resumer.stop()
    result["ready"] = ready
    result["creation_seconds"] = creation
    result["go_at"] = started
    wanted = set(names)
    # By prefix: the account may hold tens of thousands of other jobs, never fetch them.
    result["jobs"] = [job for job in sim.client.jobs(prefix=f"{prefix}-") if job["name"] in wanted]
    result["call_samples"] = sampler.samples
    result["calls_by_operation"] = sim.client.calls()
    if account is not None:
        result["rate_limits"] = sim.client.rate_limits()
        result["listing"] = sim.client.listing()
    if storm is not None:
        result["storm_window"] = storm.applied
        result["fault_counters"] = storm.fault_counters
    if scenario.logs is not None:
        result["logs_calls"] = sim.client.logs_sts_calls()
        result["rate_limits"] = sim.client.rate_limits()
        result["log_settings"] = sim.client.log_settings()
    if handover is not None:
        result["handover"] = handover
        result["sim_lines"] = read_log_lines(sim, names)  # last: it lifts the limits
    result["log"] = str(worker.log)
    return result
