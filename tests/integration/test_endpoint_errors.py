"""Configuration mistakes fail fast, in one clear line, against real servers on 127.0.0.1.

Each mistake: a closed port (connection refused), a non-AWS server answering HTTP 501 with an
HTML page, a CA bundle path that does not exist, a region no AWS partition has. The worker
(``execute``) fails without retry and creates no job; the trigger yields an error event
within seconds. No HTML page reaches the message or any log line.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.testing import SimulatorClient, training_request
from sagemaker_async.triggers import SageMakerTrainingTrigger
from tests.unit.fakes import HTML_PAGE, FakeTI

pytestmark = [pytest.mark.integration]

#: Bound on each failure: the unreachable endpoint's three attempts take about 9 s, and twice
#: that on a busy machine; a trigger that kept retrying would run to its one-hour deadline.
FAIL_WITHIN = 40.0
MISTAKES = ["refused", "html-501", "missing-ca", "unknown-region"]


class _NotAws(http.server.BaseHTTPRequestHandler):
    """Answers every request as a web server that knows no AWS API: 501 and a 13-line page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = HTML_PAGE.encode()
        self.send_response(501)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output shows only what the package logs


@pytest.fixture
def html_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotAws)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refused_url() -> str:
    """A loopback port nothing listens on: bound once to find it free, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Mistake:
    kwargs: dict[str, Any]  # operator (and trigger) arguments
    line: str  # what the one line must say
    # Whether the trigger's error event leaves the task its retry: a refused endpoint the
    # worker reached before may be an outage; the retry's own look-up then fails for good.
    trigger_retryable: bool = False


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **extra: Any) -> str:
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture(params=MISTAKES)
def mistake(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Mistake:
    if request.param == "refused":
        url = request.getfixturevalue("refused_url")
        conn = connection(monkeypatch, "aws_refused", region_name="us-east-1", endpoint_url=url)
        return Mistake({"aws_conn_id": conn}, f"cannot reach {url}/: connection refused", True)
    if request.param == "html-501":
        url = request.getfixturevalue("html_url")
        conn = connection(monkeypatch, "aws_not_aws", region_name="us-east-1", endpoint_url=url)
        return Mistake({"aws_conn_id": conn}, f"HTTP 501 from {url}: not an AWS answer (text/html)")
    if request.param == "missing-ca":
        # The simulator answers: only the CA bundle is wrong (boto3 would ignore it for
        # the simulator's http endpoint and create the job).
        missing = str(tmp_path / "corp-ca.pem")
        return Mistake({"verify": missing}, f"verify {missing!r}: no CA bundle at this path")
    conn = connection(monkeypatch, "aws_keys_only")
    return Mistake(
        {"aws_conn_id": conn, "region_name": "us-eest-1"},
        "region_name 'us-eest-1' is not an AWS region",
    )


def assert_no_page(*outputs: str) -> None:
    text = "\n".join(outputs).lower()
    assert "<html" not in text and "doctype" not in text and "not implemented</" not in text


@pytest.mark.timeout(90)
def test_the_worker_fails_without_retry_or_job(
    mistake: Mistake,
    sim: SimulatorClient,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"cfg-{uuid.uuid4().hex[:8]}"
    op = SageMakerTrainingOperator(task_id="train", config=training_request(name), **mistake.kwargs)
    started = time.monotonic()
    with pytest.raises(AirflowFailException) as raised:
        op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert time.monotonic() - started < FAIL_WITHIN
    message = str(raised.value)
    assert mistake.line in message and "\n" not in message
    assert sim.job(name) is None, "a job was created"
    captured = capfd.readouterr()
    assert_no_page(message, captured.out, captured.err, caplog.text)


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_the_trigger_yields_an_error_event_quickly(
    mistake: Mistake, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    trigger = SageMakerTrainingTrigger(
        job_name="cfg-job", deadline=time.time() + 3600, check_interval=1, **mistake.kwargs
    )
    started = time.monotonic()
    events = await asyncio.wait_for(_payloads(trigger), timeout=FAIL_WITHIN + 10)
    assert time.monotonic() - started < FAIL_WITHIN
    assert len(events) == 1
    event = events[0]
    assert (event["status"], event["retryable"]) == ("error", mistake.trigger_retryable)
    assert mistake.line in event["message"] and "\n" not in event["message"]
    captured = capfd.readouterr()
    assert_no_page(event["message"], captured.out, captured.err, caplog.text)


async def _payloads(trigger: SageMakerTrainingTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]
