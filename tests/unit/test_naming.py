from __future__ import annotations

import pytest

from sagemaker_async.naming import (
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    ExistingJob,
    InvalidJobNameError,
    JobNameTakenError,
    resolve_name,
    validate_job_name,
    with_suffix,
)

NOW = 1_700_000_000


def lookup_from(jobs: dict[str, ExistingJob]):
    calls: list[str] = []

    def lookup(name: str) -> ExistingJob | None:
        calls.append(name)
        return jobs.get(name)

    lookup.calls = calls  # type: ignore[attr-defined]
    return lookup


FOREIGN_DONE = ExistingJob("Completed", owned=False)
FOREIGN_RUNNING = ExistingJob("InProgress", owned=False)
OURS_RUNNING = ExistingJob("InProgress", owned=True)
OURS_DONE = ExistingJob("Failed", owned=True)


@pytest.mark.parametrize("action", ["fail", "increment", "skip", "timestamp"])
def test_free_name_is_created_whatever_the_action(action: str) -> None:
    decision = resolve_name("job", action, lookup_from({}), NOW)
    assert (decision.name, decision.action) == ("job", "create")


def test_fail_raises_when_another_task_holds_the_name() -> None:
    with pytest.raises(JobNameTakenError, match="'job' already exists"):
        resolve_name("job", "fail", lookup_from({"job": FOREIGN_DONE}), NOW)


def test_skip_skips_when_another_task_holds_the_name() -> None:
    decision = resolve_name("job", "skip", lookup_from({"job": FOREIGN_RUNNING}), NOW)
    assert (decision.name, decision.action) == ("job", "skip")


def test_increment_takes_the_next_free_suffix() -> None:
    jobs = {"job": FOREIGN_DONE, "job-1": FOREIGN_DONE}
    decision = resolve_name("job", "increment", lookup_from(jobs), NOW)
    assert (decision.name, decision.action) == ("job-2", "create")


def test_timestamp_appends_epoch_seconds() -> None:
    decision = resolve_name("job", "timestamp", lookup_from({"job": FOREIGN_DONE}), NOW)
    assert (decision.name, decision.action) == (f"job-{NOW}", "create")


@pytest.mark.parametrize("action", ["fail", "increment", "skip", "timestamp"])
def test_own_running_job_is_reattached(action: str) -> None:
    lookup = lookup_from({"job": OURS_RUNNING})
    decision = resolve_name("job", action, lookup, NOW)
    assert (decision.name, decision.action) == ("job", "attach")
    assert lookup.calls == ["job"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("action", ["fail", "increment", "skip", "timestamp"])
def test_own_finished_job_moves_to_next_suffix(action: str) -> None:
    decision = resolve_name("job", action, lookup_from({"job": OURS_DONE}), NOW)
    assert (decision.name, decision.action) == ("job-1", "create")


def test_own_running_retry_job_on_suffix_is_reattached() -> None:
    jobs = {"job": OURS_DONE, "job-1": OURS_RUNNING}
    decision = resolve_name("job", "fail", lookup_from(jobs), NOW)
    assert (decision.name, decision.action) == ("job-1", "attach")


def test_increment_names_stay_valid_at_63_characters() -> None:
    base = "a" * 60 + "-bc"
    assert len(base) == MAX_NAME_LENGTH
    jobs = {base: FOREIGN_DONE}
    jobs.update({with_suffix(base, str(n)): FOREIGN_DONE for n in range(1, 12)})
    decision = resolve_name(base, "increment", lookup_from(jobs), NOW)
    assert decision.name == with_suffix(base, "12")
    assert len(decision.name) == MAX_NAME_LENGTH
    assert NAME_PATTERN.match(decision.name)


def test_truncation_never_leaves_a_double_hyphen_before_the_suffix() -> None:
    base = "a" * 61 + "-b"  # truncating to 61 chars would end on the hyphen
    name = with_suffix(base, "1")
    assert NAME_PATTERN.match(name) and len(name) <= MAX_NAME_LENGTH
    assert not name.endswith("--1")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "1 to 63"),
        ("a" * 64, "64 characters"),
        ("bad_name", "invalid"),
        ("-x", "invalid"),
        (5, "string"),
    ],
)
def test_invalid_names_are_rejected_with_the_field_named(name: object, problem: str) -> None:
    with pytest.raises(InvalidJobNameError, match="TrainingJobName") as err:
        validate_job_name(name)
    assert problem in str(err.value)
