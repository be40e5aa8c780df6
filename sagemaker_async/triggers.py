"""The trigger that waits for a SageMaker training job inside the Airflow triggerer."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.exceptions import BotoCoreError, ClientError

from sagemaker_async import errors
from sagemaker_async.connection import (
    AwsSettings,
    ConnectionNotFoundError,
    InvalidSettingsError,
    aget_settings,
)
from sagemaker_async.events import JobWatch
from sagemaker_async.logtail import LogFollower
from sagemaker_async.pacing import PollSchedule
from sagemaker_async.pool import SharedClient, shared_client

_CALL_ERRORS = (ClientError, BotoCoreError, asyncio.TimeoutError, ConnectionError)
#: Bound for the stop request in ``on_kill``, well under ``[triggerer] on_kill_timeout`` (30 s).
STOP_TIMEOUT = 10.0


class SageMakerTrainingTrigger(BaseTrigger):
    """Poll ``DescribeTrainingJob`` until the job ends or the deadline passes.

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
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = JobWatch(self.job_name, self.deadline)
        schedule = PollSchedule(self.check_interval, asyncio.get_running_loop().time)
        # Triggers deferred together would otherwise look up connections, borrow clients and
        # poll in lock step: a thousand of them in one loop iteration stall the loop. Spread
        # everything over the first interval.
        await asyncio.sleep(schedule.start(min(self.check_interval, max(watch.remaining(), 0))))
        self.log.info(
            "Polling training job %s every %ss, for %.0fs more at most",
            self.job_name,
            self.check_interval,
            max(watch.remaining(), 0.0),
        )
        try:
            async with contextlib.AsyncExitStack() as clients:
                client = await clients.enter_async_context(shared_client(await self._settings()))
                logs = await self._logs_client(clients) if self.print_log else None
                if logs is None:
                    event = await self._wait(client, watch, schedule)
                else:
                    event = await self._wait_showing_logs(client, logs, watch, schedule)
        except (ConnectionNotFoundError, InvalidSettingsError, BotoCoreError, ClientError) as exc:
            event = watch.error_event(errors.describe_failure(exc))
        except Exception as exc:  # e.g. aiobotocore's RuntimeError for still-expired credentials
            # An outcome is an event, never a crashed trigger; cancellation still propagates.
            self.log.exception("Waiting for training job %s failed", self.job_name)
            event = watch.error_event(errors.describe_failure(exc))
        self.log.info("%s", event["message"])
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
        self, client: SharedClient, logs: SharedClient, watch: JobWatch, schedule: PollSchedule
    ) -> dict[str, Any]:
        """Wait as :meth:`_wait` does while a separate task shows the job's log lines."""
        follower = LogFollower(self.job_name, lambda line: self.log.info("%s", line))
        tailing = asyncio.ensure_future(follower.follow(client, logs, self.check_interval))
        try:
            event = await self._wait(client, watch, schedule, follower)
        finally:
            tailing.cancel()
            await asyncio.wait({tailing})  # unlike awaiting it, never swallows our own cancel
        await follower.once(client, logs)  # what the job wrote since the last read
        return event

    async def _wait(
        self,
        client: SharedClient,
        watch: JobWatch,
        schedule: PollSchedule,
        follower: LogFollower | None = None,
    ) -> dict[str, Any]:
        failures = 0
        while watch.remaining() > 0:
            try:
                event = await self._check(client, watch, follower)
            except _CALL_ERRORS as exc:
                if not errors.is_transient(exc):
                    return watch.error_event(errors.describe_failure(exc))
                failures += 1
                if failures == 1:
                    self.log.warning(
                        "Polling %s failed transiently (%s); retrying", self.job_name, exc
                    )
                await asyncio.sleep(min(_retry_delay(exc, failures), max(watch.remaining(), 0.0)))
                schedule.restart()
                continue
            if failures:
                self.log.info(
                    "Polling %s recovered after %s transient errors", self.job_name, failures
                )
                failures = 0
            if event is not None:
                return event
            await asyncio.sleep(min(schedule.advance(), max(watch.remaining(), 0.0)))
        return watch.timeout_event()

    async def _check(
        self, client: SharedClient, watch: JobWatch, follower: LogFollower | None
    ) -> dict[str, Any] | None:
        """One poll: log a status change, return the final event once the job has ended.

        The response goes out of scope here, before the wait's sleep: held through it by
        thousands of triggers, responses would outlive the young garbage collections and
        make the full ones, which stall the whole loop, frequent.
        """
        job = await client.call("describe_training_job", TrainingJobName=self.job_name)
        if follower is not None:
            follower.arn = job.get("TrainingJobArn")
        if line := watch.observe(job):
            self.log.info("%s", line)
        return watch.outcome(job)

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
                except _CALL_ERRORS as exc:
                    if errors.is_not_found(exc):
                        return  # it had already ended
                    if not errors.is_transient(exc) or attempt == 2:
                        raise
                    await asyncio.sleep(1)
        self.log.info("Stopped training job %s because the task was killed", self.job_name)


def _retry_delay(exc: BaseException, failures: int) -> float:
    """Throttling is paced by the shared client, so only a short jittered pause is added;
    other transient errors back off exponentially per trigger."""
    if errors.error_code(exc) in errors.THROTTLING_CODES:
        return random.uniform(0, 1)
    return errors.backoff(failures - 1)
