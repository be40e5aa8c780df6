"""The trigger that waits for a SageMaker training job inside the Airflow triggerer."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowConfigException
from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.exceptions import BotoCoreError, ClientError

from sagemaker_async import errors
from sagemaker_async.connection import (
    AwsSettings,
    ConnectionNotFoundError,
    InvalidSettingsError,
    aget_settings,
)
from sagemaker_async.events import RETRY, SUCCESS, JobWatch, make_event
from sagemaker_async.logbatch import batch_for
from sagemaker_async.logtail import LogFollower
from sagemaker_async.pacing import PollSchedule
from sagemaker_async.pool import SharedClient, pool_for_running_loop, shared_client
from sagemaker_async.sweep import NO_NEWS, Member, StatusSweep, sweep_for

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

#: Bound for the stop request in ``on_kill``, well under ``[triggerer] on_kill_timeout`` (30 s).
STOP_TIMEOUT = 10.0

#: Seconds a trigger run by a triggerer holds its event after it starts, unless
#: ``[sagemaker_async] resume_hold`` sets another. Airflow 3.3's scheduler fails a resumed task
#: when its trigger fired before the scheduler handled the worker's exit on deferral
#: (apache/airflow#67287, #72716): a task whose job ended within seconds would fail, or retry,
#: with the job done. On a busy 2-core machine that handling came up to 8.3 s after the
#: deferral; real training jobs run for minutes, so the hold costs them nothing.
RESUME_HOLD = 10.0


def _release_at(trigger: BaseTrigger) -> float:
    """When (``time.monotonic()``) a trigger starting now may send its event: after the resume
    hold for a triggerer's trigger (one with a ``trigger_id``); at once for one that
    ``dag.test()`` runs in line, which no scheduler races.

    Read as the trigger starts, so that a bad setting costs a warning, never a trigger that
    crashes as its job ends.
    """
    now = time.monotonic()
    if trigger.trigger_id is None:
        return now
    from airflow.sdk import conf

    try:
        hold = conf.getfloat("sagemaker_async", "resume_hold", fallback=RESUME_HOLD)
    except AirflowConfigException:
        hold = math.nan
    if not math.isfinite(hold) or hold < 0:
        trigger.log.warning(
            "[sagemaker_async] resume_hold must be a number of seconds, 0 or more; using %s",
            RESUME_HOLD,
        )
        hold = RESUME_HOLD
    return now + hold


async def _hold_until(release: float) -> None:
    await asyncio.sleep(max(release - time.monotonic(), 0.0))


class SageMakerTrainingTrigger(BaseTrigger):
    """Poll ``DescribeTrainingJob`` until the job ends or the deadline passes; with many
    triggers in one triggerer, read their jobs' statuses from a shared ``ListTrainingJobs``
    sweep instead (see :mod:`sagemaker_async.sweep`).

    Fires exactly one event, ``{"status", "job_name", "message", ...}`` with status
    ``success``, ``failed``, ``stopped``, ``timeout`` or ``error``. Its kwargs hold no
    credentials: the connection is looked up again wherever the trigger runs.

    :param job_name: the training job to follow.
    :param deadline: absolute deadline, epoch seconds; a rebuilt trigger keeps it.
    :param check_interval: seconds between polls.
    :param aws_conn_id: Airflow ``aws`` connection id, or ``None`` for the default chain.
    :param region_name: overrides the connection's region.
    :param verify: TLS verification, as botocore takes it.
    :param botocore_config: keyword arguments for the botocore client config.
    :param print_log: tail the job's logs into the task log.
    :param cancel_on_kill: stop the job when a user kills the deferred task.
    :param instance_count: the job's instances (one log stream each), if known: once that
        many streams have shown lines, the tail reads them together with other jobs' (see
        :mod:`sagemaker_async.logbatch`).
    """

    def __init__(
        self,
        job_name: str,
        deadline: float,
        check_interval: float = 30,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        print_log: bool = True,
        cancel_on_kill: bool = True,
        instance_count: int | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.job_name = job_name
        self.deadline = deadline
        self.check_interval = check_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.print_log = print_log
        self.cancel_on_kill = cancel_on_kill
        self.instance_count = instance_count

    @property
    def log(self) -> Logger:
        """One logger per trigger class, not per trigger: a triggerer holds thousands of
        triggers, and each logger's objects would lengthen its full garbage collections.
        (The triggerer routes lines to each task's log by context, not by logger.)"""
        cls = type(self)
        if "_log" not in cls.__dict__:
            cls._log = None  # a subclass gets its own, not the one it would inherit
        return cls.logger()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "deadline": self.deadline,
                "check_interval": self.check_interval,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "print_log": self.print_log,
                "cancel_on_kill": self.cancel_on_kill,
                "instance_count": self.instance_count,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        release = _release_at(self)
        watch = JobWatch(self.job_name, self.deadline)
        schedule = PollSchedule(self.check_interval)
        # Triggers deferred together would otherwise poll in lock step: a thousand of them
        # in one loop iteration stall the loop. Spread the first polls over the first
        # interval (unless a sweep reads the job's status, see sagemaker_async.sweep).
        schedule.start(min(self.check_interval, max(watch.remaining(), 0)))
        self.log.info(
            "Polling training job %s every %ss, for %.0fs more at most",
            self.job_name,
            self.check_interval,
            max(watch.remaining(), 0.0),
        )
        try:
            # try/finally rather than ``async with shared_client(...)``: a lease object and
            # its bound __aexit__ held by each of thousands of waiting triggers lengthen the
            # loop's full garbage collections.
            settings = await self._settings()
            pool = pool_for_running_loop()
            client = await pool.acquire(settings)
            try:
                if self.print_log:
                    event = await self._wait_showing_logs(client, watch, schedule)
                else:
                    event = await self._wait(client, watch, schedule)
            finally:
                await pool.release(settings)
        except (ConnectionNotFoundError, InvalidSettingsError) as exc:
            event = watch.error_event(errors.describe_failure(exc), retryable=False)
        except (BotoCoreError, ClientError) as exc:
            event = _error_event(watch, exc)
        except Exception as exc:  # e.g. aiobotocore's RuntimeError for still-expired credentials
            # An outcome is an event, never a crashed trigger; cancellation still propagates.
            self.log.exception("Waiting for training job %s failed", self.job_name)
            event = watch.error_event(errors.describe_failure(exc))
        self.log.info("%s", event["message"])
        await _hold_until(release)
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    async def _settings(self, service: str = "sagemaker") -> AwsSettings:
        return await aget_settings(
            self.aws_conn_id,
            service=service,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )

    async def _logs_client(self, clients: contextlib.AsyncExitStack) -> SharedClient | None:
        """The CloudWatch Logs client, or ``None``: logs are best effort, the wait is not."""
        try:
            settings = await self._settings("logs")
            return await clients.enter_async_context(shared_client(settings, "logs"))
        except Exception as exc:
            self.log.warning("Job logs are not available: %s", exc)
            return None

    async def _wait_showing_logs(
        self, client: SharedClient, watch: JobWatch, schedule: PollSchedule
    ) -> dict[str, Any]:
        """Wait as :meth:`_wait` does while a separate task shows the job's log lines."""
        async with contextlib.AsyncExitStack() as clients:
            logs = await self._logs_client(clients)
            if logs is None:
                return await self._wait(client, watch, schedule)
            return await self._wait_following(client, logs, watch, schedule)

    async def _wait_following(
        self, client: SharedClient, logs: SharedClient, watch: JobWatch, schedule: PollSchedule
    ) -> dict[str, Any]:
        follower = LogFollower(
            self.job_name,
            lambda line: self.log.info("%s", line),
            batch=batch_for(logs),
            instances=self.instance_count,
        )
        tailing = asyncio.ensure_future(follower.follow(client, logs, self.check_interval))
        try:
            event = await self._wait(client, watch, schedule, follower)
        finally:
            tailing.cancel()
            await asyncio.wait({tailing})  # unlike awaiting it, never swallows our own cancel
        # The resumed task shows what is left, late lines included (see LogFollower).
        return {**event, "log_tail": await follower.hand_over(client)}

    async def _wait(
        self,
        client: SharedClient,
        watch: JobWatch,
        schedule: PollSchedule,
        follower: LogFollower | None = None,
    ) -> dict[str, Any]:
        sweep = sweep_for(client, self.check_interval)
        member = sweep.join(watch)
        try:
            while watch.remaining() > 0:
                summary = await self._news(sweep, member, watch, schedule)
                if summary is not None:
                    self._observe(watch, follower, summary)
                    final = watch.outcome(summary)
                    if final is None:
                        continue
                    if final["status"] == SUCCESS:
                        return final  # the summary says enough; the worker describes anyway
                    # Failed or stopped: only a describe carries the reason (if that
                    # describe cannot be had before the deadline, the summary's end stands).
                    return await self._poll(client, watch, schedule, follower) or final
                if watch.remaining() <= 0:
                    break
                event = await self._poll(client, watch, schedule, follower)
                if event is not None:
                    return event
        finally:
            await sweep.leave(member)
        return watch.timeout_event()

    async def _news(
        self, sweep: StatusSweep, member: Member, watch: JobWatch, schedule: PollSchedule
    ) -> dict[str, Any] | None:
        """The job's summary when the sweep has news of it; ``None`` when the job is due to
        be described (the sweep does not list it, or no sweep runs and its poll is due)."""
        while True:
            swept = sweep.covers(member)
            due = watch.remaining() if swept else schedule.due - schedule.clock()
            finding = await sweep.next_read(member, min(due, watch.remaining()))
            if finding is not NO_NEWS:
                if finding is None:
                    schedule.restart()  # if polling falls back to this trigger, count from now
                return finding
            if watch.remaining() <= 0:
                return None
            if sweep.covers(member):
                continue
            if not swept:
                return None
            # Polling is handed back (the sweep stopped, or no longer covers this job),
            # often to many triggers at once: spread their first own polls again.
            schedule.start(min(self.check_interval, watch.remaining()))

    async def _poll(
        self,
        client: SharedClient,
        watch: JobWatch,
        schedule: PollSchedule,
        follower: LogFollower | None,
    ) -> dict[str, Any] | None:
        """Describe the job, retrying transient errors while the deadline allows.

        :return: the final event (an error event for a final error), or ``None`` while the
            job runs (or the deadline passed during retries).
        """
        tries: Counter[str] | None = None  # made on the first error: most polls have none
        while True:
            try:
                event = await self._check(client, watch, follower)
            except errors.CALL_ERRORS as exc:
                tries = tries or Counter()
                delay = self._retry_after(exc, watch, tries)
                if delay is None:
                    return _error_event(watch, exc)
                await asyncio.sleep(min(delay, max(watch.remaining(), 0.0)))
                if watch.remaining() <= 0:
                    return None
                schedule.restart()  # after retries, the cadence starts anew
                continue
            if tries and tries["transient"]:
                self.log.info(
                    "Polling %s recovered after %s transient errors",
                    self.job_name,
                    tries["transient"],
                )
            schedule.advance()
            return event

    def _retry_after(
        self, exc: BaseException, watch: JobWatch, tries: Counter[str]
    ) -> float | None:
        """The pause before describing again after ``exc``; ``None`` if ``exc`` is final.

        An endpoint that cannot be connected to while the job has never been seen (a wrong
        endpoint or region, or the triggerer's network) gets only a few attempts.
        """
        if errors.is_unreachable(exc) and watch.status is None:
            tries["unreachable"] += 1
            delay = errors.unreachable_pause(exc, tries["unreachable"])
            if delay is not None:
                self.log.warning(
                    "Polling %s: %s; retrying in %.0fs", self.job_name, errors.summary(exc), delay
                )
            return delay
        if not errors.is_transient(exc):
            return None
        tries["transient"] += 1
        if tries["transient"] == 1:
            self.log.warning(
                "Polling %s failed transiently (%s); retrying", self.job_name, errors.summary(exc)
            )
        return _retry_delay(exc, tries["transient"])

    async def _check(
        self, client: SharedClient, watch: JobWatch, follower: LogFollower | None
    ) -> dict[str, Any] | None:
        """One describe: log a status change, return the final event once the job has ended.

        The response goes out of scope here, before the wait: held through it by thousands
        of triggers, responses would outlive the young garbage collections and make the
        full ones, which stall the whole loop, frequent.
        """
        job = await client.call("describe_training_job", TrainingJobName=self.job_name)
        self._observe(watch, follower, job)
        return watch.outcome(job)

    def _observe(self, watch: JobWatch, follower: LogFollower | None, job: dict[str, Any]) -> None:
        """Note a describe response or sweep summary: log a status change, tell the
        follower the job's ARN."""
        if follower is not None:
            follower.arn = job.get("TrainingJobArn") or follower.arn
        if line := watch.observe(job):
            self.log.info("%s", line)

    async def on_kill(self) -> None:
        """Stop the job when a user marks the deferred task failed or success, or clears it."""
        if not self.cancel_on_kill:
            return
        await asyncio.wait_for(self._stop(), timeout=STOP_TIMEOUT)

    async def _stop(self) -> None:
        async with shared_client(await self._settings()) as client:
            for attempt in range(3):
                try:
                    await client.call("stop_training_job", TrainingJobName=self.job_name)
                    break
                except errors.CALL_ERRORS as exc:
                    if errors.is_not_found(exc):
                        return  # it had already ended
                    if not errors.is_transient(exc) or attempt == 2:
                        raise
                    await asyncio.sleep(1)
        self.log.info("Stopped training job %s because the task was killed", self.job_name)


class SageMakerQuotaWaitTrigger(BaseTrigger):
    """Wait, without a worker slot, until the task may try a refused create again.

    The create itself runs on the worker (the request never travels through trigger
    kwargs, which are stored in plain text); this trigger only holds the task until then.
    Fires one event, ``{"status": "retry", "job_name", "message"}``, at ``until``; a
    rebuilt trigger (a triggerer restart) keeps the same moment.

    :param job_name: the configured job name, for the log.
    :param until: when to try again, epoch seconds.
    """

    def __init__(self, job_name: str, until: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.job_name = job_name
        self.until = until

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"job_name": self.job_name, "until": self.until},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        release = _release_at(self)
        await asyncio.sleep(max(self.until - time.time(), 0.0))
        await _hold_until(release)
        message = f"Trying to create training job {self.job_name} again"
        yield TriggerEvent(make_event(RETRY, self.job_name, message))  # type: ignore[no-untyped-call]


def _error_event(watch: JobWatch, exc: BaseException) -> dict[str, Any]:
    """The error event for a final error; a client set up wrong fails the task for good.

    An endpoint that could not be reached is the exception: the worker reached it to
    create the job, so a network outage (say, while a restarted triggerer's node moves) is
    as likely as a wrong setting. The task's retry re-attaches, and the worker's own
    bounded attempts fail it for good if the endpoint is really wrong.
    """
    outage = errors.is_unreachable(exc) and errors.unknown_region(exc) is None
    return watch.error_event(
        errors.describe_failure(exc), retryable=outage or not errors.is_misconfiguration(exc)
    )


def _retry_delay(exc: BaseException, failures: int) -> float:
    """Throttling is paced by the shared client, so only a short jittered pause is added;
    other transient errors back off exponentially per trigger."""
    if errors.error_code(exc) in errors.THROTTLING_CODES:
        return random.uniform(0, 1)
    return errors.backoff(failures - 1)
