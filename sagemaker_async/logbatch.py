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

from sagemaker_async import errors
from sagemaker_async.logtail import (
    LATE_WINDOW_MS,
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
        # Weakly: the registry of batches is keyed by this client, which must stay free
        # to go when its last user releases it.
        self._logs = weakref.ref(logs)
        self._queue: collections.deque[_Ask] = collections.deque()
        self._runner: asyncio.Task[None] | None = None

    async def read(self, tail: LogTail) -> Batched | None:
        """What the next batched read found in the tail's streams (some events may have
        been shown already: :meth:`LogTail.absorb` drops those); ``None`` when that read
        failed or was cut short, and the caller should read on its own."""
        if len(tail.stream_names()) > MAX_STREAM_NAMES:
            return None
        if tail.start() < time.time() * 1000 - 2 * LATE_WINDOW_MS:
            return None  # far behind (a backlog): it would drag every member's read back
        ask = _Ask(tail)
        self._queue.append(ask)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
        return await ask.answer

    async def _run(self) -> None:
        members: list[_Ask] = []
        try:
            while self._queue:
                members = self._take()
                found = await self._found(members)
                shares = {} if found is None else _by_stream(found[0])
                for ask in members:
                    if not ask.answer.done():
                        share = None if found is None else _share(ask.tail, shares, found[1])
                        ask.answer.set_result(share)
        finally:  # however the runner ends, nobody waits on it for ever
            for ask in [*members, *self._queue]:
                if not ask.answer.done():
                    ask.answer.set_result(None)

    async def _found(self, members: list[_Ask]) -> tuple[Events, int | None] | None:
        """One read for ``members``: throttled, nothing (they wait for the next one rather
        than each spend a request of the same scarce limit); failed otherwise or cut
        short, ``None`` (each reads alone)."""
        if not members:
            return None
        try:
            return await self._fetch(members)
        except errors.CALL_ERRORS as exc:
            return ([], None) if errors.is_transient(exc) else None

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

    async def _fetch(self, members: list[_Ask]) -> tuple[Events, int | None] | None:
        """The events of one read over the members' streams and when it began (epoch ms);
        ``None`` if the page budget ran out first."""
        logs = self._logs()
        if logs is None:
            return None
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
            page = await logs.call("filter_log_events", **request)
            events += page.get("events", [])
            token = page.get("nextToken")
            if not token:
                return events, read_from
            request["nextToken"] = token
        return None


def _by_stream(events: Events) -> dict[str, Events]:
    """A read's events by stream, in one pass (a read may hold 10,000 per page)."""
    streams: dict[str, Events] = collections.defaultdict(list)
    for event in events:
        streams[str(event.get("logStreamName", ""))].append(event)
    return streams


def _share(tail: LogTail, streams: dict[str, Events], read_from: int | None) -> Batched:
    """A member's share of a read."""
    return Batched([e for name in tail.stream_names() for e in streams.get(name, [])], read_from)


_BATCHES: weakref.WeakKeyDictionary[Any, LogBatch] = weakref.WeakKeyDictionary()


def batch_for(logs: Any) -> LogBatch:
    """The batch of the CloudWatch Logs client ``logs``, created on first use."""
    batch = _BATCHES.get(logs)
    if batch is None:
        batch = _BATCHES[logs] = LogBatch(logs)
    return batch
