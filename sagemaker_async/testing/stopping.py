"""``StoppingCondition``: the limits at which SageMaker ends a training job itself.

From botocore's SageMaker model (the ``StoppingCondition`` shape and DescribeTrainingJob's
``SecondaryStatus``):

- ``MaxRuntimeInSeconds``: "The maximum length of time, in seconds, that a training ... job
  can run before it is stopped ... if the job does not complete during this time, SageMaker
  ends the job ... The default value is 1 day." The run counts from when the instances are
  ready (``TrainingStartTime``): ``MaxWaitTimeInSeconds`` is "the amount of time spent
  waiting for Spot capacity plus the amount of time the job can run", so the run excludes
  the wait for instances. Such a job ends ``Stopped`` with ``SecondaryStatus``
  ``MaxRuntimeExceeded`` ("The job stopped because it exceeded the maximum allowed
  runtime").
- ``MaxWaitTimeInSeconds`` (managed spot training, ``EnableManagedSpotTraining``): counts
  from the job's creation; past it the job ends ``Stopped`` with ``MaxWaitTimeExceeded``
  ("The job stopped because it exceeded the maximum allowed wait time").

Either way SageMaker stops the job as ``StopTrainingJob`` would ("SageMaker sends the
algorithm the ``SIGTERM`` signal"): ``Stopping``, then the stopped status. A job whose plan
ends at or before both limits is not affected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sagemaker_async.testing.lifecycle import LimitStop, Plan

#: ``MaxRuntimeInSeconds`` when the request leaves it out ("The default value is 1 day").
DEFAULT_MAX_RUNTIME = 86_400.0


def limit_stop(request: Mapping[str, Any], plan: Plan, created_at: float) -> LimitStop | None:
    """The limit that ends the job before its planned outcome, if one does (the earlier of
    the two when both do)."""
    condition = request.get("StoppingCondition")
    condition = condition if isinstance(condition, Mapping) else {}
    end = created_at + plan.duration
    limits = []
    share = plan.training_share()
    if share is not None:
        runtime = positive_seconds(condition.get("MaxRuntimeInSeconds")) or DEFAULT_MAX_RUNTIME
        limits.append(LimitStop(created_at + share * plan.duration + runtime, "MaxRuntimeExceeded"))
    wait = positive_seconds(condition.get("MaxWaitTimeInSeconds"))
    if request.get("EnableManagedSpotTraining") is True and wait is not None:
        limits.append(LimitStop(created_at + wait, "MaxWaitTimeExceeded"))
    binding = [limit for limit in limits if limit.at < end]
    return min(binding, key=lambda limit: limit.at) if binding else None


def positive_seconds(value: object) -> float | None:
    """A positive, finite number of seconds as a float; ``None`` for anything else (a
    missing limit, a bool, zero, a negative number, infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return float(value)
