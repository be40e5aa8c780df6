"""The SageMaker training operator: validate, name, submit, then defer (or wait) and resume."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    TaskDeferralError,
    TaskDeferralTimeout,
)
from botocore.exceptions import BotoCoreError, ClientError

from sagemaker_async import errors
from sagemaker_async.config import InvalidConfigError, prepare_config
from sagemaker_async.connection import (
    AwsSettings,
    ConnectionNotFoundError,
    InvalidSettingsError,
    checked,
)
from sagemaker_async.events import ERROR, SUCCESS, TIMEOUT, JobWatch
from sagemaker_async.hooks import NoRegionConfiguredError, SageMakerHook
from sagemaker_async.lineage import training_lineage
from sagemaker_async.links import SageMakerTrainingJobLink, SageMakerTrainingLogsLink
from sagemaker_async.naming import ACTIONS, JobNameTakenError, resolve_name
from sagemaker_async.ownership import identity_tags, merge_tags
from sagemaker_async.triggers import SageMakerTrainingTrigger

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

#: Extra time past the deadline before Airflow's own deferral timeout fires: a safety net for
#: when no triggerer runs the trigger, not the normal way a wait ends.
DEFERRAL_GRACE = timedelta(minutes=1)
#: How often a ``ResourceInUse`` race on create is resolved again before giving up.
MAX_CREATE_ROUNDS = 10
_USER_ERRORS = (
    InvalidConfigError,
    JobNameTakenError,
    ConnectionNotFoundError,
    InvalidSettingsError,
    NoRegionConfiguredError,
)


class SageMakerTrainingOperator(BaseOperator):
    """Run a SageMaker training job without holding a worker slot while it trains.

    :param config: the ``CreateTrainingJob`` request (templated, rendered as JSON).
    :param aws_conn_id: Airflow connection of type ``aws``; ``None`` uses boto's default chain.
    :param region_name: AWS region, overriding the connection's.
    :param verify: TLS verification: ``False`` or a CA bundle path.
    :param botocore_config: keyword arguments for ``botocore.config.Config``.
    :param wait_for_completion: ``False`` submits the job and succeeds at once.
    :param deferrable: wait in the triggerer (``True``) or poll in the worker (``False``).
    :param check_interval: seconds between status polls.
    :param max_attempts: polls before giving up; with ``check_interval`` sets the deadline.
    :param max_ingestion_time: seconds to wait in all; replaces ``max_attempts`` when set.
    :param action_if_job_exists: what to do when another task's job holds the name:
        ``fail``, ``increment`` (next free ``-N``), ``skip`` or ``timestamp``.
    :param print_log: tail the job's CloudWatch logs into the task log.
    :param cancel_on_kill: stop the job when the task is killed or gives up on its last try.
    """

    template_fields: Sequence[str] = ("config",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"config": "json"}
    operator_extra_links = (SageMakerTrainingJobLink(), SageMakerTrainingLogsLink())
    ui_color = "#ede4ff"

    def __init__(
        self,
        *,
        config: dict[str, Any],
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = True,
        check_interval: int = 30,
        max_attempts: int = 60,
        max_ingestion_time: int | None = None,
        action_if_job_exists: str = "fail",
        print_log: bool = True,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_arguments(
            action_if_job_exists, check_interval, max_attempts, max_ingestion_time, botocore_config
        )
        self.config = config
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.check_interval = check_interval
        self.max_attempts = max_attempts
        self.max_ingestion_time = max_ingestion_time
        self.action_if_job_exists = action_if_job_exists
        self.print_log = print_log
        self.cancel_on_kill = cancel_on_kill
        self._job_name: str | None = None
        self._training: dict[str, Any] | None = None  # the job's last describe, as returned

    @cached_property
    def hook(self) -> SageMakerHook:
        return SageMakerHook(self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    @property
    def job_name(self) -> str | None:
        """The training job this task ran (set once submitted or re-attached)."""
        return self._job_name

    @property
    def job_region(self) -> str | None:
        """The AWS region the job runs in (``None`` if it cannot be told)."""
        try:
            return self.hook.settings.region_name or self.hook.client.meta.region_name
        except (ValueError, LookupError):  # broken connection or settings: no link, no crash
            return None

    @property
    def budget_seconds(self) -> float:
        if self.max_ingestion_time is not None:
            return float(self.max_ingestion_time)
        return float(self.check_interval * self.max_attempts)

    def execute(self, context: Context) -> dict[str, Any] | None:
        try:
            config = prepare_config(self.config)
            ti = context["ti"]
            job_name = self._submit(config, identity_tags(ti), _follows_a_clear(ti, self.retries))
        except _USER_ERRORS as exc:
            raise AirflowFailException(str(exc)) from None
        except (ClientError, BotoCoreError) as exc:
            # Credentials rejected, access denied, or a transient fault outlasting its retries.
            raise AirflowException(
                f"Could not submit the training job: {errors.describe_failure(exc)}"
            ) from None
        self._job_name = job_name
        context["ti"].xcom_push(key="training_job_name", value=job_name)
        if not self.wait_for_completion:
            return self._result(job_name)
        watch = JobWatch(job_name, time.time() + self.budget_seconds)
        if self.deferrable:
            self.defer(
                trigger=self._trigger(watch),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.budget_seconds) + DEFERRAL_GRACE,
            )
        return self._finish(context, self.hook.wait(watch, self.check_interval, self.print_log))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume on the worker with the trigger's event."""
        self._job_name = event["job_name"]
        return self._finish(context, event)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        """Airflow's deferral timeout (no trigger ran in time) stops the job, then fails."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except (TaskDeferralTimeout, TaskDeferralError):  # no trigger ran in time, or it crashed
            ti = context["ti"]
            name = ti.xcom_pull(
                task_ids=self.task_id, key="training_job_name", map_indexes=ti.map_index
            )
            if name:
                self.log.warning("Deferral of training job %s failed or timed out", name)
                self._give_up(context, name)
            raise

    def get_openlineage_facets_on_start(self) -> OperatorLineage[Any, Any]:
        """OpenLineage (with its provider installed): the S3 input channels."""
        return training_lineage(self.config)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """OpenLineage: the S3 input channels and the model artifact (for a job not waited
        for, the request's ``S3OutputPath``)."""
        return training_lineage(self.config, self._training, produced=self._job_name is not None)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """OpenLineage: the S3 input channels; a failed job leaves no model artifact."""
        return training_lineage(self.config, self._training)

    def on_kill(self) -> None:
        """A killed blocking wait stops its job, so nothing keeps billing unwatched."""
        if self.cancel_on_kill and self._job_name:
            self.hook.stop(self._job_name)

    def _trigger(self, watch: JobWatch) -> SageMakerTrainingTrigger:
        return SageMakerTrainingTrigger(
            job_name=watch.job_name,
            deadline=watch.deadline,
            check_interval=self.check_interval,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
            print_log=self.print_log,
            cancel_on_kill=self.cancel_on_kill,
        )

    def _submit(
        self, config: dict[str, Any], identity: dict[str, str], cleared: bool = False
    ) -> str:
        """Create the job, or find this task's running one; return the name in use.

        After a clear the user wants a fresh run: the earlier try's job is stopped (if
        ``cancel_on_kill``) instead of re-attached, whether or not the triggerer's own
        ``on_kill`` got to it first.
        """
        base = config["TrainingJobName"]
        for round_ in range(MAX_CREATE_ROUNDS):
            decision = resolve_name(
                base,
                self.action_if_job_exists,
                lambda name: self.hook.lookup(name, identity),
                int(time.time()),
            )
            if decision.action == "skip":
                raise AirflowSkipException(
                    f"Training job {base} exists and action_if_job_exists='skip'"
                )
            if decision.action == "attach" and cleared and self.cancel_on_kill:
                self.log.info("Task was cleared: stopping %s of the earlier try", decision.name)
                self.hook.stop(decision.name)
                continue
            if decision.action == "attach":
                self.log.info(
                    "Re-attaching to training job %s started by an earlier try", decision.name
                )
                return decision.name
            request = {**config, "TrainingJobName": decision.name}
            request["Tags"] = merge_tags(config.get("Tags", []), identity)
            try:
                arn = self.hook.create(request)
            except ClientError as exc:
                if errors.error_code(exc) == "ResourceInUse" or errors.is_transient(exc):
                    # Taken meanwhile, or maybe created: look the name up again.
                    self.log.warning(
                        "Creating %s failed (%s); resolving the name again", decision.name, exc
                    )
                    time.sleep(errors.backoff(round_))
                    continue
                raise
            self.log.info("Created training job %s (%s)", decision.name, arn)
            return decision.name
        raise AirflowException(
            f"Could not claim a name for training job {base} in {MAX_CREATE_ROUNDS} rounds"
        )

    def _finish(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        job_name = event["job_name"]
        if event["status"] == SUCCESS:
            result = self._result(job_name)
            self.log.info("%s", _summary(result["Training"]))
            return result
        message = event["message"]
        if event["status"] == TIMEOUT:
            message = f"{message} (budget: {self._budget_text()})"
        if event["status"] in (TIMEOUT, ERROR):
            self._give_up(context, job_name)
        raise AirflowException(message)

    def _result(self, job_name: str) -> dict[str, Any]:
        """Describe the job; keep the result for lineage and return it as the XCom value."""
        result = _result(self.hook.describe(job_name))
        self._training = result["Training"]
        return result

    def _budget_text(self) -> str:
        if self.max_ingestion_time is not None:
            return f"max_ingestion_time={self.max_ingestion_time}s"
        return (
            f"max_attempts={self.max_attempts} x check_interval={self.check_interval}s"
            f" = {self.budget_seconds:g}s"
        )

    def _give_up(self, context: Context, job_name: str) -> None:
        """On the last try, stop the job; an earlier try leaves it for the retry to re-attach.

        A failed stop is logged, not raised: the task's own error is the one to report.
        """
        ti = context["ti"]
        if not self.cancel_on_kill or ti.try_number <= ti.max_tries:
            return
        try:
            self.hook.stop(job_name)
        except (ClientError, BotoCoreError, *_USER_ERRORS) as exc:
            self.log.warning("Could not stop training job %s: %s", job_name, exc)


def _follows_a_clear(ti: Any, retries: int | None) -> bool:
    """Whether this try exists because a user cleared the previous one.

    Airflow resets ``max_tries`` to ``try_number + retries`` when it clears a task that is not
    running; a retry after a failure leaves it alone.
    """
    return bool(ti.try_number > 1 and ti.max_tries - (retries or 0) == ti.try_number - 1)


def _check_arguments(
    action: str,
    check_interval: float,
    max_attempts: int,
    max_ingestion_time: float | None,
    botocore_config: dict[str, Any] | None,
) -> None:
    """Fail at DAG parse time on arguments that can never work."""
    if action not in ACTIONS:
        raise ValueError(
            f"action_if_job_exists={action!r} is not one of {', '.join(repr(a) for a in ACTIONS)}"
        )
    if not _positive(check_interval):
        raise ValueError(
            f"check_interval must be a positive number of seconds, got {check_interval!r}"
        )
    if not _positive(max_attempts) or not isinstance(max_attempts, int):
        raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
    if botocore_config:
        checked(AwsSettings(botocore_config=botocore_config))
    if "proxies" in (botocore_config or {}):
        # Trigger kwargs are stored in plain text; proxy URLs may carry passwords.
        raise ValueError(
            "botocore_config must not hold 'proxies': put them in the connection's "
            "extra 'config_kwargs', which is never stored with the trigger"
        )
    if max_ingestion_time is not None and not _positive(max_ingestion_time):
        raise ValueError(
            "max_ingestion_time must be a positive number of seconds or None, "
            f"got {max_ingestion_time!r}"
        )


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _result(describe: Mapping[str, Any]) -> dict[str, Any]:
    """The XCom result, ``{"Training": describe}`` as plain JSON (datetimes as ISO strings)."""
    body = {k: v for k, v in describe.items() if k != "ResponseMetadata"}
    plain = json.loads(json.dumps(body, default=_iso))
    return {"Training": plain}


def _iso(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _summary(training: Mapping[str, Any]) -> str:
    artifacts = (training.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    metrics = ", ".join(
        f"{m.get('MetricName')}={m.get('Value')}" for m in training.get("FinalMetricDataList") or []
    )
    return (
        f"Training job {training.get('TrainingJobName')} {training.get('TrainingJobStatus')}: "
        f"model {artifacts}, training {training.get('TrainingTimeInSeconds')}s, "
        f"billable {training.get('BillableTimeInSeconds')}s"
        + (f", final metrics {metrics}" if metrics else "")
    )
