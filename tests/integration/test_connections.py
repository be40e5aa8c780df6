"""Connections that assume a role or name a profile, against the simulator's STS (moto's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemaker_async.hooks import SageMakerHook
from sagemaker_async.testing import SageMakerSimulator, SimulatorClient, training_request
from tests.integration.test_operators import run_dag

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

ROLE = "arn:aws:iam::123456789012:role/sagemaker-airflow"
SOURCE_KEY = "AKIASOURCEKEY"


@pytest.fixture
def role_connection(
    simulator: SageMakerSimulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """``aws_role``: keys that only sign AssumeRole, and the role the jobs run under."""
    conn = {
        "conn_type": "aws",
        "login": SOURCE_KEY,
        "password": "source-secret",
        "extra": {
            "region_name": "us-east-1",
            "endpoint_url": simulator.endpoint_url,
            "service_config": {"sts": {"endpoint_url": simulator.endpoint_url}},
            "role_arn": ROLE,
            "assume_role_kwargs": {"ExternalId": "ext-4242"},
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_ROLE", json.dumps(conn))
    yield "aws_role"


def signers(sim: SimulatorClient, name: str, operation: str) -> list[str]:
    job = sim.job(name)
    assert job is not None
    return [key for op, key in job["signers"] if op == operation]


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferred"])
def test_job_is_created_and_polled_with_the_assumed_role_refreshed_as_it_expires(
    sim: SimulatorClient,
    role_connection: str,
    deferrable: bool,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Credentials that last 3 s, during a job of 14 s polled every second: the wait must
    # assume the role again, more than once, and sign later polls with the new keys. (The
    # length leaves room for the trigger's start-up and first-poll jitter on a busy machine.)
    sim.set_credential_lifetime(3)
    sim.add_rule("it-", duration=14)
    ti, name = run_dag(aws_conn_id=role_connection, deferrable=deferrable, print_log=False)
    assert ti.state == "success"
    # Deferred, the polls came from the trigger's pooled aiobotocore client, not the worker.
    assert ("running trigger in line" in capfd.readouterr().out + caplog.text) is deferrable

    assumed = sim.assumed_roles()
    issued = [a["access_key"] for a in assumed]
    assert all(key.startswith("ASIA") for key in issued)
    assert all(a["source_key"] == SOURCE_KEY for a in assumed)
    assert all(a["request"]["RoleArn"] == ROLE for a in assumed)
    assert all(a["request"]["ExternalId"] == "ext-4242" for a in assumed)

    # The worker looked the name up and created the job with the role's first credentials.
    describes = signers(sim, name, "DescribeTrainingJob")
    assert signers(sim, name, "CreateTrainingJob") == [describes[0]] == [issued[0]]
    # The polls of the wait: after the create, before the worker's final describe.
    polls = describes[1:-1]
    assert len(polls) >= 6
    assert set(describes) <= set(issued), "a call was signed with the source keys"
    # Later polls use newer credentials: keys appear in the order STS issued them.
    order = [issued.index(key) for key in polls]
    assert order == sorted(order)
    assert len(set(polls)) >= 3, f"credentials were not refreshed during the wait: {polls}"
    # Refreshed in the last quarter of each 3 s lifetime, not on every call.
    assert len(assumed) < len(describes)


@pytest.fixture
def profile_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "credentials").write_text(
        f"[src]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = source-secret\n"
    )
    (tmp_path / "config").write_text("[profile src]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))


@pytest.mark.usefixtures("profile_files")
def test_profile_signs_assume_role_at_the_sts_endpoint_of_the_connection(
    simulator: SageMakerSimulator, sim: SimulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing answers at the global endpoint: STS and SageMaker must use their own.
    extra: dict[str, Any] = {
        "profile_name": "src",
        "role_arn": ROLE,
        "endpoint_url": "http://127.0.0.1:9",
        "service_config": {
            "sts": {"endpoint_url": simulator.endpoint_url},
            "sagemaker": {"endpoint_url": simulator.endpoint_url},
        },
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_PROFILE_ROLE", json.dumps({"conn_type": "aws", "extra": extra})
    )
    hook = SageMakerHook("aws_profile_role")
    hook.create(training_request("it-profile-role"))
    hook.describe("it-profile-role")
    (assumed,) = sim.assumed_roles()
    assert assumed["source_key"] == SOURCE_KEY
    assert signers(sim, "it-profile-role", "CreateTrainingJob") == [assumed["access_key"]]
    assert signers(sim, "it-profile-role", "DescribeTrainingJob") == [assumed["access_key"]]


@pytest.mark.usefixtures("profile_files")
def test_profile_alone_signs_with_its_keys(
    simulator: SageMakerSimulator, sim: SimulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"profile_name": "src", "endpoint_url": simulator.endpoint_url}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_PROFILE", json.dumps({"conn_type": "aws", "extra": extra}))
    hook = SageMakerHook("aws_profile")
    hook.create(training_request("it-profile"))
    assert signers(sim, "it-profile", "CreateTrainingJob") == [SOURCE_KEY]
    assert sim.assumed_roles() == []
