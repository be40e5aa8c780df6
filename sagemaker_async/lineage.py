"""OpenLineage datasets of a training job: its S3 input channels in, its model artifact out.

OpenLineage is optional: this module imports the openlineage provider only when Airflow's
OpenLineage listener asks the operator for its lineage, which it does only when the provider
is installed. Datasets follow OpenLineage's S3 naming: namespace ``s3://<bucket>``, name the
object key (or prefix) without surrounding slashes, ``/`` for a whole bucket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import RunFacet


def s3_dataset(uri: object) -> Dataset | None:
    """The dataset an ``s3://bucket/key`` URI names; ``None`` for anything else."""
    from openlineage.client.event_v2 import Dataset

    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        return None
    return Dataset(namespace=f"s3://{bucket}", name=key.strip("/") or "/")


def input_uris(config: Mapping[str, Any]) -> list[str]:
    """The S3 URIs of the request's input channels, in order, each once.

    Channels on EFS or FSx (``FileSystemDataSource``) have no S3 URI and are left out.
    """
    uris: list[str] = []
    for channel in _list(config.get("InputDataConfig")):
        source = _dict(_dict(_dict(channel).get("DataSource")).get("S3DataSource"))
        uri = source.get("S3Uri")
        if isinstance(uri, str) and uri not in uris:
            uris.append(uri)
    return uris


def output_uri(
    config: Mapping[str, Any], training: Mapping[str, Any] | None, produced: bool
) -> str | None:
    """Where the job put its model: the artifact the job reports, else, for a job this task
    ran that has not failed, the request's output path; ``None`` otherwise."""
    artifact = _dict(_dict(training).get("ModelArtifacts")).get("S3ModelArtifacts")
    if isinstance(artifact, str):
        return artifact
    if not produced or _dict(training).get("TrainingJobStatus") in ("Failed", "Stopped"):
        return None
    path = _dict(config.get("OutputDataConfig")).get("S3OutputPath")
    return path if isinstance(path, str) else None


def training_lineage(
    config: object, training: Mapping[str, Any] | None = None, produced: bool = False
) -> OperatorLineage[Dataset, RunFacet]:
    """The OpenLineage facets of a training task.

    :param config: the rendered ``CreateTrainingJob`` request (a dict or its JSON).
    :param training: the job's last ``DescribeTrainingJob`` result, if the task has it.
    :param produced: the task ran a job and did not fail: without an artifact in
        ``training``, the request's output path is the output.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    request = _request(config)
    inputs = [s3_dataset(uri) for uri in input_uris(request)]
    outputs = [s3_dataset(output_uri(request, training, produced))]
    return OperatorLineage(
        inputs=[d for d in inputs if d is not None],
        outputs=[d for d in outputs if d is not None],
    )


def _request(config: object) -> Mapping[str, Any]:
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return {}
    return _dict(config)


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
