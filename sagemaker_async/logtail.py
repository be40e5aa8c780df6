"""Following a training job's CloudWatch log streams, a page of requests at a time.

The logic is kept apart from any client so the trigger (aiobotocore) and the blocking wait
(boto3) share it: :class:`LogTail` says which requests to make and turns their answers into
lines. It keeps a cursor per stream (the timestamp of the last line shown from it), so a
line that reaches one host's stream late, after newer lines of another, is still shown.

- One ``FilterLogEvents`` read covers every stream of the job (``logStreamNamePrefix``
  ``<job>/``: SageMaker writes one stream per instance), however many instances it has.
- A read that runs out of its page budget goes on from its ``nextToken`` at the next
  interval. The API may answer "partially full, or even empty" pages with a token
  (``FilterLogEvents`` reference), and restarting the read would meet them again.
- After the job's final status, the follower reads once more :data:`LATE_LINES_WAIT` later:
  CloudWatch does not order a job's last lines before its status change.
- The cursors are saved on the job as a tag, so a trigger rebuilt after a triggerer restart
  resumes where the last one stopped. The tag is written when the first lines are shown,
  then at most every :data:`CURSOR_SAVE_SECONDS`, and when the wait ends or is cancelled: a
  killed triggerer repeats at most that much of the log, and skips none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sagemaker_async import errors

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
CURSOR_TAG = "airflow:log-cursor"
#: Pages of log events fetched per poll at most, so a chatty job cannot starve polling.
MAX_PAGES = 5
#: How far behind the newest line shown a stream's late line may be and still be shown
#: (ms). A stream that stays silent would otherwise hold every read back to its last line.
LATE_WINDOW_MS = 120_000
#: SageMaker's limit on a tag value's length.
TAG_VALUE_LIMIT = 256
#: The cursor tag is written at most this often (seconds), apart from the first and last
#: writes: each write is a SageMaker ``AddTags`` request, paced with the status polls.
CURSOR_SAVE_SECONDS = 300.0
#: How long after the job's final status the last read is made (seconds).
LATE_LINES_WAIT = 3.0
#: Page budgets a last read may use: a job's last lines must not wait for another interval.
FINISH_READS = 10
#: Bound on saving the cursor while the trigger is cancelled, and on the hand-over's save or
#: load of the cursor tag (seconds).
SAVE_ON_CANCEL_TIMEOUT = 2.0
#: ``FilterLogEvents`` takes up to this many ``logStreamNames`` (its API reference); the
#: streams of a job with more are read by prefix, alone.
MAX_STREAM_NAMES = 100
#: How often a job short of one stream per instance looks for its streams (seconds): one
#: still starting has none, and ``DescribeLogStreams`` has a limit of its own.
FIND_STREAMS_EVERY = 60.0
#: How often a job with all its streams looks for new ones (an instance replaced).
RECHECK_STREAMS_EVERY = 600.0


class AsyncCaller(Protocol):
    """What :class:`LogFollower` needs of a client: ``await call(operation, **kwargs)``."""

    async def call(self, operation: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Batched:
    """What a read of many jobs' streams found for one job.

    :param events: the job's events (some may have been shown already).
    :param read_from: epoch ms when the read (of every page) began: no line of these
        streams older than that, bar late ones, is still to come. ``None``: the read was
        throttled, and the job waits for the next one.
    """

    events: list[dict[str, Any]]
    read_from: int | None


class BatchReader(Protocol):
    """Reads a tail's streams together with other jobs' (:class:`~sagemaker_async.logbatch.
    LogBatch`); ``None`` when the tail should read on its own."""

    async def read(self, tail: LogTail) -> Batched | None: ...


@dataclass
class _StreamCursor:
    stamp: int  # epoch ms of the last line shown from the stream
    seen: set[str] = field(default_factory=set)  # event ids shown at that millisecond
    #: Known for this stream itself (found by name, or read to the end), not the floor's
    #: guess: a stream found late is read from its first line, however old.
    exact: bool = False


@dataclass
class LogTail:
    """The read position in one job's log streams.

    Every read asks for all streams from the oldest stream cursor and drops, per stream,
    what that stream already showed. Streams without a cursor of their own start at
    :attr:`floor`, which follows the newest line shown at :data:`LATE_WINDOW_MS`.

    :param job_name: the training job.
    :param floor: epoch milliseconds no stream's cursor is below (0: from the start).
    """

    job_name: str
    floor: int = 0
    _streams: dict[str, _StreamCursor] = field(default_factory=dict)
    _saved: dict[str, int] = field(default_factory=dict)  # stream key -> cursor, from the tag
    #: Resumed from a cursor tag, whose base stands for every stream it leaves out.
    _from_tag: bool = False
    #: A read cut short by the page budget: its ``startTime`` and ``nextToken``.
    pending: tuple[int, str] | None = None

    @classmethod
    def from_tags(cls, job_name: str, tags: list[dict[str, str]]) -> LogTail:
        """Resume from the cursor tag; an old single-number value is every stream's cursor."""
        value = saved_cursor(tags)
        base, offsets = decode_cursor(value or "")
        saved = {key: base + off for key, off in offsets.items()}
        return cls(job_name, base, _saved=saved, _from_tag=value is not None)

    def state(self) -> dict[str, Any]:
        """Exactly what the tail has shown, as JSON, for another reader to go on from there
        (unlike the cursor tag, it keeps the lines shown at each stream's last millisecond)."""
        streams = {name: [c.stamp, sorted(c.seen), c.exact] for name, c in self._streams.items()}
        # A tail resumed from the tag also hands over the streams the tag placed ahead of its
        # base that no read has met yet.
        return {
            "floor": self.floor,
            "streams": streams,
            "saved": dict(self._saved),
            "from_tag": self._from_tag,
        }

    @classmethod
    def from_state(cls, job_name: str, state: dict[str, Any]) -> LogTail:
        """A tail that goes on from :meth:`state`."""
        saved = {str(key): int(stamp) for key, stamp in (state.get("saved") or {}).items()}
        tail = cls(
            job_name,
            int(state.get("floor", 0)),
            _saved=saved,
            _from_tag=bool(state.get("from_tag")),
        )
        for name, (stamp, seen, *exact) in (state.get("streams") or {}).items():
            tail._streams[name] = _StreamCursor(int(stamp), set(seen), bool(exact and exact[0]))
        return tail

    def cursor(self, stream: str) -> int:
        """Epoch ms of the last line shown from ``stream`` (at least :attr:`floor`, unless
        the stream's own position is known)."""
        current = self._stream(stream)
        return current.stamp if current.exact else max(current.stamp, self.floor)

    def start(self, streams: Iterable[str] | None = None) -> int:
        """Where the next read begins: the oldest cursor of ``streams`` (default: of every
        stream met so far), or :attr:`floor`."""
        names = self._streams if streams is None else streams
        return min((self.cursor(s) for s in names), default=self.floor)

    def stream_names(self) -> list[str]:
        """The job's streams met so far (shown a line, found, or handed over)."""
        return list(self._streams)

    def know(self, streams: dict[str, int]) -> None:
        """Streams found by name, each with where its lines begin (epoch ms): a new one is
        read from there, whatever the floor; one met before keeps its cursor (a stream the
        cursor tag leaves out is at the tag's base)."""
        for name, begins in streams.items():
            if name not in self._streams:
                saved = self._saved.get(stream_key(name))
                if saved is not None:
                    self._streams[name] = _StreamCursor(saved)
                else:
                    self._streams[name] = _StreamCursor(begins, exact=not self._from_tag)

    def settle(self, read_from: int) -> None:
        """A read of every page of the job's streams began at ``read_from`` (epoch ms): only
        late lines can still be older, so each stream's next read starts no earlier than
        :data:`LATE_WINDOW_MS` before it (a stream silent for long would hold a read of
        many jobs' streams back)."""
        bound = read_from - LATE_WINDOW_MS
        for name, current in self._streams.items():
            stamp = max(self.cursor(name), bound)
            if stamp > current.stamp:
                current.stamp, current.seen = stamp, set()
            current.exact = True

    def streams_request(self) -> dict[str, Any]:
        return {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{self.job_name}/"}

    def events_request(self, start: int, token: str | None = None) -> dict[str, Any]:
        """One FilterLogEvents page over every stream of the job; every page of a read asks
        from the same ``start``."""
        request: dict[str, Any] = {
            "logGroupName": LOG_GROUP,
            "logStreamNamePrefix": f"{self.job_name}/",
            "startTime": start,
        }
        if token:
            request["nextToken"] = token
        return request

    def absorb(self, response: dict[str, Any]) -> list[str]:
        """New lines from a FilterLogEvents page, oldest first; advances their streams."""
        lines = []
        events = sorted(response.get("events", []), key=lambda e: (e["timestamp"], e["eventId"]))
        for event in events:
            stamp, event_id = int(event["timestamp"]), str(event["eventId"])
            stream = str(event.get("logStreamName", ""))
            if self._advance(stream, stamp, event_id):
                short = stream.removeprefix(f"{self.job_name}/")
                lines.append(f"[{short}] {str(event.get('message', '')).rstrip()}")
        newest = max((c.stamp for c in self._streams.values()), default=0)
        self.floor = max(self.floor, newest - LATE_WINDOW_MS)
        return lines

    def cursor_tag(self) -> dict[str, str]:
        cursors = {name: self.cursor(name) for name in self._streams}
        return {"Key": CURSOR_TAG, "Value": encode_cursor(cursors, self.floor)}

    def _stream(self, name: str) -> _StreamCursor:
        if name not in self._streams:
            self._streams[name] = _StreamCursor(self._saved.get(stream_key(name), 0))
        return self._streams[name]

    def _advance(self, stream: str, stamp: int, event_id: str) -> bool:
        """Whether the event is new to its stream; if so it becomes the stream's cursor."""
        current = self._stream(stream)
        cursor = self.cursor(stream)
        if stamp < cursor or (stamp == current.stamp and event_id in current.seen):
            return False
        if stamp > current.stamp:
            current.stamp, current.seen = stamp, set()
        current.seen.add(event_id)
        return True


def saved_cursor(tags: list[dict[str, str]]) -> str | None:
    """The cursor tag's value among a job's tags, if it has one."""
    return next((t.get("Value") for t in tags if t.get("Key") == CURSOR_TAG), None)


def stream_key(stream: str) -> str:
    """A short, stable key for a stream name in the cursor tag."""
    return hashlib.blake2b(stream.encode(), digest_size=3).hexdigest()


def encode_cursor(cursors: dict[str, int], floor: int = 0, limit: int = TAG_VALUE_LIMIT) -> str:
    """``"<base> <key>=<offset> ..."``: the oldest cursor, then each stream ahead of it.

    The base is ``floor`` when there is no stream yet. Streams at the base are left out.
    When the value would pass ``limit``, the streams least far ahead are left out too: they
    resume from the base, repeating lines rather than losing any. Streams sharing a key keep
    the smaller offset, for the same reason.
    """
    base = min(cursors.values(), default=floor)
    offsets: dict[str, int] = {}
    for name, stamp in cursors.items():
        key = stream_key(name)
        offsets[key] = min(offsets.get(key, stamp - base), stamp - base)
    value = str(base)
    for key, offset in sorted(offsets.items(), key=lambda item: -item[1]):
        entry = f" {key}={offset}"
        if offset <= 0 or len(value) + len(entry) > limit:
            break
        value += entry
    return value


def decode_cursor(value: str) -> tuple[int, dict[str, int]]:
    """The base and per-stream offsets of a cursor tag value; ``(0, {})`` if unreadable.

    An old value (one number for all streams) reads as a base without offsets.
    """
    base, *entries = value.split() or ["0"]
    if not base.isdigit():
        return 0, {}
    offsets = {}
    for entry in entries:
        key, _, offset = entry.partition("=")
        if offset.isdigit():
            offsets[key] = int(offset)
    return int(base), offsets


class LogFollower:
    """Shows a job's new log lines through ``emit`` and saves the cursor on the job.

    Reading logs is best effort: an error is reported once through ``emit`` and never
    interrupts the wait for the job's status.

    :param job_name: the training job.
    :param emit: where lines go (the task log).
    :param clock: monotonic seconds, for spacing the cursor writes.
    :param batch: reads the streams of many jobs in one request, once ``instances`` streams
        of this job have shown lines (``None``: the job's streams are always read alone).
    :param instances: how many streams the job writes (one per instance), if known.
    """

    def __init__(
        self,
        job_name: str,
        emit: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        batch: BatchReader | None = None,
        instances: int | None = None,
    ) -> None:
        self.job_name = job_name
        self.emit = emit
        self.clock = clock
        self.batch = batch
        self.instances = instances
        self.tail: LogTail | None = None
        self.arn: str | None = None
        self._saved: str | None = None  # the cursor tag's value on the job
        self._saved_at: float | None = None  # when this follower last wrote it
        self._found_at: float | None = None  # when it last looked for its streams
        self._warned = False

    async def follow(self, sagemaker: AsyncCaller, logs: AsyncCaller, interval: float) -> None:
        """Show new lines every ``interval`` seconds until cancelled; a cancelled follower
        saves its cursor (within :data:`SAVE_ON_CANCEL_TIMEOUT`) before it stops."""
        try:
            while True:
                await self.once(sagemaker, logs)
                await asyncio.sleep(interval)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                save = asyncio.ensure_future(self.save(sagemaker))
                save.add_done_callback(_consume)  # a save still running after us fails alone
                await asyncio.wait_for(asyncio.shield(save), SAVE_ON_CANCEL_TIMEOUT)
            raise

    async def finish(
        self,
        sagemaker: AsyncCaller,
        logs: AsyncCaller,
        wait: float = LATE_LINES_WAIT,
        save: bool = True,
    ) -> None:
        """After the job's final status: show what it wrote since the last read, then, after
        ``wait`` seconds, what reached CloudWatch after the status; save the cursor (unless
        ``save`` is false). Each of the two reads goes on past the page budget, up to
        :data:`FINISH_READS` budgets."""
        await self.catch_up(sagemaker, logs)
        if self.tail is not None and wait > 0:  # else the late lines were due: read already
            await asyncio.sleep(wait)
            await self.catch_up(sagemaker, logs)
        if save:
            with contextlib.suppress(Exception):
                await self.save(sagemaker)

    async def hand_over(self, sagemaker: AsyncCaller) -> dict[str, Any]:
        """In the triggerer, when the wait ends: save the cursor and return what the resumed
        task needs to show the rest (``{"state", "ended_at"}``). Nothing more is read here:
        the resumed task reads after the job's end anyway, for the lines that land late, so
        the event never waits for the account's CloudWatch Logs share.

        A follower that never read (a restarted triggerer whose first poll found the job
        over) hands over the cursor its predecessor saved, not the job's first line."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._settle(sagemaker), SAVE_ON_CANCEL_TIMEOUT)
        state = self.tail.state() if self.tail is not None else None
        return {"state": state, "ended_at": time.time()}

    async def _settle(self, sagemaker: AsyncCaller) -> None:
        """The read position saved: as this follower moved it, or as the job's tag holds it
        when this follower never read (nothing to write back then)."""
        if self.tail is None and self.arn is not None:
            await self._tail(sagemaker)
            return
        await self.save(sagemaker)

    async def catch_up(self, sagemaker: AsyncCaller, logs: AsyncCaller) -> None:
        """Show everything readable now, past the page budget (up to :data:`FINISH_READS`
        budgets)."""
        for _ in range(FINISH_READS):
            # Alone, by the job's stream prefix: a last read also finds a stream that
            # appeared late (an instance replaced, say).
            await self.once(sagemaker, logs, save=False, last=True)
            if self.tail is None or self.tail.pending is None:
                return

    async def once(
        self, sagemaker: AsyncCaller, logs: AsyncCaller, save: bool = True, last: bool = False
    ) -> None:
        """Show what is new, with other jobs' streams once the job's are known (unless it is
        one of the ``last`` reads, alone); does nothing until the status poll has told
        :attr:`arn` (or a :attr:`tail` was handed over)."""
        if self.arn is None and self.tail is None:
            return
        try:
            tail = await self._tail(sagemaker)
            if last or not await self._read_batched(logs, tail):
                await self._read(logs, tail)
            if save and self._due():
                await self.save(sagemaker)
        except Exception as exc:  # best effort: nothing here may break the wait for the job
            if errors.error_code(exc) == "ResourceNotFoundException":
                return  # no log group yet: the job has not written anything
            if not self._warned:
                self._warned = True
                later = "" if last else " (will keep trying)"
                self.emit(f"Could not read the logs of {self.job_name}{later}: {exc}")

    async def save(self, sagemaker: AsyncCaller) -> None:
        """Write the cursor tag if it moved since it was last written."""
        if self.tail is None or self.arn is None:
            return
        tag = self.tail.cursor_tag()
        if tag["Value"] != self._saved:
            await sagemaker.call("add_tags", ResourceArn=self.arn, Tags=[tag])
            self._saved = tag["Value"]
            self._saved_at = self.clock()

    def _due(self) -> bool:
        """Whether a periodic cursor write is due: the first one, then one per
        :data:`CURSOR_SAVE_SECONDS`."""
        return self._saved_at is None or self.clock() - self._saved_at >= CURSOR_SAVE_SECONDS

    async def _tail(self, sagemaker: AsyncCaller) -> LogTail:
        """The read position, resumed from the job's tag on first use."""
        if self.tail is None:
            tags = (await sagemaker.call("list_tags", ResourceArn=self.arn)).get("Tags", [])
            self.tail = LogTail.from_tags(self.job_name, tags)
            self._saved = saved_cursor(tags) or str(self.tail.floor)
        return self.tail

    async def _read_batched(self, logs: AsyncCaller, tail: LogTail) -> bool:
        """Whether the job's new lines were read with other jobs' streams (and shown).

        A job whose instance count is known finds its streams' names by
        ``DescribeLogStreams`` (a limit apart from ``FilterLogEvents``'); it is read in a
        batch as soon as it has found one.
        """
        if self.batch is None or not self.instances or self.instances > MAX_STREAM_NAMES:
            return False
        if tail.pending is not None:
            return False  # a read cut short goes on from its token first
        if not await self._look_for_streams(logs, tail):
            return False
        if not tail.stream_names():
            return True  # nothing written yet
        found = await self.batch.read(tail)
        if found is None:
            return False
        for line in tail.absorb({"events": found.events}):
            self.emit(line)
        if found.read_from is not None:
            tail.settle(found.read_from)
        return True

    async def _look_for_streams(self, logs: AsyncCaller, tail: LogTail) -> bool:
        """Find the job's streams when due; ``False`` if that failed (read alone)."""
        every = FIND_STREAMS_EVERY
        if len(tail.stream_names()) >= (self.instances or 0):
            every = RECHECK_STREAMS_EVERY
        if self._found_at is not None and self.clock() - self._found_at < every:
            return True
        self._found_at = self.clock()
        try:
            await self._find_streams(logs, tail)
        except errors.CALL_ERRORS as exc:
            if errors.error_code(exc) == "ResourceNotFoundException":
                raise  # no log group yet
            if not errors.is_transient(exc):
                self.batch = None  # no DescribeLogStreams (access, say): read alone
                return False
            return bool(tail.stream_names())  # throttled: the streams known, or alone
        return True

    async def _find_streams(self, logs: AsyncCaller, tail: LogTail) -> None:
        """Learn the job's stream names (50 a page; two pages hold a batch's limit)."""
        request = tail.streams_request()
        for _ in range(MAX_STREAM_NAMES // 50):
            page = await logs.call("describe_log_streams", **request)
            tail.know({s["logStreamName"]: _lines_begin(s) for s in page.get("logStreams", [])})
            if not page.get("nextToken"):
                return
            request = {**request, "nextToken": page["nextToken"]}

    async def _read(self, logs: AsyncCaller, tail: LogTail) -> None:
        """Show the new lines of every stream of the job, reading at most
        :data:`MAX_PAGES` pages; a read cut short goes on from its token next time."""
        start, token = tail.pending or (tail.start(), None)
        # A whole pass read for a batching job keeps its streams' cursors up as a batched
        # read does, so it can join a batch without dragging it back.
        began = None if token or self.batch is None else int(time.time() * 1000)
        tail.pending = None
        for _ in range(MAX_PAGES):
            page = await logs.call("filter_log_events", **tail.events_request(start, token))
            for line in tail.absorb(page):
                self.emit(line)
            token = page.get("nextToken")
            if not token:
                if began is not None:
                    tail.settle(began)
                return
            await asyncio.sleep(0)  # a long page of lines must not hog the event loop
        tail.pending = (start, str(token))


def _consume(done: asyncio.Future[None]) -> None:
    """Retrieve a finished future's exception, so asyncio never reports it as unhandled."""
    if not done.cancelled():
        done.exception()


#: Streams read for :func:`recent_lines` at most (one ``GetLogEvents`` each): the job's
#: hosts that wrote last, so a job on hundreds of hosts costs a bounded number of requests.
RECENT_STREAMS = 10


def recent_lines(logs: Any, job_name: str, count: int) -> list[str]:
    """The job's last ``count`` log lines, oldest first, read with a blocking (boto3) client.

    Reads the first page of the job's streams and, from the :data:`RECENT_STREAMS` that wrote
    last, each one's newest ``count`` events; errors propagate (the caller treats this as
    best effort). Lines look like the ones tailed while the job ran: ``[<stream>] <message>``.
    """
    request = LogTail(job_name).streams_request()
    streams = logs.describe_log_streams(**request).get("logStreams", [])
    streams.sort(key=_last_written, reverse=True)
    events: list[tuple[int, str, str]] = []
    for stream in streams[:RECENT_STREAMS]:
        name = stream["logStreamName"]
        page = logs.get_log_events(
            logGroupName=LOG_GROUP, logStreamName=name, startFromHead=False, limit=count
        )
        short = name.removeprefix(f"{job_name}/")
        for event in page.get("events", []):
            message = str(event.get("message", "")).rstrip()
            events.append((int(event["timestamp"]), short, message))
    events.sort(key=lambda event: event[0])  # stable: a stream's own order within one ms
    return [f"[{short}] {message}" for _, short, message in events[-count:]]


def _lines_begin(stream: dict[str, Any]) -> int:
    """A cursor before a found stream's first line: its first event's time, or, for a stream
    without one yet, the late window before its creation (a host may stamp lines it
    buffered before the stream existed)."""
    first = stream.get("firstEventTimestamp")
    if first:
        return int(first) - 1
    return max(int(stream.get("creationTime") or 0) - LATE_WINDOW_MS, 0)


def _last_written(stream: dict[str, Any]) -> int:
    """When a stream was last written to (CloudWatch omits the event time of empty streams)."""
    return int(
        stream.get("lastEventTimestamp")
        or stream.get("lastIngestionTime")
        or stream.get("creationTime")
        or 0
    )
