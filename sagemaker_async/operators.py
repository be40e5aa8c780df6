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
from sagemaker_async.arguments import check_arguments, rendered_text, rendered_verify
from sagemaker_async.budget import WaitBudget, wait_budget
from sagemaker_async.capacity import (
    DEFAULT_CAPACITY_REASONS,
    DEFAULT_CAPACITY_RETRIES,
    DEFAULT_CAPACITY_TIMEOUT,
    CapacityPolicy,
    CapacityState,
    check_capacity_arguments,
    quota_refusal,
)
from sagemaker_async.config import InvalidConfigError, instance_count, prepare_config
from sagemaker_async.connection import ConnectionNotFoundError, InvalidSettingsError
from sagemaker_async.events import FAILED, STOPPED, SUCCESS, TIMEOUT, JobWatch
from sagemaker_async.hooks import RESUME_RETRY_FOR, NoRegionConfiguredError, SageMakerHook
from sagemaker_async.lineage import training_lineage
from sagemaker_async.links import SageMakerTrainingJobLink, SageMakerTrainingLogsLink
from sagemaker_async.naming import JobNameTakenError, resolve_name
from sagemaker_async.ownership import identity_tags, merge_tags
from sagemaker_async.preflight import Preflight, PreflightError, hook_clients
from sagemaker_async.result import summary_line, training_result
from sagemaker_async.triggers import SageMakerQuotaWaitTrigger, SageMakerTrainingTrigger

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

#: Extra time past the deadline before Airflow's own deferral timeout fires: a safety net for
#: when no triggerer runs the trigger, not the normal way a wait ends.
DEFERRAL_GRACE = timedelta(minutes=1)
#: Past a quota wait's next try, before Airflow's deferral timeout fails the task: room for a
#: triggerer restart (its triggers move after the health check threshold) and a busy queue.
QUOTA_WAIT_GRACE = timedelta(minutes=10)
#: XCom key of the try's :class:`~sagemaker_async.capacity.CapacityState`: its resubmitted
#: jobs, and its quota wait if one goes on.
CAPACITY_KEY = "capacity"
#: How often a ``ResourceInUse`` race on create is resolved again before giving up.
MAX_CREATE_ROUNDS = 10
#: The job's last log lines repeated in the worker's log when a deferred task resumes.
LAST_LOG_LINES = 20
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
    :param capacity_timeout: seconds a task waits, deferred, for room under the account's
        instance quota when the create is refused with ``ResourceLimitExceeded`` (counted from
        the first refusal of each wait); 0 fails at the first refusal. A request larger than
        the quota fails at once.
    :param capacity_retries: how many times a job that ended for want of capacity is
        resubmitted under the next free name, without using an Airflow retry.
    :param capacity_failure_reasons: what makes an ended job a capacity failure: a
        ``FailureReason`` code (the text before its first ``:``) or a ``SecondaryStatus``.
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
        capacity_timeout: float = DEFAULT_CAPACITY_TIMEOUT,
        capacity_retries: int = DEFAULT_CAPACITY_RETRIES,
        capacity_failure_reasons: Sequence[str] = DEFAULT_CAPACITY_REASONS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_arguments(
            action_if_job_exists, check_interval, max_attempts, max_ingestion_time, botocore_config
        )
        check_capacity_arguments(capacity_timeout, capacity_retries, capacity_failure_reasons)
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
        self.capacity_timeout = capacity_timeout
        self.capacity_retries = capacity_retries
        self.capacity_failure_reasons = tuple(capacity_failure_reasons)
        self._job_name: str | None = None
        self._training: dict[str, Any] | None = None  # the job's last describe, as returned

    @property
    def _capacity(self) -> CapacityPolicy:
        return CapacityPolicy(
            self.capacity_timeout,
            self.capacity_retries,
            self.capacity_failure_reasons,
            self.check_interval,
        )

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
        # Pushed at once: a later pull of a missing key logs an error in the task log.
        self._save(context, CapacityState())
        return self._launch(context, cleared=_follows_a_clear(context["ti"], self.retries))

    def execute_after_quota_wait(
        self, context: Context, event: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Resume after waiting for room under a quota: try the create again."""
        return self._launch(context, waited=True)

    def _launch(
        self, context: Context, *, cleared: bool = False, waited: bool = False
    ) -> dict[str, Any] | None:
        """Submit the job (or find this task's running one) and wait for it.

        A create refused for an instance quota waits for room, deferred (or asleep in
        blocking mode), and tries again; neither an Airflow retry nor a worker slot is spent.

        :param cleared: the try follows a user's clear (see :meth:`_submit`).
        :param waited: a quota wait went before, whose state is to be closed.
        """
        while True:
            try:
                config = prepare_config(self.config, role_names=self.expand_role_name)
                job_name = self._submit(config, identity_tags(context["ti"]), cleared)
                break
            except _USER_ERRORS as exc:
                raise AirflowFailException(str(exc)) from None
            except (ClientError, BotoCoreError) as exc:
                refusal = quota_refusal(exc)
                if refusal is None:
                    raise self._submit_failure(exc) from None
            cleared, waited = False, True
            state = self._state(context).refused(time.time())
            self._save(context, state)
            delay = self._capacity.room_wait(config["TrainingJobName"], refusal, state, self.log)
            if self.deferrable:
                self.defer(
                    trigger=SageMakerQuotaWaitTrigger(
                        config["TrainingJobName"], time.time() + delay
                    ),
                    method_name="execute_after_quota_wait",
                    timeout=timedelta(seconds=delay) + QUOTA_WAIT_GRACE,
                )
            time.sleep(delay)
        if waited:
            self._save(context, self._state(context).created())
        self._job_name = job_name
        context["ti"].xcom_push(key="training_job_name", value=job_name)
        if not self.wait_for_completion:
            return self._result(context, job_name)
        budget = self._budget(config)
        self.log.info("Waiting for training job %s for %s", job_name, budget.text)
        watch = JobWatch(job_name, time.time() + budget.seconds)
        if self.deferrable:
            self.defer(
                trigger=self._trigger(watch, config),
                method_name="execute_complete",
                timeout=timedelta(seconds=budget.seconds) + DEFERRAL_GRACE,
            )
        event = self.hook.wait(watch, self.check_interval, self.print_log)
        return self._finish(context, event)

    def _submit_failure(self, exc: ClientError | BotoCoreError) -> Exception:
        """The exception a failed submit ends the task with."""
        # An endpoint that answered the look-up and then could not be reached is an
        # outage, not a wrong setting: the task's retry resolves the name again.
        outage = errors.is_unreachable(exc) and self.hook.reached
        if errors.is_misconfiguration(exc) and not outage:
            # A wrong endpoint, region or CA bundle: every further try would fail alike.
            return AirflowFailException(errors.describe_failure(exc))
        # Credentials rejected, access denied, or a transient fault outlasting its retries.
        return AirflowException(
            f"Could not submit the training job: {errors.describe_failure(exc)}"
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Resume on the worker with the trigger's event.

        With ``print_log``, the job's log lines the triggerer did not show come first (every
        line since its last read, late ones included: it reads nothing when the job ends),
        then its status and last log lines are repeated: the triggerer's part of the task log
        does not reach every remote log store.
        """
        if event is None:
            # The amazon provider's signature; Airflow passes an event unless a trigger broke.
            raise AirflowException("Resumed without a trigger event: the job's outcome is unknown")
        self._job_name = event["job_name"]
        if self.print_log:
            if event.get("log_tail") is not None and event["status"] in (SUCCESS, FAILED, STOPPED):
                self.hook.finish_logs(event["job_name"], event["log_tail"])
            self.hook.report_end(event["job_name"], LAST_LOG_LINES)
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
            if self._state(context).since is not None:
                # A wait for room under a quota: no job of this wait exists to give up on.
                self.log.warning("The wait for room under the instance quota timed out")
            elif name:
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

    def _trigger(self, watch: JobWatch, config: dict[str, Any]) -> SageMakerTrainingTrigger:
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
            instance_count=instance_count(config),
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

    def _finish(self, context: Context, event: dict[str, Any]) -> dict[str, Any] | None:
        job_name = event["job_name"]
        if event["status"] == SUCCESS:
            result = self._result(context, job_name)
            self.log.info("%s", summary_line(result["Training"]))
            return result
        state = self._state(context)
        if event["status"] in (FAILED, STOPPED) and self._capacity.resubmits(
            event, state.attempts, self.log
        ):
            self._save(context, state.resubmitted(event))
            return self._launch(context)
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

    def _result(self, context: Context, job_name: str) -> dict[str, Any]:
        """Describe the job; keep the result for lineage and return it as the XCom value,
        with the earlier attempts that ended for want of capacity (when there were any)."""
        result = training_result(self.hook.describe(job_name), self.log)
        self._training = result["Training"]
        if attempts := self._state(context).attempts:
            result["Attempts"] = list(attempts)
        return result

    def _state(self, context: Context) -> CapacityState:
        ti = context["ti"]
        pulled = ti.xcom_pull(task_ids=self.task_id, key=CAPACITY_KEY, map_indexes=ti.map_index)
        return CapacityState.from_json(pulled)

    def _save(self, context: Context, state: CapacityState) -> None:
        context["ti"].xcom_push(key=CAPACITY_KEY, value=state.to_json())

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

    def _check_rendered(self) -> None:
        """Check (and normalise) the templated connection arguments once rendered: their
        values may come from templates, so only a running task can tell they are wrong."""
        self.aws_conn_id = rendered_text("aws_conn_id", self.aws_conn_id)
        self.region_name = rendered_text("region_name", self.region_name)
        self.verify = rendered_verify(self.verify)


def _follows_a_clear(ti: Any, retries: int | None) -> bool:
    """Whether this try exists because a user cleared the previous one.

    Airflow resets ``max_tries`` to ``try_number + retries`` when it clears a task that is not
    running; a retry after a failure leaves it alone.
    """
    return bool(ti.try_number > 1 and ti.max_tries - (retries or 0) == ti.try_number - 1)
