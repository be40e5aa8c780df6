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
from pathlib import Path
from typing import IO, Any

from metrics import POLLING
from scenarios import Scenario, Storm, warm_job
from simproc import SimulatorProcess, create_jobs

from sagemaker_async.testing import SimulatorClient

WORKER = Path(__file__).with_name("worker.py")
RESULT_MARK = "BENCH "


class ScenarioError(RuntimeError):
    """A scenario could not be measured (the worker failed or went silent)."""


class WorkerProcess:
    """``bench/worker.py`` in its own process; result lines are read by a thread.

    :param argv: the worker's command line.
    :param log_dir: where its stderr and its own stdout log go.
    :param name: the scenario name, used for the log file names.
    """

    def __init__(self, argv: list[str], log_dir: Path, name: str) -> None:
        self.log = log_dir / f"{name}.log"
        self._stderr_path = log_dir / f"{name}.stderr.log"
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
            stdin.write(line + "\n")
            stdin.flush()
        except OSError:
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
    """Reads the simulator's polling counters (describes, list pages) once a second, from a
    thread.

    Samples are ``(epoch seconds, polling requests received, served)``; served is ``None``
    where the simulator does not tell them apart.
    """

    def __init__(self, client: SimulatorClient, period: float = 1.0) -> None:
        self.client = client
        self.period = period
        self.samples: list[tuple[float, int, int | None]] = []
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
        received = _polling(self.client.calls())
        # Received counts throttled calls too; served ones only exist with fault injection.
        served_calls = getattr(self.client, "served_calls", None)
        served = None if served_calls is None else _polling(served_calls())
        self.samples.append((now, int(received), served))


def _polling(calls: dict[str, int]) -> int:
    return sum(int(calls.get(operation, 0)) for operation in POLLING)


def has_fault_injection(client: SimulatorClient) -> bool:
    return all(hasattr(client, name) for name in ("set_faults", "clear_faults", "faults"))


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
    """Clean slate, then the plans: scenario jobs run ``duration``, the warm-up job is done."""
    sim.client.reset()
    sim.client.add_rule(f"{prefix}-", duration=scenario.duration)
    # Added last so it wins over the "{prefix}-" rule for this one name.
    sim.client.add_rule(warm_job(prefix), duration=0)
    create_jobs(sim.endpoint_url, [warm_job(prefix)], threads=1)


def run_scenario(
    sim: SimulatorProcess, scenario: Scenario, prefix: str, log_dir: Path
) -> dict[str, Any]:
    """Measure one scenario; returns the worker's result plus the simulator's view."""
    prepare_simulator(sim, scenario, prefix)
    worker = WorkerProcess(worker_argv(scenario, sim.endpoint_url, prefix), log_dir, scenario.name)
    sampler = CallSampler(sim.client)
    storm: StormSchedule | None = None
    try:
        ready = worker.result(timeout=180)
        sampler.start()
        worker.send("start")
        started = time.time()
        if scenario.storm is not None:
            storm = StormSchedule(sim.client, scenario.storm, started)
            storm.start()
        names = [f"{prefix}-{i:05d}" for i in range(scenario.n)]
        creation = create_jobs(
            sim.endpoint_url, names, on_batch=lambda batch: worker.send(" ".join(batch))
        )
        worker.send("end")
        result = worker.result(timeout=scenario.duration * 3 + 180)
    finally:
        if storm is not None:
            storm.stop()
        if sampler.samples:
            sampler.stop()
        worker.stop()
    result["ready"] = ready
    result["creation_seconds"] = creation
    result["go_at"] = started
    wanted = set(names)
    result["jobs"] = [job for job in sim.client.jobs() if job["name"] in wanted]
    result["call_samples"] = sampler.samples
    result["calls_by_operation"] = sim.client.calls()
    if storm is not None:
        result["storm_window"] = storm.applied
        result["fault_counters"] = storm.fault_counters
    result["log"] = str(worker.log)
    return result
