from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from sagemaker_async import sweep, triggers
from sagemaker_async.events import JobWatch
from sagemaker_async.sweep import SWEEP_MIN_TRIGGERS, StatusSweep, sweep_for
from sagemaker_async.triggers import SageMakerTrainingTrigger
from tests.unit.fakes import client_error


class ListingClient:
    """A pooled-client stand-in that answers ListTrainingJobs (100 per page at most) and
    DescribeTrainingJob from ``states``: job name -> (status, secondary status)."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[str, str]] = {}
        self.sweeps: dict[float, Any] = {}
        self.calls: list[str] = []
        self.tokens: list[str | None] = []  # NextToken of each list request
        self.list_errors: list[Exception] = []

    async def call(self, operation: str, **kwargs: Any) -> Any:
        self.calls.append(operation)
        await asyncio.sleep(0)
        if operation == "list_training_jobs":
            self.tokens.append(kwargs.get("NextToken"))
            return self._list(**kwargs)
        status, secondary = self.states[kwargs["TrainingJobName"]]
        return {"TrainingJobStatus": status, "SecondaryStatus": secondary}

    def count(self, operation: str) -> int:
        return self.calls.count(operation)

    def _list(self, StatusEquals: str, MaxResults: int, NextToken: str = "0") -> Any:
        if self.list_errors:
            raise self.list_errors.pop(0)
        assert MaxResults <= 100
        names = [n for n, (status, _) in self.states.items() if status == StatusEquals]
        start = int(NextToken)
        page = [
            {"TrainingJobName": n, "TrainingJobStatus": s, "SecondaryStatus": sec}
            for n in names[start : start + MaxResults]
            for s, sec in [self.states[n]]
        ]
        result: dict[str, Any] = {"TrainingJobSummaries": page}
        if start + MaxResults < len(names):
            result["NextToken"] = str(start + MaxResults)
        return result


def watches(client: ListingClient, count: int, secondary: str = "Training") -> list[JobWatch]:
    made = []
    for i in range(count):
        name = f"job-{i:03d}"
        client.states[name] = ("InProgress", secondary)
        made.append(JobWatch(name, time.time() + 60, "InProgress", secondary))
    return made


async def reads(board: StatusSweep, members: list[Any], timeout: float) -> list[Any]:
    """Each member's next read: a summary, ``None`` (describe it) or "timeout"."""

    async def one(member: Any) -> Any:
        try:
            return await board.next_read(member, timeout)
        except TimeoutError:
            return "timeout"

    return await asyncio.gather(*(one(m) for m in members))


@pytest.mark.asyncio
async def test_few_triggers_do_not_sweep() -> None:
    client = ListingClient()
    board = StatusSweep(client, 0.05)  # type: ignore[arg-type]
    members = [board.join(w) for w in watches(client, SWEEP_MIN_TRIGGERS - 1)]
    assert not board.sweeping
    assert await reads(board, members, 0.2) == ["timeout"] * len(members)
    assert client.count("list_training_jobs") == 0
    for member in members:
        await board.leave(member)


@pytest.mark.asyncio
async def test_members_hear_only_of_their_own_changes() -> None:
    client = ListingClient()
    board = StatusSweep(client, 0.05)  # type: ignore[arg-type]
    jobs = watches(client, 250)
    members = [board.join(w) for w in jobs]
    assert board.sweeping
    quiet = await reads(board, members, 0.2)
    assert quiet == ["timeout"] * 250, "unchanged jobs must not wake their triggers"
    # 250 listed jobs take three requests of at most 100 summaries each, per sweep.
    sweeps = client.tokens.count(None)
    assert sweeps >= 2
    assert client.tokens[:6] == [None, "100", "200", None, "100", "200"]

    client.states["job-007"] = ("InProgress", "Uploading")
    client.states["job-200"] = ("Completed", "Completed")
    found = await reads(board, members, 0.5)
    assert found[7]["SecondaryStatus"] == "Uploading"
    assert found[200] is None, "a job no longer listed must be described"
    assert all(r == "timeout" for i, r in enumerate(found) if i not in (7, 200))
    assert client.count("describe_training_job") == 0
    for member in members:
        await board.leave(member)


@pytest.mark.asyncio
async def test_first_read_comes_from_the_sweep_and_late_joiners_wait_for_the_next() -> None:
    client = ListingClient()
    board = StatusSweep(client, 0.1)  # type: ignore[arg-type]
    jobs = watches(client, SWEEP_MIN_TRIGGERS)
    for watch in jobs:
        watch.status = watch.secondary = None  # nothing known yet
    members = [board.join(w) for w in jobs]
    first = await reads(board, members, 0.3)
    assert [r["TrainingJobName"] for r in first] == [w.job_name for w in jobs]
    for member in members:
        await board.leave(member)


@pytest.mark.asyncio
async def test_last_member_out_stops_the_sweep_and_frees_the_client() -> None:
    client = ListingClient()
    jobs = watches(client, SWEEP_MIN_TRIGGERS)
    board = sweep_for(client, 0.05)  # type: ignore[arg-type]
    members = [board.join(w) for w in jobs]
    assert board is client.sweeps[0.05] and board.sweeping
    await asyncio.sleep(0.12)
    for member in members:
        await board.leave(member)
    assert client.sweeps == {}
    assert not board.sweeping
    listed = client.count("list_training_jobs")
    await asyncio.sleep(0.15)
    assert client.count("list_training_jobs") == listed, "no sweep may outlive its members"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "named"),
    [
        (client_error("AccessDeniedException", "ListTrainingJobs"), "AccessDeniedException"),
        (
            RuntimeError(
                "Credentials were refreshed, but the refreshed credentials are still expired."
            ),
            "still expired",
        ),
    ],
)
async def test_a_final_listing_error_hands_polling_back_to_each_trigger(
    caplog: pytest.LogCaptureFixture, error: Exception, named: str
) -> None:
    client = ListingClient()
    client.list_errors = [error]
    board = StatusSweep(client, 0.05)  # type: ignore[arg-type]
    members = [board.join(w) for w in watches(client, SWEEP_MIN_TRIGGERS)]
    with caplog.at_level(logging.WARNING, logger=sweep.__name__):
        found = await reads(board, members, 1.0)
    assert found == [None] * SWEEP_MIN_TRIGGERS, "every waiting trigger must describe"
    assert not board.sweeping and not board.listing
    assert named in caplog.text
    late = board.join(JobWatch("late", time.time() + 60))
    assert not board.sweeping, "a stopped sweep must not start again"
    for member in [*members, late]:
        await board.leave(member)


@pytest.mark.asyncio
async def test_a_throttled_page_is_asked_again_after_growing_pauses() -> None:
    client = ListingClient()
    client.list_errors = [client_error("ThrottlingException", "ListTrainingJobs")] * 2
    board = StatusSweep(client, 0.05)  # type: ignore[arg-type]
    jobs = watches(client, SWEEP_MIN_TRIGGERS)
    board.members.update(sweep.Member(w) for w in jobs)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await board._sweep()
    assert client.count("list_training_jobs") == 3  # two throttled, then the page
    # Paused two intervals, then four, before asking again: the rate falls under throttling.
    assert loop.time() - started >= 0.05 * (2 + 4) - 0.01


@pytest.mark.asyncio
async def test_many_triggers_in_one_loop_share_sweeps_and_describe_only_the_ending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = ListingClient()
    names = [f"job-{i:03d}" for i in range(SWEEP_MIN_TRIGGERS * 2)]
    for name in names:
        client.states[name] = ("InProgress", "Training")

    @asynccontextmanager
    async def fake_open(settings: Any, service: str = "sagemaker") -> AsyncIterator[Any]:
        yield client

    monkeypatch.setattr(triggers, "shared_client", fake_open)

    async def finish_all() -> None:
        await asyncio.sleep(0.5)
        for name in names:
            client.states[name] = ("Completed", "Completed")

    trigger_list = [
        SageMakerTrainingTrigger(
            job_name=name,
            deadline=time.time() + 20,
            check_interval=0.1,
            aws_conn_id=None,
            region_name="us-east-1",
            print_log=False,
        )
        for name in names
    ]

    async def first(trigger: SageMakerTrainingTrigger) -> Any:
        return [e.payload async for e in trigger.run()]

    ender = asyncio.ensure_future(finish_all())
    results = await asyncio.gather(*(first(t) for t in trigger_list))
    await ender
    assert all(len(r) == 1 and r[0]["status"] == "success" for r in results)
    # A few triggers may poll their own job before the sweep starts; after that only the
    # jobs that ended are described, once each.
    assert client.count("describe_training_job") <= len(names) + SWEEP_MIN_TRIGGERS
    assert client.count("list_training_jobs") >= 3
    assert client.sweeps == {}
