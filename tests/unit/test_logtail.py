from __future__ import annotations

from typing import Any

import pytest

from sagemaker_async.logtail import CURSOR_TAG, LOG_GROUP, LogFollower, LogTail


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
    assert tail.cursor == 300


def test_lines_already_shown_are_not_shown_again() -> None:
    tail = LogTail("job")
    tail.absorb({"events": [event(100, "a", "one"), event(200, "b", "two")]})
    # The next read starts at the cursor's millisecond, so "two" comes back with a new line.
    again = {"events": [event(200, "b", "two"), event(200, "c", "three"), event(250, "d", "four")]}
    assert tail.absorb(again) == ["[algo-1-1] three", "[algo-1-1] four"]


def test_requests_follow_the_job_streams_from_the_cursor() -> None:
    tail = LogTail("job", cursor=1234)
    assert tail.streams_request() == {"logGroupName": LOG_GROUP, "logStreamNamePrefix": "job/"}
    request = tail.events_request(["job/algo-1-1"], tail.cursor, token="t")
    assert request == {
        "logGroupName": LOG_GROUP,
        "logStreamNames": ["job/algo-1-1"],
        "startTime": 1234,
        "interleaved": True,
        "nextToken": "t",
    }


def test_cursor_is_resumed_from_the_job_tags() -> None:
    tags = [{"Key": "other", "Value": "x"}, {"Key": CURSOR_TAG, "Value": "987"}]
    assert LogTail.from_tags("job", tags).cursor == 987
    assert LogTail.from_tags("job", []).cursor == 0
    assert LogTail("job", cursor=5).cursor_tag() == {"Key": CURSOR_TAG, "Value": "5"}


class FakeAws:
    """SageMaker and CloudWatch Logs calls a follower makes, answered from memory."""

    def __init__(self, events: list[dict[str, Any]], fail: Exception | None = None) -> None:
        self.events = events
        self.tags: list[dict[str, str]] = []
        self.fail = fail
        self.calls: list[str] = []

    async def call(self, operation: str, **kwargs: Any) -> Any:
        self.calls.append(operation)
        if self.fail is not None and operation == "filter_log_events":
            raise self.fail
        if operation == "describe_training_job":
            return {"TrainingJobArn": "arn:job"}
        if operation == "list_tags":
            return {"Tags": list(self.tags)}
        if operation == "add_tags":
            self.tags = [t for t in self.tags if t["Key"] != CURSOR_TAG] + kwargs["Tags"]
            return {}
        if operation == "describe_log_streams":
            return {"logStreams": [{"logStreamName": "job/algo-1-1"}]}
        if operation == "filter_log_events":
            return {"events": [e for e in self.events if e["timestamp"] >= kwargs["startTime"]]}
        raise AssertionError(operation)


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
