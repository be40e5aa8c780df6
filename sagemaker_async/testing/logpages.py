"""CloudWatch Logs as its API reference allows it to behave: sparse pages and late lines.

Both are off by default (pages as full as their limit allows, every line written when due) and
set with ``POST /_simulator/logs``:

- ``empty_pages`` / ``page_events``: FilterLogEvents "is a paginated operation ... A returned
  page might only be partially full, or even empty ... Partially full or empty pages don't
  necessarily mean that pagination is finished. If the results include a ``nextToken``, there
  might be more log events available ... If the results don't include a ``nextToken``, then
  pagination is finished" and ``limit`` "only guarantees that a single page doesn't return
  more log events than the specified limit, but it might return fewer" (the operation's doc
  in botocore's ``logs`` model). With either set, the simulator answers FilterLogEvents
  itself: each pass (a request without ``nextToken``) begins with ``empty_pages`` empty pages,
  then pages of at most ``page_events`` events, and the last page with events still carries a
  ``nextToken``, answered by an empty page without one. Events come "sorted by event
  timestamp, the timestamp when the event was ingested by CloudWatch Logs, and the ID of the
  PutLogEvents request" (same doc); a token holds that key of the page's last event, so a
  pass yields every event once, in order, and an event ingested during the pass with an
  older timestamp waits for the next pass.
- ``late_lines`` / ``late_lines_after``: CloudWatch gives no ordering between a job's status
  turning final and its last lines arriving (they are ingested when the instance sends
  them). Each stream's last ``late_lines`` lines are written ``late_lines_after`` seconds
  after the job's final status, with their own timestamps.

DescribeLogStreams needs nothing here: moto already answers at most 50 streams a page with a
``nextToken`` ("If you don't specify a value, the default is up to 50 items", its ``limit``
doc) and refuses a ``limit`` above 50.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

#: FilterLogEvents' ``limit`` ("The default is 10,000 events"; the model's maximum too).
MAX_EVENTS = 10_000
#: FilterLogEvents' ``logStreamNames``: 1 to 100 names (the logs model's list bounds).
MAX_STREAM_NAMES = 100
_FIELDS = frozenset({"empty_pages", "page_events", "late_lines", "late_lines_after"})

EventKey = tuple[int, int, int]


class LogOptions(TypedDict, total=False):
    """What ``set_logs`` accepts; also the JSON body of ``POST /_simulator/logs``."""

    empty_pages: int
    page_events: int | None
    late_lines: int
    late_lines_after: float


class LogsError(Exception):
    """A CloudWatch Logs error answer: code and message (HTTP 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LogConfig:
    """The CloudWatch Logs settings; the defaults change nothing.

    :param empty_pages: empty pages each FilterLogEvents pass begins with.
    :param page_events: events per FilterLogEvents page at most (``None``: the ``limit``).
    :param late_lines: how many of each stream's last lines arrive late.
    :param late_lines_after: seconds after the job's final status they arrive (0: with it).
    """

    empty_pages: int = 0
    page_events: int | None = None
    late_lines: int = 3
    late_lines_after: float = 0.0

    @property
    def sparse_pages(self) -> bool:
        """Whether FilterLogEvents answers empty and partial pages."""
        return self.empty_pages > 0 or self.page_events is not None

    @property
    def late(self) -> bool:
        """Whether last lines arrive after the final status."""
        return self.late_lines > 0 and self.late_lines_after > 0


def parse_log_config(body: object) -> LogConfig:
    """The settings in a ``POST /_simulator/logs`` body (omitted fields: defaults);
    ``ValueError`` names the bad field."""
    if not isinstance(body, Mapping):
        raise ValueError("the log settings must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown log settings {unknown}; known: {sorted(_FIELDS)}")
    page_events = body.get("page_events")
    after = body.get("late_lines_after", 0.0)
    if isinstance(after, bool) or not isinstance(after, (int, float)) or not math.isfinite(after):
        raise ValueError(f"late_lines_after must be a number of seconds, not {after!r}")
    if after < 0:
        raise ValueError(f"late_lines_after must not be negative, not {after}")
    return LogConfig(
        empty_pages=_count(body, "empty_pages", 0, 0),
        page_events=None if page_events is None else _count(body, "page_events", 1, 1),
        late_lines=_count(body, "late_lines", 3, 0),
        late_lines_after=float(after),
    )


def _count(body: Mapping[str, Any], key: str, default: int, least: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{key} must be an integer >= {least}, not {value!r}")
    return value


class LogSettings:
    """The current :class:`LogConfig`; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = LogConfig()

    def configure(self, body: object) -> None:
        """Replace the settings (``{}`` restores the defaults)."""
        config = parse_log_config(body)
        with self._lock:
            self._config = config

    def current(self) -> LogConfig:
        """The settings now."""
        with self._lock:
            return self._config

    def view(self) -> dict[str, Any]:
        """The settings as ``POST /_simulator/logs`` takes them."""
        return asdict(self.current())

    def reset(self) -> None:
        """The defaults: moto's pages, no late lines."""
        self.configure({})


def filter_page(config: LogConfig, backend: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    """One FilterLogEvents page, paged as :class:`LogConfig` says (see the module doc).

    :param backend: moto's CloudWatch Logs backend of the account and Region.
    :param body: the request.
    :raises LogsError: as CloudWatch Logs answers a bad request.
    """
    group = _group(backend, body)
    events = sorted(_events(group, body), key=_key)
    token = _read_token(body.get("nextToken"), group.name)
    limit = _limit(body.get("limit"))
    after = None if token is None else token["k"]
    empties = 0 if token is None else int(token["e"])
    if empties < config.empty_pages:
        return _page([], _token(group.name, after, empties + 1))
    size = min(limit, config.page_events or limit)
    remaining = [event for event in events if after is None or _key(event) > tuple(after)]
    page = remaining[:size]
    # With sparse pages on, even the page with the last events carries a token: a token
    # promises nothing. Otherwise the last page has none, as a quiet account answers.
    more = len(remaining) > size or (config.sparse_pages and bool(page))
    next_token = _token(group.name, list(_key(page[-1])), empties) if more else None
    return _page(page, next_token)


def _group(backend: Any, body: Mapping[str, Any]) -> Any:
    name = body.get("logGroupName") or str(body.get("logGroupIdentifier") or "")
    if ":log-group:" in name:  # an ARN names the group after "log-group:"
        name = name.split(":log-group:", 1)[1].removesuffix(":*")
    group = backend.groups.get(name)
    if group is None:
        raise LogsError("ResourceNotFoundException", "The specified log group does not exist.")
    return group


def _events(group: Any, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    names, prefix = body.get("logStreamNames"), body.get("logStreamNamePrefix")
    if names and prefix:
        raise LogsError(
            "InvalidParameterException",
            "logStreamNames and logStreamNamePrefix cannot both be specified.",
        )
    if names and len(names) > MAX_STREAM_NAMES:
        raise LogsError(
            "InvalidParameterException",
            f"1 validation error detected: Value at 'logStreamNames' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_STREAM_NAMES}",
        )
    start, end, pattern = body.get("startTime"), body.get("endTime"), body.get("filterPattern")
    events: list[dict[str, Any]] = []
    for name, stream in list(group.streams.items()):
        if (names and name not in names) or (prefix and not name.startswith(prefix)):
            continue
        events += stream.filter_log_events(start, end, pattern)
    return events


def _key(event: Mapping[str, Any]) -> EventKey:
    return (int(event["timestamp"]), int(event["ingestionTime"]), int(event["eventId"]))


def _limit(value: object) -> int:
    if value is None:
        return MAX_EVENTS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EVENTS:
        raise LogsError(
            "InvalidParameterException",
            f"1 validation error detected: Value '{value}' at 'limit' failed to satisfy "
            f"constraint: Member must have value between 1 and {MAX_EVENTS}",
        )
    return value


def _token(group: str, after: list[int] | None, empties: int) -> str:
    raw = json.dumps({"g": group, "k": after, "e": empties}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _read_token(value: object, group: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        token = json.loads(base64.urlsafe_b64decode(str(value).encode()))
        if token["g"] != group or not isinstance(token["e"], int):
            raise ValueError(token)
        if token["k"] is not None and len(token["k"]) != 3:
            raise ValueError(token)
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise LogsError(
            "InvalidParameterException", "The specified nextToken is invalid."
        ) from None
    return dict(token)


def _page(events: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    fields = ("logStreamName", "timestamp", "message", "ingestionTime", "eventId")
    result: dict[str, Any] = {
        "events": [{key: event[key] for key in fields if key in event} for event in events],
        "searchedLogStreams": [],
    }
    if token is not None:
        result["nextToken"] = token
    return result
