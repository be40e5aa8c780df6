"""The simulator's ListTrainingJobs as AWS documents it, its rate limits and seeded history."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sagemaker_async.testing import (
    SageMakerSimulator,
    SimulatorClient,
    aws_client,
    training_request,
)
from sagemaker_async.testing.control import SimulatorControlError

pytestmark = pytest.mark.integration

REGION = "us-east-1"
# One attempt in all, so every throttled answer reaches the test.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def sm(simulator: SageMakerSimulator, sim: SimulatorClient) -> Any:
    return aws_client("sagemaker", simulator.endpoint_url, config=NO_RETRIES)


def names(page: dict[str, Any]) -> list[str]:
    return [job["TrainingJobName"] for job in page["TrainingJobSummaries"]]


def list_pages(sm: Any, **query: Any) -> list[list[str]]:
    """The names on every page of one ListTrainingJobs pass, page by page."""
    pages: list[list[str]] = []
    while True:
        page = sm.list_training_jobs(**query)
        pages.append(names(page))
        if "NextToken" not in page:
            return pages
        query["NextToken"] = page["NextToken"]


def create(sm: Any, *job_names: str) -> None:
    for name in job_names:
        sm.create_training_job(**training_request(name))


def error_of(err: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = err.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


def test_newest_first_ten_at_a_time_by_default(sm: Any) -> None:
    jobs = [f"job-{i:02d}" for i in range(12)]
    create(sm, *jobs)

    first = sm.list_training_jobs()
    assert names(first) == jobs[::-1][:10] and "NextToken" in first
    rest = sm.list_training_jobs(NextToken=first["NextToken"])
    assert names(rest) == ["job-01", "job-00"] and "NextToken" not in rest
    assert names(sm.list_training_jobs(SortOrder="Ascending")) == jobs[:10]
    assert list_pages(sm, SortBy="Name", SortOrder="Ascending", MaxResults=5) == [
        jobs[:5],
        jobs[5:10],
        jobs[10:],
    ]
    summary = first["TrainingJobSummaries"][0]
    assert set(summary) == {
        "TrainingJobName",
        "TrainingJobArn",
        "CreationTime",
        "LastModifiedTime",
        "TrainingJobStatus",
        "SecondaryStatus",
    }


def test_each_region_lists_only_its_own_jobs(simulator: SageMakerSimulator, sm: Any) -> None:
    # SageMaker scopes an account's jobs per region: a client in eu-west-1 never pages
    # through us-east-1's history.
    europe = aws_client("sagemaker", simulator.endpoint_url, "eu-west-1", config=NO_RETRIES)
    sm.create_training_job(**training_request("in-virginia"))
    europe.create_training_job(**training_request("in-ireland"))
    assert list_pages(europe, MaxResults=1) == [["in-ireland"]]
    assert list_pages(sm, MaxResults=1) == [["in-virginia"]]


def test_max_results_is_at_most_100(simulator: SageMakerSimulator, sm: Any) -> None:
    create(sm, "one")
    assert names(sm.list_training_jobs(MaxResults=100)) == ["one"]
    with pytest.raises(ClientError) as err:
        sm.list_training_jobs(MaxResults=200)
    assert error_of(err) == (
        400,
        "ValidationException",
        "1 validation error detected: Value '200' at 'maxResults' failed to satisfy "
        "constraint: Member must have value less than or equal to 100",
    )
    # botocore itself refuses 0, so send it unchecked.
    unchecked = aws_client(
        "sagemaker",
        simulator.endpoint_url,
        config=NO_RETRIES.merge(Config(parameter_validation=False)),
    )
    with pytest.raises(ClientError) as low:
        unchecked.list_training_jobs(MaxResults=0)
    assert "greater than or equal to 1" in error_of(low)[2]
    with pytest.raises(ClientError) as token:
        sm.list_training_jobs(NextToken="not-a-token")
    assert error_of(token)[1] == "ValidationException"


def test_status_equals_filters_each_page_after_it_is_taken(sim: SimulatorClient, sm: Any) -> None:
    sim.add_rule("old-", duration=60)
    sim.add_rule("new-", duration=0)
    create(sm, *(f"old-{i}" for i in range(3)), *(f"new-{i:02d}" for i in range(12)))

    pages = list_pages(sm, StatusEquals="InProgress", MaxResults=5)
    # The two newer pages hold only Completed jobs: empty, yet each with a NextToken.
    assert pages == [[], [], ["old-2", "old-1", "old-0"]]
    completed = list_pages(sm, StatusEquals="Completed", MaxResults=5)
    assert [len(page) for page in completed] == [5, 5, 2]


@pytest.mark.parametrize(
    ("time_filters", "newest_first", "oldest_first"),
    [
        ("after_page", [[9, 8], [7], [], [], []], [[], [], [], [7], [8, 9]]),
        ("before_page", [[9, 8], [7]], [[7, 8], [9]]),
    ],
)
def test_creation_time_after_under_each_reading(
    sim: SimulatorClient,
    sm: Any,
    time_filters: str,
    newest_first: list[list[int]],
    oldest_first: list[list[int]],
) -> None:
    now = time.time()
    # h-000000 ... h-000009, one every 1000 s; CreationTimeAfter keeps the last three.
    sim.seed_history(10, created_from=now - 10_000, created_to=now - 1_000, prefix="h")
    sim.set_listing(time_filters)
    assert sim.listing() == {"time_filters": time_filters}

    def indices(pages: list[list[str]]) -> list[list[int]]:
        return [[int(name.removeprefix("h-")) for name in page] for page in pages]

    query = {"CreationTimeAfter": now - 3_500, "MaxResults": 2}
    assert indices(list_pages(sm, **query)) == newest_first
    assert indices(list_pages(sm, **query, SortOrder="Ascending")) == oldest_first


def test_bad_listing_setting_is_refused(sim: SimulatorClient) -> None:
    with pytest.raises(SimulatorControlError, match=r"HTTP 400.*time_filters"):
        sim.set_listing("sometimes")
    assert sim.listing() == {"time_filters": "after_page"}


@pytest.mark.parametrize("order", ["Descending", "Ascending"])
def test_a_job_created_between_pages_is_not_repeated_and_shifts_nothing(
    sm: Any, order: str
) -> None:
    jobs = [f"job-{i}" for i in range(6)]
    create(sm, *jobs)
    in_order = jobs[::-1] if order == "Descending" else jobs

    first = sm.list_training_jobs(MaxResults=3, SortOrder=order)
    assert names(first) == in_order[:3]
    create(sm, "late")
    rest = list_pages(sm, MaxResults=3, SortOrder=order, NextToken=first["NextToken"])
    # Newest first, the new job sits before the pass's first page: the next pass finds it.
    expected = [in_order[3:]] if order == "Descending" else [in_order[3:], ["late"]]
    assert rest == expected


def test_rate_limit_throttles_over_the_rate_and_refills(sim: SimulatorClient, sm: Any) -> None:
    create(sm, "limited")
    # A token every 2 s: the three calls below come well within that, however busy the machine.
    sim.set_rate_limits({"DescribeTrainingJob": {"rate": 0.5, "burst": 2}, "ListTrainingJobs": 50})
    assert sim.rate_limits()["limits"] == {
        "DescribeTrainingJob": {"rate": 0.5, "burst": 2.0},
        "ListTrainingJobs": {"rate": 50.0, "burst": 50.0},
    }
    for _ in range(2):  # the bucket starts full
        sm.describe_training_job(TrainingJobName="limited")
    with pytest.raises(ClientError) as err:
        sm.describe_training_job(TrainingJobName="limited")
    assert error_of(err) == (400, "ThrottlingException", "Rate exceeded")
    sm.list_training_jobs()  # other operations have their own buckets
    time.sleep(2.2)  # one token back at one every 2 s
    sm.describe_training_job(TrainingJobName="limited")

    view = sim.rate_limits()
    assert view["allowed"] == {"DescribeTrainingJob": 3, "ListTrainingJobs": 1}
    assert view["throttled"] == {"DescribeTrainingJob": 1}
    job = sim.job("limited")
    assert job is not None
    assert job["calls"]["DescribeTrainingJob"] == 4  # received...
    assert job["served_calls"]["DescribeTrainingJob"] == 3  # ...but the throttled one not served


def test_a_throttled_create_has_no_effect(sim: SimulatorClient, sm: Any) -> None:
    sim.set_rate_limits({"CreateTrainingJob": 1})
    create(sm, "first")
    with pytest.raises(ClientError) as err:
        create(sm, "second")
    assert error_of(err)[1] == "ThrottlingException"
    assert [job["name"] for job in sim.jobs()] == ["first"]
    sim.set_rate_limits({})
    create(sm, "second")
    assert sim.rate_limits() == {"limits": {}, "allowed": {}, "throttled": {}}


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"DescribeTrainingJob": 0}, "rate"),
        ({"DescribeTrainingJob": {"rate": -1.0}}, "rate"),
        ({"DescribeTrainingJob": {"rate": 5.0, "burst": 0.5}}, "burst"),
        ({"DescribeTrainingJob": {"rate": 5.0, "bucket": 3}}, "bucket"),
        ({"DescribeTrainingJobs": 5}, "DescribeTrainingJobs"),  # a typo would limit nothing
        ({"DescribeTrainingJob": True}, "rate"),
    ],
)
def test_bad_rate_limits_are_refused(
    sim: SimulatorClient, limits: dict[str, Any], named: str
) -> None:
    sim.set_rate_limits({"ListTrainingJobs": 1})
    with pytest.raises(SimulatorControlError, match=f"HTTP 400.*{named}"):
        sim.set_rate_limits(limits)
    assert sim.rate_limits()["limits"] == {"ListTrainingJobs": {"rate": 1.0, "burst": 1.0}}


def test_seeding_50000_jobs_is_quick_and_they_list_newest_first(
    simulator: SageMakerSimulator, sim: SimulatorClient, sm: Any
) -> None:
    started = time.monotonic()
    assert sim.seed_history(50_000) == 50_000
    assert time.monotonic() - started < 15
    create(sm, "live")

    first = sm.list_training_jobs(MaxResults=100)
    expected = ["live", *(f"history-{i:06d}" for i in range(49_999, 49_900, -1))]
    assert names(first) == expected
    second = sm.list_training_jobs(MaxResults=100, NextToken=first["NextToken"])
    assert names(second)[0] == "history-049900"
    statuses = {s["TrainingJobStatus"] for s in second["TrainingJobSummaries"]}
    assert statuses <= {"Completed", "Failed", "Stopped"} and "Completed" in statuses
    # Only the job created by a call may be owed log lines: the ticker never visits the history.
    assert [job.name for job in simulator.logs.pending()] in (["live"], [])
    assert sim.calls() == {"CreateTrainingJob": 1, "ListTrainingJobs": 2}
    assert [job["name"] for job in sim.jobs(prefix="history-04999")] == [
        f"history-{i:06d}" for i in range(49_990, 50_000)
    ]


def test_seeded_jobs_describe_as_finished_and_write_no_logs(
    simulator: SageMakerSimulator, sim: SimulatorClient, sm: Any
) -> None:
    now = time.time()
    sim.seed_history(20, created_from=now - 4_000, created_to=now - 100, stopped_fraction=0.5)
    seeded = time.time()
    statuses: dict[str, list[dict[str, Any]]] = {}
    for job in sim.jobs(prefix="history-"):
        described = sm.describe_training_job(TrainingJobName=job["name"])
        statuses.setdefault(described["TrainingJobStatus"], []).append(described)
    assert {status: len(jobs) for status, jobs in statuses.items()} == {
        "Completed": 8,
        "Failed": 2,
        "Stopped": 10,
    }
    for described in (job for jobs in statuses.values() for job in jobs):
        assert described["TrainingEndTime"].timestamp() <= seeded
    newest = sm.describe_training_job(TrainingJobName="history-000019")
    # Created 100 s ago, it ran those 100 s at most (instead of 600).
    assert newest["TrainingEndTime"].timestamp() - newest["CreationTime"].timestamp() <= 100.5
    logs = aws_client("logs", simulator.endpoint_url, config=NO_RETRIES)
    try:
        streams = logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="history-"
        )["logStreams"]
    except ClientError:  # no group yet: this test ran first
        streams = []
    assert streams == []


def test_the_log_ticker_lets_go_of_finished_jobs(
    simulator: SageMakerSimulator, sim: SimulatorClient, sm: Any
) -> None:
    sim.add_rule("brief", duration=1.0)
    create(sm, "brief")
    assert [job.name for job in simulator.logs.pending()] == ["brief"]
    deadline = time.monotonic() + 5
    while simulator.logs.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert simulator.logs.pending() == []
    # Let go only once its stream was complete.
    assert simulator.log_lines("brief")[-1][1] == "[Completed] Training job completed"


@pytest.mark.parametrize(
    "spec",
    [
        {"count": -1},
        {"count": 5, "created_to": time.time() + 3_600},
        {"count": 5, "created_from": 2_000.0, "created_to": 1_000.0},
        {"count": 5, "failed_fraction": 0.7, "stopped_fraction": 0.5},
        {"count": 5, "prefix": "bad_name"},
    ],
)
def test_bad_history_is_refused(sim: SimulatorClient, spec: dict[str, Any]) -> None:
    with pytest.raises(SimulatorControlError, match="HTTP 400"):
        sim.seed_history(**spec)
    assert sim.jobs() == []


def test_a_history_never_reuses_a_name(sim: SimulatorClient) -> None:
    assert sim.seed_history(3) == 3
    with pytest.raises(SimulatorControlError, match=r"HTTP 400.*history-000000"):
        sim.seed_history(3)
    assert sim.seed_history(3, prefix="more") == 3
    assert len(sim.jobs()) == 6


def test_reset_restores_every_default(sim: SimulatorClient, sm: Any) -> None:
    sim.set_listing("before_page")
    sim.set_rate_limits({"ListTrainingJobs": 1})
    sim.seed_history(5)
    sm.list_training_jobs()

    sim.reset()
    assert sim.listing() == {"time_filters": "after_page"}
    assert sim.rate_limits() == {"limits": {}, "allowed": {}, "throttled": {}}
    assert sim.jobs() == [] and sim.job("history-000000") is None
    assert names(sm.list_training_jobs()) == []
