from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from sagemaker_async.lineage import s3_dataset, training_lineage
from sagemaker_async.operators import SageMakerTrainingOperator
from tests.unit.fakes import FakeSageMaker, FakeTI, base_config

ARTIFACT = "s3://models/out/job/output/model.tar.gz"


def channel(name: str, uri: str) -> dict[str, Any]:
    source = {"S3DataType": "S3Prefix", "S3Uri": uri}
    return {"ChannelName": name, "DataSource": {"S3DataSource": source}}


def config(**fields: Any) -> dict[str, Any]:
    request = base_config()
    request["InputDataConfig"] = [
        channel("train", "s3://data/train/"),
        channel("validation", "s3://data/validation/part-0.csv"),
        channel("test", "s3://other-bucket/test"),
    ]
    request["OutputDataConfig"] = {"S3OutputPath": "s3://models/out/"}
    request.update(fields)
    return request


def names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


INPUTS = [
    ("s3://data", "train"),
    ("s3://data", "validation/part-0.csv"),
    ("s3://other-bucket", "test"),
]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key/file.csv", ("s3://bucket", "key/file.csv")),
        ("s3://bucket/prefix/", ("s3://bucket", "prefix")),
        ("s3://bucket", ("s3://bucket", "/")),
        ("s3://bucket/", ("s3://bucket", "/")),
    ],
)
def test_s3_uris_follow_openlineage_s3_naming(uri: str, expected: tuple[str, str]) -> None:
    dataset = s3_dataset(uri)
    assert dataset is not None
    assert (dataset.namespace, dataset.name) == expected


@pytest.mark.parametrize("uri", ["https://bucket.s3.amazonaws.com/key", "file:///data", "", None])
def test_uris_not_on_s3_name_no_dataset(uri: object) -> None:
    assert s3_dataset(uri) is None


def test_every_s3_channel_is_an_input_and_the_artifact_the_output() -> None:
    # Imported here: the provider takes most of a CPU-second to import, in every process
    # that collects the suite.
    from airflow.providers.openlineage.extractors import OperatorLineage

    training = {"TrainingJobStatus": "Completed", "ModelArtifacts": {"S3ModelArtifacts": ARTIFACT}}
    lineage = training_lineage(config(), training, produced=True)
    assert isinstance(lineage, OperatorLineage)
    assert names(lineage.inputs) == INPUTS
    assert names(lineage.outputs) == [("s3://models", "out/job/output/model.tar.gz")]


def test_channels_not_on_s3_and_repeated_uris_are_left_out() -> None:
    efs = {"FileSystemDataSource": {"FileSystemId": "fs-1", "FileSystemType": "EFS"}}
    channels = [
        {"ChannelName": "efs", "DataSource": efs},
        channel("train", "s3://data/train/"),
        channel("again", "s3://data/train/"),
        channel("https", "https://data.s3.amazonaws.com/x"),
        {"ChannelName": "broken"},
    ]
    lineage = training_lineage(config(InputDataConfig=channels))
    assert names(lineage.inputs) == [("s3://data", "train")]
    assert lineage.outputs == []


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_failed_job_without_artifact_has_no_output(status: str) -> None:
    lineage = training_lineage(config(), {"TrainingJobStatus": status}, produced=True)
    assert names(lineage.inputs) == INPUTS
    assert lineage.outputs == []


def test_a_job_not_waited_for_outputs_its_output_path() -> None:
    lineage = training_lineage(config(), {"TrainingJobStatus": "InProgress"}, produced=True)
    assert names(lineage.outputs) == [("s3://models", "out")]
    # No job run by this task (skipped): no output.
    assert training_lineage(config()).outputs == []


def test_a_json_config_and_a_config_without_channels() -> None:
    assert names(training_lineage(json.dumps(config())).inputs) == INPUTS
    bare = training_lineage({"TrainingJobName": "x"}, None, produced=True)
    assert (bare.inputs, bare.outputs) == ([], [])
    assert training_lineage("not json").inputs == []


def make_operator(fake: FakeSageMaker, **kwargs: Any) -> SageMakerTrainingOperator:
    kwargs.setdefault("check_s3_inputs", False)  # the fake has no S3; lineage needs none
    op = SageMakerTrainingOperator(
        task_id="train", config=config(), aws_conn_id=None, region_name="us-east-1", **kwargs
    )
    op.hook.client = fake
    return op


def finish(fake: FakeSageMaker, name: str, status: str) -> None:
    fake.jobs[name]["TrainingJobStatus"] = status
    if status == "Completed":
        fake.jobs[name]["ModelArtifacts"] = {"S3ModelArtifacts": ARTIFACT}


def test_the_operator_reports_inputs_on_start() -> None:
    op = make_operator(FakeSageMaker())
    assert names(op.get_openlineage_facets_on_start().inputs) == INPUTS
    assert op.get_openlineage_facets_on_start().outputs == []


def test_a_resumed_deferred_task_reports_the_artifact_on_complete() -> None:
    fake = FakeSageMaker()
    ti = FakeTI()
    with pytest.raises(TaskDeferred):
        make_operator(fake).execute({"ti": ti})  # type: ignore[arg-type]
    (name,) = fake.jobs
    finish(fake, name, "Completed")
    # The task resumes in a fresh operator on the worker, with only the event to go on.
    resumed = make_operator(fake)
    resumed.execute_complete({"ti": ti}, {"status": "success", "job_name": name, "message": ""})  # type: ignore[arg-type]
    lineage = resumed.get_openlineage_facets_on_complete(ti)
    assert names(lineage.inputs) == INPUTS
    assert names(lineage.outputs) == [("s3://models", "out/job/output/model.tar.gz")]


def test_a_failed_job_reports_its_inputs_only() -> None:
    fake = FakeSageMaker()
    fake.add_job("job", "Failed")
    op = make_operator(fake)
    with pytest.raises(AirflowException):
        op.execute_complete(
            {"ti": FakeTI()}, {"status": "failed", "job_name": "job", "message": "x"}
        )  # type: ignore[arg-type]
    lineage = op.get_openlineage_facets_on_failure(FakeTI())
    assert (names(lineage.inputs), lineage.outputs) == (INPUTS, [])


def test_a_submit_only_task_reports_the_output_path() -> None:
    fake = FakeSageMaker()
    op = make_operator(fake, wait_for_completion=False)
    op.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert names(op.get_openlineage_facets_on_complete(FakeTI()).outputs) == [
        ("s3://models", "out")
    ]


# Provider discovery still finds the provider's metadata, so only what lineage needs is refused:
# the OpenLineage client and the provider's extractors.
_WITHOUT_OPENLINEAGE = """
import importlib.abc, sys

REFUSED = ("openlineage", "airflow.providers.openlineage.extractors")

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == r or name.startswith(r + ".") for r in REFUSED):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Refuse())
from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.config import prepare_config
from sagemaker_async.testing import training_request

op = SageMakerTrainingOperator(task_id="t", config=training_request("x"))
prepare_config(op.config)
try:
    op.get_openlineage_facets_on_start()
except ModuleNotFoundError:
    print("ok")
"""


def test_the_package_works_without_openlineage() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OPENLINEAGE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
