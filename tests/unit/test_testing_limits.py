"""The simulator's per-account rate limits: token buckets on a fake monotonic clock."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_async.testing.limits import Limit, RateLimiter, TokenBucket, parse_limits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_starts_full_and_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(Limit(rate=2.0, burst=3.0), now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.4)  # 0.8 of a token
    assert bucket.take(0.5)
    # A long quiet spell refills no more than the burst.
    assert [bucket.take(60.0) for _ in range(4)] == [True, True, True, False]


def test_a_clock_going_back_neither_refills_nor_drains() -> None:
    bucket = TokenBucket(Limit(rate=1.0, burst=1.0), now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert bucket.take(6.0)  # a second after the step back


def test_the_limiter_counts_limited_operations_only() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.configure({"DescribeTrainingJob": {"rate": 1.0, "burst": 2}})
    outcomes = [limiter.allow("DescribeTrainingJob") for _ in range(3)]
    assert outcomes == [True, True, False]
    assert limiter.allow("ListTrainingJobs")  # no limit
    clock.now += 1.0
    assert limiter.allow("DescribeTrainingJob")
    assert limiter.view() == {
        "limits": {"DescribeTrainingJob": {"rate": 1.0, "burst": 2.0}},
        "allowed": {"DescribeTrainingJob": 3},
        "throttled": {"DescribeTrainingJob": 1},
    }
    limiter.configure({"DescribeTrainingJob": 1.0})  # setting again: full bucket, new counts
    assert limiter.view()["allowed"] == {} and limiter.allow("DescribeTrainingJob")
    limiter.reset()
    assert limiter.view() == {"limits": {}, "allowed": {}, "throttled": {}}


@pytest.mark.parametrize(("rate", "burst"), [(0.5, 1.0), (1.0, 1.0), (40, 40.0)])
def test_a_bare_rate_bursts_to_max_of_1_and_the_rate(rate: float, burst: float) -> None:
    assert parse_limits({"ListTrainingJobs": rate}) == {"ListTrainingJobs": Limit(rate, burst)}


def test_cloudwatch_logs_and_sts_operations_are_accepted() -> None:
    names = ["FilterLogEvents", "DescribeLogStreams", "GetLogEvents", "AssumeRole"]
    assert set(parse_limits(dict.fromkeys([*names, "GetCallerIdentity"], 1))) >= set(names)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ([], "JSON object"),
        ({"ListTrainingJob": 1}, "ListTrainingJob"),
        ({"ListTrainingJobs": 0}, "rate"),
        ({"ListTrainingJobs": float("inf")}, "rate"),
        ({"ListTrainingJobs": "5"}, "rate"),
        ({"ListTrainingJobs": {"burst": 2}}, "rate"),
        ({"ListTrainingJobs": {"rate": 1, "burst": 0}}, "burst"),
        ({"ListTrainingJobs": {"rate": 1, "per": "second"}}, "per"),
    ],
)
def test_bad_limits_are_refused_by_name(body: Any, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_limits(body)
