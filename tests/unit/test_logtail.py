from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from sagemaker_async.logtail import (
    CURSOR_SAVE_SECONDS,
    CURSOR_TAG,
    LATE_WINDOW_MS,
    LOG_GROUP,
    MAX_PAGES,
    RECENT_STREAMS,
    TAG_VALUE_LIMIT,
    LogFollower,
    LogTail,
    decode_cursor,
    encode_cursor,
    recent_lines,
)
from tests.unit.fakes import FakeLogs

ONE, TWO = "job/algo-1-1", "job/algo-2-1"


def event(stamp: int, event_id: str, message: str, stream: str = "job/algo-1-1") -> dict[str, Any]:
    return {"timestamp": stamp, "eventId": event_id, "message": message, "logStreamName": stream}


def test_lines_from_several_streams_come_out_in_time_order() -> None:
    tail = LogTail("job")
    page = {
        "events": [
            event(300, "c", "third", "job/algo-2-1"),
            event(100, "a", "first"),
            event(200, "b", "second", "job/algo-2-1"),
        ]
    }
    assert tail.absorb(page) == ["[algo-1-1] first", "[algo-2-1] second", "[algo-2-1] third"]
    assert (tail.cursor(ONE), tail.cursor(TWO)) == (100, 300)


def test_lines_already_shown_are_not_shown_again() -> None:
    tail = LogTail("job")
    tail.absorb({"events": [event(100, "a", "one"), event(200, "b", "two")]})
    # The next read starts at the cursor's millisecond, so "two" comes back with a new line.
    again = {"events": [event(200, "b", "two"), event(200, "c", "three"), event(250, "d", "four")]}
    assert tail.absorb(again) == ["[algo-1-1] three", "[algo-1-1] four"]


def test_requests_follow_the_job_streams_from_the_cursor() -> None:
    tail = LogTail("job", floor=1234)
    assert tail.streams_request() == {"logGroupName": LOG_GROUP, "logStreamNamePrefix": "job/"}
    request = tail.events_request(tail.start(), token="t")
    # Every stream of the job (one per instance), without listing them first.
    assert request == {
        "logGroupName": LOG_GROUP,
        "logStreamNamePrefix": "job/",
        "startTime": 1234,
        "nextToken": "t",
    }


def test_an_old_single_number_cursor_is_every_stream_s_cursor() -> None:
    tags = [{"Key": "other", "Value": "x"}, {"Key": CURSOR_TAG, "Value": "987"}]
    tail = LogTail.from_tags("job", tags)
    assert (tail.cursor(ONE), tail.cursor(TWO), tail.start([ONE, TWO])) == (987, 987, 987)
    assert LogTail.from_tags("job", []).start([ONE]) == 0
    assert LogTail.from_tags("job", [{"Key": CURSOR_TAG, "Value": "junk"}]).start([ONE]) == 0
    assert LogTail("job", floor=5).cursor_tag() == {"Key": CURSOR_TAG, "Value": "5"}


def test_a_late_line_in_a_second_stream_is_shown_once() -> None:
    tail = LogTail("job")
    tail.absorb(
        {"events": [event(100, "a", "one"), event(200, "b", "two"), event(90, "x", "2a", TWO)]}
    )
    # algo-2's line stamped 150 reaches CloudWatch after algo-1's line stamped 200.
    late = {"events": [event(200, "b", "two"), event(150, "y", "late", TWO)]}
    assert tail.start([ONE, TWO]) == 90
    assert tail.absorb(late) == ["[algo-2-1] late"]
    assert tail.absorb(late) == []
    assert (tail.cursor(ONE), tail.cursor(TWO), tail.start([ONE, TWO])) == (200, 150, 150)


def test_per_stream_cursors_survive_the_tag_round_trip() -> None:
    tail = LogTail("job")
    tail.absorb({"events": [event(1_000, "a", "x", TWO), event(4_000, "b", "y")]})
    tag = tail.cursor_tag()
    assert tag["Key"] == CURSOR_TAG and len(tag["Value"]) <= TAG_VALUE_LIMIT
    resumed = LogTail.from_tags("job", [tag])
    assert (resumed.cursor(ONE), resumed.cursor(TWO)) == (4_000, 1_000)
    assert resumed.cursor("job/algo-3-1") == 1_000  # a stream new since: from the oldest
    # At most the lines at each stream's last millisecond repeat after a restart.
    page = {"events": [event(1_000, "a", "x", TWO), event(4_000, "b", "y"), event(4_001, "c", "z")]}
    assert resumed.absorb(page) == ["[algo-2-1] x", "[algo-1-1] y", "[algo-1-1] z"]


def test_eight_hosts_fit_in_the_tag_and_many_more_resume_without_loss() -> None:
    base = 1_700_000_000_000
    eight = {f"job/algo-{i}-1700000000": base + i * 11_111 for i in range(1, 9)}
    value = encode_cursor(eight)
    assert len(value) <= TAG_VALUE_LIMIT
    oldest, offsets = decode_cursor(value)
    assert oldest == base + 11_111
    # Every host ahead of the oldest keeps its own entry.
    assert sorted(offsets.values()) == [i * 11_111 for i in range(1, 8)]
    many = {f"job/algo-{i}-1700000000": base + i * 997 for i in range(1, 65)}
    value = encode_cursor(many)
    assert len(value) <= TAG_VALUE_LIMIT
    resumed = LogTail.from_tags("job", [{"Key": CURSOR_TAG, "Value": value}])
    cursors = {name: resumed.cursor(name) for name in many}
    assert all(cursors[name] <= many[name] for name in many), "a stream would skip lines"
    assert sum(cursors[name] == many[name] for name in many) > 8


def test_a_silent_stream_holds_reads_back_no_further_than_the_late_window() -> None:
    tail = LogTail("job")
    tail.absorb({"events": [event(1_000, "x", "last words", TWO), event(2_000, "a", "one")]})
    newest = 1_000_000
    tail.absorb({"events": [event(newest, "b", "busy")]})
    assert tail.start([ONE, TWO]) == newest - LATE_WINDOW_MS
    assert tail.absorb({"events": [event(newest - LATE_WINDOW_MS, "y", "late", TWO)]}) == [
        "[algo-2-1] late"
    ]


class FakeAws:
    """SageMaker and CloudWatch Logs calls a follower makes, answered from memory."""

    def __init__(
        self,
        events: list[dict[str, Any]],
        fail: Exception | None = None,
        page_size: int = 100,
        empty_pages: int = 0,
    ) -> None:
        self.events = events
        self.tags: list[dict[str, str]] = []
        self.fail = fail
        self.page_size = page_size
        #: Empty pages with a token that each read begins with, as the API allows.
        self.empty_pages = empty_pages
        self.calls: list[str] = []
        self.requests: list[dict[str, Any]] = []

    async def call(self, operation: str, **kwargs: Any) -> Any:
        self.calls.append(operation)
        self.requests.append(kwargs)
        if self.fail is not None and operation == "filter_log_events":
            raise self.fail
        if operation == "describe_training_job":
            return {"TrainingJobArn": "arn:job"}
        if operation == "list_tags":
            return {"Tags": list(self.tags)}
        if operation == "add_tags":
            self.tags = [t for t in self.tags if t["Key"] != CURSOR_TAG] + kwargs["Tags"]
            return {}
        if operation == "filter_log_events":
            assert kwargs["logStreamNamePrefix"] == "job/" and "logStreamNames" not in kwargs
            token = kwargs.get("nextToken", f"e{self.empty_pages}")
            if token.startswith("e"):
                if int(token[1:]) > 0:
                    return {"events": [], "nextToken": f"e{int(token[1:]) - 1}"}
                token = "0"
            return self.page(kwargs["startTime"], int(token))
        raise AssertionError(operation)

    def page(self, start: int, offset: int) -> dict[str, Any]:
        """Events from ``start`` in time order, ``page_size`` at a time."""
        due = sorted(
            (e for e in self.events if e["timestamp"] >= start), key=lambda e: e["timestamp"]
        )
        page: dict[str, Any] = {"events": due[offset : offset + self.page_size]}
        if offset + self.page_size < len(due):
            page["nextToken"] = str(offset + self.page_size)
        return page


def follower(shown: list[str]) -> LogFollower:
    reader = LogFollower("job", shown.append)
    reader.arn = "arn:job"  # as the first status poll sets it
    return reader


@pytest.mark.asyncio
async def test_nothing_is_read_before_the_first_status_poll() -> None:
    aws = FakeAws([event(100, "a", "one")])
    await LogFollower("job", print).once(aws, aws)
    assert aws.calls == []


@pytest.mark.asyncio
async def test_a_rebuilt_follower_resumes_from_the_saved_cursor() -> None:
    aws = FakeAws([event(100, "a", "one"), event(200, "b", "two")])
    shown: list[str] = []
    await follower(shown).once(aws, aws)
    aws.events.append(event(300, "c", "three"))
    # A triggerer restart: a new follower, reading the cursor the first one saved.
    await follower(shown).once(aws, aws)
    assert shown == ["[algo-1-1] one", "[algo-1-1] two", "[algo-1-1] two", "[algo-1-1] three"]
    assert aws.tags == [{"Key": CURSOR_TAG, "Value": "300"}]


@pytest.mark.asyncio
async def test_log_errors_are_reported_once_and_never_raised() -> None:
    aws = FakeAws([], fail=RuntimeError("logs unavailable"))
    shown: list[str] = []
    reader = follower(shown)
    for _ in range(3):
        await reader.once(aws, aws)
    assert len(shown) == 1 and "logs unavailable" in shown[0]


@pytest.mark.asyncio
async def test_a_late_line_of_a_second_host_reaches_the_log_across_a_restart() -> None:
    aws = FakeAws([event(100, "a", "one"), event(120, "x", "two-a", TWO), event(200, "b", "two")])
    shown: list[str] = []
    await follower(shown).once(aws, aws)
    aws.events += [event(150, "y", "late", TWO), event(300, "c", "three")]
    await follower(shown).once(aws, aws)  # a triggerer restart in between
    assert shown == [
        "[algo-1-1] one",
        "[algo-2-1] two-a",
        "[algo-1-1] two",
        # What repeats after the restart: each stream's line at its saved millisecond.
        "[algo-2-1] two-a",
        "[algo-2-1] late",
        "[algo-1-1] two",
        "[algo-1-1] three",
    ]


@pytest.mark.asyncio
async def test_an_unchanged_position_is_not_written_again() -> None:
    aws = FakeAws([event(100, "a", "one"), event(150, "x", "one-b", TWO)])
    reader = follower([])
    await reader.once(aws, aws)
    await reader.once(aws, aws)
    assert aws.calls.count("add_tags") == 1
    assert aws.calls.count("list_tags") == 1


@pytest.mark.asyncio
async def test_a_backlog_past_the_page_budget_is_caught_up_over_intervals() -> None:
    # algo-2 fell silent early: without care every read would restart from its last line.
    lines = [event(500, "x", "line 0", TWO)]
    lines += [event(1_000 + i, f"e{i}", f"line {i}") for i in range(1, 120)]
    aws = FakeAws(lines, page_size=10)
    shown: list[str] = []
    reader = follower(shown)
    await reader.once(aws, aws)
    assert aws.calls.count("filter_log_events") == MAX_PAGES
    assert len(shown) == MAX_PAGES * 10
    for _ in range(3):
        await reader.once(aws, aws)
    assert [line.split("] ")[1] for line in shown] == [f"line {i}" for i in range(120)]


def test_recent_lines_are_the_last_lines_of_all_streams_in_time_order() -> None:
    logs = FakeLogs(
        {
            ONE: [(10, "a1"), (30, "a2"), (50, "a3")],
            TWO: [(20, "b1"), (40, "b2"), (40, "b3")],
            "job-2/algo-1-1": [(60, "another job")],
        }
    )
    assert recent_lines(logs, "job", 4) == [
        "[algo-1-1] a2",
        "[algo-2-1] b2",
        "[algo-2-1] b3",
        "[algo-1-1] a3",
    ]
    reads = [request for op, request in logs.calls if op == "get_log_events"]
    assert {r["logStreamName"] for r in reads} == {ONE, TWO}
    assert all(r["limit"] == 4 and r["startFromHead"] is False for r in reads)
    assert all(r["logGroupName"] == LOG_GROUP for r in reads)


def test_recent_lines_read_only_the_streams_written_last() -> None:
    streams = {f"job/algo-{n}-1": [(n, f"host {n}")] for n in range(1, RECENT_STREAMS + 6)}
    logs = FakeLogs(streams)
    lines = recent_lines(logs, "job", 100)
    assert len([op for op, _ in logs.calls if op == "get_log_events"]) == RECENT_STREAMS
    newest = RECENT_STREAMS + 5
    assert lines[0] == "[algo-6-1] host 6"
    assert lines[-1] == f"[algo-{newest}-1] host {newest}"


def test_recent_lines_of_a_job_without_streams_are_none() -> None:
    assert recent_lines(FakeLogs(), "job", 20) == []


@pytest.mark.asyncio
async def test_empty_pages_with_a_token_never_stall_the_tail() -> None:
    # Each read begins with more empty pages than one interval's budget.
    aws = FakeAws([event(100, "a", "one"), event(200, "b", "two")], empty_pages=MAX_PAGES + 2)
    shown: list[str] = []
    reader = follower(shown)
    await reader.once(aws, aws)
    assert shown == [] and aws.calls.count("filter_log_events") == MAX_PAGES
    await reader.once(aws, aws)  # goes on from the token, not from the first page again
    assert shown == ["[algo-1-1] one", "[algo-1-1] two"]
    assert aws.calls.count("filter_log_events") == MAX_PAGES + 3


@pytest.mark.asyncio
async def test_every_instance_stream_is_read_in_one_request() -> None:
    streams = [f"job/algo-{n}-1" for n in range(1, 61)]  # more than a DescribeLogStreams page
    aws = FakeAws([event(100 + n, f"e{n}", f"host {n}", s) for n, s in enumerate(streams)])
    shown: list[str] = []
    await follower(shown).once(aws, aws)
    assert len(shown) == 60 and "describe_log_streams" not in aws.calls
    assert aws.calls.count("filter_log_events") == 1


@pytest.mark.asyncio
async def test_lines_that_land_after_the_final_status_are_shown() -> None:
    aws = FakeAws([event(100, "a", "one")])
    shown: list[str] = []
    reader = follower(shown)
    await reader.once(aws, aws)

    async def land_late() -> None:
        await asyncio.sleep(0.05)  # after the final status, before the last read
        aws.events.append(event(200, "z", "Traceback: the reason it failed"))

    late = asyncio.ensure_future(land_late())
    await reader.finish(aws, aws, wait=0.2)
    await late
    assert shown == ["[algo-1-1] one", "[algo-1-1] Traceback: the reason it failed"]
    assert decode_cursor(aws.tags[0]["Value"])[0] == 200  # the last position is saved


@pytest.mark.asyncio
async def test_the_cursor_is_written_far_less_than_once_per_interval() -> None:
    now = [0.0]
    aws = FakeAws([])
    reader = LogFollower("job", [].append, clock=lambda: now[0])
    reader.arn = "arn:job"
    for i in range(100):  # 100 intervals of 30 s, each with a new line
        aws.events.append(event(1_000 + i, f"e{i}", f"line {i}"))
        await reader.once(aws, aws)
        now[0] += 30
    writes = aws.calls.count("add_tags")
    assert 1 <= writes <= 100 * 30 / CURSOR_SAVE_SECONDS + 1


@pytest.mark.asyncio
async def test_a_cancelled_follower_saves_its_cursor_first() -> None:
    now = [0.0]
    aws = FakeAws([event(100, "a", "one")])
    reader = LogFollower("job", [].append, clock=lambda: now[0])
    reader.arn = "arn:job"
    await reader.once(aws, aws)  # the first write
    aws.events.append(event(200, "b", "two"))
    following = asyncio.ensure_future(reader.follow(aws, aws, interval=60))
    await asyncio.sleep(0.05)
    assert aws.calls.count("add_tags") == 1  # not due yet
    following.cancel()  # a triggerer shutting down
    with pytest.raises(asyncio.CancelledError):
        await following
    assert decode_cursor(aws.tags[0]["Value"])[0] == 200


def test_a_handed_over_state_goes_on_exactly_where_the_tail_stopped() -> None:
    tail = LogTail("job")
    tail.absorb(
        {"events": [event(100, "a", "one"), event(200, "b", "two"), event(200, "x", "2b", TWO)]}
    )
    after = LogTail.from_state("job", json.loads(json.dumps(tail.state())))
    again = {
        "events": [event(200, "b", "two"), event(200, "c", "same ms"), event(200, "x", "2b", TWO)]
    }
    # Unlike the cursor tag, nothing at the last millisecond repeats.
    assert after.absorb(again) == ["[algo-1-1] same ms"]


@pytest.mark.asyncio
async def test_the_hand_over_reads_nothing_and_the_resumed_task_goes_on_from_it() -> None:
    aws = FakeAws([event(100, "a", "one")])
    shown: list[str] = []
    reader = follower(shown)
    await reader.once(aws, aws)
    aws.events.append(event(200, "b", "two"))
    aws.calls.clear()
    hand_over = await reader.hand_over(aws)
    # The event never waits for the account's Logs share: no read is made.
    assert "filter_log_events" not in aws.calls and shown == ["[algo-1-1] one"]
    assert abs(hand_over["ended_at"] - time.time()) < 5
    resumed = LogFollower("job", shown.append)
    resumed.tail = LogTail.from_state("job", json.loads(json.dumps(hand_over["state"])))
    await resumed.finish(aws, aws, wait=0, save=False)
    assert shown == ["[algo-1-1] one", "[algo-1-1] two"]


@pytest.mark.asyncio
async def test_a_restarted_trigger_that_finds_the_job_over_hands_over_the_saved_cursor() -> None:
    aws = FakeAws([event(100, "a", "one"), event(200, "b", "two")])
    shown: list[str] = []
    before = follower(shown)
    await before.once(aws, aws)
    await before.save(aws)  # as the old triggerer does when it is stopped
    # The new triggerer's first poll finds the job over: its follower never read.
    after = follower([])
    state = json.loads(json.dumps((await after.hand_over(aws))["state"]))
    resumed = LogFollower("job", shown.append)
    # As SageMakerHook.finish_logs takes it over.
    resumed.tail = LogTail.from_state("job", state) if state else LogTail("job")
    aws.events.append(event(300, "c", "three"))
    await resumed.finish(aws, aws, wait=0, save=False)
    # The resumed task goes on from the saved cursor (which repeats its last millisecond),
    # not from the job's first line.
    assert shown == ["[algo-1-1] one", "[algo-1-1] two", "[algo-1-1] two", "[algo-1-1] three"]


@pytest.mark.asyncio
async def test_a_restart_hand_over_keeps_each_stream_s_saved_place() -> None:
    # Two instances, one far ahead: the tag holds a base and the other stream's offset.
    aws = FakeAws(
        [event(100, "a", "one-1"), event(3000, "z", "two-0", TWO), event(5000, "b", "two-1", TWO)]
    )
    before = follower([])
    await before.once(aws, aws)
    await before.save(aws)
    tag = list(aws.tags)
    after = follower([])
    state = json.loads(json.dumps((await after.hand_over(aws))["state"]))
    assert aws.tags == tag  # nothing written back over the saved offsets
    shown: list[str] = []
    resumed = LogFollower("job", shown.append)
    resumed.tail = LogTail.from_state("job", state)
    aws.events += [event(200, "c", "one-2"), event(6000, "d", "two-2", TWO)]
    await resumed.finish(aws, aws, wait=0, save=False)
    # The stream ahead goes on from its own place (the tag repeats each stream's line at its
    # saved millisecond), not from the base.
    assert shown == [
        "[algo-1-1] one-1",
        "[algo-1-1] one-2",
        "[algo-2-1] two-1",
        "[algo-2-1] two-2",
    ]


def test_a_stream_found_by_name_after_a_restart_resumes_at_the_tag_s_base() -> None:
    # The tag leaves out streams at its base: found by name after a restart, such a stream
    # goes on from the base, not from its first line (which would repeat its whole log).
    resumed = LogTail.from_tags("job", [{"Key": CURSOR_TAG, "Value": "5000"}])
    resumed.know({ONE: 999})
    assert resumed.cursor(ONE) == 5000
    # Without a tag, a stream found late is read from its first line.
    fresh = LogTail("job", floor=4000)
    fresh.know({ONE: 999})
    assert fresh.cursor(ONE) == 999
