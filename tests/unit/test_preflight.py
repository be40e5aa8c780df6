"""Checks before the create: role names expanded through IAM, S3 inputs checked to exist.

Every boto3 client the task builds is a fake: SageMaker is :class:`FakeSageMaker`, S3 and IAM
are :class:`FakeS3AndIam`, so the operator runs as in production and no request leaves the
machine.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from sagemaker_async import preflight
from sagemaker_async.operators import SageMakerTrainingOperator
from tests.unit.fakes import OURS, FakeSageMaker, FakeTI, base_config, client_error

ROLE_NAME = "sagemaker-training"
ROLE_ARN = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"


class FakeS3AndIam:
    """S3 ``list_objects_v2`` over ``objects`` and IAM ``get_role`` over ``roles``."""

    def __init__(self) -> None:
        self.objects: dict[str, list[str]] = {}
        self.roles: dict[str, str] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: dict[str, list[Exception]] = {}

    def _fail(self, operation: str) -> None:
        queued = self.errors.get(operation)
        if queued:
            raise queued.pop(0)

    def list_objects_v2(self, Bucket: str, Prefix: str, MaxKeys: int) -> dict[str, Any]:
        self.calls.append(("list_objects_v2", {"Bucket": Bucket, "Prefix": Prefix}))
        self._fail("list_objects_v2")
        if Bucket not in self.objects:
            raise client_error("NoSuchBucket", "ListObjectsV2", 404)
        keys = [k for k in self.objects[Bucket] if k.startswith(Prefix)][:MaxKeys]
        return {"KeyCount": len(keys), "Contents": [{"Key": k} for k in keys]}

    def get_role(self, RoleName: str) -> dict[str, Any]:
        self.calls.append(("get_role", {"RoleName": RoleName}))
        self._fail("get_role")
        if RoleName not in self.roles:
            raise client_error("NoSuchEntity", "GetRole", 404)
        return {"Role": {"RoleName": RoleName, "Arn": self.roles[RoleName]}}

    def count(self, operation: str) -> int:
        return sum(1 for op, _ in self.calls if op == operation)


class Aws:
    """The fakes behind every client, and the arguments each client was built with."""

    def __init__(self) -> None:
        self.sagemaker = FakeSageMaker()
        self.other = FakeS3AndIam()
        self.built: list[dict[str, Any]] = []

    def created(self) -> list[dict[str, Any]]:
        return [req for op, req in self.sagemaker.calls if op == "create_training_job"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Aws:
    aws = Aws()

    def client(self: boto3.session.Session, service: str, **kwargs: Any) -> Any:
        aws.built.append({"service": service, **kwargs})
        return aws.sagemaker if service == "sagemaker" else aws.other

    monkeypatch.setattr(boto3.session.Session, "client", client)
    monkeypatch.setattr(preflight.errors, "backoff", lambda attempt: 0.0)
    return aws


def channel(name: str, uri: str) -> dict[str, Any]:
    source = {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
    return {"ChannelName": name, "DataSource": {"S3DataSource": source}}


def config_with(**fields: Any) -> dict[str, Any]:
    return {**base_config(), **fields}


def run(aws_conn_id: str | None = None, ti: FakeTI | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("config", base_config())
    op = SageMakerTrainingOperator(
        task_id="train",
        aws_conn_id=aws_conn_id,
        region_name="us-east-1",
        wait_for_completion=False,
        **kwargs,
    )
    return op.execute({"ti": ti or FakeTI()})  # type: ignore[arg-type]


def fails(**kwargs: Any) -> str:
    """Run the task; it must fail with ``AirflowFailException`` (no retry)."""
    with pytest.raises(AirflowException) as raised:
        run(**kwargs)
    assert type(raised.value) is AirflowFailException
    return str(raised.value)


def test_both_checks_are_on_by_default_as_in_the_amazon_provider() -> None:
    op = SageMakerTrainingOperator(task_id="t", config=base_config())
    assert (op.check_s3_inputs, op.expand_role_name) == (True, True)


# --- role names --------------------------------------------------------------------------------


def test_a_role_name_is_expanded_to_the_roles_arn_before_the_create(aws: Aws) -> None:
    aws.other.roles[ROLE_NAME] = ROLE_ARN
    run(config=config_with(RoleArn=ROLE_NAME))
    (request,) = aws.created()
    assert request["RoleArn"] == ROLE_ARN
    assert aws.other.calls == [("get_role", {"RoleName": ROLE_NAME})]
    assert [b["service"] for b in aws.built].count("iam") == 1


def test_a_role_arn_is_never_looked_up(aws: Aws) -> None:
    run(config=config_with(RoleArn=ROLE_ARN))
    assert aws.other.calls == []
    assert aws.created()[0]["RoleArn"] == ROLE_ARN


def test_a_role_name_iam_does_not_know_fails_the_task_and_creates_nothing(aws: Aws) -> None:
    message = fails(config=config_with(RoleArn="no-such-role"))
    assert message.startswith(
        "RoleArn 'no-such-role' is an IAM role name, and IAM has no role of that name"
    )
    assert "pass the role's full ARN" in message
    assert aws.created() == []


def test_a_role_name_whose_lookup_is_denied_names_the_permission(aws: Aws) -> None:
    aws.other.errors["get_role"] = [client_error("AccessDenied", "GetRole", 403)]
    message = fails(config=config_with(RoleArn=ROLE_NAME))
    assert "iam:GetRole" in message
    assert f"arn:aws:iam::<account id>:role/{ROLE_NAME}" in message
    assert aws.created() == []


def test_a_role_name_with_expansion_off_fails_with_a_hint_before_any_call(aws: Aws) -> None:
    message = fails(config=config_with(RoleArn=ROLE_NAME), expand_role_name=False)
    assert message == (
        f"RoleArn '{ROLE_NAME}' is an IAM role name, not an ARN: pass the full ARN "
        f"(arn:aws:iam::<account id>:role/{ROLE_NAME}), or set expand_role_name=True to look "
        "it up in IAM"
    )
    assert aws.built == []


def test_a_role_name_is_validated_with_the_rest_of_the_config_before_any_call(aws: Aws) -> None:
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": "two", "VolumeSizeInGB": 10}
    message = fails(config=config_with(RoleArn=ROLE_NAME, ResourceConfig=resources))
    assert "Invalid type for parameter ResourceConfig.InstanceCount" in message
    assert aws.built == []


# --- S3 inputs ---------------------------------------------------------------------------------


def test_inputs_that_exist_pass_and_each_channel_is_listed(aws: Aws) -> None:
    aws.other.objects["data"] = ["train/part-0.csv", "validation.csv"]
    channels = [channel("train", "s3://data/train/"), channel("valid", "s3://data/validation")]
    run(config=config_with(InputDataConfig=channels))
    assert aws.other.calls == [
        ("list_objects_v2", {"Bucket": "data", "Prefix": "train/"}),
        ("list_objects_v2", {"Bucket": "data", "Prefix": "validation"}),
    ]
    assert len(aws.created()) == 1


def test_a_missing_input_bucket_fails_the_task_naming_it_and_creates_nothing(aws: Aws) -> None:
    message = fails(config=config_with(InputDataConfig=[channel("train", "s3://nope/train/")]))
    assert message == (
        "The S3 bucket 'nope' of input channel 'train' (s3://nope/train/) does not exist; "
        "no job was created"
    )
    assert aws.created() == []


def test_a_missing_input_prefix_fails_the_task_naming_the_uri(aws: Aws) -> None:
    aws.other.objects["data"] = ["other/x.csv"]
    message = fails(config=config_with(InputDataConfig=[channel("train", "s3://data/train/")]))
    assert message == (
        "No S3 object has the key or prefix 'train/' in bucket 'data', so input channel "
        "'train' (s3://data/train/) has no data; no job was created"
    )
    assert aws.created() == []


def test_s3_denying_the_check_says_whose_credentials_and_the_way_out(aws: Aws) -> None:
    aws.other.errors["list_objects_v2"] = [client_error("AccessDenied", "ListObjectsV2", 403)]
    message = fails(config=config_with(InputDataConfig=[channel("train", "s3://data/train/")]))
    assert "S3 denied aws_conn_id's credentials" in message
    assert "s3:ListBucket on 'data'" in message and "check_s3_inputs=False" in message
    assert aws.created() == []


def test_check_s3_inputs_false_makes_no_s3_call(aws: Aws) -> None:
    run(config=config_with(InputDataConfig=[channel("t", "s3://nope/x")]), check_s3_inputs=False)
    assert aws.other.calls == []
    assert len(aws.created()) == 1


def test_transient_s3_errors_are_retried(aws: Aws) -> None:
    aws.other.objects["data"] = ["train/x"]
    aws.other.errors["list_objects_v2"] = [client_error("SlowDown", "ListObjectsV2", 503)] * 2
    run(config=config_with(InputDataConfig=[channel("train", "s3://data/train/")]))
    assert aws.other.count("list_objects_v2") == 3
    assert len(aws.created()) == 1


def test_an_unexpected_s3_error_fails_the_try_and_the_retries_apply(aws: Aws) -> None:
    aws.other.errors["list_objects_v2"] = [client_error("InvalidBucketName", "ListObjectsV2")]
    with pytest.raises(AirflowException) as raised:
        run(config=config_with(InputDataConfig=[channel("train", "s3://data/train/")]))
    assert type(raised.value) is AirflowException
    assert "InvalidBucketName" in str(raised.value)
    assert aws.created() == []


# --- when the checks run ------------------------------------------------------------------------


def test_reattaching_to_the_tasks_running_job_runs_no_checks(aws: Aws) -> None:
    aws.sagemaker.add_job("job", "InProgress", OURS)
    # The inputs are gone and the role name is unknown: neither matters to a job that runs.
    bad = config_with(RoleArn="gone", InputDataConfig=[channel("t", "s3://gone/x")])
    run(config=bad, ti=FakeTI(try_number=2, max_tries=1), retries=1)
    assert aws.other.calls == []
    assert aws.created() == []


def test_checks_run_once_however_often_the_create_is_retried(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sagemaker_async.operators.time.sleep", lambda seconds: None)
    aws.other.objects["data"] = ["train/x"]
    aws.other.roles[ROLE_NAME] = ROLE_ARN
    aws.sagemaker.create_errors = [client_error("ThrottlingException", "CreateTrainingJob")]
    bad = config_with(RoleArn=ROLE_NAME, InputDataConfig=[channel("t", "s3://data/train/")])
    run(config=bad)
    assert (aws.other.count("get_role"), aws.other.count("list_objects_v2")) == (1, 1)
    assert [r["RoleArn"] for r in aws.created()] == [ROLE_ARN, ROLE_ARN]


def test_checks_use_the_connections_endpoint_for_each_service(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {
        "region_name": "eu-west-1",
        "endpoint_url": "https://sagemaker.example",
        "service_config": {"s3": {"endpoint_url": "https://s3.example"}},
    }
    conn = {"conn_type": "aws", "login": "k", "password": "s", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_CHECKED", json.dumps(conn))
    aws.other.objects["data"] = ["train/x"]
    aws.other.roles[ROLE_NAME] = ROLE_ARN
    bad = config_with(RoleArn=ROLE_NAME, InputDataConfig=[channel("t", "s3://data/train/")])
    run(aws_conn_id="checked", config=bad)
    endpoints = {b["service"]: b["endpoint_url"] for b in aws.built}
    # As in the amazon provider: service_config first, else the connection's endpoint_url.
    assert endpoints["s3"] == "https://s3.example"
    assert endpoints["iam"] == "https://sagemaker.example"
    assert all(b["aws_access_key_id"] == "k" for b in aws.built)
