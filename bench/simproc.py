"""The SageMaker simulator in its own process, and bulk job creation against it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from sagemaker_async.testing import SimulatorClient
from sagemaker_async.testing.loglines import LOG_GROUP
from sagemaker_async.testing.requests import training_request

REGION = "us-east-1"
ACCESS_KEY = SECRET_KEY = "testing"


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimulatorProcess:
    """``python -m sagemaker_async.testing`` on a free loopback port, stopped by its pid.

    :param log_path: where the simulator's stdout and stderr go.
    """

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.client = SimulatorClient(self.endpoint_url, timeout=60.0)
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SimulatorProcess:
        argv = [sys.executable, "-m", "sagemaker_async.testing", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port)]
        with self._log_path.open("wb") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        if not self.client.wait_until_healthy(timeout=60):
            self.stop()
            raise RuntimeError(f"the simulator did not start; see {self._log_path}")
        return self

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the simulator is not running")
        return self._proc.pid

    def stop(self) -> None:
        """SIGTERM (the simulator shuts down cleanly on it), SIGKILL if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def sagemaker_client(endpoint_url: str, pool: int = 10) -> Any:
    """A boto3 SageMaker client with the simulator's dummy keys."""
    return simulator_client("sagemaker", endpoint_url, pool)


def simulator_client(service: str, endpoint_url: str, pool: int = 10) -> Any:
    """A boto3 client of ``service`` with the simulator's dummy keys."""
    return boto3.session.Session().client(
        service,
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(max_pool_connections=pool, retries={"max_attempts": 10, "mode": "standard"}),
    )


def create_jobs(
    endpoint_url: str,
    names: list[str],
    threads: int = 16,
    on_batch: Callable[[list[str]], None] | None = None,
) -> float:
    """Create the jobs concurrently, a batch at a time; returns the seconds it took.

    ``on_batch`` gets each batch's names once those jobs exist, so a consumer can start
    following them at once. One boto3 client is shared by the threads (boto3 clients are
    thread-safe), with a connection pool as large as the thread count.
    """
    client = sagemaker_client(endpoint_url, pool=threads)
    size = threads * 2
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for first in range(0, len(names), size):
            batch = names[first : first + size]
            for _ in pool.map(lambda n: client.create_training_job(**training_request(n)), batch):
                pass
            if on_batch is not None:
                on_batch(batch)
    return time.monotonic() - started


def describe_capacity(endpoint_url: str, name: str, calls: int = 400, threads: int = 8) -> float:
    """Describes per second the simulator answers to a thread pool (a rough upper bound on
    what a benchmark may ask of it; boto3 in this process also takes CPU)."""
    client = sagemaker_client(endpoint_url, pool=threads)
    client.describe_training_job(TrainingJobName=name)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(
            lambda _: client.describe_training_job(TrainingJobName=name), range(calls)
        ):
            pass
    return calls / (time.monotonic() - started)


def logs_client(endpoint_url: str, pool: int = 10) -> Any:
    """A boto3 CloudWatch Logs client with the simulator's dummy keys."""
    return simulator_client("logs", endpoint_url, pool)


def simulator_log_lines(
    endpoint_url: str, names: list[str], threads: int = 8
) -> dict[str, list[list[Any]]]:
    """Every log line the simulator holds for each job: ``[text, epoch seconds]``, the text
    as the log tail shows it (``[<stream>] <message>``), the time the line's timestamp.

    Read with FilterLogEvents over the job's streams, as the tail reads them, to the last
    page; meant for after a scenario, with the account's limits and empty pages lifted.
    """
    client = logs_client(endpoint_url, pool=threads)

    def read(name: str) -> list[list[Any]]:
        pages = client.get_paginator("filter_log_events").paginate(
            logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/"
        )
        return [
            [_shown_as(name, event), int(event["timestamp"]) / 1000]
            for page in pages
            for event in page.get("events", [])
        ]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return dict(zip(names, pool.map(read, names), strict=True))


def _shown_as(job_name: str, event: dict[str, Any]) -> str:
    """A line's text in the task log, as ``LogTail.absorb`` writes it."""
    stream = str(event.get("logStreamName", "")).removeprefix(f"{job_name}/")
    return f"[{stream}] {str(event.get('message', '')).rstrip()}"
