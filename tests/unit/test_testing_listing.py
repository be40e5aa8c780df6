"""The simulator's ListTrainingJobs paging, on a job store with a fake clock (no server)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from sagemaker_async.testing import listing, training_request
from sagemaker_async.testing.history import HistorySpec, history_jobs
from sagemaker_async.testing.index import CreationIndex
from sagemaker_async.testing.jobs import JobStore, Rule, SageMakerError, TrainingJob
from sagemaker_async.testing.listing import list_page


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> JobStore:
    return JobStore(default_duration=100.0, clock=clock)


def create(store: JobStore, clock: Clock, *names: str, step: float = 1.0) -> None:
    for name in names:
        clock.now += step
        store.create(training_request(name), "us-east-1")


def pages(store: JobStore, time_filters: str = "after_page", **body: Any) -> list[list[str]]:
    """The names on every page of one pass."""
    found: list[list[str]] = []
    while True:
        page, token = list_page(store, dict(body), time_filters, store.clock())
        found.append([job.name for job in page])
        if token is None:
            return found
        body["NextToken"] = token


def test_constraints_match_botocores_model() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    members = model.operation_model("ListTrainingJobs").input_shape.members
    assert tuple(members["SortBy"].enum) == listing.SORT_BY
    assert tuple(members["SortOrder"].enum) == listing.SORT_ORDERS
    assert tuple(members["StatusEquals"].enum) == listing.STATUSES
    assert members["MaxResults"].metadata == {"min": 1, "max": listing.MAX_RESULTS}
    assert members["NameContains"].metadata["max"] == listing.NAME_CONTAINS_MAX
    assert (
        "from the most current to the oldest"
        in model.operation_model("ListTrainingJobs").documentation
    )


def test_pages_continue_after_the_last_key_not_at_an_offset(store: JobStore, clock: Clock) -> None:
    create(store, clock, *(f"job-{i}" for i in range(5)))
    first, token = list_page(store, {"MaxResults": 2}, "after_page", clock.now)
    assert [job.name for job in first] == ["job-4", "job-3"]
    create(store, clock, "new-0", "new-1")  # would shift an offset by two
    rest = pages(store, MaxResults=2, NextToken=token)
    assert rest == [["job-2", "job-1"], ["job-0"]]


def test_a_clock_step_back_still_lists_in_creation_order(store: JobStore, clock: Clock) -> None:
    create(store, clock, "a", "b")
    clock.now -= 10  # NTP steps the clock back: "c" is older than both
    create(store, clock, "c")
    assert pages(store, SortOrder="Ascending") == [["c", "a", "b"]]
    assert [job.name for job in store.jobs()] == ["c", "a", "b"]


def test_status_equals_is_applied_to_the_page_taken(store: JobStore, clock: Clock) -> None:
    store.add_rule(Rule("done-", duration=0.0))
    create(store, clock, "run-0", "run-1", *(f"done-{i}" for i in range(4)))
    assert pages(store, StatusEquals="InProgress", MaxResults=2) == [[], [], ["run-1", "run-0"]]
    assert pages(store, WarmPoolStatusEquals="Available", MaxResults=3) == [[], []]


def test_before_page_scans_past_many_filtered_out_jobs(store: JobStore, clock: Clock) -> None:
    names = [f"{'x' if i % 300 == 0 else 'y'}-{i:04d}" for i in range(1_300)]
    create(store, clock, *names)
    wanted = [name for name in reversed(names) if name.startswith("x")]
    assert pages(store, "before_page", NameContains="X", MaxResults=2) == [
        wanted[:2],
        wanted[2:4],
        wanted[4:],
    ]
    after = pages(store, NameContains="x", MaxResults=100)
    assert len(after) == 13 and [n for page in after for n in page] == wanted


def test_before_page_bounds_the_creation_time_scan(clock: Clock) -> None:
    store = JobStore(clock=clock)
    spec = HistorySpec(100, clock.now - 10_000, clock.now - 100, prefix="h")
    store.add_finished(history_jobs(spec, clock.now))  # one job every 100 s
    window = {"CreationTimeAfter": clock.now - 2_000, "CreationTimeBefore": clock.now - 1_500}
    # Jobs h-000081 ... h-000084 were created in that window (the bounds are exclusive).
    expected = [f"h-{i:06d}" for i in range(81, 85)]
    assert pages(store, "before_page", **window) == [expected[::-1]]
    assert pages(store, "before_page", SortOrder="Ascending", MaxResults=3, **window) == [
        expected[:3],
        expected[3:],
    ]
    after = pages(store, "after_page", MaxResults=50, **window)
    assert after == [expected[::-1], []]


@pytest.mark.parametrize("sort_by", ["Name", "Status", "CreationTime"])
@pytest.mark.parametrize("order", ["Ascending", "Descending"])
def test_every_sort_pages_through_every_job_once(
    store: JobStore, clock: Clock, sort_by: str, order: str
) -> None:
    store.add_rule(Rule("f", duration=0.0, outcome="Failed"))
    create(store, clock, *(f"{'f' if i % 3 else 'c'}{i:02d}" for i in range(23)))
    found = pages(store, SortBy=sort_by, SortOrder=order, MaxResults=4)
    flat = [name for page in found for name in page]
    assert sorted(flat) == sorted(job.name for job in store.jobs()) and len(found) == 6
    if sort_by == "Name":
        assert flat == sorted(flat, reverse=order == "Descending")
    if sort_by == "Status":
        statuses = [store.get(name).status(clock.now) for name in flat]
        assert statuses == sorted(statuses, reverse=order == "Descending")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"MaxResults": 101}, "Value '101' at 'maxResults' failed to satisfy constraint"),
        ({"SortBy": "Size"}, "Member must satisfy enum value set: [Name, CreationTime, Status]"),
        ({"StatusEquals": "Done", "SortOrder": "Up"}, "2 validation errors detected: "),
        ({"NameContains": "a_b"}, "at 'nameContains'"),
        ({"NextToken": "abc"}, "Invalid pagination token"),
        ({"NextToken": listing.encode_token(listing.parse_query({}), (1.0, "a"))[:-4]}, "Invalid"),
    ],
)
def test_requests_aws_would_refuse(store: JobStore, body: dict[str, Any], message: str) -> None:
    with pytest.raises(SageMakerError) as err:
        list_page(store, body, "after_page", store.clock())
    assert err.value.code == "ValidationException" and message in err.value.message


def test_a_token_is_only_good_for_its_own_sort(store: JobStore, clock: Clock) -> None:
    create(store, clock, "a", "b", "c")
    _, token = list_page(store, {"MaxResults": 1}, "after_page", clock.now)
    with pytest.raises(SageMakerError, match="pagination token"):
        list_page(store, {"NextToken": token, "SortBy": "Name"}, "after_page", clock.now)
    with pytest.raises(SageMakerError, match="pagination token"):
        list_page(store, {"NextToken": token, "SortOrder": "Ascending"}, "after_page", clock.now)


def test_the_index_merges_a_history_before_live_jobs(clock: Clock) -> None:
    index = CreationIndex()
    live = _job("live", clock.now)
    index.add(live)
    history = history_jobs(HistorySpec(3, clock.now - 300, clock.now - 100), clock.now)
    index.merge(history)
    assert [job.name for job in index.snapshot()] == [*(j.name for j in history), "live"]
    assert [job.name for job in index.after(None, descending=True, limit=2)] == [
        "live",
        "history-000002",
    ]


def test_listing_settings_refuse_unknown_readings() -> None:
    settings = listing.ListingSettings()
    with pytest.raises(ValueError, match="time_filters"):
        settings.configure({"time_filters": "sometimes"})
    with pytest.raises(ValueError, match="unknown"):
        settings.configure({"time_filter": "before_page"})
    settings.configure({"time_filters": "before_page"})
    assert settings.view() == {"time_filters": "before_page"}
    settings.reset()
    assert settings.time_filters == "after_page"


def _job(name: str, created_at: float) -> TrainingJob:
    store = JobStore(clock=lambda: created_at)
    return store.create(training_request(name), "us-east-1")
