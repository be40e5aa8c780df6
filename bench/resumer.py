"""The resumed tasks of a ``print_log`` scenario: what Airflow's workers do after each event.

``python bench/resumer.py --endpoint URL --threads 16 --budget S`` imports the hook, prints
``BENCH {"ready": true}``, then reads the triggers' events from stdin (one JSON object a
line, as the worker sends them when they fire, then ``end``). Each event is resumed the way
``SageMakerTrainingOperator.execute_complete`` does with ``print_log=True``: the hook's
``finish_logs`` with the event's ``log_tail`` (the job's lines the triggerer did not show),
then ``report_end`` (the final status and last lines, repeated on purpose). A pool of
``--threads`` threads stands for the workers' slots. The lines these tasks log are noted
with their times (``linecapture``); after ``end`` and the last resumed task (or ``--budget``
seconds) it prints one ``BENCH {...}`` line with them.

It runs in its own process, as Airflow's workers do: its CPU and threads must not weigh on
the event loop of the triggerer whose figures the worker measures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import IO, Any

from linecapture import JOB, PHASE, LineCapture
from worker import CONN_ID, RESULT_MARK, configure_environment, redirect_stdout


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the simulator's URL")
    parser.add_argument("--threads", type=int, default=16, help="worker slots")
    parser.add_argument(
        "--budget", type=float, required=True, help="seconds after 'end' to finish in"
    )
    parser.add_argument("--log", default=os.devnull, help="file for the process's own output")
    return parser.parse_args(argv)


class Slots:
    """The worker slots: one hook per thread, made on its first task and kept.

    Airflow makes a hook (and its boto3 clients) per task; making 2,000 clients here would
    spend minutes of CPU on botocore's models, on the cores the measured triggerer shares.
    The requests a task makes are the same either way.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def hook(self) -> Any:
        if not hasattr(self._local, "hook"):
            from sagemaker_async.hooks import SageMakerHook

            self._local.hook = SageMakerHook(aws_conn_id=CONN_ID)
        return self._local.hook


def resume(slots: Slots, event: dict[str, Any]) -> tuple[str, float, float]:
    """What ``execute_complete`` does with ``print_log=True`` before judging the outcome;
    returns (job, start, end), epoch seconds."""
    from sagemaker_async.events import FAILED, STOPPED, SUCCESS
    from sagemaker_async.operators import LAST_LOG_LINES

    started = time.time()
    name = str(event["job_name"])
    hook = slots.hook()
    # The thread's own context, as a worker process runs one task: lines logged below
    # belong to this job's task log.
    JOB.set(name)
    PHASE.set("tail")
    if event.get("log_tail") is not None and event["status"] in (SUCCESS, FAILED, STOPPED):
        hook.finish_logs(name, event["log_tail"])
    PHASE.set("recap")
    hook.report_end(name, LAST_LOG_LINES)
    JOB.set(None)
    return name, started, time.time()


def serve(args: argparse.Namespace, results: IO[str], capture: LineCapture) -> int:
    """Resume every event read from stdin, then report; returns how many tasks were still
    running at the budget."""
    slots = Slots()
    pool = ThreadPoolExecutor(max_workers=args.threads, thread_name_prefix="slot")
    futures: list[Future[tuple[str, float, float]]] = []
    received: dict[str, float] = {}
    for line in sys.stdin:
        line = line.strip()
        if line == "end":
            break
        if line:
            event = json.loads(line)
            received[str(event["job_name"])] = time.time()
            futures.append(pool.submit(resume, slots, event))
    done, pending = wait(futures, timeout=args.budget)
    spans = {}
    failures = []
    for future in done:
        try:
            name, started, ended = future.result()
            spans[name] = [received.get(name), started, ended]
        except Exception as exc:  # a crashed hand-over is a result, not a reason to stop
            failures.append(f"{type(exc).__name__}: {exc}"[:300])
    emit(
        results,
        {
            "resumed": len(done),
            "unfinished": len(pending),
            "failures": failures,
            # Per job: when its event arrived, its task started and ended (epoch seconds).
            "spans": spans,
            "done_at": time.time(),
            **capture.view(),
        },
    )
    pool.shutdown(wait=False, cancel_futures=True)
    return len(pending)


def emit(stream: IO[str], payload: dict[str, Any]) -> None:
    stream.write(RESULT_MARK + json.dumps(payload) + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = tempfile.mkdtemp(prefix="sagemaker-async-bench-")
    try:
        configure_environment(args.endpoint, home)
        results = redirect_stdout(args.log)
        # Imported before the capture is installed: Airflow sets structlog up on import.
        import sagemaker_async.hooks
        import sagemaker_async.operators  # noqa: F401

        capture = LineCapture()
        capture.install()
        emit(results, {"ready": True})
        unfinished = serve(args, results, capture)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if unfinished:
        # Tasks still running past the budget are abandoned: exiting normally would join
        # their threads.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
