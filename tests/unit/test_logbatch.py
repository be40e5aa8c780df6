from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from sagemaker_async.config import instance_count
from sagemaker_async.logbatch import LogBatch
from sagemaker_async.logtail import (
    FIND_STREAMS_EVERY,
    LATE_WINDOW_MS,
    LOG_GROUP,
    MAX_PAGES,
    MAX_STREAM_NAMES,
    RECHECK_STREAMS_EVERY,
    LogFollower,
)
from tests.unit.fakes import client_error

#: A minute before each test: log lines carry their hosts' clock, and reads start near the
#: present (see ``recent``).
T0 = int(time.time() * 1000) - 60_000


@pytest.fixture(autouse=True)
def recent() -> None:
    """``T0`` a minute before this test, not before collection (which may be long ago)."""
    global T0
    T0 = int(time.time() * 1000) - 60_000


class Account:
    """SageMaker tags and CloudWatch Logs events of many jobs, answered from memory.

    Job ``j`` writes to streams ``j/algo-<i>-1``; ``lines`` maps a stream to its
    ``(timestamp ms, message)`` events. Pages hold ``page_size`` events.
    """

    def __init__(self, lines: dict[str, list[tuple[int, str]]], page_size: int = 1000) -> None:
        self.lines = lines
        self.page_size = page_size
        #: Raised by DescribeLogStreams, when set.
        self.describe_error: Exception | None = None
        #: Each stream writes a line, stamped just now, before every FilterLogEvents answer.
        self.writing = False
        self.requests: list[dict[str, Any]] = []

    async def call(self, operation: str, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        if operation == "list_tags":
            return {"Tags": []}
        if operation == "add_tags":
            return {}
        self.requests.append(kwargs)
        if operation == "describe_log_streams":
            if self.describe_error is not None:
                raise self.describe_error
            return self.streams(kwargs["logStreamNamePrefix"])
        assert operation == "filter_log_events", operation
        if self.writing:
            now = int(time.time() * 1000) + 1  # after the read began, even within its ms
            for stream in self.lines.values():
                stream.append((now, f"written at {now}"))
        assert kwargs["logGroupName"] == LOG_GROUP
        names, prefix = kwargs.get("logStreamNames"), kwargs.get("logStreamNamePrefix")
        assert bool(names) != bool(prefix), "one of the two, as the API requires"
        assert names is None or len(names) <= MAX_STREAM_NAMES
        events = [
            {"timestamp": t, "message": m, "logStreamName": s, "eventId": f"{s}#{i}"}
            for s, stream in self.lines.items()
            if (names and s in names) or (prefix and s.startswith(prefix))
            for i, (t, m) in enumerate(stream)
            if kwargs["startTime"] <= t <= kwargs.get("endTime", t)
        ]
        events.sort(key=lambda e: e["timestamp"])
        offset = int(kwargs.get("nextToken", 0))
        page: dict[str, Any] = {"events": events[offset : offset + self.page_size]}
        if offset + self.page_size < len(events):
            page["nextToken"] = str(offset + self.page_size)
        return page

    def streams(self, prefix: str) -> dict[str, Any]:
        named = sorted(s for s in self.lines if s.startswith(prefix))
        return {
            "logStreams": [
                {
                    "logStreamName": s,
                    "creationTime": 500,
                    "firstEventTimestamp": self.lines[s][0][0],
                }
                if self.lines[s]
                else {"logStreamName": s, "creationTime": 500}
                for s in named
            ]
        }

    def batched(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "logStreamNames" in r]

    def alone(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "logStreamNamePrefix" in r and "startTime" in r]

    def finds(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "logStreamNamePrefix" in r and "startTime" not in r]


def jobs_writing(
    count: int, instances: int = 1, lines: int = 2
) -> dict[str, list[tuple[int, str]]]:
    return {
        f"job{j}/algo-{i}-1": [(T0 + 1000 + n, f"job{j} host{i} line{n}") for n in range(lines)]
        for j in range(count)
        for i in range(1, instances + 1)
    }


class Clock:
    """Monotonic seconds that only move when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def followers(
    account: Account, count: int, instances: int | None = 1, clock: Clock | None = None
) -> tuple[list[LogFollower], dict[str, list[str]]]:
    batch = LogBatch(account)
    shown: dict[str, list[str]] = {}
    made = []
    for j in range(count):
        name = f"job{j}"
        reader = LogFollower(
            name,
            shown.setdefault(name, []).append,
            clock or Clock(),
            batch=batch,
            instances=instances,
        )
        reader.arn = f"arn:{name}"
        made.append(reader)
    return made, shown


async def read_all(account: Account, readers: list[LogFollower]) -> None:
    await asyncio.gather(*(r.once(account, account, save=False) for r in readers))


def add_line(account: Account, stream: str, stamp: int, text: str) -> None:
    account.lines[stream].append((stamp, text))


@pytest.mark.asyncio
async def test_many_jobs_are_read_in_one_request_per_hundred_streams() -> None:
    account = Account(jobs_writing(150))
    readers, shown = followers(account, 150)
    await read_all(account, readers)
    # Each job finds its stream's name once, then 150 streams are two reads: 100 and 50.
    assert len(account.finds()) == 150 and not account.alone()
    assert [len(r["logStreamNames"]) for r in account.batched()] == [100, 50]
    for j in range(150):
        add_line(account, f"job{j}/algo-1-1", T0 + 2000, f"job{j} later")
    account.requests.clear()
    await read_all(account, readers)
    assert [len(r["logStreamNames"]) for r in account.batched()] == [100, 50]
    assert len(account.requests) == 2, "no more finds: every stream is known"
    # Each job shows its own lines, each once.
    for j in range(150):
        assert shown[f"job{j}"] == [
            f"[algo-1-1] job{j} host1 line0",
            f"[algo-1-1] job{j} host1 line1",
            f"[algo-1-1] job{j} later",
        ]


@pytest.mark.asyncio
async def test_a_job_looks_for_its_missing_streams_and_loses_none_of_their_lines() -> None:
    clock = Clock()
    account = Account({"job0/algo-1-1": [(T0 + 1000, "first host")]})
    readers, shown = followers(account, 1, instances=2, clock=clock)
    await read_all(account, readers)
    await read_all(account, readers)
    assert len(account.finds()) == 1, "looked for again only after a while"
    # The second host starts late; its lines are older than the late window behind the
    # first host's newest (an instance slow to start).
    account.lines["job0/algo-2-1"] = [(T0 - 600_000, "second host early"), (T0, "second host")]
    add_line(account, "job0/algo-1-1", T0 + 2000, "first host later")
    clock.now += FIND_STREAMS_EVERY
    await read_all(account, readers)  # alone: that far behind, it would drag a batch back
    assert len(account.finds()) == 2 and "logStreamNamePrefix" in account.requests[-1]
    await read_all(account, readers)
    assert account.requests[-1]["logStreamNames"] == ["job0/algo-1-1", "job0/algo-2-1"]
    assert shown["job0"] == [
        "[algo-1-1] first host",
        "[algo-2-1] second host early",
        "[algo-2-1] second host",
        "[algo-1-1] first host later",
    ]


@pytest.mark.asyncio
async def test_a_stream_that_appears_later_is_found_and_read_from_its_first_line() -> None:
    clock = Clock()
    account = Account(jobs_writing(1, lines=1))
    readers, shown = followers(account, 1, clock=clock)
    await read_all(account, readers)
    # The instance is replaced: a new stream, whose first line is older than the window.
    account.lines["job0/algo-1-2"] = [(T0 - 600_000, "replaced early"), (T0 + 5000, "replaced")]
    clock.now += RECHECK_STREAMS_EVERY
    await read_all(account, readers)
    assert shown["job0"][-2:] == ["[algo-1-2] replaced early", "[algo-1-2] replaced"]


@pytest.mark.asyncio
async def test_a_job_that_wrote_nothing_yet_costs_one_find_and_no_read() -> None:
    account = Account({})
    readers, shown = followers(account, 1)
    await read_all(account, readers)
    assert len(account.finds()) == 1 and not account.batched() and not account.alone()
    assert shown["job0"] == []


@pytest.mark.asyncio
async def test_a_silent_stream_holds_the_batch_back_no_further_than_the_late_window() -> None:
    now = int(time.time() * 1000)
    account = Account({"job0/algo-1-1": [(now - 3_600_000, "an hour ago")]})
    account.lines["job1/algo-1-1"] = [(now, "now")]
    readers, _ = followers(account, 2)
    await read_all(account, readers)
    await read_all(account, readers)
    start = account.batched()[-1]["startTime"]
    assert now - LATE_WINDOW_MS - 5000 <= start <= now - LATE_WINDOW_MS + 5000


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "batched"), [("AccessDeniedException", 0), ("ThrottlingException", 2)]
)
async def test_a_job_that_cannot_find_its_streams_reads_alone(code: str, batched: int) -> None:
    account = Account(jobs_writing(1))
    account.describe_error = client_error(code, "DescribeLogStreams")
    readers, shown = followers(account, 1)
    for _ in range(3):
        await read_all(account, readers)
    # Its own read names its stream too. Denied: it reads alone for good; throttled: in a
    # batch from the next read. Lines flow either way.
    assert len(account.finds()) == 1
    assert (len(account.alone()), len(account.batched())) == (3 - batched, batched)
    assert len(shown["job0"]) == 2


@pytest.mark.asyncio
async def test_an_unknown_instance_count_never_batches() -> None:
    account = Account(jobs_writing(3))
    readers, _ = followers(account, 3, instances=None)
    for _ in range(3):
        await read_all(account, readers)
    assert len(account.requests) == 9 and not account.batched()


@pytest.mark.asyncio
async def test_a_batch_cut_short_by_the_page_budget_hands_each_job_back_to_its_own_read() -> None:
    account = Account(jobs_writing(4, lines=1), page_size=1)
    readers, shown = followers(account, 4)
    await read_all(account, readers)
    for j in range(4):
        for n in range(MAX_PAGES):
            add_line(account, f"job{j}/algo-1-1", T0 + 2000 + n, f"job{j} burst{n}")
    account.requests.clear()
    await read_all(account, readers)
    # One batch of MAX_PAGES pages, not finished, then each job on its own from its cursor.
    assert len(account.batched()) == MAX_PAGES
    assert {r["logStreamNamePrefix"] for r in account.alone()} == {f"job{j}/" for j in range(4)}
    for _ in range(MAX_PAGES):
        await read_all(account, readers)
    for j in range(4):
        expected = [f"[algo-1-1] job{j} host1 line0"]
        expected += [f"[algo-1-1] job{j} burst{n}" for n in range(MAX_PAGES)]
        assert shown[f"job{j}"] == expected, "every line once, none lost to the cut"


@pytest.mark.asyncio
async def test_a_follower_cancelled_while_its_batch_reads_shows_nothing_and_keeps_its_cursor() -> (
    None
):
    account = Account(jobs_writing(2, lines=1))
    readers, shown = followers(account, 2)
    await read_all(account, readers)
    add_line(account, "job0/algo-1-1", T0 + 3000, "job0 new")
    add_line(account, "job1/algo-1-1", T0 + 3000, "job1 new")
    account.requests.clear()
    cancelled = asyncio.ensure_future(readers[0].once(account, account, save=False))
    other = asyncio.ensure_future(readers[1].once(account, account, save=False))
    while not account.batched():  # cancel once the batched read went out, not before
        await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, other, return_exceptions=True)
    assert shown["job0"] == ["[algo-1-1] job0 host1 line0"]
    assert shown["job1"][-1] == "[algo-1-1] job1 new"
    tail = readers[0].tail
    assert tail is not None and tail.cursor("job0/algo-1-1") == T0 + 1000
    await readers[0].once(account, account, save=False)
    assert shown["job0"][-1] == "[algo-1-1] job0 new", "read next time"


@pytest.mark.asyncio
async def test_jobs_writing_faster_than_pages_are_read_never_cut_a_batch_short() -> None:
    account = Account(jobs_writing(3, lines=1), page_size=2)
    readers, shown = followers(account, 3)
    await read_all(account, readers)  # finds the streams
    account.writing = True
    account.requests.clear()
    await read_all(account, readers)
    # Up to the read's start: the lines written while it pages are the next read's (three
    # a page, two read: unbounded, it would never end).
    assert len(account.batched()) <= 4 and not account.alone()
    (request,) = {r["endTime"] for r in account.batched()}
    assert all(int(line.rsplit(" ", 1)[1]) <= request for line in shown["job1"][1:])


@pytest.mark.asyncio
async def test_a_job_with_more_streams_than_a_request_holds_reads_alone() -> None:
    account = Account(jobs_writing(1, instances=MAX_STREAM_NAMES + 1, lines=1))
    readers, shown = followers(account, 1, instances=MAX_STREAM_NAMES + 1)
    await read_all(account, readers)
    await read_all(account, readers)
    assert not account.batched() and not account.finds()
    assert len(shown["job0"]) == MAX_STREAM_NAMES + 1


@pytest.mark.asyncio
async def test_the_last_reads_are_alone_to_find_a_late_stream() -> None:
    account = Account(jobs_writing(1, lines=1))
    readers, shown = followers(account, 1)
    await read_all(account, readers)
    account.lines["job0/algo-1-2"] = [(T0 + 5000, "replacement host")]
    account.requests.clear()
    await readers[0].finish(account, account, wait=0, save=False)
    assert shown["job0"][-1] == "[algo-1-2] replacement host"
    assert account.requests == account.alone(), "by prefix, not by the names known"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"InstanceCount": 2, "InstanceType": "ml.m5.xlarge"}, 2),
        ({"InstanceGroups": [{"InstanceCount": 1}, {"InstanceCount": 3}]}, 4),
        ({}, None),
        ({"InstanceCount": "{{ params.n }}"}, None),
        ({"InstanceGroups": [{"InstanceCount": 0}]}, None),
    ],
)
def test_instance_count_of_a_request(resource: dict[str, Any], expected: int | None) -> None:
    assert instance_count({"ResourceConfig": resource}) == expected
