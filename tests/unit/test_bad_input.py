"""Every rejected input: the exception a user sees, what its message names, and no job created.

One test per row of the README's "Rejected input" table. The boto3 client factory is replaced
by one that hands out a :class:`FakeSageMaker`, so connection, region and endpoint checks run
as in production while no request can leave the machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from sagemaker_async.operators import SageMakerTrainingOperator
from tests.unit.fakes import THEIRS, FakeSageMaker, FakeTI, base_config, client_error

Mutation = Callable[[dict[str, Any]], object]
ROLE = "arn:aws:iam::123456789012:role/sagemaker-airflow"


class Clients:
    """The fake behind every boto3 client the hook builds, and the kwargs of each build."""

    def __init__(self, fake: FakeSageMaker) -> None:
        self.fake = fake
        self.built: list[dict[str, Any]] = []

    def created(self) -> int:
        return self.fake.count("create_training_job")


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Clients:
    return install(monkeypatch, FakeSageMaker())


def install(monkeypatch: pytest.MonkeyPatch, fake: FakeSageMaker) -> Clients:
    clients = Clients(fake)

    def client(self: boto3.session.Session, service: str, **kwargs: Any) -> FakeSageMaker:
        clients.built.append({"service": service, **kwargs})
        return fake

    monkeypatch.setattr(boto3.session.Session, "client", client)
    return clients


def operator(**kwargs: Any) -> SageMakerTrainingOperator:
    kwargs.setdefault("config", base_config())
    kwargs.setdefault("aws_conn_id", None)
    kwargs.setdefault("region_name", "us-east-1")
    return SageMakerTrainingOperator(task_id="train", wait_for_completion=False, **kwargs)


def start_task(op: SageMakerTrainingOperator) -> None:
    op.execute({"ti": FakeTI()})  # type: ignore[arg-type]


def fails_at_task_start(op: SageMakerTrainingOperator, *patterns: str) -> str:
    """Run the task; it must raise exactly ``AirflowFailException`` (no retry)."""
    with pytest.raises(AirflowException) as raised:
        start_task(op)
    assert type(raised.value) is AirflowFailException
    return matching(str(raised.value), patterns)


def matching(message: str, patterns: tuple[str, ...]) -> str:
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    return message


def nothing_sent(clients: Clients) -> None:
    """The input was refused before a client existed: not a single request was made."""
    assert clients.built == []
    assert clients.fake.calls == []


def mutated(mutate: Mutation) -> dict[str, Any]:
    config = base_config()
    mutate(config)
    return config


# --- config: task start, before any AWS call -------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "patterns"),
    [
        pytest.param(
            lambda c: c.pop("RoleArn"),
            ['Missing required parameter in input: "RoleArn"'],
            id="missing-required-field",
        ),
        pytest.param(
            lambda c: c["ResourceConfig"].update(InstanceCount="two"),
            [
                r"Invalid type for parameter ResourceConfig\.InstanceCount, value: two",
                r"valid types: <class 'int'>",
            ],
            id="wrong-type",
        ),
        pytest.param(
            lambda c: c.update(Unknown=1),
            ['Unknown parameter in input: "Unknown", must be one of: TrainingJobName, '],
            id="unknown-field",
        ),
        pytest.param(
            lambda c: c.pop("TrainingJobName"),
            ['Missing required parameter in input: "TrainingJobName"'],
            id="name-missing",
        ),
        pytest.param(
            lambda c: c.update(TrainingJobName="bad_name!"),
            [
                r"TrainingJobName 'bad_name!' is invalid",
                "letters, digits and hyphens, starting and ending with a letter or digit",
            ],
            id="name-invalid-characters",
        ),
        pytest.param(
            lambda c: c.update(TrainingJobName="x" * 64),
            [r"TrainingJobName 'x{64}' is 64 characters long; SageMaker accepts 1 to 63"],
            id="name-too-long",
        ),
        pytest.param(
            lambda c: c.update(HyperParameters={f"p{i}": "1" for i in range(4000)}),
            [
                r"^Invalid training job config: Invalid length for parameter HyperParameters, "
                r"value: 4000, valid max length: 100$"
            ],
            id="too-many-hyperparameters",
        ),
        pytest.param(
            lambda c: c.update(HyperParameters={"blob": "x" * 3_000_000}),
            [
                r"^Invalid training job config: Invalid length for parameter "
                r"HyperParameters\.blob, value: 3000000, valid max length: 2500$"
            ],
            id="hyperparameter-value-too-long",
        ),
    ],
)
def test_bad_config_field_fails_the_task_naming_the_field(
    clients: Clients, mutate: Mutation, patterns: list[str]
) -> None:
    message = fails_at_task_start(operator(config=mutated(mutate)), *patterns)
    if "Invalid type" in message or "parameter in input" in message:
        assert message.startswith("Invalid training job config: ")
    nothing_sent(clients)


def test_config_that_is_not_a_dict_fails_the_task(clients: Clients) -> None:
    fails_at_task_start(
        operator(config=["not", "a", "dict"]),
        r"^config must be a dict \(the CreateTrainingJob request\), got list$",
    )
    nothing_sent(clients)


def test_config_string_that_is_not_json_fails_the_task(clients: Clients) -> None:
    fails_at_task_start(
        operator(config="{'TrainingJobName': 'job'}"),
        r"^config is a string but not valid JSON: Expecting property name enclosed in double "
        r"quotes: line 1 column 2 \(char 1\)$",
    )
    nothing_sent(clients)


# --- operator arguments: DAG parse -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"action_if_job_exists": "overwrite"},
            "action_if_job_exists='overwrite' is not one of "
            "'fail', 'increment', 'skip', 'timestamp'",
            id="action_if_job_exists-unknown",
        ),
        pytest.param(
            {"check_interval": 0},
            "check_interval must be a positive number of seconds, got 0",
            id="check_interval-zero",
        ),
        pytest.param(
            {"check_interval": -5},
            "check_interval must be a positive number of seconds, got -5",
            id="check_interval-negative",
        ),
        pytest.param(
            {"max_attempts": 0},
            "max_attempts must be a positive integer, got 0",
            id="max_attempts-zero",
        ),
        pytest.param(
            {"max_attempts": 2.5},
            "max_attempts must be a positive integer, got 2.5",
            id="max_attempts-float",
        ),
        pytest.param(
            {"max_attempts": "10"},
            "max_attempts must be a positive integer, got '10'",
            id="max_attempts-string",
        ),
        pytest.param(
            {"max_ingestion_time": 0},
            "max_ingestion_time must be a positive number of seconds or None, got 0",
            id="max_ingestion_time-zero",
        ),
    ],
)
def test_bad_operator_argument_is_refused_at_dag_parse(
    clients: Clients, kwargs: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValueError) as raised:
        operator(**kwargs)
    assert type(raised.value) is ValueError
    assert str(raised.value) == expected
    nothing_sent(clients)


# --- connection, region, endpoint: task start, before any AWS call ----------------------------


def test_unknown_connection_fails_the_task_naming_the_id(clients: Clients) -> None:
    fails_at_task_start(
        operator(aws_conn_id="no_such_conn_b4d", region_name=None),
        r"^aws_conn_id 'no_such_conn_b4d': no Airflow connection with this id\. "
        r"Create it \(conn_type 'aws'\) or pass aws_conn_id=None to use the default "
        r"credential chain\.$",
    )
    nothing_sent(clients)


def test_bad_region_fails_the_task_naming_the_region(clients: Clients) -> None:
    fails_at_task_start(
        operator(region_name="mars-north"),
        r"^region_name 'mars-north' is not an AWS region name \(such as 'us-east-1'\)$",
    )
    nothing_sent(clients)


def test_bad_endpoint_in_the_connection_fails_the_task_naming_it(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_BAD_ENDPOINT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "k",
                "password": "s",
                "extra": {"endpoint_url": "not-a-url"},
            }
        ),
    )
    fails_at_task_start(
        operator(aws_conn_id="bad_endpoint"),
        r"^endpoint_url 'not-a-url' is not an http\(s\) URL "
        r"\(such as 'https://api\.sagemaker\.us-east-1\.amazonaws\.com'\)$",
    )
    nothing_sent(clients)


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        pytest.param(
            {"role_arn": "sagemaker-airflow"},
            r"^connection extra role_arn 'sagemaker-airflow' is not an IAM role ARN "
            r"\(such as 'arn:aws:iam::123456789012:role/sagemaker-airflow'\)$",
            id="role-arn-not-an-arn",
        ),
        pytest.param(
            {"role_arn": ROLE, "assume_role_method": "assume_role_with_saml"},
            r"^connection extra assume_role_method 'assume_role_with_saml' is not supported: "
            r"use 'assume_role' \(or leave it out\); SAML and web identity federation are "
            r"not supported$",
            id="assume-role-method",
        ),
        pytest.param(
            {"assume_role_kwargs": {"ExternalId": "x"}},
            r"^connection extra assume_role_kwargs is set but role_arn is not: "
            r"add the role_arn to assume$",
            id="kwargs-without-role",
        ),
        pytest.param(
            {"role_arn": ROLE, "assume_role_kwargs": {"ExternalID": "x"}},
            r"^connection extra assume_role_kwargs is not valid for AssumeRole: Unknown "
            r'parameter in input: "ExternalID", must be one of: RoleArn, RoleSessionName, ',
            id="kwargs-unknown-to-sts",
        ),
        pytest.param(
            # The message names the parameter and the type wanted, never the value given.
            {"role_arn": ROLE, "assume_role_kwargs": {"ExternalId": 987654321}},
            r"^connection extra assume_role_kwargs is not valid for AssumeRole: Invalid type "
            r"for parameter ExternalId, type: <class 'int'>, valid types: <class 'str'>$",
            id="kwargs-wrong-type",
        ),
        pytest.param(
            {"profile_name": "no-such-profile"},
            r"^connection extra profile_name 'no-such-profile': no such profile in the shared "
            r"AWS config and credentials files$",
            id="unknown-profile",
        ),
    ],
)
def test_bad_identity_in_the_connection_fails_the_task_naming_the_field(
    clients: Clients,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    extra: dict[str, Any],
    pattern: str,
) -> None:
    # Only this empty file is read as shared config: the machine's own profiles play no part.
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "config"))
    conn = {"conn_type": "aws", "login": "k", "password": "s", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_BAD_IDENTITY", json.dumps(conn))
    fails_at_task_start(operator(aws_conn_id="bad_identity"), pattern)
    nothing_sent(clients)


# --- AWS refuses the caller: first AWS call ----------------------------------------------------


class RefusingSageMaker(FakeSageMaker):
    """Answers every describe with a non-transient error, as AWS does for bad credentials."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.calls.append(("describe_training_job", {"TrainingJobName": TrainingJobName}))
        raise client_error(self.code, "DescribeTrainingJob")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        pytest.param("UnrecognizedClientException", "AWS rejected the credentials", id="creds"),
        pytest.param("AccessDeniedException", "access denied", id="access-denied"),
    ],
)
def test_aws_refusing_the_caller_fails_the_try_without_creating(
    monkeypatch: pytest.MonkeyPatch, code: str, kind: str
) -> None:
    clients = install(monkeypatch, RefusingSageMaker(code))
    with pytest.raises(AirflowException) as raised:
        start_task(operator())
    # Not AirflowFailException: the task's retries apply (credentials may be rotated meanwhile).
    assert type(raised.value) is AirflowException
    assert str(raised.value) == (
        f"Could not submit the training job: {kind}: An error occurred ({code}) when calling "
        f"the DescribeTrainingJob operation: simulated {code}"
    )
    # Exactly one describe (not retried as if transient), and no create.
    assert clients.fake.calls == [("describe_training_job", {"TrainingJobName": "job"})]
    assert clients.created() == 0


# --- name held by another task: first AWS call -------------------------------------------------


def test_name_held_by_another_task_with_fail_action_fails_the_task(clients: Clients) -> None:
    clients.fake.add_job("job", "Completed", THEIRS)
    fails_at_task_start(
        operator(action_if_job_exists="fail"),
        r"^A training job named 'job' already exists and was not started by this task "
        r"\(action_if_job_exists='fail'\)\. Choose another TrainingJobName or set "
        r"action_if_job_exists to one of fail, increment, skip, timestamp\.$",
    )
    assert clients.created() == 0
    assert list(clients.fake.jobs) == ["job"]


def test_botocore_config_that_botocore_rejects_fails_at_parse_time() -> None:
    with pytest.raises(ValueError, match="botocore_config is not valid"):
        SageMakerTrainingOperator(
            task_id="t", config=base_config(), botocore_config={"not_an_option": 1}
        )


def test_proxies_in_botocore_config_are_refused_at_parse_time() -> None:
    with pytest.raises(ValueError, match="must not hold 'proxies'"):
        SageMakerTrainingOperator(
            task_id="t", config=base_config(), botocore_config={"proxies": {"https": "u:p@h"}}
        )


def test_botocore_config_option_of_the_wrong_type_fails_at_parse_time_naming_it() -> None:
    with pytest.raises(ValueError) as raised:
        SageMakerTrainingOperator(
            task_id="t", config=base_config(), botocore_config={"retries": "lots"}
        )
    assert str(raised.value) == (
        "botocore_config['retries'] must be a dict (such as {'mode': 'standard', "
        "'max_attempts': 10}), got str"
    )


# --- role name and S3 inputs: before the create ------------------------------------------------


class EmptyAccount(FakeSageMaker):
    """Also stands in for IAM and S3, of an account without roles or buckets."""

    def get_role(self, RoleName: str) -> dict[str, Any]:
        self.calls.append(("get_role", {"RoleName": RoleName}))
        raise client_error("NoSuchEntity", "GetRole", 404)

    def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("list_objects_v2", kwargs))
        raise client_error("NoSuchBucket", "ListObjectsV2", 404)


def test_role_name_with_expansion_off_fails_the_task_with_a_hint(clients: Clients) -> None:
    fails_at_task_start(
        operator(
            config=mutated(lambda c: c.update(RoleArn="sagemaker-training")), expand_role_name=False
        ),
        r"^RoleArn 'sagemaker-training' is an IAM role name, not an ARN: pass the full ARN "
        r"\(arn:aws:iam::<account id>:role/sagemaker-training\), or set expand_role_name=True "
        r"to look it up in IAM$",
    )
    nothing_sent(clients)


def test_role_name_unknown_to_iam_fails_the_task_before_the_create(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = install(monkeypatch, EmptyAccount())
    fails_at_task_start(
        operator(config=mutated(lambda c: c.update(RoleArn="no-such-role"))),
        r"^RoleArn 'no-such-role' is an IAM role name, and IAM has no role of that name in the "
        r"account of aws_conn_id's credentials: pass the role's full ARN$",
    )
    assert clients.created() == 0


def test_missing_s3_input_fails_the_task_before_the_create(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = install(monkeypatch, EmptyAccount())
    source = {"S3DataType": "S3Prefix", "S3Uri": "s3://no-such-bucket/train/"}
    channels = [{"ChannelName": "train", "DataSource": {"S3DataSource": source}}]
    fails_at_task_start(
        operator(config=mutated(lambda c: c.update(InputDataConfig=channels))),
        r"^The S3 bucket 'no-such-bucket' of input channel 'train' "
        r"\(s3://no-such-bucket/train/\) does not exist; no job was created$",
    )
    assert clients.created() == 0
