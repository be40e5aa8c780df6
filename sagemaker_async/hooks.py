"""The blocking (boto3) side: create, describe, stop and wait for training jobs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, Literal

import boto3
from airflow.sdk import BaseHook
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from sagemaker_async import credentials, errors
from sagemaker_async.connection import AwsSettings, get_settings
from sagemaker_async.events import JobWatch, status_line
from sagemaker_async.logtail import LATE_LINES_WAIT, LogFollower, LogTail, recent_lines
from sagemaker_async.naming import ExistingJob
from sagemaker_async.ownership import is_owned

#: How long a single call keeps retrying transient errors before giving up.
DEFAULT_RETRY_FOR = 600.0
#: botocore's retries unless ``botocore_config`` sets its own: one attempt per request.
#: :meth:`SageMakerHook.call` retries transient errors itself, and botocore's legacy mode
#: (up to 5 attempts with backoff) would stretch each of an unreachable endpoint's bounded
#: attempts to seconds. A create is retried by the operator, after looking the name up.
SINGLE_ATTEMPT = {"mode": "standard", "total_max_attempts": 1}
#: Tries of each log request the worker makes (transient errors, throttling among them).
BLOCKING_LOG_TRIES = 5
#: Tries of each request of a job's last log reads, after its wait: nothing reads those
#: lines later, and many tasks resuming at once share the account's 5 FilterLogEvents a
#: second (full-jitter backoff capped at 30 s: four minutes on average if every try is
#: throttled).
LAST_READ_TRIES = 20
#: Bound on a job's last log reads as a whole (seconds): they hold a worker slot.
LAST_READS_SECONDS = 300.0
#: How long the describes made while resuming or giving up retry transient errors (seconds):
#: they only add detail or decide on a stop, so they must not hold the worker for minutes.
RESUME_RETRY_FOR = 30.0


class NoRegionConfiguredError(ValueError):
    """Neither the operator, the connection nor the environment names an AWS region."""


class SageMakerHook(BaseHook):
    """Blocking SageMaker calls for the operator, with transient errors retried.

    :param aws_conn_id: Airflow connection of type ``aws``; ``None`` for boto's default chain.
    :param region_name: overrides the connection's region.
    :param verify: TLS verification, as boto3 takes it.
    :param botocore_config: keyword arguments for ``botocore.config.Config``.
    """

    def __init__(
        self,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        #: Whether the endpoint has answered any call (then a refused connection is an
        #: outage to wait out, not a wrong endpoint to report at once).
        self.reached = False

    @cached_property
    def settings(self) -> AwsSettings:
        return get_settings(
            self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )

    def get_conn(self) -> Any:
        return self.client

    @cached_property
    def client(self) -> Any:
        return self._client("sagemaker", self.settings)

    @cached_property
    def logs_client(self) -> Any:
        """CloudWatch Logs, for the job's log lines (its endpoint may differ per service)."""
        settings = get_settings(
            self.aws_conn_id,
            service="logs",
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )
        return self._client("logs", settings)

    @cached_property
    def session(self) -> boto3.session.Session:
        """One session for both clients, so an assumed role is assumed once, not per client."""
        return credentials.boto3_session(self.settings)

    def _client(self, service: Literal["sagemaker", "logs"], settings: AwsSettings) -> Any:
        config = Config(**{"retries": dict(SINGLE_ATTEMPT), **(settings.botocore_config or {})})
        try:
            return self.session.client(service, config=config, **settings.client_kwargs())
        except NoRegionError:
            raise NoRegionConfiguredError(
                "No AWS region: set region_name on the operator or in the connection's extra"
            ) from None

    def call(self, operation: str, retry_for: float = DEFAULT_RETRY_FOR, **kwargs: Any) -> Any:
        """Call ``operation``, retrying transient errors with backoff for up to ``retry_for`` s.

        An endpoint that cannot be connected to and has never answered gets only
        :data:`errors.UNREACHABLE_PAUSES`: a wrong endpoint or region fails in seconds. An
        answer that is not the AWS API's raises :class:`errors.NotAwsAnswerError`.
        """
        method: Callable[..., Any] = getattr(self.client, operation)
        give_up_at = time.monotonic() + retry_for
        attempt = unreachable = 0
        while True:
            try:
                return self._answered(operation, method(**kwargs))
            except Exception as exc:
                error = self._explained(exc)
                if self._never_reached(error):
                    unreachable += 1
                    delay = errors.unreachable_pause(error, unreachable)
                elif errors.is_transient(error) and time.monotonic() < give_up_at:
                    delay = errors.backoff(attempt)
                    attempt += 1
                else:
                    delay = None
                if delay is None:
                    if error is exc:
                        raise
                    raise error from None  # the original holds the response body
                self.log.warning(
                    "%s failed (%s); retrying in %.1fs", operation, errors.summary(error), delay
                )
                time.sleep(delay)

    def _answered(self, operation: str, response: Any) -> Any:
        self.reached = True
        errors.check_answer(response, operation, _endpoint_of(self.client))
        return response

    def _explained(self, exc: Exception) -> Exception:
        """``exc``, or for an answer that is not the AWS API's, its one-line stand-in."""
        if isinstance(exc, ClientError):
            self.reached = True
            return errors.not_aws_answer(exc, _endpoint_of(self.client))
        return exc

    def _never_reached(self, exc: BaseException) -> bool:
        """Whether ``exc`` found no endpoint to connect to, which has never answered."""
        return errors.is_unreachable(exc) and not self.reached

    def describe(self, job_name: str) -> dict[str, Any]:
        response: dict[str, Any] = self.call("describe_training_job", TrainingJobName=job_name)
        return response

    def lookup(self, job_name: str, identity: Mapping[str, str]) -> ExistingJob | None:
        """``None`` if ``job_name`` is free, else the job's status and whether we own it."""
        try:
            job = self.describe(job_name)
        except ClientError as exc:
            if errors.is_not_found(exc):
                return None
            raise
        tags = self.call("list_tags", ResourceArn=job["TrainingJobArn"]).get("Tags", [])
        return ExistingJob(status=job["TrainingJobStatus"], owned=is_owned(tags, identity))

    def create(self, config: dict[str, Any]) -> str:
        """Submit the job once (no retry here: a retry could start a second job)."""
        try:
            response = self._answered(
                "create_training_job", self.client.create_training_job(**config)
            )
        except ClientError as exc:
            error = self._explained(exc)
            if error is exc:
                raise
            raise error from None  # the original holds the response body
        return str(response["TrainingJobArn"])

    def stop(self, job_name: str) -> bool:
        """Ask SageMaker to stop the job; ``False`` if it had already ended."""
        try:
            self.call("stop_training_job", TrainingJobName=job_name)
        except ClientError as exc:
            if errors.is_not_found(exc):
                return False
            raise
        self.log.info("Requested stop of training job %s", job_name)
        return True

    def report_end(self, job_name: str, lines: int) -> None:
        """Log the job's status line and its last ``lines`` log lines; best effort, one
        warning on error: the triggerer's part of the task log does not reach every remote
        log store, so the worker repeats why the job ended."""
        try:
            describe = self.call(
                "describe_training_job", retry_for=RESUME_RETRY_FOR, TrainingJobName=job_name
            )
            self.log.info("%s", status_line(describe))
        except Exception as exc:  # only detail for the log: never what fails the task
            self.log.warning("Could not read the status of training job %s: %s", job_name, exc)
        try:
            recent = recent_lines(self.logs_client, job_name, lines)
        except Exception as exc:
            self.log.warning("Could not read the logs of training job %s: %s", job_name, exc)
            return
        self.log.info("Last %s log lines of training job %s:", len(recent), job_name)
        for line in recent:
            self.log.info("%s", line)

    def finish_logs(self, job_name: str, hand_over: Mapping[str, Any]) -> None:
        """Show the job's log lines the triggerer did not, from where it stopped, once the
        lines that land after the final status are due; best effort (one warning): the job's
        outcome never depends on its logs."""
        try:
            follower = LogFollower(job_name, lambda line: self.log.info("%s", line))
            state = hand_over.get("state")
            follower.tail = LogTail.from_state(job_name, state) if state else LogTail(job_name)
            due = float(hand_over.get("ended_at") or 0) + LATE_LINES_WAIT - time.time()
            self._finish(follower, wait=max(0.0, due), save=False)
        except Exception as exc:
            self.log.warning("Could not read the logs of training job %s: %s", job_name, exc)

    def wait(
        self, watch: JobWatch, check_interval: float, print_log: bool = False
    ) -> dict[str, Any]:
        """Poll until the job ends or the watch's deadline passes; return the event.

        With ``print_log``, the job's new log lines are shown after each poll.
        """
        follower = LogFollower(watch.job_name, lambda line: self.log.info("%s", line))
        try:
            return self._poll(watch, check_interval, follower if print_log else None)
        finally:
            if print_log:
                # What the job wrote since the last read, and what reached CloudWatch late;
                # best effort, never what ends the wait.
                with contextlib.suppress(Exception):
                    self._finish(follower)

    def _finish(self, follower: LogFollower, **options: Any) -> None:
        """A job's last log reads (see :meth:`LogFollower.finish`), with the last reads'
        tries and overall bound."""
        finish = follower.finish(*self._readers(LAST_READ_TRIES), **options)
        asyncio.run(asyncio.wait_for(finish, LAST_READS_SECONDS))

    def _show_logs(self, follower: LogFollower) -> None:
        # The follower's logic is async (the trigger's); a private loop runs it with boto3.
        asyncio.run(follower.once(*self._readers()))

    def _readers(self, tries: int = BLOCKING_LOG_TRIES) -> tuple[_Blocking, _Blocking]:
        """The SageMaker and CloudWatch Logs clients as the log follower calls them, each
        request tried up to ``tries`` times."""
        return _Blocking(self.client, tries), _Blocking(self.logs_client, tries)

    def _poll(
        self, watch: JobWatch, check_interval: float, follower: LogFollower | None
    ) -> dict[str, Any]:
        while watch.remaining() > 0:
            due = time.monotonic() + check_interval  # as the trigger: no drift by call latency
            try:
                job = self.call(
                    "describe_training_job",
                    retry_for=watch.remaining(),
                    TrainingJobName=watch.job_name,
                )
            except (ClientError, BotoCoreError) as exc:
                if errors.is_transient(exc) and not self._never_reached(exc):
                    break  # transient errors lasted until the deadline
                return watch.error_event(
                    errors.describe_failure(exc), retryable=not errors.is_misconfiguration(exc)
                )
            if follower is not None:
                follower.arn = job.get("TrainingJobArn")
            if line := watch.observe(job):
                self.log.info("%s", line)
            if event := watch.outcome(job):
                return event
            if follower is not None:
                self._show_logs(follower)
            time.sleep(max(0.0, min(due - time.monotonic(), watch.remaining())))
        return watch.timeout_event()


class _Blocking:
    """A boto3 client behind the ``await call(operation, **kwargs)`` the follower expects."""

    def __init__(self, client: Any, tries: int = BLOCKING_LOG_TRIES) -> None:
        self.client = client
        self.tries = tries

    async def call(self, operation: str, **kwargs: Any) -> Any:
        # Pooled clients make one attempt per call; many tasks resuming together can meet
        # the account's small CloudWatch Logs limits, so throttling is retried here.
        for attempt in range(self.tries):
            try:
                return getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                if errors.is_transient(exc) and attempt < self.tries - 1:
                    await asyncio.sleep(errors.backoff(attempt))
                    continue
                error = errors.not_aws_answer(exc, _endpoint_of(self.client))
                if error is exc:
                    raise
                raise error from None  # the follower logs what it catches: never a body
        raise AssertionError("unreachable")


def _endpoint_of(client: Any) -> str | None:
    """Where a boto3 client sends its requests (named in errors); ``None`` for a fake."""
    return getattr(getattr(client, "meta", None), "endpoint_url", None)
