"""ListTrainingJobs as the SageMaker API reference documents it: sort, take a page, filter.

The rules, from botocore's model (``get_service_model("sagemaker")``, operation
``ListTrainingJobs`` and the members of its input shape):

- ``SortBy``: "The default is ``CreationTime``".
- Order: newest first unless ``SortOrder`` says otherwise. The operation's note says the
  ``MaxResults`` jobs are "sorted according to the creation time, from the most current to
  the oldest"; the ``SortOrder`` member's own line ("The default is ``Ascending``")
  contradicts it. The note is followed.
- ``MaxResults``: "min 1, max 100" in the member's constraints, answered as AWS answers a
  broken constraint ("1 validation error detected: ..."); 10 when absent (the reference
  states no default).
- ``StatusEquals``: "the ``MaxResults`` number of training jobs are first retrieved ignoring
  the ``StatusEquals`` parameter and then they are filtered by the ``StatusEquals``
  parameter". A page can come back short, or empty with a ``NextToken``.
- ``WarmPoolStatusEquals`` and ``TrainingPlanArnEquals`` are read the same way; no simulated
  job has a warm pool or a training plan, so either one leaves every page empty.
- ``NameContains`` and the ``CreationTime*`` / ``LastModifiedTime*`` filters: AWS does not say
  whether they apply before the page is taken or after, so :class:`ListingSettings` offers
  both readings (``"before_page"``, ``"after_page"``; the default is ``"after_page"``).

``NextToken`` ("To retrieve the next set of training jobs, use the token in the next
request") encodes the sort key of the last job of the page taken before the late filters,
not an offset: the next page continues strictly after that job, so a job created during a
pass shifts nothing, and no job is skipped or repeated. With ``SortBy=Status`` the key holds
the job's status, which can change between pages; such a job can then be seen twice or
missed, as any listing sorted on a changing field can.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sagemaker_async.testing.index import creation_key, ordered_after
from sagemaker_async.testing.jobs import SageMakerError

if TYPE_CHECKING:
    from sagemaker_async.testing.jobs import JobStore, TrainingJob

# Member constraints of the ListTrainingJobs input shape (a unit test checks them against
# botocore's model).
SORT_BY = ("Name", "CreationTime", "Status")
SORT_ORDERS = ("Ascending", "Descending")
STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped", "Deleting")
MAX_RESULTS = 100
NAME_CONTAINS_MAX = 63
_NAME_CONTAINS = re.compile(r"[a-zA-Z0-9\-]+")
DEFAULT_MAX_RESULTS = 10

TIME_FILTERS = ("after_page", "before_page")
DEFAULT_TIME_FILTERS = "after_page"

# Filters that are only ever applied to the page taken (see the module docstring).
_LATE_FIELDS = ("StatusEquals", "WarmPoolStatusEquals", "TrainingPlanArnEquals")
_TIME_FIELDS = {
    "CreationTimeAfter": ("created", 1),
    "CreationTimeBefore": ("created", -1),
    "LastModifiedTimeAfter": ("modified", 1),
    "LastModifiedTimeBefore": ("modified", -1),
}
# Jobs read per look into the store while a "before_page" filter skips jobs.
_SCAN_CHUNK = 500
# Above every job name (they are ASCII), so (t, _TOP) sorts after every job created at t.
_TOP = "\U0010ffff"

SortKey = tuple[Any, ...]
Source = Callable[[SortKey | None, int], list["TrainingJob"]]
Predicate = Callable[["TrainingJob"], bool]


class ListingSettings:
    """How the filters AWS leaves undocumented page: ``time_filters`` is ``"after_page"``
    (take ``MaxResults`` jobs, then filter them, as ``StatusEquals`` does) or
    ``"before_page"`` (filter, then take ``MaxResults`` of the jobs that pass)."""

    def __init__(self) -> None:
        self.time_filters = DEFAULT_TIME_FILTERS

    def configure(self, body: object) -> None:
        """Apply ``{"time_filters": ...}`` (absent: the default); raises ``ValueError``."""
        if not isinstance(body, dict):
            raise ValueError("the listing settings must be a JSON object")
        unknown = sorted(set(body) - {"time_filters"})
        if unknown:
            raise ValueError(f"unknown listing settings: {unknown}")
        value = body.get("time_filters", DEFAULT_TIME_FILTERS)
        if value not in TIME_FILTERS:
            raise ValueError(f"time_filters must be one of {list(TIME_FILTERS)}, not {value!r}")
        self.time_filters = value

    def view(self) -> dict[str, Any]:
        """The settings as the control API shows them."""
        return {"time_filters": self.time_filters}

    def reset(self) -> None:
        """Back to the default reading."""
        self.time_filters = DEFAULT_TIME_FILTERS


@dataclass(frozen=True)
class Query:
    """A validated ListTrainingJobs request."""

    sort_by: str
    descending: bool
    size: int
    after: SortKey | None
    late: dict[str, str]
    name_contains: str | None
    times: dict[str, float]


def list_page(
    store: JobStore,
    body: dict[str, Any],
    time_filters: str,
    now: float,
    region: str | None = None,
) -> tuple[list[TrainingJob], str | None]:
    """The jobs of one ListTrainingJobs answer and its ``NextToken``.

    :param store: the job store.
    :param body: the request.
    :param time_filters: ``"after_page"`` or ``"before_page"`` (see :class:`ListingSettings`).
    :param now: the clock reading every status in the answer is taken at.
    :param region: the region the request was signed for: SageMaker lists an account's
        jobs per region, so jobs of other regions do not exist for it (``None``: all).
    :raises SageMakerError: ``ValidationException`` for a request AWS would refuse.
    """
    query = parse_query(body)
    key_of = _key_function(query.sort_by, now)

    def undocumented(job: TrainingJob) -> bool:
        return _passes_undocumented(job, query, now)

    filtered = bool(query.name_contains or query.times)
    before_page = filtered and time_filters == "before_page"
    after, stop = query.after, None
    if before_page and query.sort_by == "CreationTime":
        after, stop = _creation_range(query, after)

    def early(job: TrainingJob) -> bool:
        in_region = region is None or job.region == region
        return in_region and (not before_page or undocumented(job))

    raw, more = _take(_source(store, query, key_of), key_of, after, query.size, early, stop)
    token = encode_token(query, key_of(raw[-1])) if more else None
    late = [job for job in raw if _passes_late(job, query, now)]
    if filtered and not before_page:
        late = [job for job in late if undocumented(job)]
    return late, token


def parse_query(body: dict[str, Any]) -> Query:
    """Check the request against the input shape's constraints, as AWS does."""
    errors: list[str] = []
    size = _max_results(body.get("MaxResults"), errors)
    sort_by = _enum(body, "SortBy", SORT_BY, errors) or "CreationTime"
    order = _enum(body, "SortOrder", SORT_ORDERS, errors) or "Descending"
    late = {"StatusEquals": _enum(body, "StatusEquals", STATUSES, errors)}
    late.update({field: str(body.get(field) or "") for field in _LATE_FIELDS[1:]})
    contains = body.get("NameContains")
    if contains is not None and not (
        isinstance(contains, str) and len(contains) <= NAME_CONTAINS_MAX
    ):
        rule = f"Member must have length less than or equal to {NAME_CONTAINS_MAX}"
        errors.append(_constraint(contains, "nameContains", rule))
    elif contains and not _NAME_CONTAINS.fullmatch(contains):
        rule = f"Member must satisfy regular expression pattern: {_NAME_CONTAINS.pattern}"
        errors.append(_constraint(contains, "nameContains", rule))
    times = {}
    for field in _TIME_FIELDS:
        value = body.get(field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            times[field] = float(value)
        elif value is not None:
            errors.append(_constraint(value, _member(field), "Member must be a timestamp"))
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''}"
        raise SageMakerError("ValidationException", f"{count} detected: {'; '.join(errors)}")
    query = Query(
        sort_by=sort_by,
        descending=order == "Descending",
        size=size,
        after=None,
        late={field: value for field, value in late.items() if value},
        name_contains=contains.lower() if contains else None,
        times=times,
    )
    token = body.get("NextToken")
    return replace(query, after=decode_token(query, token)) if token else query


def encode_token(query: Query, key: SortKey) -> str:
    """An opaque token holding the sort and the key of the last job of the page."""
    order = "Descending" if query.descending else "Ascending"
    raw = json.dumps({"sort": query.sort_by, "order": order, "key": list(key)})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(query: Query, token: object) -> SortKey:
    """The key in a token from :func:`encode_token` for the same sort; else AWS's refusal."""
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        order = "Descending" if query.descending else "Ascending"
        if data["sort"] != query.sort_by or data["order"] != order:
            raise ValueError("the token belongs to another sort")
        key = tuple(data["key"])
        shape = {"CreationTime": (float, str), "Name": (str,), "Status": (str, float, str)}
        types = shape[query.sort_by]
        if len(key) != len(types):
            raise ValueError("the token's key has the wrong length")
        return tuple(
            float(part) if kind is float and isinstance(part, (int, float)) else _typed(part, kind)
            for part, kind in zip(key, types, strict=True)
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise SageMakerError("ValidationException", "Invalid pagination token") from None


def _typed(part: object, kind: type) -> object:
    if not isinstance(part, kind):
        raise TypeError(f"{part!r} is not a {kind.__name__}")
    return part


def _constraint(value: object, member: str, rule: str) -> str:
    return f"Value '{value}' at '{member}' failed to satisfy constraint: {rule}"


def _member(field: str) -> str:
    """How AWS names a request member in its validation messages: ``maxResults``."""
    return field[0].lower() + field[1:]


def _max_results(value: object, errors: list[str]) -> int:
    if value is None:
        return DEFAULT_MAX_RESULTS
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(_constraint(value, "maxResults", "Member must be an integer"))
    elif value < 1:
        rule = "Member must have value greater than or equal to 1"
        errors.append(_constraint(value, "maxResults", rule))
    elif value > MAX_RESULTS:
        rule = f"Member must have value less than or equal to {MAX_RESULTS}"
        errors.append(_constraint(value, "maxResults", rule))
    else:
        return value
    return DEFAULT_MAX_RESULTS


def _enum(body: dict[str, Any], field: str, allowed: tuple[str, ...], errors: list[str]) -> str:
    """The field's value, ``""`` when absent; a value outside ``allowed`` is an error."""
    value = body.get(field)
    if value is None:
        return ""
    if value not in allowed:
        rule = f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        errors.append(_constraint(value, _member(field), rule))
        return ""
    return str(value)


def _key_function(sort_by: str, now: float) -> Callable[[TrainingJob], SortKey]:
    if sort_by == "Name":
        return lambda job: (job.name,)
    if sort_by == "Status":
        return lambda job: (job.status(now), job.created_at, job.name)
    return creation_key


def _source(store: JobStore, query: Query, key_of: Callable[[TrainingJob], SortKey]) -> Source:
    """Where the jobs come from in the query's order: the store's creation index, or (for the
    rare Name and Status sorts) a full sort."""
    if query.sort_by == "CreationTime":
        return lambda after, limit: store.by_creation(after, query.descending, limit)
    pairs = sorted(((key_of(job), job) for job in store.jobs()), key=lambda pair: pair[0])
    keys = [key for key, _ in pairs]
    jobs = [job for _, job in pairs]
    return lambda after, limit: ordered_after(keys, jobs, after, query.descending, limit)


def _take(
    source: Source,
    key_of: Callable[[TrainingJob], SortKey],
    after: SortKey | None,
    size: int,
    early: Predicate | None,
    stop: Predicate | None,
) -> tuple[list[TrainingJob], bool]:
    """The first ``size`` jobs after ``after`` that pass ``early``, and whether any job
    that passes it follows them; ``stop`` says a job and all after it fail ``early``."""
    page: list[TrainingJob] = []
    chunk = size + 1 if early is None else max(size + 1, _SCAN_CHUNK)
    while True:
        jobs = source(after, chunk)
        for job in jobs:
            if stop is not None and stop(job):
                return page, False
            if early is None or early(job):
                if len(page) == size:
                    return page, True
                page.append(job)
        if len(jobs) < chunk:
            return page, False
        after = key_of(jobs[-1])


def _creation_range(query: Query, after: SortKey | None) -> tuple[SortKey | None, Predicate]:
    """Under ``"before_page"`` with the creation-time sort, the ``CreationTime*`` filters
    bound the scan instead of rejecting jobs one by one."""
    lower, upper = query.times.get("CreationTimeAfter"), query.times.get("CreationTimeBefore")
    if query.descending:
        if upper is not None:
            after = min(after or (upper, ""), (upper, ""))
        return after, lambda job: lower is not None and job.created_at <= lower
    if lower is not None:
        after = max(after or (lower, _TOP), (lower, _TOP))
    return after, lambda job: upper is not None and job.created_at >= upper


def _passes_late(job: TrainingJob, query: Query, now: float) -> bool:
    status = query.late.get("StatusEquals")
    if status is not None and job.status(now) != status:
        return False
    # No simulated job has a warm pool or a training plan.
    return "WarmPoolStatusEquals" not in query.late and "TrainingPlanArnEquals" not in query.late


def _passes_undocumented(job: TrainingJob, query: Query, now: float) -> bool:
    """The name and time filters; "after" and "before" exclude the moment itself."""
    if query.name_contains is not None and query.name_contains not in job.name.lower():
        return False
    for field, limit in query.times.items():
        which, sign = _TIME_FIELDS[field]
        moment = job.created_at if which == "created" else job.transitions(now)[-1].start
        if (moment - limit) * sign <= 0:
            return False
    return True
