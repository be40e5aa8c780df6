"""The status of many training jobs from ``ListTrainingJobs`` passes instead of describes.

Each ``DescribeTrainingJob`` costs the triggerer's loop about 1.5 ms of CPU and counts
against the account's SageMaker request rate. Once :data:`SWEEP_MIN_TRIGGERS` triggers share
a client and an interval in one loop, a sweep reads their statuses from the job summaries
that ``ListTrainingJobs`` returns, a hundred per request.

The API as documented shapes the pass: it sorts by ``CreationTime``, newest first, and
applies ``StatusEquals`` only after taking a page of jobs of any status, so asking for the
``InProgress`` jobs alone would page through the account's whole history. A pass therefore
pages newest first without filters and stops once it has passed the oldest job it covers.
How far it pages is a cost rule (:mod:`sagemaker_async.coverage`): members whose jobs lie
deeper than paging pays for describe their own jobs.

Each page's news reaches its members at once: a status change or a final status (a job that
``Completed`` needs no describe; a failure's reason does). The pages are sorted by creation
time, which a job's status never changes, so a job ending between two pages is read once,
and a job created during a pass is found by the next. Every request waits its turn at the
triggerer's share of the account's List rate (``[sagemaker_async]
list_requests_per_second``), which halves while AWS throttles.

When the sweep stops (too few triggers left, or a final listing error such as a missing
``sagemaker:ListTrainingJobs`` permission) every trigger goes back to polling its own job,
first polls spread over an interval again.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import math
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from sagemaker_async import errors
from sagemaker_async.coverage import PAGE_SIZE, PageLedger, window_pages
from sagemaker_async.events import JobWatch, epoch_seconds
from sagemaker_async.listshare import DEFAULT_LIST_SHARE, list_share_pacer
from sagemaker_async.pacing import Pacer

log = logging.getLogger(__name__)

#: From this many triggers on one client and interval, a sweep reads their statuses.
SWEEP_MIN_TRIGGERS = 20
#: Below this many, a running sweep stops and hands polling back (hysteresis).
SWEEP_STOP_BELOW = 10
#: Triggers woken per loop iteration, so that thousands of jobs ending together cannot
#: stall the loop with their reactions all at once.
WAKE_BATCH = 25
#: Longest pause, in intervals, after a listing request failed transiently (throttled).
MAX_PAUSE_INTERVALS = 4
#: While listing keeps failing, members describe their own jobs once per this many intervals.
STALE_INTERVALS = 3
#: The same while listing is throttled: a describe of every job asks AWS for far more than
#: the listing does, so the members fall back to it only once throttling has lasted.
THROTTLED_STALE_INTERVALS = 10
#: After a final listing error (other than access denied, which is for good), no sweep
#: starts again for this many intervals.
RETRY_AFTER_INTERVALS = 10
_LIST_ORDER = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": PAGE_SIZE}


class Quiet(enum.Enum):
    """A read without news: its time ran out, or the sweep stopped and hands polling back."""

    NO_NEWS = "no news"


NO_NEWS = Quiet.NO_NEWS
#: A read's result: the job's summary, ``None`` (describe the job now) or :data:`NO_NEWS`.
Finding: TypeAlias = "dict[str, Any] | Literal[Quiet.NO_NEWS] | None"


@dataclass(eq=False)
class Member:
    """One trigger's place in a sweep: its job's watch and the read it waits on, if any."""

    watch: JobWatch
    news: asyncio.Future[Finding] | None = None
    timer: asyncio.TimerHandle | None = None
    #: Whether the member waits on the sweep (else on its own poll's timer).
    on_sweep: bool = False
    #: Whether the passes read this member's job (else it describes its own).
    covered: bool = True
    #: Whether a pass has judged where the member's job lies (found it, or passed it by).
    placed: bool = False

    def __call__(self) -> None:
        """The read's time ran out. The member is its own timer callback: a bound method
        or an arguments tuple would be one more object per waiting trigger."""
        self.settle(NO_NEWS)

    def settle(self, finding: Finding) -> None:
        """End the pending read (if any) with ``finding``, and its timer."""
        news, timer = self.news, self.timer
        self.news = self.timer = None
        if timer is not None:
            timer.cancel()
        if news is not None and not news.done():
            news.set_result(finding)

    def wants(self, summary: dict[str, Any] | None) -> bool:
        """Whether a finding is news: describe the job, or its status moved (a summary
        without ``SecondaryStatus``, as some servers send, compares the status alone)."""
        if summary is None:
            return True
        if summary.get("TrainingJobStatus") != self.watch.status:
            return True
        return "SecondaryStatus" in summary and summary["SecondaryStatus"] != self.watch.secondary


@dataclass(eq=False)
class ClientSweeps:
    """The sweeps of one client (per check interval) and the List share they spend."""

    share: Pacer
    by_interval: dict[float, StatusSweep] = field(default_factory=dict)


@dataclass(eq=False)
class StatusSweep:
    """Reads the statuses of the jobs of the triggers that share one client and interval
    from ``ListTrainingJobs`` passes, while enough of them wait.

    :param client: the pooled SageMaker client (anything with an async ``call``).
    :param interval: the members' check interval, seconds.
    :param share: the List share's pacer; a private one at the configured rate if omitted.
    """

    client: Any
    interval: float
    share: Pacer = field(default_factory=lambda: list_share_pacer())
    members: set[Member] = field(default_factory=set, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _resume_at: float = field(default=-math.inf, init=False)  # loop time
    _last_pass: float = field(default=0.0, init=False)  # loop time a pass last completed
    _failures: int = field(default=0, init=False)  # listing errors in a row
    _limit: int | None = field(default=None, init=False)  # pages per pass; None: explore
    # Timers need no context variables: one context per sweep (so per loop and thread)
    # spares each timer a copy of the caller's.
    _timers: contextvars.Context = field(default_factory=contextvars.Context, init=False)

    @property
    def sweeping(self) -> bool:
        """Whether passes run (covered members hear from them instead of polling)."""
        return self._task is not None and not self._task.done()

    def covers(self, member: Member) -> bool:
        """Whether ``member`` hears of its job from the passes rather than its own polls."""
        return member.covered and self.sweeping

    @property
    def window(self) -> int:
        """Pages the List share allows per interval."""
        return window_pages(self.share.cap or DEFAULT_LIST_SHARE, self.interval)

    def join(self, watch: JobWatch) -> Member:
        member = Member(watch)
        self.members.add(member)
        if (
            self._task is None
            and len(self.members) >= SWEEP_MIN_TRIGGERS
            and asyncio.get_running_loop().time() >= self._resume_at
        ):
            # Started in an empty context: the task that joins last must not lend the
            # sweep its log routing (the triggerer binds each trigger's task log there).
            self._task = contextvars.Context().run(asyncio.ensure_future, self._run())
        return member

    async def leave(self, member: Member) -> None:
        """Forget ``member``. Below :data:`SWEEP_STOP_BELOW` members the sweep stops (the
        last one out so stops it before the client may close) and hands polling back."""
        self.members.discard(member)
        member.settle(NO_NEWS)  # a cancelled reader leaves its timer behind
        if not self.members:
            _forget(self)
        if self._task is None or len(self.members) >= SWEEP_STOP_BELOW:
            return
        task, self._task = self._task, None
        task.cancel()
        self._hand_back()  # before the wait: a second cancel of this caller must not skip it
        await asyncio.wait({task})

    def next_read(self, member: Member, timeout: float) -> asyncio.Future[Finding]:
        """Wait for news of the member's job, at most ``timeout`` seconds: await the result.

        It is the job's summary (first seen, or its status moved); ``None``: describe the
        job now (a pass missed it, or listing has been failing for a while); or
        :data:`NO_NEWS` when the time ran out, the sweep stopped or stopped covering it.
        """
        # A future and a bare timer rather than a coroutine around asyncio.wait_for:
        # thousands of triggers wait here at once, and every object each holds lengthens
        # the loop's full garbage collections. Whoever ends the read (the sweep, the timer,
        # leave()) drops the timer.
        member.settle(NO_NEWS)  # a read still pending ends here, with its timer
        loop = asyncio.get_running_loop()
        news = member.news = loop.create_future()
        member.on_sweep = self.covers(member)
        member.timer = loop.call_later(max(timeout, 0.0), member, context=self._timers)
        return news

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        log.info(
            "%s triggers wait on jobs with this client: reading their statuses from "
            "ListTrainingJobs every %ss",
            len(self.members),
            self.interval,
        )
        self._last_pass = loop.time()
        try:
            while True:
                started = loop.time()
                await self._pass()
                self._last_pass = loop.time()
                await asyncio.sleep(max(0.0, started + self.interval - loop.time()))
        except Exception as exc:  # a final error, or a bug: never leave members waiting
            denied = errors.error_code(exc) in errors.ACCESS_CODES
            pause = math.inf if denied else self.interval * RETRY_AFTER_INTERVALS
            self._resume_at = loop.time() + pause
            log.warning(
                "Listing training jobs failed (%s); each trigger polls its own job%s",
                errors.describe_failure(exc),
                "" if denied else f" for the next {pause:g}s at least",
            )
            self._task = None
            self._hand_back()

    async def _pass(self) -> None:
        """Page newest first until no further page pays, telling members as pages come;
        then settle who the next pass covers."""
        by_name: dict[str, list[Member]] = {}
        for member in self.members:
            by_name.setdefault(member.watch.job_name, []).append(member)
        # Jobs only ever sink deeper (newer ones come in front), so a pass pages past the
        # last pass's limit only for members no pass has placed yet, once they are enough to
        # pay for a page: the first pass, or jobs re-attached after a triggerer restart.
        unplaced = sum(not m.placed for m in self.members)
        explore = self._limit is None or unplaced >= self.window
        # Otherwise it looks only for the jobs it covers (or has not placed): one job known
        # to lie deep must not make every pass read all the pages it may.
        sought = {
            name
            for name, members in by_name.items()
            if explore or any(m.covered or not m.placed for m in members)
        }
        # The oldest job to reach; while a sought job's age is unknown, no age ends a pass.
        cutoff = min((_age(by_name[name]) for name in sought), default=math.inf)
        ledger = PageLedger(self.window, len(sought), None if explore else self._limit)
        page_of: dict[str, int] = {}
        oldest = math.inf
        request: dict[str, Any] = dict(_LIST_ORDER)
        while True:
            page = await self._page(request)
            summaries = page.get("TrainingJobSummaries", [])
            found = [s for s in summaries if s.get("TrainingJobName") in by_name]
            for summary in found:
                page_of[summary["TrainingJobName"]] = ledger.pages + 1
            ledger.record(sum(s["TrainingJobName"] in sought for s in found))
            oldest = min([oldest, *(_created(s) for s in summaries)])
            await self._tell_found(by_name, found)
            token = page.get("NextToken")
            if not token or oldest < cutoff or not ledger.another_page():
                break
            request["NextToken"] = token
        self._limit = ledger.next_limit()
        members = [m for name in by_name for m in by_name[name]]
        await self._settle_coverage(members, page_of, ledger.covered_pages(), oldest, explore)

    async def _page(self, request: dict[str, Any]) -> dict[str, Any]:
        """One page, at the List share's pace. A throttled request halves the share; throttled
        again in a row, or failing otherwise, it pauses for two, then four intervals before
        the same page is asked again: the rate falls while AWS pushes back, and every page is
        read in the end. Final errors propagate."""
        while True:
            await self.share.wait_turn()
            try:
                page: dict[str, Any] = await self.client.call("list_training_jobs", **request)
            except errors.CALL_ERRORS as exc:
                if not errors.is_transient(exc):
                    raise
                if errors.error_code(exc) in errors.THROTTLING_CODES:
                    self.share.throttled()
                await self._pause(exc)
                continue
            self.share.succeeded()
            if self._failures:
                log.info("Listing training jobs recovered after %s errors", self._failures)
                self._failures = 0
            return page

    async def _pause(self, exc: BaseException) -> None:
        """Meanwhile, every :data:`STALE_INTERVALS` intervals without a completed pass
        (:data:`THROTTLED_STALE_INTERVALS` when throttled), covered members describe their
        jobs."""
        self._failures += 1
        if self._failures == 1:
            log.warning("Listing training jobs failed transiently (%s); pausing the sweep", exc)
        loop = asyncio.get_running_loop()
        throttled = errors.error_code(exc) in errors.THROTTLING_CODES
        stale_after = THROTTLED_STALE_INTERVALS if throttled else STALE_INTERVALS
        if loop.time() - self._last_pass >= stale_after * self.interval:
            self._last_pass = loop.time()  # the next fallback comes as many intervals later
            await self._wake([m for m in self.members if m.covered], lambda _: None)
        # One throttled request in a while costs only the halved share; a run of them pauses.
        doubling = self._failures - 1 if throttled else self._failures
        if doubling > 0:
            await asyncio.sleep(self.interval * min(2**doubling, MAX_PAUSE_INTERVALS))

    async def _tell_found(
        self, by_name: dict[str, list[Member]], found: list[dict[str, Any]]
    ) -> None:
        """Tell the members found on a page of their job's summary, if it is news."""
        news: dict[Member, dict[str, Any]] = {}
        for summary in found:
            for member in by_name[summary["TrainingJobName"]]:
                if member.watch.created is None:
                    member.watch.created = _created(summary)
                if member.wants(summary):
                    news[member] = summary
        await self._wake(list(news), news.__getitem__)

    async def _settle_coverage(
        self,
        members: list[Member],
        page_of: dict[str, int],
        covered: int,
        oldest: float,
        explored: bool,
    ) -> None:
        """Members found on the pages worth reading stay covered; those found deeper or
        older than every job read describe their own jobs. A member not found although its
        job lies within the pages read, or whose job's age is unknown, describes it now
        (authoritative, and it learns when the job was created); after a pass that paged as
        far as paying allowed, it counts as placed."""
        describe_now: list[Member] = []
        for member in members:
            page = page_of.get(member.watch.job_name)
            created = member.watch.created
            if page is None and (created is None or created >= oldest):
                member.placed = member.placed or explored
                describe_now.append(member)
                continue
            member.placed = True
            was = member.covered
            member.covered = page is not None and page <= covered
            if was and not member.covered and member.on_sweep:
                member.settle(NO_NEWS)  # back to its own polls
        await self._wake(describe_now, lambda _: None)

    async def _wake(self, members: list[Member], finding: Any) -> None:
        """Settle the waiting ``members`` with ``finding(member)``, a batch per loop turn."""
        woken = 0
        for member in members:
            if member.news is None or member not in self.members:
                continue
            member.settle(finding(member))
            woken += 1
            if woken % WAKE_BATCH == 0:
                await asyncio.sleep(0)  # let the woken ones run before waking more

    def _hand_back(self) -> None:
        """The sweep stopped: every member that waited on it polls its own job again (those
        waiting for their own poll's time keep waiting)."""
        for member in self.members:
            if member.on_sweep:
                member.settle(NO_NEWS)


def _age(members: list[Member]) -> float:
    """When the members' job was created; ``-inf`` while none of them knows."""
    known = [m.watch.created for m in members if m.watch.created is not None]
    return known[0] if known else -math.inf


def _created(summary: dict[str, Any]) -> float:
    """A summary's ``CreationTime`` as epoch seconds (``inf`` if it has none)."""
    value = summary.get("CreationTime")
    return math.inf if value is None else epoch_seconds(value)


_SWEEPS: weakref.WeakKeyDictionary[Any, ClientSweeps] = weakref.WeakKeyDictionary()


def sweep_for(client: Any, interval: float) -> StatusSweep:
    """The sweep of ``client`` for ``interval``, created on first use. All sweeps of one
    client spend one List share."""
    sweeps = _SWEEPS.get(client)
    if sweeps is None:
        sweeps = _SWEEPS[client] = ClientSweeps(list_share_pacer())
    sweep = sweeps.by_interval.get(interval)
    if sweep is None:
        sweep = sweeps.by_interval[interval] = StatusSweep(client, interval, sweeps.share)
    return sweep


def sweeps_of(client: Any) -> dict[float, StatusSweep]:
    """The sweeps ``client`` has now, per interval."""
    sweeps = _SWEEPS.get(client)
    return {} if sweeps is None else dict(sweeps.by_interval)


def _forget(sweep: StatusSweep) -> None:
    sweeps = _SWEEPS.get(sweep.client)
    if sweeps is not None and sweeps.by_interval.get(sweep.interval) is sweep:
        del sweeps.by_interval[sweep.interval]
        if not sweeps.by_interval:
            del _SWEEPS[sweep.client]
