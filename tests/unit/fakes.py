"""In-memory stand-ins for the SageMaker API, for tests that must not touch a network."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from sagemaker_async import triggers
from sagemaker_async.ownership import identity_tags
from sagemaker_async.testing.requests import training_request

ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/{}"


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"simulated {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


def refused_connection(url: str = "http://127.0.0.1:49151/") -> EndpointConnectionError:
    """What botocore raises for a refused connection: the HTTP client's error (urllib3's
    ``NewConnectionError``, aiohttp's ``ClientConnectorError``) wraps the socket's."""
    client_side = OSError("Failed to establish a new connection")
    client_side.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    return EndpointConnectionError(endpoint_url=url, error=client_side)


#: A non-AWS server's error page, 13 lines as in the issue's report.
HTML_PAGE = """\
<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>501 Not Implemented</title>
</head>
<body>
<h1>Not Implemented</h1>
<p>POST is not supported.</p>
<hr>
<address>Apache Server</address>
</body>
</html>
"""


def html_answer(operation: str, status: int = 501) -> ClientError:
    """What botocore raises for an HTML error page: the status as the code, the page as the
    message."""
    return ClientError(
        {
            "Error": {"Code": str(status), "Message": HTML_PAGE},
            "ResponseMetadata": {
                "HTTPStatusCode": status,
                "HTTPHeaders": {"content-type": "text/html"},
            },
        },
        operation,
    )


class FakePool:
    """Stands in for the event loop's client pool: every connection and service get
    ``client``."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.acquired = self.released = 0

    async def acquire(self, settings: Any, service: str = "sagemaker") -> Any:
        self.acquired += 1
        return self.client

    async def release(self, settings: Any, service: str = "sagemaker") -> None:
        self.released += 1


def route_triggers_to(monkeypatch: pytest.MonkeyPatch, client: Any) -> FakePool:
    """Every client the trigger module borrows (from the pool or ``shared_client``) is
    ``client``; returns the pool, which counts its borrowings."""

    @asynccontextmanager
    async def fake_open(settings: Any, service: str = "sagemaker") -> AsyncIterator[Any]:
        yield client

    pool = FakePool(client)
    monkeypatch.setattr(triggers, "shared_client", fake_open)
    monkeypatch.setattr(triggers, "pool_for_running_loop", lambda: pool)
    return pool


class FakeSageMaker:
    """A boto3-shaped SageMaker client: jobs are dicts; every call is recorded."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.create_errors: list[ClientError] = []

    def add_job(self, name: str, status: str, tags: dict[str, str] | None = None) -> None:
        self.jobs[name] = {
            "TrainingJobName": name,
            "TrainingJobArn": ARN.format(name),
            "TrainingJobStatus": status,
        }
        self.tags[ARN.format(name)] = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]

    def count(self, operation: str) -> int:
        return sum(1 for op, _ in self.calls if op == operation)

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.calls.append(("describe_training_job", {"TrainingJobName": TrainingJobName}))
        if TrainingJobName not in self.jobs:
            raise client_error("ValidationException", "DescribeTrainingJob")
        return dict(self.jobs[TrainingJobName])

    def list_tags(self, ResourceArn: str) -> dict[str, Any]:
        self.calls.append(("list_tags", {"ResourceArn": ResourceArn}))
        return {"Tags": self.tags.get(ResourceArn, [])}

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("create_training_job", request))
        if self.create_errors:
            raise self.create_errors.pop(0)
        name = request["TrainingJobName"]
        if name in self.jobs:
            raise client_error("ResourceInUse", "CreateTrainingJob")
        self.add_job(name, "InProgress", {t["Key"]: t["Value"] for t in request.get("Tags", [])})
        return {"TrainingJobArn": ARN.format(name)}

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.calls.append(("stop_training_job", {"TrainingJobName": TrainingJobName}))
        job = self.jobs.get(TrainingJobName)
        if job is None or job["TrainingJobStatus"] != "InProgress":
            raise client_error("ValidationException", "StopTrainingJob")
        job["TrainingJobStatus"] = "Stopping"
        return {}


class FakeLogs:
    """A boto3-shaped CloudWatch Logs client serving a job's streams from memory.

    ``streams`` maps a stream name to its ``(timestamp ms, message)`` events, oldest first.
    """

    def __init__(self, streams: dict[str, list[tuple[int, str]]] | None = None) -> None:
        self.streams = streams or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_log_streams(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("describe_log_streams", request))
        prefix = request.get("logStreamNamePrefix", "")
        return {
            "logStreams": [
                {"logStreamName": name, "lastEventTimestamp": events[-1][0] if events else None}
                for name, events in self.streams.items()
                if name.startswith(prefix)
            ]
        }

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        """Every matching event from ``startTime`` in one page (event ids: stream and index)."""
        self.calls.append(("filter_log_events", request))
        prefix, start = request["logStreamNamePrefix"], request.get("startTime", 0)
        events = [
            {"timestamp": t, "message": m, "logStreamName": name, "eventId": f"{name}#{i}"}
            for name, lines in self.streams.items()
            if name.startswith(prefix)
            for i, (t, m) in enumerate(lines)
            if t >= start
        ]
        return {"events": sorted(events, key=lambda e: e["timestamp"])}

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("get_log_events", request))
        events = self.streams[request["logStreamName"]]
        # startFromHead=False with a limit: the newest events, still oldest first.
        newest = events[-request["limit"] :]
        return {"events": [{"timestamp": stamp, "message": text} for stamp, text in newest]}


class ScriptedAsyncClient:
    """An aiobotocore-shaped client whose describe answers come from a script.

    Each script item is a status string, a describe dict, or an exception to raise; the last
    item repeats forever.
    """

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.describes = 0
        self.stops: list[str] = []

    async def call(self, operation: str, **kwargs: Any) -> Any:
        """The pooled client's entry point (see ``sagemaker_async.pool.SharedClient``)."""
        return await getattr(self, operation)(**kwargs)

    async def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.describes += 1
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, str):
            item = {"TrainingJobStatus": item, "SecondaryStatus": item}
        return {"TrainingJobName": TrainingJobName, **item}

    async def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.stops.append(TrainingJobName)
        return {}


def base_config(name: str = "job") -> dict[str, Any]:
    """A request as templates render it: numbers as strings, hyperparameters as numbers."""
    return training_request(
        name,
        ResourceConfig={
            "InstanceType": "ml.m5.large",
            "InstanceCount": "1",
            "VolumeSizeInGB": "10",
        },
        StoppingCondition={"MaxRuntimeInSeconds": "3600"},
        HyperParameters={"epochs": 3, "lr": 0.1},
    )


@dataclass
class FakeTI:
    dag_id: str = "dag"
    task_id: str = "train"
    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    max_tries: int = 0
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        return self.xcom.get(key)


OURS = identity_tags(FakeTI())
THEIRS = identity_tags(FakeTI(dag_id="other_dag"))
