"""SageMaker simulator for tests: moto's server plus training jobs with a real lifecycle.

Start one with ``SageMakerSimulator().start()`` (or ``python -m sagemaker_async.testing``),
point boto3 / aiobotocore at its ``endpoint_url``, and steer it with :class:`SimulatorClient`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sagemaker_async.testing.clients import aws_client
from sagemaker_async.testing.control import SimulatorClient, SimulatorControlError
from sagemaker_async.testing.requests import training_request

if TYPE_CHECKING:
    from sagemaker_async.testing.simulator import SageMakerSimulator

__all__ = [
    "SageMakerSimulator",
    "SimulatorClient",
    "SimulatorControlError",
    "aws_client",
    "training_request",
]


def __getattr__(name: str) -> Any:
    # The server pulls in moto; DAG files that only want training_request() stay light.
    if name == "SageMakerSimulator":
        from sagemaker_async.testing.simulator import SageMakerSimulator

        return SageMakerSimulator
    raise AttributeError(name)
