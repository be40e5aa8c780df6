"""One benchmark scenario in a fresh process: N triggers of one implementation in one loop.

``python bench/worker.py --impl ours|amazon --n N --interval I --duration D --endpoint URL
--prefix P`` imports everything, runs one trigger to completion on the already finished job
``P-warm`` (warm-up), then prints a ``BENCH {"ready": ...}`` line and waits for ``start``
on stdin. From then on it measures, and reads job names (a batch per line, then ``end``)
as the orchestrator creates the jobs: each name gets a trigger at once, run the way the
triggerer does (one asyncio task per trigger consuming ``trigger.run()``). When every
trigger has fired it prints one ``BENCH {...}`` line of measurements (``--n`` is the count
the orchestrator will send). Anything else written to stdout (Airflow's and the triggers'
logs) goes to ``--log`` instead, so the result lines cannot be mixed with it.

With ``--print-log`` it also prints each trigger's event as it fires (``BENCH-EVENT {...}``,
its payload with ``log_tail``), for the orchestrator to hand to the resumed tasks
(``bench/resumer.py``), and the result holds the job log lines the triggers logged, each
with when it was first logged (``linecapture``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any

RESULT_MARK = "BENCH "
#: A trigger's event, sent as it fires (``--print-log``) for the resumed task's hand-over.
EVENT_MARK = "BENCH-EVENT "
CONN_ID = "bench_aws"
# A guard for a shared 2-core / 24 GB machine: a run that grows past this is stopped and
# reported as such instead of pushing the machine into swap or the OOM killer.
RSS_LIMIT = 8 * 1024**3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("ours", "amazon", "bare", "idle"), required=True)
    parser.add_argument("--n", type=int, required=True, help="concurrent triggers")
    parser.add_argument("--interval", type=float, required=True, help="seconds between polls")
    parser.add_argument("--duration", type=float, required=True, help="seconds jobs run")
    parser.add_argument("--endpoint", required=True, help="the simulator's URL")
    parser.add_argument("--prefix", required=True, help="job names are PREFIX-00000 ...")
    parser.add_argument("--log", default=os.devnull, help="file for the process's own output")
    parser.add_argument(
        "--print-log", action="store_true", help="ours: tail the jobs' CloudWatch logs too"
    )
    parser.add_argument(
        "--freeze-after-start",
        action="store_true",
        help="gc.freeze() after the warm-up: the collector skips the objects of start-up",
    )
    return parser.parse_args(argv)


def configure_environment(endpoint: str, home: str) -> None:
    """Airflow and botocore settings, set before either is imported.

    Both implementations resolve the same connection from the environment; no metadata
    database, no AWS config files and no instance-metadata look-ups are involved. Airflow's
    configuration comes from the environment too (``AIRFLOW_HOME`` is a fresh folder, so
    there is no ``airflow.cfg`` to read): the bench sets no ``[sagemaker_async]`` option, and
    an ``AIRFLOW__SAGEMAKER_ASYNC__*`` variable inherited from the orchestrator's shell
    applies, as it would in a triggerer.
    """
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": endpoint},
    }
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(connection)
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["NO_COLOR"] = "1"
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


def redirect_stdout(log_path: str) -> IO[str]:
    """Point fd 1 at the log file; return a stream on the original stdout for results."""
    results = os.fdopen(os.dup(1), "w", buffering=1)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log_fd, 1)
    os.close(log_fd)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    return results


TriggerFactory = Callable[[str], Any]
#: (event status, epoch seconds it fired or None, message)
Outcome = tuple[str, float | None, str]


class BareDescribeLoop:
    """Not a trigger: ``DescribeTrainingJob`` every interval until the job ends, through one
    plain aiobotocore client that every loop shares.

    The floor for any poller built on aiobotocore: no connection look-up, pacing, logging
    or events, just the calls. Run as the triggers are, so the bench can set a trigger's
    CPU per poll beside what the library alone spends.
    """

    _client: Any = None
    _lock: asyncio.Lock | None = None

    def __init__(self, job_name: str, interval: float, endpoint: str) -> None:
        self.job_name, self.interval, self.endpoint = job_name, interval, endpoint

    async def run(self) -> Any:
        from airflow.triggers.base import TriggerEvent

        client = await self._shared_client()
        while True:
            job = await client.describe_training_job(TrainingJobName=self.job_name)
            status = job["TrainingJobStatus"]
            del job
            if status in ("Completed", "Failed", "Stopped"):
                yield TriggerEvent({"status": "success" if status == "Completed" else status})
                return
            await asyncio.sleep(self.interval)

    async def cleanup(self) -> None:
        """The shared client stays open until the process ends, as a pooled one would."""

    async def _shared_client(self) -> Any:
        cls = type(self)
        cls._lock = cls._lock or asyncio.Lock()
        async with cls._lock:
            if cls._client is None:
                cls._client = await asyncio.to_thread(_bare_client, self.endpoint)
        return cls._client


def idle_trigger_class() -> type:
    """Not a poller: a trigger that sleeps until its job's planned end and fires, making no
    request at all. What any trigger costs a loop just by existing (its task, coroutines,
    one timer), and so the least lag and memory the worker can show at a given N. (Built
    here, not at import: Airflow is imported only once the environment is set.)"""
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    class IdleTrigger(BaseTrigger):
        def __init__(self, job_name: str, ends_at: float) -> None:
            super().__init__()
            self.job_name, self.ends_at = job_name, ends_at

        def serialize(self) -> tuple[str, dict[str, Any]]:
            # Never deserialized: it only runs inside this worker.
            return "bench.worker.IdleTrigger", {"job_name": self.job_name, "ends_at": self.ends_at}

        async def run(self) -> Any:
            await asyncio.sleep(max(0.0, self.ends_at - time.time()))
            yield TriggerEvent({"status": "success", "job_name": self.job_name})

    return IdleTrigger


def _bare_client(endpoint: str) -> Any:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession

    closer = AioSession().create_client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=AioConfig(max_pool_connections=50),
    )
    return asyncio.run(closer.__aenter__())


def trigger_factory(
    impl: str,
    interval: float,
    duration: float,
    print_log: bool = False,
    endpoint: str = "",
    warm: str = "",
) -> TriggerFactory:
    """How to build one trigger of ``impl`` for a job; both get a budget of 3x the duration.
    ``warm`` names the warm-up job, which has already ended."""
    if impl == "bare":
        return lambda job_name: BareDescribeLoop(job_name, interval, endpoint)
    if impl == "idle":
        idle = idle_trigger_class()

        def idle_for(job_name: str) -> Any:
            ends_in = 0.0 if job_name == warm else duration
            return idle(job_name, time.time() + ends_in)

        return idle_for
    if impl == "ours":
        from sagemaker_async.triggers import SageMakerTrainingTrigger

        def ours(job_name: str) -> Any:
            return SageMakerTrainingTrigger(
                job_name=job_name,
                deadline=time.time() + duration * 3,
                check_interval=interval,
                aws_conn_id=CONN_ID,
                # Off unless asked for: the amazon provider's trigger reads no logs.
                print_log=print_log,
                # As the operator passes it from the request (one instance each here): the
                # tail reads many jobs' streams in one request once it knows them.
                instance_count=1,
            )

        return ours

    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

    attempts = math.ceil(duration * 3 / interval) + 1

    def amazon(job_name: str) -> Any:
        # waiter_delay / waiter_max_attempts: the names that replaced the deprecated
        # poke_interval / max_attempts (which would only add a warning per trigger).
        return SageMakerTrigger(
            job_name=job_name,
            job_type="Training",
            waiter_delay=int(interval),
            waiter_max_attempts=attempts,
            aws_conn_id=CONN_ID,
        )

    return amazon


EventSink = Callable[[dict[str, Any]], None]


async def consume(
    trigger: Any, job_name: str | None = None, on_event: EventSink | None = None
) -> Outcome:
    """Run one trigger as the triggerer does, but with no ``trigger_id``, so without the resume
    hold (for jobs that end within seconds of the trigger's start, which real ones never do);
    returns (status, event time, message).

    ``job_name`` marks what the trigger logs as that job's task log (see ``linecapture``);
    set here, in the task's own context, it reaches the tasks the trigger starts too (its
    log follower). ``on_event`` gets the first event's payload as it fires.
    """
    if job_name is not None:
        from linecapture import JOB

        JOB.set(job_name)
    status: str = "no-event"
    fired: float | None = None
    message = ""
    try:
        async for event in trigger.run():
            if status == "no-event":
                payload = event.payload
                status = str(payload.get("status"))
                message = str(payload.get("message", ""))[:300]
                fired = time.time()
                if on_event is not None:
                    on_event({**payload, "fired": fired})
    except Exception as exc:  # a crash is a result to report, not a reason to stop the others
        status, fired, message = "crashed", time.time(), f"{type(exc).__name__}: {exc}"[:300]
    finally:
        await trigger.cleanup()
    return status, fired, message


def import_triggerer() -> None:
    """Import what a triggerer's trigger runner has imported. Every full garbage collection
    walks the whole heap, so a worker that imported only the SDK (about 40,000 objects
    fewer) would show shorter stalls than a triggerer would."""
    import airflow.jobs.triggerer_job_runner  # noqa: F401


async def warm_up(factory: TriggerFactory, job_name: str) -> dict[str, Any]:
    """One full trigger run, so lazy imports and caches are paid before the baseline."""
    status, _, message = await consume(factory(job_name))
    if status != "success":
        raise RuntimeError(f"warm-up trigger on {job_name} ended {status}: {message}")
    gc.collect()
    return {"status": status}


def list_share(impl: str) -> float | None:
    """Ours: the List share its sweeps spend, as read from Airflow's configuration here."""
    if impl != "ours":
        return None
    from sagemaker_async.listshare import configured_list_share

    return configured_list_share()


async def read_line() -> str:
    """One line from the orchestrator, read off the loop; EOF means it went away."""
    line: str = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise SystemExit("the orchestrator went away")
    return line.strip()


async def run_triggers(
    factory: TriggerFactory, budget: float, on_event: EventSink | None = None
) -> dict[str, Outcome]:
    """One task per job name as the names arrive, as a triggerer picks up new deferrals.

    The orchestrator sends each batch of names as soon as those jobs exist, so a trigger
    starts within a fraction of a second of its job, then ``end``. Triggers still running
    ``budget`` seconds after the last name are cancelled and reported as unfinished.
    """
    tasks: dict[str, asyncio.Task[Outcome]] = {}
    while (line := await read_line()) != "end":
        for name in line.split():
            # Marked only when lines are captured: a context variable set in each of 10,000
            # tasks would add objects to the heap that other scenarios measure.
            run = consume(factory(name), None if on_event is None else name, on_event)
            tasks[name] = asyncio.create_task(run, name=name)
    if tasks:
        await asyncio.wait(tasks.values(), timeout=budget)
    outcomes: dict[str, Outcome] = {}
    for name, task in tasks.items():
        if task.done():
            outcomes[name] = task.result()
        else:
            task.cancel()
            outcomes[name] = ("unfinished", None, "still waiting at the worker's deadline")
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    return outcomes


async def measure(args: argparse.Namespace, results: IO[str]) -> None:
    """Warm up, say ready, measure the run and print the result line."""
    import probes
    from scenarios import warm_job

    import_triggerer()
    capture = _capture_lines() if args.print_log else None
    warm = warm_job(args.prefix)
    factory = trigger_factory(
        args.impl, args.interval, args.duration, args.print_log, args.endpoint, warm
    )
    await warm_up(factory, warm)
    if args.freeze_after_start:
        # What a host process can do for its loop (Airflow's DAG processor and LocalExecutor
        # freeze too): full collections then walk only what was made after start-up.
        gc.freeze()
    baseline = probes.rss()
    emit(results, {"ready": True, "rss_baseline": baseline, "list_share": list_share(args.impl)})
    if await read_line() != "start":
        raise SystemExit("expected 'start' from the orchestrator")

    sampler = probes.RssSampler(limit=RSS_LIMIT)
    kernel_reset = probes.reset_kernel_peak()
    sampler.start()
    lag = probes.LagProbe()
    lag.start()
    collections = probes.GcProbe()
    collections.start()
    cpu0, wall0, started = probes.cpu_seconds(), time.monotonic(), time.time()
    guard = asyncio.create_task(_rss_guard(sampler))
    on_event = None if capture is None else (lambda payload: emit(results, payload, EVENT_MARK))
    run = asyncio.create_task(run_triggers(factory, args.duration * 3 + 60, on_event))
    await asyncio.wait({run, guard}, return_when=asyncio.FIRST_COMPLETED)
    aborted = not run.done()
    if aborted:
        run.cancel()
    outcomes = await _gather_outcomes(run, aborted)
    guard.cancel()
    cpu = probes.cpu_seconds() - cpu0
    wall = time.monotonic() - wall0
    await lag.stop()
    collections.stop()
    peak = sampler.stop()
    kernel = probes.kernel_peak() if kernel_reset else None
    peak = max(peak, kernel or 0)
    # Emitted from here, not after the loop ends: a name reader still blocked on stdin (after
    # an abort) keeps asyncio.run() waiting until the orchestrator closes the pipe.
    payload = {
        "impl": args.impl,
        "n": args.n,
        "interval": args.interval,
        "duration": args.duration,
        "print_log": args.print_log,
        "freeze_after_start": args.freeze_after_start,
        "started_at": started,
        "rss_baseline": baseline,
        "rss_peak": peak,
        "rss_growth": peak - baseline,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "lag_max": lag.max,
        "lag_p99": lag.percentile(0.99),
        "lag_max_outside_full_gc": lag.max_outside(collections.full),
        "gc_full_count": len(collections.full),
        "gc_full_max": collections.full_max,
        # When each full collection began (seconds into the run) and how long it took.
        "gc_full_spans": [[start - wall0, end - start] for start, end in collections.full],
        "gc_young_max": collections.young_max,
        "aborted": "RSS above the guard limit" if aborted else None,
        "events": {name: list(outcome) for name, outcome in outcomes.items()},
    }
    if capture is not None:
        # The job log lines the triggers showed, each with when it was first logged.
        payload["shown"] = capture.view()
    emit(results, payload)


async def _rss_guard(sampler: Any) -> None:
    while not sampler.exceeded.is_set():
        await asyncio.sleep(0.5)


async def _gather_outcomes(
    run: asyncio.Task[dict[str, Outcome]], aborted: bool
) -> dict[str, Outcome]:
    if not aborted:
        return run.result()
    await asyncio.gather(run, return_exceptions=True)
    return {}


def _capture_lines() -> Any:
    """Note the job log lines the triggers log (after Airflow set structlog up)."""
    from linecapture import LineCapture

    capture = LineCapture()
    capture.install()
    return capture


def emit(stream: IO[str], payload: dict[str, Any], mark: str = RESULT_MARK) -> None:
    stream.write(mark + json.dumps(payload) + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sagemaker-async-bench-") as home:
        configure_environment(args.endpoint, home)
        results = redirect_stdout(args.log)
        asyncio.run(measure(args, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
