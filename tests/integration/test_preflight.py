"""Checks before the create, through ``dag.test()`` against the simulator's IAM and S3 (moto)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sagemaker_async.testing import SimulatorClient, aws_client, training_request
from tests.integration.dagfiles import test_dag, write_training_dag
from tests.integration.s3data import put_inputs

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


def channel(uri: str) -> dict[str, Any]:
    return {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
    }


def run(sim: SimulatorClient, **fields: Any) -> tuple[Any, str]:
    name = f"pf-{uuid.uuid4().hex[:10]}"
    dag_id = f"dag_{name.replace('-', '_')}"
    config = training_request(name, **fields)
    path = write_training_dag(dag_id, config, wait_for_completion=False)
    (ti,) = test_dag(path, dag_id).get_task_instances()
    return ti, name


def test_a_role_name_and_existing_inputs_make_a_job_with_the_roles_arn(
    sim: SimulatorClient,
) -> None:
    iam = aws_client("iam", sim.endpoint_url)
    role = f"training-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    bucket = f"in-{uuid.uuid4().hex[:10]}"
    put_inputs(sim.endpoint_url, f"s3://{bucket}/train/")
    ti, name = run(sim, RoleArn=role, InputDataConfig=[channel(f"s3://{bucket}/train/")])
    assert ti.state == "success"
    sagemaker = aws_client("sagemaker", sim.endpoint_url)
    assert sagemaker.describe_training_job(TrainingJobName=name)["RoleArn"] == arn


def test_a_missing_input_bucket_fails_the_task_and_creates_no_job(sim: SimulatorClient) -> None:
    missing = f"s3://nope-{uuid.uuid4().hex[:10]}/train/"
    ti, name = run(sim, InputDataConfig=[channel(missing)])
    assert ti.state == "failed"
    assert not [job for job in sim.jobs() if job["name"] == name]
