"""One CloudWatch Logs read for the log streams of many jobs.

``FilterLogEvents`` takes up to :data:`MAX_STREAMS` stream names (``logStreamNames``). A
triggerer tailing N jobs therefore reads them in about N / 100 requests per interval rather
than N: at its share of the account's 5 ``FilterLogEvents`` per second, a thousand tailing
tasks are read every few seconds instead of every few minutes.

A request names streams, so each follower first finds its job's stream names
(``DescribeLogStreams``, see :class:`~sagemaker_async.logtail.LogFollower`); a job's last
reads go alone, by prefix, to find a stream that appeared late.

- Members are served first come, first served; each waits for one read of its streams.
- A batch only fetches events: each member's follower absorbs and shows its own, so a
  follower cancelled while it waits shows nothing and moves no cursor.
- A read that got every page tells its members when it began: their next reads start no
  earlier than the late-lines window before that, so one silent stream cannot hold a whole
  batch back. A read cut short by the page budget (a backlog, or empty pages) hands its
  members back to their own reads, which go on from a token: a batch restarts each time, and
  could meet the same pages again.
"""

from __future__ import annotations

import asyncio
import collections
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from sagemaker_async.logtail import (
    LOG_GROUP,
    MAX_PAGES,
    MAX_STREAM_NAMES,
    AsyncCaller,
    Batched,
    LogTail,
)

Events = list[dict[str, Any]]


@dataclass
class _Ask:
    tail: LogTail
    answer: asyncio.Future[Batched | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class LogBatch:
    """Reads queued tails together, first come first served, up to
    :data:`~sagemaker_async.logtail.MAX_STREAM_NAMES` streams a request.

    :param logs: the CloudWatch Logs client (its pacer spends the triggerer's share).
    """

    def __init__(self, logs: AsyncCaller) -> None:
        self.logs = logs
        self._queue: collections.deque[_Ask] = collections.deque()
        self._runner: asyncio.Task[None] | None = None

    async def read(self, tail: LogTail) -> Batched | None:
        """What the next batched read found in the tail's streams (some events may have
        been shown already: :meth:`LogTail.absorb` drops those); ``None`` when that read
        failed or was cut short, and the caller should read on its own."""
        if len(tail.stream_names()) > MAX_STREAM_NAMES:
            return None
        ask = _Ask(tail)
        self._queue.append(ask)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
        return await ask.answer

    async def _run(self) -> None:
        while self._queue:
            members = self._take()
            if not members:
                continue
            try:
                found = await self._fetch(members)
            except Exception:  # best effort: each member reads on its own this time
                found = None
            for ask in members:
                if not ask.answer.done():
                    ask.answer.set_result(_for(ask.tail, found))

    def _take(self) -> list[_Ask]:
        """The next asks whose streams fit in one request (cancelled ones dropped)."""
        members: list[_Ask] = []
        streams = 0
        while self._queue:
            ask = self._queue[0]
            if ask.answer.done():
                self._queue.popleft()
                continue
            count = len(ask.tail.stream_names())
            if members and streams + count > MAX_STREAM_NAMES:
                break
            self._queue.popleft()
            members.append(ask)
            streams += count
        return members

    async def _fetch(self, members: list[_Ask]) -> tuple[Events, int] | None:
        """The events of one read over the members' streams and when it began (epoch ms);
        ``None`` if the page budget ran out first."""
        read_from = int(time.time() * 1000)
        request: dict[str, Any] = {
            "logGroupName": LOG_GROUP,
            "logStreamNames": [s for ask in members for s in ask.tail.stream_names()],
            "startTime": min(ask.tail.start() for ask in members),
            # Up to now only: pages of jobs still writing would otherwise go on as long as
            # they do (a token promises nothing), and the next read takes the rest.
            "endTime": read_from,
        }
        events: Events = []
        for _ in range(MAX_PAGES):
            page = await self.logs.call("filter_log_events", **request)
            events += page.get("events", [])
            token = page.get("nextToken")
            if not token:
                return events, read_from
            request["nextToken"] = token
        return None


def instance_count(config: dict[str, Any]) -> int | None:
    """How many instances a training request asks for (SageMaker writes one log stream
    each), if it says: ``ResourceConfig``'s ``InstanceCount`` plus its instance groups'."""
    resource = config.get("ResourceConfig") or {}
    counts = [group.get("InstanceCount") for group in resource.get("InstanceGroups") or []]
    if "InstanceCount" in resource or not counts:
        counts.append(resource.get("InstanceCount"))
    if not all(isinstance(count, int) and count > 0 for count in counts):
        return None
    return sum(int(count) for count in counts)


def _for(tail: LogTail, found: tuple[Events, int] | None) -> Batched | None:
    """A member's share of a read."""
    if found is None:
        return None
    events, read_from = found
    names = set(tail.stream_names())
    return Batched([e for e in events if e.get("logStreamName") in names], read_from)


_BATCHES: weakref.WeakKeyDictionary[Any, LogBatch] = weakref.WeakKeyDictionary()


def batch_for(logs: Any) -> LogBatch:
    """The batch of the CloudWatch Logs client ``logs``, created on first use."""
    batch = _BATCHES.get(logs)
    if batch is None:
        batch = _BATCHES[logs] = LogBatch(logs)
    return batch
