"""FilterLogEvents with empty and partial pages, on moto's in-process CloudWatch Logs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from moto.logs.exceptions import ResourceAlreadyExistsException
from moto.logs.models import logs_backends

from sagemaker_async.testing.jobs import ACCOUNT_ID
from sagemaker_async.testing.logpages import LogConfig, LogsError, filter_page

GROUP = "/test/logpages"
NOW_MS = (int(time.time()) - 600) * 1000  # CloudWatch refuses events older than 14 days


@pytest.fixture
def backend() -> Iterator[Any]:
    logs = logs_backends[ACCOUNT_ID]["eu-north-1"]
    with contextlib.suppress(ResourceAlreadyExistsException):
        logs.create_log_group(GROUP, {})
    for host in (1, 2):
        logs.ensure_log_stream(GROUP, f"job/algo-{host}")
        events = [
            {"timestamp": NOW_MS + 10 * i + host, "message": f"h{host} {i}"} for i in range(5)
        ]
        logs.put_log_events(GROUP, f"job/algo-{host}", events)
    logs.ensure_log_stream(GROUP, "other/algo-1")
    logs.put_log_events(GROUP, "other/algo-1", [{"timestamp": NOW_MS, "message": "other"}])
    yield logs
    logs.delete_log_group(GROUP)


def read_pass(config: LogConfig, backend: Any, **request: Any) -> list[list[str]]:
    """Every page of one pass, as messages."""
    request = {"logGroupName": GROUP, **request}
    pages: list[list[str]] = []
    while True:
        page = filter_page(config, backend, request)
        pages.append([event["message"] for event in page["events"]])
        if "nextToken" not in page:
            return pages
        request["nextToken"] = page["nextToken"]
        assert len(pages) < 100, "the pass never ends"


STREAMS = ["job/algo-1", "job/algo-2"]
IN_ORDER = [f"h{host} {i}" for i in range(5) for host in (1, 2)]


def test_empty_pages_then_partial_ones_then_an_empty_last_page(backend: Any) -> None:
    config = LogConfig(empty_pages=2, page_events=3)
    pages = read_pass(config, backend, logStreamNames=STREAMS)
    assert pages == [[], [], IN_ORDER[:3], IN_ORDER[3:6], IN_ORDER[6:9], IN_ORDER[9:], []]


def test_the_request_limit_caps_the_page_too(backend: Any) -> None:
    pages = read_pass(LogConfig(page_events=4), backend, logStreamNames=STREAMS, limit=3)
    assert [len(page) for page in pages] == [3, 3, 3, 1, 0]
    assert [message for page in pages for message in page] == IN_ORDER


def test_each_pass_starts_with_its_empty_pages(backend: Any) -> None:
    config = LogConfig(empty_pages=1)
    first = read_pass(config, backend, logStreamNames=STREAMS, startTime=NOW_MS + 20)
    assert first == [[], IN_ORDER[4:], []]
    assert read_pass(config, backend, logStreamNamePrefix="other/") == [[], ["other"], []]


def test_a_line_ingested_during_a_pass_with_an_older_timestamp_waits_for_the_next_one(
    backend: Any,
) -> None:
    config = LogConfig(page_events=4)
    request: dict[str, Any] = {"logGroupName": GROUP, "logStreamNames": STREAMS}
    first = filter_page(config, backend, request)
    late = [{"timestamp": NOW_MS + 1, "message": "late"}]
    backend.put_log_events(GROUP, "job/algo-2", late)
    request["nextToken"] = first["nextToken"]
    rest = read_pass(config, backend, **request)
    later = [message for page in rest for message in page]
    assert [e["message"] for e in first["events"]] + later == IN_ORDER
    assert read_pass(config, backend, logStreamNames=STREAMS)[0][:2] == ["h1 0", "late"]


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"logGroupName": "/nope"}, "ResourceNotFoundException"),
        ({"logStreamNames": STREAMS, "logStreamNamePrefix": "job/"}, "InvalidParameterException"),
        ({"nextToken": "garbage"}, "InvalidParameterException"),
        ({"limit": 0}, "InvalidParameterException"),
        ({"limit": 10_001}, "InvalidParameterException"),
        ({"logStreamNames": [f"job/algo-{i}-1" for i in range(101)]}, "InvalidParameterException"),
    ],
)
def test_bad_requests_are_answered_as_cloudwatch_does(
    backend: Any, request_fields: dict[str, Any], code: str
) -> None:
    with pytest.raises(LogsError) as err:
        filter_page(LogConfig(empty_pages=1), backend, {"logGroupName": GROUP, **request_fields})
    assert err.value.code == code


def test_a_token_of_another_group_is_refused(backend: Any) -> None:
    page = filter_page(LogConfig(empty_pages=1), backend, {"logGroupName": GROUP})
    with contextlib.suppress(ResourceAlreadyExistsException):
        backend.create_log_group("/test/other", {})
    try:
        with pytest.raises(LogsError, match="nextToken is invalid"):
            filter_page(
                LogConfig(empty_pages=1),
                backend,
                {"logGroupName": "/test/other", "nextToken": page["nextToken"]},
            )
    finally:
        backend.delete_log_group("/test/other")


def test_a_group_arn_names_the_group(backend: Any) -> None:
    arn = f"arn:aws:logs:eu-north-1:{ACCOUNT_ID}:log-group:{GROUP}:*"
    page = filter_page(LogConfig(page_events=1), backend, {"logGroupIdentifier": arn})
    assert page["events"][0]["message"] == "other"
    assert set(page["events"][0]) == {
        "logStreamName",
        "timestamp",
        "message",
        "ingestionTime",
        "eventId",
    }
