"""Following a training job's CloudWatch log streams, a page of requests at a time.

The logic is kept apart from any client so the trigger (aiobotocore) and the blocking wait
(boto3) share it: :class:`LogTail` says which requests to make and turns their answers into
lines. Its cursor (the timestamp of the last line shown) is saved on the job as a tag, so a
trigger rebuilt after a triggerer restart resumes where the last one stopped: at most the
lines of one interval repeat, none is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sagemaker_async import errors

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
CURSOR_TAG = "airflow:log-cursor"
#: Pages of log events fetched per poll at most, so a chatty job cannot starve polling.
MAX_PAGES = 5


class AsyncCaller(Protocol):
    """What :class:`LogFollower` needs of a client: ``await call(operation, **kwargs)``."""

    async def call(self, operation: str, **kwargs: Any) -> Any: ...


@dataclass
class LogTail:
    """The read position in one job's log streams.

    :param job_name: the training job.
    :param cursor: epoch milliseconds of the last line shown (0: from the start).
    """

    job_name: str
    cursor: int = 0
    _seen: set[str] = field(default_factory=set)  # event ids shown at the cursor's millisecond

    @classmethod
    def from_tags(cls, job_name: str, tags: list[dict[str, str]]) -> LogTail:
        saved = next((t.get("Value") for t in tags if t.get("Key") == CURSOR_TAG), None)
        return cls(job_name, int(saved) if saved and saved.isdigit() else 0)

    def streams_request(self) -> dict[str, Any]:
        return {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{self.job_name}/"}

    @staticmethod
    def stream_names(response: dict[str, Any]) -> list[str]:
        return [s["logStreamName"] for s in response.get("logStreams", [])]

    def events_request(
        self, streams: list[str], start: int, token: str | None = None
    ) -> dict[str, Any]:
        """One FilterLogEvents page; every page of a read asks from the same ``start``."""
        request: dict[str, Any] = {
            "logGroupName": LOG_GROUP,
            "logStreamNames": streams,
            "startTime": start,
            "interleaved": True,
        }
        if token:
            request["nextToken"] = token
        return request

    def absorb(self, response: dict[str, Any]) -> list[str]:
        """New lines from a FilterLogEvents page, oldest first; advances the cursor."""
        lines = []
        events = sorted(response.get("events", []), key=lambda e: (e["timestamp"], e["eventId"]))
        for event in events:
            stamp, event_id = int(event["timestamp"]), str(event["eventId"])
            if stamp < self.cursor or (stamp == self.cursor and event_id in self._seen):
                continue
            if stamp > self.cursor:
                self.cursor, self._seen = stamp, set()
            self._seen.add(event_id)
            stream = str(event.get("logStreamName", "")).removeprefix(f"{self.job_name}/")
            lines.append(f"[{stream}] {str(event.get('message', '')).rstrip()}")
        return lines

    def cursor_tag(self) -> dict[str, str]:
        return {"Key": CURSOR_TAG, "Value": str(self.cursor)}


class LogFollower:
    """Shows a job's new log lines through ``emit`` and saves the cursor on the job.

    Reading logs is best effort: an error is reported once through ``emit`` and never
    interrupts the wait for the job's status.

    :param job_name: the training job.
    :param emit: where lines go (the task log).
    """

    def __init__(self, job_name: str, emit: Callable[[str], None]) -> None:
        self.job_name = job_name
        self.emit = emit
        self.tail: LogTail | None = None
        self.arn: str | None = None
        self._warned = False

    async def follow(self, sagemaker: AsyncCaller, logs: AsyncCaller, interval: float) -> None:
        """Show new lines every ``interval`` seconds until cancelled."""
        while True:
            await self.once(sagemaker, logs)
            await asyncio.sleep(interval)

    async def once(self, sagemaker: AsyncCaller, logs: AsyncCaller) -> None:
        """Show what is new; does nothing until the status poll has told :attr:`arn`."""
        if self.arn is None:
            return
        try:
            if self.tail is None:
                tags = await sagemaker.call("list_tags", ResourceArn=self.arn)
                self.tail = LogTail.from_tags(self.job_name, tags.get("Tags", []))
            streams = LogTail.stream_names(
                await logs.call("describe_log_streams", **self.tail.streams_request())
            )
            moved = False
            start, token = self.tail.cursor, None
            for _ in range(MAX_PAGES) if streams else ():
                request = self.tail.events_request(streams, start, token)
                page = await logs.call("filter_log_events", **request)
                for line in self.tail.absorb(page):
                    self.emit(line)
                    moved = True
                token = page.get("nextToken")
                if not token:
                    break
                await asyncio.sleep(0)  # a long page of lines must not hog the event loop
            if moved:
                await sagemaker.call(
                    "add_tags", ResourceArn=self.arn, Tags=[self.tail.cursor_tag()]
                )
        except Exception as exc:  # best effort: nothing here may break the wait for the job
            if errors.error_code(exc) == "ResourceNotFoundException":
                return  # no log group yet: the job has not written anything
            if not self._warned:
                self._warned = True
                self.emit(f"Could not read the logs of {self.job_name} (will keep trying): {exc}")
