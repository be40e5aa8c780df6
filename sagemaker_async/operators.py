"""The SageMaker training operator: validate, name, submit, then defer (or wait) and resume."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
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
from sagemaker_async.budget import WaitBudget, wait_budget
from sagemaker_async.config import InvalidConfigError, prepare_config
from sagemaker_async.connection import (
    AwsSettings,
    ConnectionNotFoundError,
    InvalidSettingsError,
    checked,
)
from sagemaker_async.events import SUCCESS, TIMEOUT, JobWatch, status_line
from sagemaker_async.hooks import NoRegionConfiguredError, SageMakerHook
from sagemaker_async.lineage import training_lineage
from sagemaker_async.links import SageMakerTrainingJobLink, SageMakerTrainingLogsLink
from sagemaker_async.logtail import recent_lines
from sagemaker_async.naming import ACTIONS, JobNameTakenError, resolve_name
from sagemaker_async.ownership import identity_tags, merge_tags
from sagemaker_async.preflight import Preflight, PreflightError, hook_clients
from sagemaker_async.result import training_result
from sagemaker_async.triggers import SageMakerTrainingTrigger

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

#: Extra time past the deadline before Airflow's own deferral timeout fires: a safety net for
#: when no triggerer runs the trigger, not the normal way a wait ends.
DEFERRAL_GRACE = timedelta(minutes=1)
#: How often a ``ResourceInUse`` race on create is resolved again before giving up.
MAX_CREATE_ROUNDS = 10
#: The job's last log lines repeated in the worker's log when a deferred task resumes.
LAST_LOG_LINES = 20
#: How long the describes made while resuming or giving up retry transient errors (seconds):
#: they only add detail or decide on a stop, so they must not hold the worker for minutes.
RESUME_RETRY_FOR = 30.0
_USER_ERRORS = (
    InvalidConfigError,
    JobNameTakenError,
    ConnectionNotFoundError,
    InvalidSettingsError,
    NoRegionConfiguredError,
    PreflightError,
)


class SageMakerTrainingOperator(BaseOperator):
    """Run a SageMaker training job without holding a worker slot while it trains.

    :param config: the ``CreateTrainingJob`` request (templated, rendered as JSON).
    :param aws_conn_id: Airflow connection of type ``aws``; ``None`` (or empty) uses boto's
        default chain (templated).
    :param region_name: AWS region, overriding the connection's (templated).
    :param verify: TLS verification: ``False`` or a CA bundle path; a rendered ``"true"`` or
        ``"false"`` becomes the boolean (templated).
    :param botocore_config: keyword arguments for ``botocore.config.Config``.
    :param wait_for_completion: ``False`` submits the job and succeeds at once.
    :param deferrable: wait in the triggerer (``True``) or poll in the worker (``False``).
    :param check_interval: seconds between status polls.
    :param max_attempts: polls before giving up; with ``check_interval`` sets the deadline.
        ``None`` (and no ``max_ingestion_time``): wait as long as the job's own
        ``StoppingCondition`` allows, plus a margin (see :mod:`sagemaker_async.budget`).
    :param max_ingestion_time: seconds to wait in all; replaces ``max_attempts`` when set.
    :param action_if_job_exists: what to do when another task's job holds the name:
        ``fail``, ``increment`` (next free ``-N``), ``skip`` or ``timestamp``.
    :param print_log: tail the job's CloudWatch logs into the task log.
    :param cancel_on_kill: stop the job when the task is killed, or when its last try used up
        an explicit budget while the job is still ``InProgress``.
    :param check_s3_inputs: before creating the job, check that every S3 input of
        ``InputDataConfig`` exists, with the connection's credentials (as the amazon provider
        always does).
    :param expand_role_name: accept an IAM role name in ``RoleArn`` and look its ARN up in
        IAM before creating the job (as the amazon provider always does).
    """

    # The amazon provider's template fields, so a DAG using it renders the same values here.
    template_fields: Sequence[str] = ("aws_conn_id", "config", "region_name", "verify")
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
        max_attempts: int | None = None,
        max_ingestion_time: int | None = None,
        action_if_job_exists: str = "fail",
        print_log: bool = True,
        cancel_on_kill: bool = True,
        check_s3_inputs: bool = True,
        expand_role_name: bool = True,
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
        self.check_s3_inputs = check_s3_inputs
        self.expand_role_name = expand_role_name
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

    def _budget(self, config: Mapping[str, Any] | None) -> WaitBudget:
        """How long a try waits for the job of the prepared ``config``."""
        return wait_budget(config, self.check_interval, self.max_attempts, self.max_ingestion_time)

    def execute(self, context: Context) -> dict[str, Any] | None:
        self._check_rendered()
        try:
            config = prepare_config(self.config, role_names=self.expand_role_name)
            ti = context["ti"]
            job_name = self._submit(config, identity_tags(ti), _follows_a_clear(ti, self.retries))
        except _USER_ERRORS as exc:
            raise AirflowFailException(str(exc)) from None
        except (ClientError, BotoCoreError) as exc:
            # An endpoint that answered the look-up and then could not be reached is an
            # outage, not a wrong setting: the task's retry resolves the name again.
            outage = errors.is_unreachable(exc) and self.hook.reached
            if errors.is_misconfiguration(exc) and not outage:
                # A wrong endpoint, region or CA bundle: every further try would fail alike.
                raise AirflowFailException(errors.describe_failure(exc)) from None
            # Credentials rejected, access denied, or a transient fault outlasting its retries.
            raise AirflowException(
                f"Could not submit the training job: {errors.describe_failure(exc)}"
            ) from None
        self._job_name = job_name
        context["ti"].xcom_push(key="training_job_name", value=job_name)
        if not self.wait_for_completion:
            return self._result(job_name)
        budget = self._budget(config)
        self.log.info("Waiting for training job %s for %s", job_name, budget.text)
        watch = JobWatch(job_name, time.time() + budget.seconds)
        if self.deferrable:
            self.defer(
                trigger=self._trigger(watch),
                method_name="execute_complete",
                timeout=timedelta(seconds=budget.seconds) + DEFERRAL_GRACE,
            )
        return self._finish(context, self.hook.wait(watch, self.check_interval, self.print_log))

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume on the worker with the trigger's event.

        With ``print_log``, the job's status and last log lines are repeated here first: the
        triggerer's part of the task log does not reach every remote log store.
        """
        if event is None:
            # The amazon provider's signature; Airflow passes an event unless a trigger broke.
            raise AirflowException("Resumed without a trigger event: the job's outcome is unknown")
        self._job_name = event["job_name"]
        if self.print_log:
            self._report_end(event["job_name"])
        return self._finish(context, event)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        """Resume with the templated arguments normalised as :meth:`execute` had them; on
        Airflow's deferral timeout (no trigger ran in time), give up as on a timeout event."""
        self._check_rendered()
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except (TaskDeferralTimeout, TaskDeferralError) as exc:
            ti = context["ti"]
            name = ti.xcom_pull(
                task_ids=self.task_id, key="training_job_name", map_indexes=ti.map_index
            )
            if name:
                self.log.warning("Deferral of training job %s failed or timed out", name)
                # A timeout is a budget used up (no triggerer ran the trigger until past the
                # deadline); a crashed trigger is an error, which never stops the job.
                if isinstance(exc, TaskDeferralTimeout):
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
        preflight = Preflight(
            hook_clients(self.hook),
            check_s3_inputs=self.check_s3_inputs,
            expand_role_name=self.expand_role_name,
            log=self.log,
        )
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
            request = {**preflight.ready(config), "TrainingJobName": decision.name}
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
            self._give_up(context, job_name)
        # An error event (access denied, job not found, ...) leaves the job's status unknown:
        # the job is never stopped for it, and a retry re-attaches.
        if event.get("retryable") is False:
            # A wrong endpoint, region, CA bundle or connection: a retry would meet it again.
            raise AirflowFailException(message)
        raise AirflowException(message)

    def _result(self, job_name: str) -> dict[str, Any]:
        """Describe the job; keep the result for lineage and return it as the XCom value."""
        result = training_result(self.hook.describe(job_name), self.log)
        self._training = result["Training"]
        return result

    def _budget_text(self) -> str:
        """The budget this task used, as the timeout message names it."""
        try:
            config: dict[str, Any] | None = prepare_config(
                self.config, role_names=self.expand_role_name
            )
        except InvalidConfigError:  # it was valid when submitted; then the defaults apply
            config = None
        return self._budget(config).text

    def _give_up(self, context: Context, job_name: str) -> None:
        """The budget ran out: stop the job only if this is the last try, the budget was the
        user's own, and a describe now shows the job ``InProgress``.

        The default budget outlasts the job's own limits, so a job still running past it is
        left to SageMaker. An unknown status (the describe fails) never stops a job. An
        earlier try leaves the job for the retry to re-attach. A failed stop is logged, not
        raised: the task's own error is the one to report.
        """
        ti = context["ti"]
        if not self.cancel_on_kill or ti.try_number <= ti.max_tries:
            return
        if self.max_attempts is None and self.max_ingestion_time is None:
            self.log.warning(
                "Not stopping training job %s: the default wait outlasts the job's own "
                "StoppingCondition, so SageMaker itself ends the job",
                job_name,
            )
            return
        try:
            describe = self.hook.call(
                "describe_training_job", retry_for=RESUME_RETRY_FOR, TrainingJobName=job_name
            )
            status = describe.get("TrainingJobStatus")
            if status != "InProgress":
                self.log.warning("Not stopping training job %s: it is %s", job_name, status)
                return
            self.hook.stop(job_name)
        except (ClientError, BotoCoreError, *_USER_ERRORS) as exc:
            self.log.warning("Could not stop training job %s: %s", job_name, exc)

    def _report_end(self, job_name: str) -> None:
        """Log the job's status line and last log lines; best effort, one warning on error."""
        try:
            describe = self.hook.call(
                "describe_training_job", retry_for=RESUME_RETRY_FOR, TrainingJobName=job_name
            )
            self.log.info("%s", status_line(describe))
        except Exception as exc:  # only detail for the log: never what fails the task
            self.log.warning("Could not read the status of training job %s: %s", job_name, exc)
        try:
            lines = recent_lines(self.hook.logs_client, job_name, LAST_LOG_LINES)
        except Exception as exc:
            self.log.warning("Could not read the logs of training job %s: %s", job_name, exc)
            return
        self.log.info("Last %s log lines of training job %s:", len(lines), job_name)
        for line in lines:
            self.log.info("%s", line)

    def _check_rendered(self) -> None:
        """Check (and normalise) the templated connection arguments once rendered: their
        values may come from templates, so only a running task can tell they are wrong."""
        self.aws_conn_id = _rendered_text("aws_conn_id", self.aws_conn_id)
        self.region_name = _rendered_text("region_name", self.region_name)
        self.verify = _rendered_verify(self.verify)


def _follows_a_clear(ti: Any, retries: int | None) -> bool:
    """Whether this try exists because a user cleared the previous one.

    Airflow resets ``max_tries`` to ``try_number + retries`` when it clears a task that is not
    running; a retry after a failure leaves it alone.
    """
    return bool(ti.try_number > 1 and ti.max_tries - (retries or 0) == ti.try_number - 1)


def _rendered_text(name: str, value: object) -> str | None:
    """A rendered ``aws_conn_id`` or ``region_name``: a string, or ``None`` for an empty one
    (a template such as ``{{ var.value.get('region', '') }}`` renders unset as ``""``)."""
    if isinstance(value, str):
        return value.strip() or None
    if value is None:
        return None
    raise AirflowFailException(f"{name} must be a string or None, got {value!r}")


def _rendered_verify(value: object) -> bool | str | None:
    """A rendered ``verify``: templates render booleans as ``"True"``/``"False"``, which boto
    would take for CA bundle paths."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value is None or isinstance(value, bool | str):
        return value
    raise AirflowFailException(f"verify must be a boolean, a CA bundle path or None, got {value!r}")


def _check_arguments(
    action: str,
    check_interval: float,
    max_attempts: int | None,
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
    if max_attempts is not None and (
        not _positive(max_attempts) or not isinstance(max_attempts, int)
    ):
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
