from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from sagemaker_async import sweep
from sagemaker_async.events import JobWatch
from sagemaker_async.sweep import SWEEP_MIN_TRIGGERS, StatusSweep, sweep_for
from sagemaker_async.triggers import SageMakerTrainingTrigger
from tests.unit.fakes import client_error, route_triggers_to


class ListingClient:
    """A pooled-client stand-in that answers ListTrainingJobs (100 per page at most) and
    DescribeTrainingJob from ``states``: job name -> (status, secondary status)."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[str, str]] = {}
        self.sweeps: dict[float, Any] = {}
        self.calls: list[str] = []
        self.tokens: list[str | None] = []  # NextToken of each list request
        self.list_errors: list[Exception] = []
        self.latency = 0.0

    async def call(self, operation: str, **kwargs: Any) -> Any:
        self.calls.append(operation)
        await asyncio.sleep(self.latency)
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


async def leave_all(board: StatusSweep, members: list[Any]) -> None:
    for member in members:
        await board.leave(member)


async def reads(board: StatusSweep, members: list[Any], timeout: float) -> list[Any]:
    """Each member's next read: a summary, ``None`` (describe it) or "timeout"."""

    async def one(member: Any) -> Any:
        finding = await board.next_read(member, timeout)
        return "timeout" if finding is sweep.NO_NEWS else finding

    return await asyncio.gather(*(one(m) for m in members))


@pytest.mark.asyncio
async def test_a_cancelled_reader_leaves_no_timer_and_a_new_read_ends_the_old() -> None:
    client = ListingClient()
    board = StatusSweep(client, 0.05)  # type: ignore[arg-type]
    (member,) = [board.join(w) for w in watches(client, 1)]
    first = board.next_read(member, 60)
    second = board.next_read(member, 60)
    assert first.result() is sweep.NO_NEWS, "a new read ends the pending one"
    timer = member.timer
    reader = asyncio.ensure_future(asyncio.wait_for(second, 60))
    await asyncio.sleep(0)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await board.leave(member)
    assert member.timer is None and timer is not None and timer.cancelled()


@pytest.mark.asyncio
async def test_few_triggers_do_not_sweep() -> None:
    client = ListingClient()
    board = StatusSweep(client, 0.05)  # type: ignore[arg-type]
    members = [board.join(w) for w in watches(client, SWEEP_MIN_TRIGGERS - 1)]
    assert not board.sweeping
    assert await reads(board, members, 0.2) == ["timeout"] * len(members)
    assert client.count("list_training_jobs") == 0
    await leave_all(board, members)


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
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_first_read_comes_from_the_sweep_and_late_joiners_wait_for_the_next() -> None:
    client = ListingClient()
    board = StatusSweep(client, 0.3)  # type: ignore[arg-type]
    jobs = watches(client, SWEEP_MIN_TRIGGERS)
    for watch in jobs:
        watch.status = watch.secondary = None  # nothing known yet
    client.latency = 0.05
    members = [board.join(w) for w in jobs]
    early = asyncio.ensure_future(reads(board, members, 0.25))
    await asyncio.sleep(0.02)  # the sweep's first request is now in flight
    client.states["late"] = ("InProgress", "Starting")
    late = board.join(JobWatch("late", time.time() + 60))
    first = await early
    assert [r["TrainingJobName"] for r in first] == [w.job_name for w in jobs]
    # Not told "unlisted" by a listing that began before it joined: it hears from the next.
    (late_read,) = await reads(board, [late], 0.5)
    assert late_read is not None and late_read["TrainingJobName"] == "late"
    await leave_all(board, [*members, late])


@pytest.mark.asyncio
async def test_last_member_out_stops_the_sweep_and_frees_the_client() -> None:
    client = ListingClient()
    jobs = watches(client, SWEEP_MIN_TRIGGERS)
    board = sweep_for(client, 0.05)  # type: ignore[arg-type]
    members = [board.join(w) for w in jobs]
    assert board is client.sweeps[0.05] and board.sweeping
    await asyncio.sleep(0.12)
    await leave_all(board, members)
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
    # Handed back (as a timeout): each trigger spreads its own polls again.
    assert found == ["timeout"] * SWEEP_MIN_TRIGGERS
    assert not board.sweeping
    assert named in caplog.text
    late = board.join(JobWatch("late", time.time() + 60))
    assert not board.sweeping, "a failed sweep must not start again at once"
    await leave_all(board, [*members, late])


@pytest.mark.asyncio
async def test_a_throttled_page_is_asked_again_after_growing_pauses() -> None:
    client = ListingClient()
    board = StatusSweep(client, 0.05)  # type: ignore[arg-type]
    board.members.update(sweep.Member(w) for w in watches(client, 150))
    throttled = client_error("ThrottlingException", "ListTrainingJobs")

    async def call(operation: str, **kwargs: Any) -> Any:
        if kwargs.get("NextToken") == "100" and client.tokens.count("100") < 2:
            client.tokens.append("100")
            raise throttled
        return await ListingClient.call(client, operation, **kwargs)

    client.call = call  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await board._sweep()
    # The second page failed twice and was asked again with the same token each time.
    assert client.tokens == [None, "100", "100", "100"]
    # Paused two intervals, then four, before asking again: the rate falls under throttling.
    assert loop.time() - started >= 0.05 * (2 + 4) - 0.01


@pytest.mark.asyncio
async def test_while_listing_keeps_failing_members_describe_every_few_intervals() -> None:
    client = ListingClient()
    client.list_errors = [client_error("ServiceUnavailable", "ListTrainingJobs", 503)] * 100
    board = StatusSweep(client, 0.02)  # type: ignore[arg-type]
    members = [board.join(w) for w in watches(client, SWEEP_MIN_TRIGGERS)]
    found = await reads(board, members, 1.0)
    assert found == [None] * SWEEP_MIN_TRIGGERS, "stale: each must describe its own job"
    assert board.sweeping, "transient errors do not stop the sweep"
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_while_listing_is_throttled_members_describe_only_once_it_has_lasted() -> None:
    client = ListingClient()
    client.list_errors = [client_error("ThrottlingException", "ListTrainingJobs")] * 100
    board = StatusSweep(client, 0.1)  # type: ignore[arg-type]
    members = [board.join(w) for w in watches(client, SWEEP_MIN_TRIGGERS)]
    # Requests fail at 0, 0.2, 0.6, 1.0 s ... (pauses of 2, then 4 intervals). Eight
    # intervals of throttling, and no member was told to describe: that would ask AWS for
    # more, not less (other transient errors make them describe from 0.6 s on).
    assert await reads(board, members, 0.8) == ["timeout"] * SWEEP_MIN_TRIGGERS
    found = await reads(board, members, 2.0)
    assert found == [None] * SWEEP_MIN_TRIGGERS, "once it lasts, each describes its own job"
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_the_sweep_stops_below_ten_members_and_hands_polling_back() -> None:
    client = ListingClient()
    board = StatusSweep(client, 0.05)  # type: ignore[arg-type]
    members = [board.join(w) for w in watches(client, SWEEP_MIN_TRIGGERS)]
    await leave_all(board, members[: SWEEP_MIN_TRIGGERS - sweep.SWEEP_STOP_BELOW])
    assert board.sweeping, "between ten and twenty members a running sweep goes on"
    staying = members[SWEEP_MIN_TRIGGERS - sweep.SWEEP_STOP_BELOW :]
    waiting = asyncio.ensure_future(reads(board, staying[1:], 5.0))
    await asyncio.sleep(0.01)
    await board.leave(staying[0])
    assert not board.sweeping
    assert await waiting == ["timeout"] * (sweep.SWEEP_STOP_BELOW - 1)
    await leave_all(board, staying[1:])


async def run_triggers(
    monkeypatch: pytest.MonkeyPatch, client: ListingClient, count: int, interval: float
) -> list[dict[str, Any]]:
    """``count`` triggers on jobs of ``client`` in this loop, all jobs completing after three
    intervals; each trigger's single event."""
    names = [f"job-{i:03d}" for i in range(count)]
    for name in names:
        client.states[name] = ("InProgress", "Training")

    route_triggers_to(monkeypatch, client)

    async def finish_all() -> None:
        await asyncio.sleep(interval * 3)
        for name in names:
            client.states[name] = ("Completed", "Completed")

    async def one(name: str) -> dict[str, Any]:
        trigger = SageMakerTrainingTrigger(
            job_name=name,
            deadline=time.time() + 20,
            check_interval=interval,
            aws_conn_id=None,
            region_name="us-east-1",
            print_log=False,
        )
        events = [e.payload async for e in trigger.run()]
        assert len(events) == 1, "the trigger must fire exactly one event"
        return events[0]

    ender = asyncio.ensure_future(finish_all())
    events = await asyncio.gather(*(one(name) for name in names))
    await ender
    return events


@pytest.mark.asyncio
async def test_many_triggers_in_one_loop_share_sweeps_and_describe_only_the_ending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = ListingClient()
    count = SWEEP_MIN_TRIGGERS * 2
    events = await run_triggers(monkeypatch, client, count, interval=0.15)
    assert [e["status"] for e in events] == ["success"] * count
    # A few triggers may poll their own job before the sweep starts; after that only the
    # jobs that ended are described, once each.
    assert client.count("describe_training_job") <= count + SWEEP_MIN_TRIGGERS
    assert client.count("list_training_jobs") >= 3
    assert client.sweeps == {}


@pytest.mark.asyncio
async def test_triggers_handed_back_spread_their_own_polls_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = ListingClient()
    client.list_errors = [client_error("AccessDeniedException", "ListTrainingJobs")]
    first_describe: dict[str, float] = {}
    plain_call = client.call

    async def call(operation: str, **kwargs: Any) -> Any:
        if operation == "describe_training_job":
            first_describe.setdefault(kwargs["TrainingJobName"], time.monotonic())
        return await plain_call(operation, **kwargs)

    client.call = call  # type: ignore[method-assign]
    events = await run_triggers(monkeypatch, client, SWEEP_MIN_TRIGGERS, interval=1.0)
    assert [e["status"] for e in events] == ["success"] * SWEEP_MIN_TRIGGERS
    assert client.count("list_training_jobs") == 1
    times = sorted(first_describe.values())
    assert len(times) == SWEEP_MIN_TRIGGERS
    # Spread over the interval's four 0.25 s poll slots again, not all at the moment the
    # sweep gave up (then 19 or 20 would describe at once).
    together = [t for t in times if t - times[0] < 0.01]
    assert len(together) <= 12 and times[-1] - times[0] > 0.2, times
