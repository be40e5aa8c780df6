from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    TaskDeferralError,
    TaskDeferralTimeout,
    TaskDeferred,
)

from sagemaker_async import errors
from sagemaker_async.logtail import LogTail
from sagemaker_async.operators import DEFERRAL_GRACE, SageMakerTrainingOperator
from tests.unit.fakes import (
    OURS,
    THEIRS,
    FakeLogs,
    FakeSageMaker,
    FakeTI,
    base_config,
    client_error,
    html_answer,
    refused_connection,
)


def make_operator(fake: FakeSageMaker, **kwargs: Any) -> SageMakerTrainingOperator:
    kwargs.setdefault("config", base_config())
    kwargs.setdefault("wait_for_completion", False)
    op = SageMakerTrainingOperator(
        task_id="train", aws_conn_id=None, region_name="us-east-1", **kwargs
    )
    op.hook.client = fake
    op.hook.logs_client = FakeLogs()
    return op


def run(op: SageMakerTrainingOperator, ti: FakeTI | None = None) -> tuple[Any, FakeTI]:
    ti = ti or FakeTI()
    return op.execute({"ti": ti}), ti  # type: ignore[arg-type]


def created_names(fake: FakeSageMaker) -> list[str]:
    return [req["TrainingJobName"] for op, req in fake.calls if op == "create_training_job"]


def test_submit_without_waiting_returns_the_result_and_pushes_the_name() -> None:
    fake = FakeSageMaker()
    result, ti = run(make_operator(fake))
    assert result == {"Training": fake.jobs["job"]}
    assert ti.xcom["training_job_name"] == "job"
    assert created_names(fake) == ["job"]


def test_request_is_coerced_and_tagged_with_the_task_instance() -> None:
    fake = FakeSageMaker()
    run(make_operator(fake))
    request = next(req for op, req in fake.calls if op == "create_training_job")
    assert request["ResourceConfig"]["InstanceCount"] == 1
    assert request["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
    assert request["HyperParameters"] == {"epochs": "3", "lr": "0.1"}
    assert {t["Key"]: t["Value"] for t in request["Tags"]} == OURS


def test_deferral_hands_the_trigger_only_what_it_needs() -> None:
    fake = FakeSageMaker()
    op = make_operator(fake, wait_for_completion=True, check_interval=10, max_attempts=6)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        run(op)
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath.endswith("SageMakerTrainingTrigger")
    assert kwargs["job_name"] == "job"
    assert kwargs["instance_count"] == 1, "the log tail batches a job once its streams wrote"
    assert before + 60 <= kwargs["deadline"] <= time.time() + 60
    assert "config" not in kwargs and not any("secret" in k or "key" in k for k in kwargs)
    assert deferred.value.timeout == timedelta(seconds=60) + DEFERRAL_GRACE
    assert deferred.value.method_name == "execute_complete"


def test_max_ingestion_time_sets_the_budget() -> None:
    op = make_operator(FakeSageMaker(), wait_for_completion=True, max_ingestion_time=7200)
    with pytest.raises(TaskDeferred) as deferred:
        run(op)
    assert deferred.value.trigger.serialize()[1]["deadline"] == pytest.approx(
        time.time() + 7200, abs=5
    )


def test_own_running_job_is_reattached_without_a_second_create() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    _, ti = run(make_operator(fake), FakeTI(try_number=2))
    assert created_names(fake) == []
    assert ti.xcom["training_job_name"] == "job"


def test_own_finished_job_runs_again_under_the_next_suffix() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Failed", OURS)
    run(make_operator(fake), FakeTI(try_number=2))
    assert created_names(fake) == ["job-1"]


def test_fail_action_refuses_another_tasks_job_without_creating() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed", THEIRS)
    with pytest.raises(AirflowFailException, match="already exists"):
        run(make_operator(fake, action_if_job_exists="fail"))
    assert created_names(fake) == []


def test_skip_action_skips_without_creating() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed", THEIRS)
    with pytest.raises(AirflowSkipException):
        run(make_operator(fake, action_if_job_exists="skip"))
    assert created_names(fake) == []


def test_increment_action_creates_the_next_free_name() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed", THEIRS)
    fake.add_job("job-1", "InProgress", THEIRS)
    run(make_operator(fake, action_if_job_exists="increment"))
    assert created_names(fake) == ["job-2"]


def test_timestamp_action_appends_epoch_seconds() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed", THEIRS)
    run(make_operator(fake, action_if_job_exists="timestamp"))
    (name,) = created_names(fake)
    stamp = int(name.removeprefix("job-"))
    assert abs(stamp - time.time()) < 60


class RacingSageMaker(FakeSageMaker):
    """Another process creates the name between our look-up and our create."""

    def __init__(self, winner_tags: dict[str, str]) -> None:
        super().__init__()
        self.winner_tags = winner_tags

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        if not self.jobs:
            self.add_job(request["TrainingJobName"], "InProgress", self.winner_tags)
        return super().create_training_job(**request)


def test_resource_in_use_race_with_another_task_takes_the_next_name() -> None:
    fake = RacingSageMaker(THEIRS)
    run(make_operator(fake, action_if_job_exists="increment"))
    assert created_names(fake) == ["job", "job-1"]
    assert fake.jobs["job-1"]["TrainingJobStatus"] == "InProgress"


def test_resource_in_use_race_with_fail_action_fails_cleanly() -> None:
    fake = RacingSageMaker(THEIRS)
    with pytest.raises(AirflowFailException, match="already exists"):
        run(make_operator(fake, action_if_job_exists="fail"))


def test_resource_in_use_race_with_our_own_job_reattaches() -> None:
    fake = RacingSageMaker(OURS)
    _, ti = run(make_operator(fake))
    assert created_names(fake) == ["job"]  # the one attempt that lost the race
    assert ti.xcom["training_job_name"] == "job"


def test_transient_create_error_that_did_create_reattaches(monkeypatch: pytest.MonkeyPatch) -> None:
    class CreatedButTimedOut(FakeSageMaker):
        def create_training_job(self, **request: Any) -> dict[str, Any]:
            super().create_training_job(**request)
            if self.count("create_training_job") == 1:
                raise client_error("ServiceUnavailable", "CreateTrainingJob", status=503)
            raise AssertionError("a second create must never happen")

    monkeypatch.setattr("sagemaker_async.operators.errors.backoff", lambda attempt: 0)
    fake = CreatedButTimedOut()
    _, ti = run(make_operator(fake))
    assert fake.count("create_training_job") == 1
    assert ti.xcom["training_job_name"] == "job"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.pop("RoleArn"), "RoleArn"),
        (lambda c: c["ResourceConfig"].update(InstanceCount="two"), "ResourceConfig.InstanceCount"),
        (lambda c: c.update(TrainingJobName="bad_name!"), "TrainingJobName"),
        (lambda c: c.update(TrainingJobName="x" * 64), "TrainingJobName"),
        (lambda c: c.update(Unknown=1), "Unknown"),
    ],
)
def test_invalid_config_fails_before_any_request(mutate, field: str) -> None:
    fake = FakeSageMaker()
    config = base_config()
    mutate(config)
    with pytest.raises(AirflowFailException, match=field.replace(".", r"\.")):
        run(make_operator(fake, config=config))
    assert fake.calls == []


def test_config_that_is_not_a_dict_is_rejected() -> None:
    fake = FakeSageMaker()
    with pytest.raises(AirflowFailException, match="config must be a dict"):
        run(make_operator(fake, config=["not", "a", "dict"]))
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"action_if_job_exists": "overwrite"}, "action_if_job_exists"),
        ({"check_interval": 0}, "check_interval"),
        ({"check_interval": -5}, "check_interval"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_ingestion_time": 0}, "max_ingestion_time"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        SageMakerTrainingOperator(task_id="t", config=base_config(), **kwargs)


def event(status: str, message: str = "msg") -> dict[str, Any]:
    return {"status": status, "job_name": "job", "message": message, "job_status": "InProgress"}


@pytest.mark.parametrize("status", ["failed", "stopped", "error"])
def test_unsuccessful_events_fail_the_task_with_their_message(status: str) -> None:
    op = make_operator(FakeSageMaker())
    with pytest.raises(AirflowException, match="AlgorithmError: boom"):
        op.execute_complete(
            {"ti": FakeTI()}, event(status, "Training job job failed: AlgorithmError: boom")
        )


def test_timeout_on_the_last_try_stops_the_job() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    op = make_operator(fake, retries=1, check_interval=5, max_attempts=3)
    with pytest.raises(AirflowException, match=r"max_attempts=3 x check_interval=5s = 15s"):
        op.execute_complete({"ti": FakeTI(try_number=2)}, event("timeout"))
    assert fake.count("stop_training_job") == 1


def test_timeout_before_the_last_try_leaves_the_job_for_the_retry() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    op = make_operator(fake, retries=1)
    with pytest.raises(AirflowException):
        op.execute_complete({"ti": FakeTI(try_number=1, max_tries=1)}, event("timeout"))
    assert fake.count("stop_training_job") == 0


def test_a_final_error_on_the_last_try_never_stops_the_job() -> None:
    # An error event leaves the job's status unknown: stopping it could destroy a good job.
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    op = make_operator(fake, max_attempts=3)
    with pytest.raises(AirflowException, match="access denied"):
        op.execute_complete({"ti": FakeTI()}, event("error", "access denied: x"))
    assert fake.count("stop_training_job") == 0


def test_a_failed_stop_does_not_hide_the_timeout() -> None:
    class Unstoppable(FakeSageMaker):
        def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
            raise client_error("AccessDeniedException", "StopTrainingJob")

    fake = Unstoppable()
    fake.add_job("job", "InProgress", OURS)
    with pytest.raises(AirflowException, match="budget"):
        make_operator(fake, max_attempts=3).execute_complete({"ti": FakeTI()}, event("timeout"))


def test_after_a_clear_the_last_try_counts_from_max_tries() -> None:
    # retries=2, cleared after try 3: Airflow sets max_tries to 5, so try 4 is not the last.
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    op = make_operator(fake, retries=2)
    with pytest.raises(AirflowException):
        op.execute_complete({"ti": FakeTI(try_number=4, max_tries=5)}, event("timeout"))
    assert fake.count("stop_training_job") == 0


def test_success_event_returns_the_describe_result() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed", OURS)
    result = make_operator(fake).execute_complete({"ti": FakeTI()}, event("success"))
    assert result["Training"]["TrainingJobStatus"] == "Completed"


def test_completion_log_line_summarises_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed", OURS)
    fake.jobs["job"].update(
        ModelArtifacts={"S3ModelArtifacts": "s3://bucket/out/job/output/model.tar.gz"},
        TrainingTimeInSeconds=120,
        BillableTimeInSeconds=96,
        FinalMetricDataList=[{"MetricName": "validation:rmse", "Value": 0.25}],
    )
    make_operator(fake).execute_complete({"ti": FakeTI()}, event("success"))
    assert (
        "Training job job Completed: model s3://bucket/out/job/output/model.tar.gz, training 120s, "
        "billable 96s, final metrics validation:rmse=0.25"
    ) in capsys.readouterr().out


def test_a_stopped_job_fails_the_task_even_when_reattached() -> None:
    # Stopped covers MaxRuntimeExceeded and a stop from the console: never start another job.
    fake = FakeSageMaker()
    fake.add_job("job", "Stopped", OURS)
    with pytest.raises(AirflowException, match="msg"):
        make_operator(fake).execute_complete({"ti": FakeTI(try_number=2)}, event("stopped"))
    assert created_names(fake) == []


def test_a_cleared_task_stops_its_earlier_job_and_starts_afresh() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    # Clearing after try 1 sets max_tries to try_number + retries (1 + 0).
    _, ti = run(make_operator(fake), FakeTI(try_number=2, max_tries=1))
    assert fake.count("stop_training_job") == 1
    assert created_names(fake) == ["job-1"]
    assert ti.xcom["training_job_name"] == "job-1"


def test_a_retry_after_failure_reattaches() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    run(make_operator(fake, retries=1), FakeTI(try_number=2, max_tries=1))
    assert fake.count("stop_training_job") == 0
    assert created_names(fake) == []


def test_killing_a_blocking_wait_stops_its_job() -> None:
    fake = FakeSageMaker()
    op = make_operator(fake)
    run(op)  # submits "job"
    op.on_kill()
    assert fake.count("stop_training_job") == 1
    assert fake.jobs["job"]["TrainingJobStatus"] == "Stopping"


def test_killing_before_any_job_exists_stops_nothing() -> None:
    fake = FakeSageMaker()
    make_operator(fake).on_kill()
    assert fake.calls == []


# The wait budget: by default as long as the job's own StoppingCondition allows.


def deferred_budget(op: SageMakerTrainingOperator) -> tuple[float, timedelta]:
    """Seconds from now to the trigger's deadline, and the deferral's timeout."""
    with pytest.raises(TaskDeferred) as deferred:
        run(op)
    deadline = deferred.value.trigger.serialize()[1]["deadline"]
    assert deferred.value.timeout is not None
    return deadline - time.time(), deferred.value.timeout


def test_default_wait_lasts_as_long_as_the_jobs_stopping_condition_allows() -> None:
    config = base_config()
    config["StoppingCondition"] = {"MaxRuntimeInSeconds": "28800"}  # an 8-hour job
    op = make_operator(FakeSageMaker(), config=config, wait_for_completion=True)
    seconds, timeout = deferred_budget(op)
    expected = 28800 + 3600 + 2880  # runtime, plus 1 hour and a tenth of it
    assert seconds == pytest.approx(expected, abs=5)
    assert timeout == timedelta(seconds=expected) + DEFERRAL_GRACE


def test_default_wait_covers_spot_capacity_and_pending_time() -> None:
    config = base_config()
    config["EnableManagedSpotTraining"] = True
    config["StoppingCondition"] = {
        "MaxRuntimeInSeconds": 3600,
        "MaxWaitTimeInSeconds": 7200,
        "MaxPendingTimeInSeconds": 1800,
    }
    op = make_operator(FakeSageMaker(), config=config, wait_for_completion=True)
    seconds, _ = deferred_budget(op)
    assert seconds == pytest.approx(7200 + 1800 + 3600 + 900, abs=5)


def test_max_attempts_none_is_accepted_as_in_the_amazon_provider() -> None:
    op = SageMakerTrainingOperator(task_id="t", config=base_config(), max_attempts=None)
    assert op.max_attempts is None


def test_explicit_max_attempts_still_sets_the_budget_over_the_jobs_limit() -> None:
    op = make_operator(FakeSageMaker(), wait_for_completion=True, check_interval=10, max_attempts=6)
    seconds, timeout = deferred_budget(op)
    assert seconds == pytest.approx(60, abs=5)
    assert timeout == timedelta(seconds=60) + DEFERRAL_GRACE


def test_default_budget_used_up_on_the_last_try_leaves_the_job_running() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    with pytest.raises(AirflowException, match=r"StoppingCondition allows 3600s"):
        make_operator(fake).execute_complete({"ti": FakeTI()}, event("timeout"))
    assert fake.count("stop_training_job") == 0


class Unreadable(FakeSageMaker):
    """Describes fail (access denied): the job's status cannot be known."""

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.calls.append(("describe_training_job", {"TrainingJobName": TrainingJobName}))
        raise client_error("AccessDeniedException", "DescribeTrainingJob")


def test_explicit_budget_used_up_with_an_unknown_status_never_stops_the_job() -> None:
    fake = Unreadable()
    fake.add_job("job", "InProgress", OURS)
    with pytest.raises(AirflowException, match="budget"):
        make_operator(fake, max_attempts=3).execute_complete({"ti": FakeTI()}, event("timeout"))
    assert fake.count("stop_training_job") == 0


@pytest.mark.parametrize("status", ["Stopping", "Completed", "Failed"])
def test_explicit_budget_used_up_stops_only_a_job_still_in_progress(status: str) -> None:
    fake = FakeSageMaker()
    fake.add_job("job", status, OURS)
    with pytest.raises(AirflowException, match="budget"):
        make_operator(fake, max_attempts=3).execute_complete({"ti": FakeTI()}, event("timeout"))
    assert fake.count("stop_training_job") == 0


def resume_failed_deferral(op: SageMakerTrainingOperator, error: str) -> None:
    """Resume as Airflow does after a deferral timeout or a crashed trigger."""
    ti = FakeTI()
    ti.xcom["training_job_name"] = "job"
    op.resume_execution("__fail__", {"error": error}, {"ti": ti})  # type: ignore[arg-type]


def test_deferral_timeout_with_an_explicit_budget_stops_a_running_job() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    with pytest.raises(TaskDeferralTimeout):
        resume_failed_deferral(make_operator(fake, max_attempts=3), "Trigger timeout")
    assert fake.count("stop_training_job") == 1


def test_a_crashed_trigger_never_stops_the_job() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    with pytest.raises(TaskDeferralError):
        resume_failed_deferral(make_operator(fake, max_attempts=3), "Trigger failure")
    assert fake.count("stop_training_job") == 0


def test_resuming_without_an_event_fails_with_a_clear_message() -> None:
    op = make_operator(FakeSageMaker())
    with pytest.raises(AirflowException, match="without a trigger event"):
        op.execute_complete({"ti": FakeTI()})  # type: ignore[arg-type]


# Template fields: the amazon provider's, rendered before any check that depends on them.


def fake_boto3_clients(monkeypatch: pytest.MonkeyPatch) -> FakeSageMaker:
    """Every boto3 client the hook builds is a FakeSageMaker (built from rendered values)."""
    fake = FakeSageMaker()
    monkeypatch.setattr(boto3.session.Session, "client", lambda self, service, **kw: fake)
    return fake


def render(op: SageMakerTrainingOperator, **params: Any) -> None:
    op.render_template_fields({"params": params})  # type: ignore[arg-type]


def test_template_fields_match_the_amazon_provider() -> None:
    assert set(SageMakerTrainingOperator.template_fields) == {
        "aws_conn_id",
        "config",
        "region_name",
        "verify",
    }


def test_rendered_connection_arguments_reach_the_hook_and_the_trigger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_boto3_clients(monkeypatch)
    op = SageMakerTrainingOperator(
        task_id="train",
        config=base_config(),
        aws_conn_id="{{ params.conn }}",
        region_name="{{ params.region }}",
        verify="{{ params.verify }}",
        max_attempts=3,
    )
    render(op, conn="", region="eu-west-1", verify=False)
    with pytest.raises(TaskDeferred) as deferred:
        run(op)
    kwargs = deferred.value.trigger.serialize()[1]
    # "" is no connection (boto's default chain), and "False" the boolean, not a CA path.
    assert (kwargs["aws_conn_id"], kwargs["region_name"], kwargs["verify"]) == (
        None,
        "eu-west-1",
        False,
    )
    assert (op.hook.aws_conn_id, op.hook.region_name, op.hook.verify) == (None, "eu-west-1", False)


def test_templated_connection_arguments_are_checked_at_task_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = fake_boto3_clients(monkeypatch)
    # Parsing a DAG with templates never fails: the values are not known yet.
    op = SageMakerTrainingOperator(
        task_id="train",
        config=base_config(),
        aws_conn_id=None,
        region_name="{{ params.region }}",
        wait_for_completion=False,
    )
    render(op, region="mars-north")
    with pytest.raises(AirflowFailException, match="region_name 'mars-north' is not an AWS region"):
        run(op)
    assert fake.calls == []


# On resume, the worker's log repeats the job's final status and its last log lines.


def job_logs(count: int) -> FakeLogs:
    return FakeLogs(
        {
            "job/algo-1-1": [(1000 * i, f"host1 line {i}") for i in range(count)],
            "job/algo-2-1": [(1000 * i + 500, f"host2 line {i}") for i in range(count)],
            "other-job/algo-1-1": [(10**9, "not this job")],
        }
    )


def test_resume_logs_the_final_status_and_the_last_log_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Failed", OURS)
    fake.jobs["job"].update(SecondaryStatus="Failed", FailureReason="AlgorithmError: boom")
    op = make_operator(fake)
    op.hook.logs_client = job_logs(30)
    with pytest.raises(AirflowException):
        op.execute_complete({"ti": FakeTI()}, event("failed", "Training job job failed"))
    out = capsys.readouterr().out
    assert (
        "Training job job final status: Failed (Failed); failure reason: AlgorithmError: boom"
        in out
    )
    assert "Last 20 log lines of training job job:" in out
    expected = [f"[algo-{h}-1] host{h} line {i}" for i in range(20, 30) for h in (1, 2)]
    positions = [out.find(line) for line in expected]
    assert -1 not in positions and positions == sorted(positions)
    assert "host1 line 19" not in out and "not this job" not in out


def test_resume_shows_the_lines_the_triggerer_left_exactly_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed", OURS)
    op = make_operator(fake)
    op.hook.logs_client = job_logs(5)
    # The triggerer showed host 1 up to line 2 and host 2 up to line 1 (its event says so).
    tail = LogTail("job")
    tail.absorb(op.hook.logs_client.filter_log_events(logStreamNamePrefix="job/"))
    shown = tail.state()
    shown["streams"] = {"job/algo-1-1": [2000, ["job/algo-1-1#2"]], "job/algo-2-1": [1500, []]}
    hand_over = {"state": shown, "ended_at": time.time() - 60}
    op.execute_complete({"ti": FakeTI()}, {**event("success"), "log_tail": hand_over})
    out = capsys.readouterr().out
    rest = out[: out.find("Last ")]
    expected = [f"[algo-1-1] host1 line {i}" for i in (3, 4)]
    expected += [f"[algo-2-1] host2 line {i}" for i in (1, 2, 3, 4)]
    assert all(rest.count(line) == 1 for line in expected), rest
    assert "host1 line 2" not in rest and "host2 line 0" not in rest


def test_unreadable_logs_on_resume_are_one_warning_and_never_fail_the_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class BrokenLogs(FakeLogs):
        def describe_log_streams(self, **request: Any) -> dict[str, Any]:
            raise client_error("AccessDeniedException", "DescribeLogStreams")

    fake = FakeSageMaker()
    fake.add_job("job", "Completed", OURS)
    op = make_operator(fake)
    op.hook.logs_client = BrokenLogs()
    result = op.execute_complete({"ti": FakeTI()}, event("success"))
    assert result["Training"]["TrainingJobStatus"] == "Completed"
    warnings = [line for line in capsys.readouterr().out.splitlines() if "Could not read" in line]
    assert len(warnings) == 1 and "AccessDeniedException" in warnings[0]


def test_resume_without_print_log_reads_no_logs() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Completed", OURS)
    op = make_operator(fake, print_log=False)
    logs = op.hook.logs_client = job_logs(3)
    op.execute_complete({"ti": FakeTI()}, event("success"))
    assert logs.calls == []


def test_an_error_event_no_retry_heals_fails_the_task_for_good() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "InProgress", OURS)
    op = make_operator(fake, print_log=False)
    wrong = {**event("error", "cannot reach http://x/: connection refused"), "retryable": False}
    with pytest.raises(AirflowFailException, match=r"^cannot reach http://x/: connection refused$"):
        op.execute_complete({"ti": FakeTI()}, wrong)
    with pytest.raises(AirflowException) as raised:
        op.execute_complete(
            {"ti": FakeTI()}, {**event("error", "access denied"), "retryable": True}
        )
    assert not isinstance(raised.value, AirflowFailException)


@pytest.mark.timeout(10)
def test_an_endpoint_lost_after_the_look_up_leaves_the_task_its_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The look-up reached SageMaker; the create could not connect: an outage, not a wrong
    # endpoint, so the task fails retryably (its retry resolves the name again).
    monkeypatch.setattr(errors, "UNREACHABLE_PAUSES", (0.01, 0.01))

    class Lost(FakeSageMaker):
        def create_training_job(self, **request: Any) -> dict[str, Any]:
            self.calls.append(("create_training_job", request))
            raise refused_connection()

    fake = Lost()
    with pytest.raises(AirflowException) as raised:
        run(make_operator(fake, wait_for_completion=True))
    assert not isinstance(raised.value, AirflowFailException)
    assert "connection refused" in str(raised.value)


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (refused_connection(), "cannot reach http://127.0.0.1:49151/: connection refused"),
        (html_answer("DescribeTrainingJob"), "HTTP 501 from the endpoint: not an AWS answer"),
    ],
    ids=["refused", "html-501"],
)
def test_a_wrong_endpoint_fails_the_submit_without_retry_or_job(
    monkeypatch: pytest.MonkeyPatch, error: Exception, line: str
) -> None:
    monkeypatch.setattr(errors, "UNREACHABLE_PAUSES", (0.01, 0.01))

    class Broken(FakeSageMaker):
        def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
            self.calls.append(("describe_training_job", {}))
            raise error

    fake = Broken()
    with pytest.raises(AirflowFailException) as raised:
        run(make_operator(fake, wait_for_completion=True))
    assert str(raised.value).startswith(line) and "\n" not in str(raised.value)
    assert created_names(fake) == []
