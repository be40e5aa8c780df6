"""The status of many training jobs from one ``ListTrainingJobs`` sweep per interval.

Each ``DescribeTrainingJob`` costs the triggerer's loop about 1.5 ms of CPU (signing, HTTP,
parsing) and counts against the account's SageMaker request rate. Once
:data:`SWEEP_MIN_TRIGGERS` triggers share a client and an interval in one loop, a sweep
lists the ``InProgress`` jobs instead, a hundred per request, once per interval, and tells
each trigger only what concerns it: its first status, a status change, or that its job is
no longer listed. A job that is not listed has ended, is stopping or is too new to be
listed yet; its trigger then describes it, which is authoritative either way.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from sagemaker_async import errors
from sagemaker_async.events import JobWatch

if TYPE_CHECKING:
    from sagemaker_async.pool import SharedClient

log = logging.getLogger(__name__)

#: From this many triggers on one client and interval, a sweep reads their statuses.
SWEEP_MIN_TRIGGERS = 20
#: Below this many, a running sweep stops and hands polling back (hysteresis).
SWEEP_STOP_BELOW = 10
#: ``ListTrainingJobs`` returns at most this many summaries per request.
PAGE_SIZE = 100
#: Triggers woken per loop iteration after a sweep, so that thousands of jobs ending
#: together cannot stall the loop with their describes all at once.
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
        """Whether a sweep's finding is news: the job is unlisted, or its status moved."""
        if summary is None:
            return True
        state = (summary.get("TrainingJobStatus"), summary.get("SecondaryStatus"))
        return state != (self.watch.status, self.watch.secondary)


@dataclass(eq=False)
class StatusSweep:
    """Lists the ``InProgress`` jobs every ``interval`` seconds for the triggers that share
    one client, while enough of them wait.

    :param client: the pooled SageMaker client.
    :param interval: the members' check interval, seconds.
    """

    client: SharedClient
    interval: float
    members: set[Member] = field(default_factory=set, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _resume_at: float = field(default=-math.inf, init=False)  # loop time
    _last_told: float = field(default=0.0, init=False)  # loop time members last heard
    _failures: int = field(default=0, init=False)  # listing errors in a row
    # Timers need no context variables: one context per sweep (so per loop and thread)
    # spares each timer a copy of the caller's.
    _timers: contextvars.Context = field(default_factory=contextvars.Context, init=False)

    @property
    def sweeping(self) -> bool:
        """Whether members hear from the sweep instead of polling their jobs themselves."""
        return self._task is not None and not self._task.done()

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
        if not self.members and self.client.sweeps.get(self.interval) is self:
            del self.client.sweeps[self.interval]
        if self._task is None or len(self.members) >= SWEEP_STOP_BELOW:
            return
        task, self._task = self._task, None
        task.cancel()
        await asyncio.wait({task})
        self._hand_back()

    def next_read(self, member: Member, timeout: float) -> asyncio.Future[Finding]:
        """Wait for news of the member's job, at most ``timeout`` seconds: await the result.

        It is the job's summary (first seen, or its status moved); ``None``: describe the
        job now (it is not listed, or listing has been failing for a while); or
        :data:`NO_NEWS` when the time ran out or the sweep stopped.
        """
        # A future and a bare timer rather than a coroutine around asyncio.wait_for:
        # thousands of triggers wait here at once, and every object each holds lengthens
        # the loop's full garbage collections. Whoever ends the read (the sweep, the timer,
        # leave()) drops the timer.
        member.settle(NO_NEWS)  # a read still pending ends here, with its timer
        loop = asyncio.get_running_loop()
        news = member.news = loop.create_future()
        member.on_sweep = self.sweeping
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
        self._last_told = loop.time()
        try:
            while True:
                started = loop.time()
                await self._sweep()
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

    async def _sweep(self) -> None:
        """List every page, then tell the members what concerns them.

        A transient error (throttling among them) pauses the sweep for two, then four
        intervals before the same page is asked again: the request rate falls while AWS
        pushes back, and every page is read in the end. Meanwhile, every
        :data:`STALE_INTERVALS` intervals without a complete sweep
        (:data:`THROTTLED_STALE_INTERVALS` when throttled), members describe their own jobs
        once. Final errors propagate.
        """
        names = {member.watch.job_name for member in self.members}
        listed: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {"StatusEquals": "InProgress", "MaxResults": PAGE_SIZE}
        while True:
            try:
                page = await self.client.call("list_training_jobs", **request)
            except errors.CALL_ERRORS as exc:
                if not errors.is_transient(exc):
                    raise
                await self._pause(exc)
                continue
            if self._failures:
                log.info("Listing training jobs recovered after %s errors", self._failures)
                self._failures = 0
            for summary in page.get("TrainingJobSummaries", []):
                if summary.get("TrainingJobName") in names:
                    listed[summary["TrainingJobName"]] = summary
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        await self._tell(names, listed)

    async def _pause(self, exc: BaseException) -> None:
        self._failures += 1
        if self._failures == 1:
            log.warning("Listing training jobs failed transiently (%s); pausing the sweep", exc)
        loop = asyncio.get_running_loop()
        throttled = errors.error_code(exc) in errors.THROTTLING_CODES
        stale_after = THROTTLED_STALE_INTERVALS if throttled else STALE_INTERVALS
        if loop.time() - self._last_told >= stale_after * self.interval:
            await self._tell({m.watch.job_name for m in self.members}, {}, stale=True)
        await asyncio.sleep(self.interval * min(2**self._failures, MAX_PAUSE_INTERVALS))

    async def _tell(
        self, names: set[str], listed: dict[str, dict[str, Any]], stale: bool = False
    ) -> None:
        """Wake the waiting members with news (``None``: describe your job; with ``stale``,
        everyone, because listing keeps failing). Those that joined after the listing began
        hear from the next sweep."""
        self._last_told = asyncio.get_running_loop().time()
        woken = 0
        for member in list(self.members):
            if member.news is None or member.watch.job_name not in names:
                continue
            finding = None if stale else listed.get(member.watch.job_name)
            if not stale and not member.wants(finding):
                continue
            member.settle(finding)
            woken += 1
            if woken % WAKE_BATCH == 0:
                await asyncio.sleep(0)  # let the woken ones run before waking more

    def _hand_back(self) -> None:
        """The sweep stopped: every member that waited on it polls its own job again (those
        waiting for their own poll's time keep waiting)."""
        for member in self.members:
            if member.on_sweep:
                member.settle(NO_NEWS)


def sweep_for(client: SharedClient, interval: float) -> StatusSweep:
    """The sweep of ``client`` for ``interval``, created on first use."""
    sweep = client.sweeps.get(interval)
    if sweep is None:
        sweep = client.sweeps[interval] = StatusSweep(client, interval)
    return sweep
