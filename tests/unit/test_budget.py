from __future__ import annotations

from typing import Any

import pytest

from sagemaker_async.budget import (
    DEFAULT_MAX_RUNTIME,
    job_limit_seconds,
    margin_seconds,
    wait_budget,
)


def stopping(**condition: Any) -> dict[str, Any]:
    return {"StoppingCondition": condition}


@pytest.mark.parametrize(
    ("config", "limit"),
    [
        (stopping(MaxRuntimeInSeconds=28800), 28800),
        # Spot: MaxWaitTimeInSeconds already includes the runtime (it must be >= it).
        (stopping(MaxRuntimeInSeconds=3600, MaxWaitTimeInSeconds=10800), 10800),
        # Pending for capacity comes before the job runs, so it adds up.
        (stopping(MaxRuntimeInSeconds=3600, MaxPendingTimeInSeconds=1800), 5400),
        (
            stopping(
                MaxRuntimeInSeconds=3600, MaxWaitTimeInSeconds=7200, MaxPendingTimeInSeconds=1800
            ),
            9000,
        ),
        # SageMaker's documented default runtime is one day.
        ({}, DEFAULT_MAX_RUNTIME),
        (stopping(MaxWaitTimeInSeconds=100), DEFAULT_MAX_RUNTIME),
    ],
    ids=["runtime", "spot", "pending", "spot-and-pending", "no-condition", "short-spot-wait"],
)
def test_job_limit_follows_the_stopping_condition(config: dict[str, Any], limit: int) -> None:
    assert job_limit_seconds(config) == limit


def test_default_budget_is_the_jobs_limit_plus_a_margin_and_not_explicit() -> None:
    budget = wait_budget(stopping(MaxRuntimeInSeconds=28800), 30, None, None)
    assert budget.seconds == 28800 + 3600 + 2880
    assert budget.seconds == 28800 + margin_seconds(28800)
    assert not budget.explicit
    assert "StoppingCondition allows 28800s" in budget.text


def test_default_budget_without_a_config_assumes_the_default_runtime() -> None:
    assert wait_budget(None, 30, None, None).seconds == DEFAULT_MAX_RUNTIME + margin_seconds(
        DEFAULT_MAX_RUNTIME
    )


def test_max_attempts_keeps_its_meaning() -> None:
    budget = wait_budget(stopping(MaxRuntimeInSeconds=28800), 30, 60, None)
    assert (budget.seconds, budget.explicit) == (1800, True)
    assert budget.text == "max_attempts=60 x check_interval=30s = 1800s"


def test_max_ingestion_time_wins_over_max_attempts() -> None:
    budget = wait_budget(stopping(MaxRuntimeInSeconds=28800), 30, 60, 7200)
    assert (budget.seconds, budget.explicit, budget.text) == (
        7200,
        True,
        "max_ingestion_time=7200s",
    )
