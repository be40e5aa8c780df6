"""SageMaker simulator for tests: moto's server plus training jobs with a real lifecycle.

Start one with ``SageMakerSimulator().start()`` (or ``python -m sagemaker_async.testing``),
point boto3 / aiobotocore at its ``endpoint_url``, and steer it with :class:`SimulatorClient`.
"""

from __future__ import annotations

from sagemaker_async.testing.control import SimulatorClient, SimulatorControlError
from sagemaker_async.testing.simulator import SageMakerSimulator

__all__ = ["SageMakerSimulator", "SimulatorClient", "SimulatorControlError"]
