"""The status of many training jobs from one ``ListTrainingJobs`` sweep per interval.

Each ``DescribeTrainingJob`` costs the triggerer's loop about 1.5 ms of CPU (signing, HTTP,
parsing) and counts against the account's SageMaker request rate. Once
:data:`SWEEP_MIN_TRIGGERS` triggers share a client and an interval in one loop, a sweep
lists the account's ``InProgress`` jobs instead, a hundred per request, once per interval,
and tells each trigger only what concerns it: its first status, a status change, or that
its job is no longer listed. A job that is not listed has ended, is stopping or is too new
to be listed yet; its trigger then describes it, which is authoritative either way.

Without ``sagemaker:ListTrainingJobs`` permission (or on any other final error of the
listing) the sweep stops for good and every trigger polls its own job again.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from sagemaker_async import errors
from sagemaker_async.events import JobWatch

if TYPE_CHECKING:
    from sagemaker_async.pool import SharedClient

log = logging.getLogger(__name__)

#: Fewer triggers than this poll their own jobs: a sweep would cost them as much.
SWEEP_MIN_TRIGGERS = 20
#: ``ListTrainingJobs`` returns at most this many summaries per request.
PAGE_SIZE = 100
#: Triggers woken per loop iteration after a sweep, so that thousands of jobs ending
#: together cannot stall the loop with their describes all at once.
WAKE_BATCH = 25
#: Longest pause, in intervals, after a listing request failed transiently (throttled).
MAX_PAUSE_INTERVALS = 4
_CALL_ERRORS = (ClientError, BotoCoreError, asyncio.TimeoutError, ConnectionError)
_EXPIRED: Any = object()
#: Timers need no context variables; one shared context spares a copy per timer.
_NO_CONTEXT = contextvars.Context()


def _expire(news: asyncio.Future[Any]) -> None:
    if not news.done():
        news.set_result(_EXPIRED)


@dataclass(eq=False)
class Member:
    """One trigger's place in a sweep: its job's watch and what it is waiting for."""

    watch: JobWatch
    news: asyncio.Future[Any] | None = None

    def wants(self, summary: dict[str, Any] | None) -> bool:
        """Whether a sweep's finding is news: the job is unlisted, or its status moved."""
        if summary is None:
            return True
        state = (summary.get("TrainingJobStatus"), summary.get("SecondaryStatus"))
        return state != (self.watch.status, self.watch.secondary)


@dataclass(eq=False)
class StatusSweep:
    """Lists the ``InProgress`` jobs every ``interval`` seconds for the triggers that share
    one client, once enough of them wait.

    :param client: the pooled SageMaker client.
    :param interval: the members' check interval, seconds.
    """

    client: SharedClient
    interval: float
    listing: bool = True
    members: set[Member] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    @property
    def sweeping(self) -> bool:
        """Whether members hear from the sweep instead of polling their jobs themselves."""
        return self.listing and self._task is not None

    def join(self, watch: JobWatch) -> Member:
        member = Member(watch)
        self.members.add(member)
        if self.listing and self._task is None and len(self.members) >= SWEEP_MIN_TRIGGERS:
            self._task = asyncio.ensure_future(self._run())
        return member

    async def leave(self, member: Member) -> None:
        """Forget ``member``; the last one out stops the sweep before the client may close."""
        self.members.discard(member)
        if self.members:
            return
        if self.client.sweeps.get(self.interval) is self:
            del self.client.sweeps[self.interval]
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            await asyncio.wait({task})

    async def next_read(self, member: Member, timeout: float) -> dict[str, Any] | None:
        """Wait for news of the member's job, at most ``timeout`` seconds.

        :return: the job's summary (first seen, or its status moved), or ``None``: describe
            the job now (it is not listed, or the sweep stopped).
        :raises TimeoutError: no news within ``timeout``.
        """
        loop = asyncio.get_running_loop()
        news = member.news = loop.create_future()
        # A bare timer rather than asyncio.wait / wait_for: thousands of triggers wait here
        # at once, and every object each holds lengthens the full garbage collections.
        timer = loop.call_later(max(timeout, 0.0), _expire, news, context=_NO_CONTEXT)
        try:
            finding = await news
        finally:
            member.news = None
            timer.cancel()
        if finding is _EXPIRED:
            raise TimeoutError
        return cast("dict[str, Any] | None", finding)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        log.info(
            "%s triggers wait on jobs with this client: reading their statuses from "
            "ListTrainingJobs every %ss",
            len(self.members),
            self.interval,
        )
        while True:
            started = loop.time()
            try:
                await self._sweep()
            except Exception as exc:  # a final error, or a bug: never leave members waiting
                self._give_up(exc)
                return
            await asyncio.sleep(max(0.0, started + self.interval - loop.time()))

    async def _sweep(self) -> None:
        """List every page, then tell the members what concerns them.

        A transient error (throttling among them) pauses the sweep for two, then four
        intervals before the same page is asked again: the request rate falls while AWS
        pushes back, and however often it does, every page is read in the end. Final
        errors propagate.
        """
        names = {member.watch.job_name for member in self.members}
        listed: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {"StatusEquals": "InProgress", "MaxResults": PAGE_SIZE}
        failures = 0
        while True:
            try:
                page = await self.client.call("list_training_jobs", **request)
            except _CALL_ERRORS as exc:
                if not errors.is_transient(exc):
                    raise
                failures += 1
                await asyncio.sleep(self.interval * min(2**failures, MAX_PAUSE_INTERVALS))
                continue
            failures = 0
            for summary in page.get("TrainingJobSummaries", []):
                if summary.get("TrainingJobName") in names:
                    listed[summary["TrainingJobName"]] = summary
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        await self._tell(names, listed)

    async def _tell(self, names: set[str], listed: dict[str, dict[str, Any]]) -> None:
        """Wake the waiting members with news; those that joined after the listing began
        hear from the next sweep."""
        woken = 0
        for member in list(self.members):
            news = member.news
            if news is None or news.done() or member.watch.job_name not in names:
                continue
            finding = listed.get(member.watch.job_name)
            if not member.wants(finding):
                continue
            news.set_result(finding)
            woken += 1
            if woken % WAKE_BATCH == 0:
                await asyncio.sleep(0)  # let the woken ones run before waking more

    def _give_up(self, exc: BaseException) -> None:
        self.listing = False
        self._task = None
        log.warning(
            "Listing training jobs failed (%s); each trigger polls its own job instead",
            errors.describe_failure(exc),
        )
        for member in self.members:
            if member.news is not None and not member.news.done():
                member.news.set_result(None)


def sweep_for(client: SharedClient, interval: float) -> StatusSweep:
    """The sweep of ``client`` for ``interval``, created on first use."""
    sweep = client.sweeps.get(interval)
    if sweep is None:
        sweep = client.sweeps[interval] = StatusSweep(client, interval)
    return sweep
