"""Account quotas: how many instances of each type training jobs may use at once.

SageMaker's service quotas include one per instance type "<type> for training job usage",
counted in instances. CreateTrainingJob answers ``ResourceLimitExceeded`` (botocore's model:
"You have exceeded an SageMaker resource limit", one of the operation's documented errors)
when the instances the account's running jobs use plus those the request asks for exceed
that quota, and creates nothing. Instances are in use while a job is ``InProgress`` or
``Stopping``; a job that ends (``Completed``, ``Failed``, ``Stopped``) frees them. Service
quotas apply per account and Region: the simulator sets one value per type for every
Region and counts each Region's jobs apart.

Only the quotas set are enforced; with none set (the default) nothing is refused.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from sagemaker_async.testing.jobs import SageMakerError, TrainingJob

DEFAULT_REGION = "us-east-1"

# The message SageMaker sends with ResourceLimitExceeded for an instance quota (as its
# answers quote it; the closing advice names Service Quotas since quotas moved there).
QUOTA_MESSAGE = (
    "The account-level service limit '{instance_type} for training job usage' is {quota} "
    "Instances, with current utilization of {in_use} Instances and a request delta of "
    "{delta} Instances. Please use AWS Service Quotas to request an increase for this quota. "
    "If AWS Service Quotas is not available, contact AWS support to request an increase for "
    "this quota."
)


@lru_cache(maxsize=1)
def training_instance_types() -> frozenset[str]:
    """Every ``ResourceConfig.InstanceType`` botocore's model allows (its enum)."""
    import botocore.session
    from botocore.model import StringShape

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.shape_for("TrainingInstanceType")
    return frozenset(shape.enum if isinstance(shape, StringShape) else ())


def parse_quotas(body: object) -> dict[str, int]:
    """The quotas in a ``POST /_simulator/quotas`` body; ``ValueError`` names the bad key.

    :param body: ``{instance type: instances}``, each a non-negative integer; ``{}`` is none.
    """
    if not isinstance(body, Mapping):
        raise ValueError("the quotas must be a JSON object of instance type to instances")
    known = training_instance_types()
    quotas: dict[str, int] = {}
    for key, value in body.items():
        # A misspelt type would limit nothing, and a test relying on it would pass vacuously.
        if key not in known:
            raise ValueError(f"{key!r}: not a training instance type (ResourceConfig enum)")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key}: the quota must be a non-negative integer, not {value!r}")
        quotas[str(key)] = value
    return quotas


def requested_instances(request: Mapping[str, Any]) -> Counter[str]:
    """Instances per type a CreateTrainingJob request asks for: ``ResourceConfig``'s
    ``InstanceType`` x ``InstanceCount``, plus each of its ``InstanceGroups`` (a
    heterogeneous cluster)."""
    config = request.get("ResourceConfig")
    if not isinstance(config, Mapping):
        return Counter()
    groups = config.get("InstanceGroups")
    items = [config, *(groups if isinstance(groups, list) else [])]
    counts: Counter[str] = Counter()
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind, count = item.get("InstanceType"), item.get("InstanceCount")
        if isinstance(kind, str) and isinstance(count, int) and not isinstance(count, bool):
            counts[kind] += max(0, count)
    return +counts  # drop zero counts: they use no quota


def usage(jobs: Iterable[TrainingJob]) -> Counter[tuple[str, str]]:
    """Instances in use per ``(region, instance type)`` by these (running) jobs."""
    counts: Counter[tuple[str, str]] = Counter()
    for job in jobs:
        for kind, count in requested_instances(job.request).items():
            counts[job.region, kind] += count
    return counts


def quota_exceeded(instance_type: str, quota: int, in_use: int, delta: int) -> SageMakerError:
    """SageMaker's answer to a create that would take ``instance_type`` over its quota."""
    message = QUOTA_MESSAGE.format(
        instance_type=instance_type, quota=quota, in_use=in_use, delta=delta
    )
    return SageMakerError("ResourceLimitExceeded", message)


class Quotas:
    """The account's instance quotas, the creates they refused and the peak usage; thread-safe.

    :param running: the jobs ``InProgress`` or ``Stopping`` now (for the view, and for the
        peak when the quotas are set).
    """

    def __init__(self, running: Callable[[], list[TrainingJob]]) -> None:
        self._running = running
        self._lock = threading.Lock()
        self._quotas: dict[str, int] = {}
        # Usage is only followed once quotas are set: finding the running jobs on every
        # create would cost the scale runs, which set none, time for nothing.
        self._tracking = False
        self._refused: Counter[tuple[str, str]] = Counter()
        self._peak: Counter[tuple[str, str]] = Counter()

    def configure(self, body: object) -> None:
        """Replace the quotas (``{}`` removes them) and restart the counts: ``refused`` from
        zero, ``peak_in_use`` from the instances in use now."""
        quotas = parse_quotas(body)
        in_use = usage(self._running())
        with self._lock:
            self._quotas = quotas
            self._tracking = True
            self._refused.clear()
            self._peak = in_use

    def admit(
        self, request: Mapping[str, Any], region: str, running: Callable[[], list[TrainingJob]]
    ) -> None:
        """Refuse a create over a quota with ``ResourceLimitExceeded``; else count its
        instances in the peak. The caller holds the job store's lock, so the usage cannot
        change between this check and the create.

        :param running: the jobs ``InProgress`` or ``Stopping`` now.
        """
        with self._lock:
            if not self._tracking:
                return
            quotas = self._quotas
        requested = requested_instances(request)
        in_use = usage(running())
        with self._lock:
            for kind, delta in requested.items():
                quota, used = quotas.get(kind), in_use[region, kind]
                if quota is not None and used + delta > quota:
                    self._refused[region, kind] += 1
                    raise quota_exceeded(kind, quota, used, delta)
            for kind, delta in requested.items():
                key = (region, kind)
                self._peak[key] = max(self._peak[key], in_use[key] + delta)

    def view(self, region: str = DEFAULT_REGION) -> dict[str, Any]:
        """``{"quotas", "in_use", "refused", "peak_in_use"}`` of one Region, each
        ``{instance type: n}``; the last two count since the quotas were set."""
        in_use = _of_region(usage(self._running()), region)
        with self._lock:
            peak = _of_region(self._peak, region)
            if self._tracking:
                for kind, n in in_use.items():
                    peak[kind] = max(peak.get(kind, 0), n)
            return {
                "quotas": dict(self._quotas),
                "in_use": in_use,
                "refused": _of_region(self._refused, region),
                "peak_in_use": peak,
            }

    def reset(self) -> None:
        """No quotas, no counts, no tracking."""
        with self._lock:
            self._quotas = {}
            self._tracking = False
            self._refused.clear()
            self._peak.clear()


def _of_region(counts: Counter[tuple[str, str]], region: str) -> dict[str, int]:
    return {kind: n for (where, kind), n in counts.items() if where == region and n > 0}
