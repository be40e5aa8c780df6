"""A small valid ``CreateTrainingJob`` request, for tests and DAGs run against the simulator."""

from __future__ import annotations

from typing import Any


def training_request(name: str, **overrides: Any) -> dict[str, Any]:
    """The smallest request the simulator (and botocore's validation) accepts.

    :param name: the ``TrainingJobName``.
    :param overrides: top-level fields to replace or add, e.g. ``HyperParameters``.
    """
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "img:latest", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/training",
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(overrides)
    return request
