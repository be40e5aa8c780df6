from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from typing import Any

import pytest

from sagemaker_async import listshare, sweep
from sagemaker_async.events import JobWatch
from sagemaker_async.pacing import Pacer
from sagemaker_async.sweep import SWEEP_MIN_TRIGGERS, StatusSweep, sweep_for, sweeps_of
from sagemaker_async.triggers import SageMakerTrainingTrigger
from tests.unit.fakes import client_error, route_triggers_to

FAST = Pacer(1000.0)  # a List share that never waits: windows of interval x 1000 pages


class Account:
    """A pooled-client stand-in for one account, listing as the SageMaker API reference
    documents ``ListTrainingJobs``: newest first by ``CreationTime``, ``MaxResults`` 10 by
    default and 100 at most, ``StatusEquals`` applied after the page is taken; the token is
    the sort key of the page's last job, so jobs created meanwhile shift nothing.

    :param omit_secondary: summaries without ``SecondaryStatus`` (as stock moto sends them).
    :param empty_every: every this many list calls, an empty page with a ``NextToken``
        (the reference does not promise full pages).
    """

    def __init__(self, omit_secondary: bool = False, empty_every: int = 0) -> None:
        self.jobs: dict[str, list[Any]] = {}  # name -> [created, status, secondary]
        self.omit_secondary = omit_secondary
        self.empty_every = empty_every
        self.calls: list[str] = []
        self.list_times: list[float] = []
        self.requests: list[dict[str, Any]] = []
        self.list_errors: list[Exception] = []
        self.latency = 0.0
        self.now = 1_700_000_000.0
        #: Called with the number of list requests made so far, before answering the next.
        self.before_list: Any = None

    def add(self, name: str, status: str = "InProgress", secondary: str = "Training") -> str:
        self.now += 1.0
        self.jobs[name] = [self.now, status, secondary]
        return name

    def history(self, count: int, prefix: str = "old") -> None:
        for i in range(count):
            self.add(f"{prefix}-{i:05d}", "Completed", "Completed")

    def set(self, name: str, status: str, secondary: str) -> None:
        self.jobs[name][1:] = [status, secondary]

    def count(self, operation: str) -> int:
        return self.calls.count(operation)

    async def call(self, operation: str, **kwargs: Any) -> Any:
        self.calls.append(operation)
        await asyncio.sleep(self.latency)
        if operation == "list_training_jobs":
            if self.before_list is not None:
                self.before_list(len(self.requests))
            self.requests.append(kwargs)
            self.list_times.append(time.monotonic())
            if self.list_errors:
                raise self.list_errors.pop(0)
            return self._list(**kwargs)
        created, status, secondary = self.jobs[kwargs["TrainingJobName"]]
        return {
            "TrainingJobName": kwargs["TrainingJobName"],
            "TrainingJobStatus": status,
            "SecondaryStatus": secondary,
            "CreationTime": created,
            "FailureReason": "AlgorithmError: boom" if status == "Failed" else None,
        }

    def _list(
        self,
        MaxResults: int = 10,
        NextToken: str | None = None,
        SortBy: str = "CreationTime",
        SortOrder: str = "Descending",
        StatusEquals: str | None = None,
    ) -> Any:
        assert 1 <= MaxResults <= 100
        assert (SortBy, SortOrder) == ("CreationTime", "Descending")
        order = sorted(self.jobs.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True)
        start = 0
        if NextToken is not None:
            after = tuple(json.loads(NextToken))
            start = next((i for i, (n, j) in enumerate(order) if (j[0], n) < after), len(order))
        if self.empty_every and self.count("list_training_jobs") % self.empty_every == 0:
            # An empty page that keeps the position: paging is not finished.
            return {"TrainingJobSummaries": [], "NextToken": NextToken or json.dumps([1e12, ""])}
        raw = order[start : start + MaxResults]
        page = [self._summary(n, j) for n, j in raw if StatusEquals in (None, j[1])]
        result: dict[str, Any] = {"TrainingJobSummaries": page}
        if start + MaxResults < len(order):
            result["NextToken"] = json.dumps([raw[-1][1][0], raw[-1][0]])
        return result

    def _summary(self, name: str, job: list[Any]) -> dict[str, Any]:
        summary = {"TrainingJobName": name, "CreationTime": job[0], "TrainingJobStatus": job[1]}
        if not self.omit_secondary:
            summary["SecondaryStatus"] = job[2]
        return summary


def watches(account: Account, count: int, prefix: str = "job") -> list[JobWatch]:
    made = []
    for i in range(count):
        name = account.add(f"{prefix}-{i:03d}")
        made.append(JobWatch(name, time.time() + 60, "InProgress", "Training"))
    return made


def pass_starts(requests: list[dict[str, Any]]) -> list[int]:
    """Indexes of the requests that began a pass (no token)."""
    return [i for i, r in enumerate(requests) if "NextToken" not in r]


async def passes(account: Account, count: int, since: int = 0, timeout: float = 20.0) -> None:
    """Wait until ``count`` passes have begun after request ``since`` (bounded: a busy
    machine slows the loop, it must not fail the test)."""
    deadline = time.monotonic() + timeout
    while len(pass_starts(account.requests[since:])) < count:
        assert time.monotonic() < deadline, f"fewer than {count} passes in {timeout}s"
        await asyncio.sleep(0.02)


def board_of(account: Account, interval: float, share: Pacer = FAST) -> StatusSweep:
    return StatusSweep(account, interval, share)


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
    account = Account()
    board = board_of(account, 0.05)
    (member,) = [board.join(w) for w in watches(account, 1)]
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
    account = Account()
    board = board_of(account, 0.05)
    members = [board.join(w) for w in watches(account, SWEEP_MIN_TRIGGERS - 1)]
    assert not board.sweeping
    assert await reads(board, members, 0.2) == ["timeout"] * len(members)
    assert account.count("list_training_jobs") == 0
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_passes_page_newest_first_unfiltered_and_stop_past_the_oldest_member() -> None:
    account = Account()
    account.history(5000)  # finished jobs, all older than the watched ones
    jobs = watches(account, 250)
    board = board_of(account, 0.05)
    members = [board.join(w) for w in jobs]
    for watch in jobs:
        watch.created = account.jobs[watch.job_name][0]
    quiet = await reads(board, members, 0.2)
    assert quiet == ["timeout"] * 250, "unchanged jobs must not wake their triggers"
    await leave_all(board, members)
    # 250 watched jobs are the newest: three pages of 100 per pass, never the history
    # behind them, and never a StatusEquals (SageMaker applies it after taking the page).
    first = pass_starts(account.requests)
    assert len(first) >= 2
    assert first[1] - first[0] == 3, account.requests[: first[1]]
    assert all("StatusEquals" not in r and r["MaxResults"] == 100 for r in account.requests)


@pytest.mark.asyncio
async def test_members_hear_of_changes_on_their_page_and_completions_need_no_describe() -> None:
    account = Account()
    jobs = watches(account, 250)
    board = board_of(account, 0.05)
    members = [board.join(w) for w in jobs]
    await reads(board, members, 0.15)
    account.set("job-007", "InProgress", "Uploading")
    account.set("job-200", "Completed", "Completed")
    found = await reads(board, members, 0.5)
    assert found[7]["SecondaryStatus"] == "Uploading"
    assert found[200]["TrainingJobStatus"] == "Completed", "the summary carries the end"
    assert all(r == "timeout" for i, r in enumerate(found) if i not in (7, 200))
    assert account.count("describe_training_job") == 0
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_empty_pages_with_a_token_do_not_end_a_pass() -> None:
    account = Account(empty_every=2)
    jobs = watches(account, 150)
    board = board_of(account, 0.05)
    members = [board.join(w) for w in jobs]
    await reads(board, members, 0.1)
    account.set("job-003", "Completed", "Completed")  # on the second real page
    found = await reads(board, members, 1.0)
    assert found[3]["TrainingJobStatus"] == "Completed"
    assert account.count("describe_training_job") == 0, "no member was missed"
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_a_job_ending_between_two_pages_is_read_once_with_its_end() -> None:
    account = Account()
    jobs = watches(account, 150)  # job-000..049 on the second page, newest first
    board = board_of(account, 60)  # one pass only

    def end_two(pages_read: int) -> None:
        if pages_read == 1:  # the first page is read: job-010 (second page), job-140 end
            account.set("job-010", "Completed", "Completed")
            account.set("job-140", "Completed", "Completed")

    account.before_list = end_two
    members = [board.join(w) for w in jobs]
    found = await reads(board, members, 1.0)
    assert found[10]["TrainingJobStatus"] == "Completed", "read on its page with its end"
    assert found[140] == "timeout", "its page was read before it ended: the next pass tells"
    assert account.count("describe_training_job") == 0
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_a_job_created_during_a_pass_is_found_by_the_next_not_described() -> None:
    account = Account()
    account.latency = 0.02
    jobs = watches(account, SWEEP_MIN_TRIGGERS)
    board = board_of(account, 0.2)
    members = [board.join(w) for w in jobs]
    early = asyncio.ensure_future(reads(board, members, 0.15))
    await asyncio.sleep(0.01)  # the pass's first request is in flight
    late = board.join(JobWatch(account.add("late", "InProgress", "Starting"), time.time() + 60))
    await early
    (late_read,) = await reads(board, [late], 0.5)
    assert late_read is not None and late_read != "timeout"
    assert late_read["TrainingJobName"] == "late"
    assert account.count("describe_training_job") == 0
    await leave_all(board, [*members, late])


@pytest.mark.asyncio
async def test_members_older_than_paging_pays_for_describe_their_own_jobs() -> None:
    account = Account()
    old = watches(account, 30, prefix="old-watched")
    account.history(3000, prefix="other-team")  # newer jobs of other teams
    new = watches(account, 30, prefix="new-watched")
    # A share of 40 requests/s at 0.05 s: a window of two pages per interval.
    board = board_of(account, 0.05, Pacer(40.0))
    members = [board.join(w) for w in [*old, *new]]
    for watch in [*old, *new]:
        watch.created = account.jobs[watch.job_name][0]
    await passes(account, 5)
    covered = {m.watch.job_name for m in members if board.covers(m)}
    assert covered == {w.job_name for w in new}
    requests = len(account.requests)
    first = pass_starts(account.requests)
    # The exploring first pass stops once no page could pay: past the window each page
    # costs two members' describes, so 30 unseen members are worth 14 pages at most (16
    # in all), never the 31 down to the oldest member.
    assert first[1] - first[0] == 16, first
    # Later passes look only for the covered jobs, all on the first page: the old ones
    # only sink deeper, and must not make every pass read the whole window.
    later = [b - a for a, b in itertools.pairwise(first[1:])]
    assert later and set(later) == {1}, later
    assert requests < 150
    # 30 more triggers join on the old jobs, knowing nothing of them yet (as after a
    # triggerer restart): enough unplaced members to pay for a page, so the next pass looks
    # past the window again.
    before = len(account.requests)
    rejoined = [board.join(JobWatch(w.job_name, w.deadline)) for w in old]
    await passes(account, 4, since=before)
    # The pass under way when they joined knew nothing of them; a later one looks deeper.
    starts = pass_starts(account.requests[before:])
    assert max(b - a for a, b in itertools.pairwise(starts)) > 2, starts
    await leave_all(board, [*members, *rejoined])


@pytest.mark.asyncio
async def test_dense_members_past_the_window_are_worth_a_longer_pass() -> None:
    account = Account()
    account.history(1000)
    jobs = watches(account, 500)
    board = board_of(account, 0.05, Pacer(40.0))  # window of two pages
    members = [board.join(w) for w in jobs]
    for watch in jobs:
        watch.created = account.jobs[watch.job_name][0]
    await passes(account, 3)
    assert all(board.covers(m) for m in members), "100 members a page pay for the page"
    first = pass_starts(account.requests)
    assert first[1] - first[0] == 5, "five pages, none into the history"
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_the_list_share_paces_every_page() -> None:
    account = Account()
    jobs = watches(account, 500)
    board = board_of(account, 10.0, Pacer(20.0))
    members = [board.join(w) for w in jobs]
    await asyncio.sleep(0.6)
    await leave_all(board, members)
    assert len(account.list_times) == 5, "500 members: five pages, then the next interval"
    # Each page in its own 50 ms slot after the first. Measured against the first page, not the
    # page before: on a busy machine a page woken late is followed sooner by the next, on time.
    # Less than a slot early, as the first page itself may have been recorded late; unpaced,
    # the five would come within a few milliseconds.
    first = account.list_times[0]
    early = [first + i * 0.05 - t for i, t in enumerate(account.list_times)]
    assert max(early) < 0.05, f"20 requests/s: {account.list_times}"


@pytest.mark.asyncio
async def test_summaries_without_secondary_status_wake_no_one() -> None:
    account = Account(omit_secondary=True)
    jobs = watches(account, SWEEP_MIN_TRIGGERS)
    board = board_of(account, 0.05)
    members = [board.join(w) for w in jobs]
    assert await reads(board, members, 0.3) == ["timeout"] * SWEEP_MIN_TRIGGERS
    await leave_all(board, members)
    assert account.count("list_training_jobs") >= 2, "passes ran and found nothing new"
    watch = JobWatch("x", time.time() + 60)
    assert watch.observe({"TrainingJobStatus": "InProgress"}) == "Training job x: InProgress"


@pytest.mark.asyncio
async def test_last_member_out_stops_the_sweep_and_frees_the_client() -> None:
    account = Account()
    jobs = watches(account, SWEEP_MIN_TRIGGERS)
    board = sweep_for(account, 0.05)
    members = [board.join(w) for w in jobs]
    assert sweeps_of(account) == {0.05: board} and board.sweeping
    assert sweep_for(account, 0.1).share is board.share, "one List share per client"
    await sweep_for(account, 0.1).leave(sweep.Member(JobWatch("x", 0)))
    await asyncio.sleep(0.12)
    await leave_all(board, members)
    assert sweeps_of(account) == {}
    assert not board.sweeping
    listed = account.count("list_training_jobs")
    await asyncio.sleep(0.15)
    assert account.count("list_training_jobs") == listed, "no sweep may outlive its members"


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
    account = Account()
    account.list_errors = [error]
    board = board_of(account, 0.05)
    members = [board.join(w) for w in watches(account, SWEEP_MIN_TRIGGERS)]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=sweep.__name__):
        found = await reads(board, members, 60.0)
    # Handed back (no news, long before the read's time ran out): each trigger spreads its
    # own polls again.
    assert found == ["timeout"] * SWEEP_MIN_TRIGGERS
    assert time.monotonic() - started < 5
    assert not board.sweeping
    assert named in caplog.text
    late = board.join(JobWatch("late", time.time() + 60))
    assert not board.sweeping, "a failed sweep must not start again at once"
    await leave_all(board, [*members, late])


@pytest.mark.asyncio
async def test_a_throttled_page_is_asked_again_after_pauses_and_halves_the_share() -> None:
    account = Account()
    share = Pacer(1000.0, floor=10.0)
    board = board_of(account, 0.05, share)
    board.members.update(sweep.Member(w) for w in watches(account, 150))
    throttled = client_error("ThrottlingException", "ListTrainingJobs")
    account.list_errors = [throttled, throttled]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await board._pass()
    # The first page failed twice and was asked again each time; then two pages.
    assert len(account.requests) == 4 and "NextToken" not in account.requests[2]
    # The first throttle only halved the share; the second in a row paused two intervals.
    assert 0.05 * 2 - 0.01 <= loop.time() - started < 0.05 * 6
    assert share.limit is not None and share.limit < 1000.0


@pytest.mark.asyncio
async def test_while_listing_keeps_failing_members_describe_every_few_intervals() -> None:
    account = Account()
    account.list_errors = [client_error("ServiceUnavailable", "ListTrainingJobs", 503)] * 100
    board = board_of(account, 0.02)
    members = [board.join(w) for w in watches(account, SWEEP_MIN_TRIGGERS)]
    found = await reads(board, members, 1.0)
    assert found == [None] * SWEEP_MIN_TRIGGERS, "stale: each must describe its own job"
    assert board.sweeping, "transient errors do not stop the sweep"
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_while_listing_is_throttled_members_describe_only_once_it_has_lasted() -> None:
    account = Account()
    account.list_errors = [client_error("ThrottlingException", "ListTrainingJobs")] * 100
    board = board_of(account, 0.1)
    members = [board.join(w) for w in watches(account, SWEEP_MIN_TRIGGERS)]
    # Requests fail at 0, 0.2, 0.6, 1.0 s ... (pauses of 2, then 4 intervals). Eight
    # intervals of throttling, and no member was told to describe: that would ask AWS for
    # more, not less (other transient errors make them describe from 0.6 s on).
    assert await reads(board, members, 0.8) == ["timeout"] * SWEEP_MIN_TRIGGERS
    found = await reads(board, members, 2.0)
    assert found == [None] * SWEEP_MIN_TRIGGERS, "once it lasts, each describes its own job"
    await leave_all(board, members)


@pytest.mark.asyncio
async def test_the_sweep_stops_below_ten_members_and_hands_polling_back() -> None:
    account = Account()
    board = board_of(account, 0.05)
    members = [board.join(w) for w in watches(account, SWEEP_MIN_TRIGGERS)]
    await leave_all(board, members[: SWEEP_MIN_TRIGGERS - sweep.SWEEP_STOP_BELOW])
    assert board.sweeping, "between ten and twenty members a running sweep goes on"
    staying = members[SWEEP_MIN_TRIGGERS - sweep.SWEEP_STOP_BELOW :]
    waiting = asyncio.ensure_future(reads(board, staying[1:], 60.0))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await board.leave(staying[0])
    assert not board.sweeping
    # Handed back at once, long before the reads' time ran out.
    assert await asyncio.wait_for(waiting, 5) == ["timeout"] * (sweep.SWEEP_STOP_BELOW - 1)
    assert time.monotonic() - started < 5
    await leave_all(board, staying[1:])


async def run_triggers(
    monkeypatch: pytest.MonkeyPatch,
    account: Account,
    names: list[str],
    interval: float,
    outcome: str = "Completed",
) -> list[dict[str, Any]]:
    """Triggers on ``names`` in this loop, every job ending with ``outcome`` after three
    intervals; each trigger's single event."""
    route_triggers_to(monkeypatch, account)
    monkeypatch.setattr(listshare, "configured_list_share", lambda: 1000.0)

    async def finish_all() -> None:
        await asyncio.sleep(interval * 3)
        for name in names:
            account.set(name, outcome, outcome)

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
async def test_many_triggers_read_completions_from_the_sweep_and_describe_only_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = Account()
    account.history(300)
    count = SWEEP_MIN_TRIGGERS * 2
    done = [account.add(f"ok-{i:03d}") for i in range(count)]
    events = await run_triggers(monkeypatch, account, done, interval=0.15)
    assert [e["status"] for e in events] == ["success"] * count
    # A few triggers may poll their own job before the sweep starts (each also learns its
    # job's age that way); the ends come from the summaries.
    describes = account.count("describe_training_job")
    assert describes <= SWEEP_MIN_TRIGGERS, describes
    assert sweeps_of(account) == {}

    failed = [account.add(f"bad-{i:03d}") for i in range(count)]
    before = account.count("describe_training_job")
    events = await run_triggers(monkeypatch, account, failed, interval=0.15, outcome="Failed")
    assert {e["status"] for e in events} == {"failed"}
    assert all("AlgorithmError: boom" in e["message"] for e in events), "reason from describe"
    assert account.count("describe_training_job") - before <= count + SWEEP_MIN_TRIGGERS


@pytest.mark.asyncio
async def test_triggers_handed_back_spread_their_own_polls_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = Account()
    account.list_errors = [client_error("AccessDeniedException", "ListTrainingJobs")]
    first_describe: dict[str, float] = {}
    plain_call = account.call

    async def call(operation: str, **kwargs: Any) -> Any:
        if operation == "describe_training_job":
            first_describe.setdefault(kwargs["TrainingJobName"], time.monotonic())
        return await plain_call(operation, **kwargs)

    account.call = call  # type: ignore[method-assign]
    names = [account.add(f"job-{i:03d}") for i in range(SWEEP_MIN_TRIGGERS)]
    events = await run_triggers(monkeypatch, account, names, interval=1.0)
    assert [e["status"] for e in events] == ["success"] * SWEEP_MIN_TRIGGERS
    assert account.count("list_training_jobs") == 1
    times = sorted(first_describe.values())
    assert len(times) == SWEEP_MIN_TRIGGERS
    # Spread over the interval's four 0.25 s poll slots again, not all at the moment the
    # sweep gave up (then 19 or 20 would describe at once).
    together = [t for t in times if t - times[0] < 0.01]
    assert len(together) <= 12 and times[-1] - times[0] > 0.2, times


@pytest.mark.asyncio
async def test_two_triggers_on_one_job_both_hear_of_its_end() -> None:
    account = Account()
    jobs = watches(account, SWEEP_MIN_TRIGGERS)
    twin = JobWatch(jobs[0].job_name, jobs[0].deadline, "InProgress", "Training")
    board = board_of(account, 0.05)
    members = [board.join(w) for w in [*jobs, twin]]
    await reads(board, members, 0.15)
    account.set(jobs[0].job_name, "Completed", "Completed")
    first, second = await reads(board, [members[0], members[-1]], 2.0)
    assert first != "timeout" and first["TrainingJobStatus"] == "Completed"
    assert second != "timeout" and second["TrainingJobStatus"] == "Completed"
    await leave_all(board, members)
