"""STS in the simulator, through boto3: its throttling and faults in the query protocol, and
credentials that stop working once they expire, at SageMaker, CloudWatch Logs and STS."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sagemaker_async.testing import (
    SageMakerSimulator,
    SimulatorClient,
    aws_client,
    training_request,
)

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/r"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
EXPIRED = "The security token included in the request is expired"


@pytest.fixture
def sts(simulator: SageMakerSimulator, sim: SimulatorClient) -> Any:
    return aws_client("sts", simulator.endpoint_url, config=NO_RETRIES)


def error_of(call: Callable[[], Any]) -> tuple[int, dict[str, str]]:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["ResponseMetadata"]["HTTPStatusCode"], err.value.response["Error"]


def test_rate_limits_throttle_sts_with_its_query_protocol_code(
    sts: Any, sim: SimulatorClient
) -> None:
    sim.set_rate_limits({"AssumeRole": {"rate": 0.01, "burst": 1}, "GetCallerIdentity": 0.01})
    sts.assume_role(RoleArn=ROLE, RoleSessionName="first")
    sts.get_caller_identity()
    throttled = {"Type": "Sender", "Code": "Throttling", "Message": "Rate exceeded"}
    assert error_of(lambda: sts.assume_role(RoleArn=ROLE, RoleSessionName="again")) == (
        400,
        throttled,
    )
    assert error_of(sts.get_caller_identity) == (400, throttled)
    assert len(sim.assumed_roles()) == 1  # the throttled call had no effect
    view = sim.rate_limits()
    assert view["allowed"] == {"AssumeRole": 1, "GetCallerIdentity": 1}
    assert view["throttled"] == {"AssumeRole": 1, "GetCallerIdentity": 1}


def test_faults_reach_sts_only_when_named(sts: Any, sim: SimulatorClient) -> None:
    sim.set_faults(error_fraction=1.0)
    sts.get_caller_identity()  # SageMaker only
    sim.set_faults(throttle_fraction=1.0, operations=["AssumeRole"])
    status, error = error_of(lambda: sts.assume_role(RoleArn=ROLE, RoleSessionName="s1"))
    assert (status, error["Code"]) == (400, "Throttling")
    sim.set_faults(error_fraction=1.0, operations=["GetCallerIdentity"])
    status, error = error_of(sts.get_caller_identity)
    assert (status, error["Type"], error["Code"]) == (500, "Receiver", "InternalFailure")
    assert sim.assumed_roles() == []
    counters = sim.faults()["counters"]
    assert (counters["throttled"], counters["errors"]) == (1, 1)


def session_client(simulator: SageMakerSimulator, service: str, credentials: Any) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=simulator.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=NO_RETRIES,
    )


def test_expired_session_tokens_are_refused_by_sagemaker_logs_and_sts(
    simulator: SageMakerSimulator, sts: Any, sim: SimulatorClient
) -> None:
    aws_client("sagemaker", simulator.endpoint_url).create_training_job(
        **training_request("expiring")
    )
    # Room for three clients to be built and called on a busy machine before expiry (1.5 s
    # was not always enough); the test sleeps until the expiry anyway.
    sim.set_credential_lifetime(6)
    credentials = sts.assume_role(RoleArn=ROLE, RoleSessionName="short")["Credentials"]
    sm, logs, sts_as_role = (
        session_client(simulator, service, credentials) for service in ("sagemaker", "logs", "sts")
    )
    calls: dict[str, Callable[[], Any]] = {
        "sagemaker": lambda: sm.describe_training_job(TrainingJobName="expiring"),
        "logs": lambda: logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs"),
        "sts": sts_as_role.get_caller_identity,
    }
    for call in calls.values():
        call()  # valid until their Expiration
    time.sleep(max(0.0, credentials["Expiration"].timestamp() - time.time()) + 0.05)
    assert error_of(calls["sagemaker"]) == (
        400,
        {"Code": "ExpiredTokenException", "Message": EXPIRED},
    )
    assert error_of(calls["logs"]) == (400, {"Code": "ExpiredTokenException", "Message": EXPIRED})
    assert error_of(calls["sts"]) == (
        400,
        {"Type": "Sender", "Code": "ExpiredToken", "Message": EXPIRED},
    )
    job = sim.job("expiring")
    assert job is not None
    assert job["calls"]["DescribeTrainingJob"] == 2  # the refused one was received...
    assert job["served_calls"].get("DescribeTrainingJob") == 1  # ...not served
    # Long-term keys carry no session token and keep working; new credentials work again.
    assert sts.get_caller_identity()["Account"] == "123456789012"
    renewed = sts.assume_role(RoleArn=ROLE, RoleSessionName="renewed")["Credentials"]
    session_client(simulator, "sagemaker", renewed).describe_training_job(
        TrainingJobName="expiring"
    )
