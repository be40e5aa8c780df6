"""Per-account request rate limits: one token bucket per operation, shared by all callers.

AWS throttles API requests per account and Region and answers a request over the limit
without acting on it: SageMaker and CloudWatch Logs (JSON 1.1) with HTTP 400
``{"__type": "ThrottlingException", "message": "Rate exceeded"}`` (CloudWatch Logs'
model has a ``ThrottlingException`` shape, "The request was throttled because of quota
limits"), STS (query protocol) with HTTP 400 ``Throttling`` / "Rate exceeded" (see
:mod:`~sagemaker_async.testing.protocols`). SageMaker does not publish its per-operation
rates, and CloudWatch Logs only some (DescribeLogStreams: "a limit of 25 transactions per
second, after which transactions are throttled", its operation doc), so they are set here;
the model is the token bucket AWS documents for EC2 API request throttling (a bucket holds
up to ``burst`` tokens and refills at ``rate`` tokens a second; each request takes one).

The simulator has a single account, so a limit is global. Limits apply to SageMaker calls
and to the CloudWatch Logs and STS operations the package calls
(:mod:`~sagemaker_async.testing.operations`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sagemaker_async.testing.operations import known_operations


@dataclass(frozen=True)
class Limit:
    """``rate`` requests a second on average, up to ``burst`` at once after a quiet spell."""

    rate: float
    burst: float


class TokenBucket:
    """A bucket that starts full.

    :param limit: the rate and the capacity.
    :param now: the current time (monotonic seconds).
    """

    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self._tokens = limit.burst
        self._at = now

    def take(self, now: float) -> bool:
        """Take one token if there is one; ``False``: the request is over the limit."""
        elapsed = max(0.0, now - self._at)
        self._tokens = min(self.limit.burst, self._tokens + elapsed * self.limit.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


def parse_limits(body: object) -> dict[str, Limit]:
    """The limits of a ``POST /_simulator/limits`` body; raises ``ValueError`` naming the
    faulty operation or field.

    :param body: ``{operation: rate}`` or ``{operation: {"rate": r, "burst": b}}``; ``burst``
        defaults to ``max(1, rate)``.
    """
    if not isinstance(body, Mapping):
        raise ValueError("the rate limits must be a JSON object")
    unknown = sorted(set(body) - known_operations())
    if unknown:
        raise ValueError(f"not SageMaker, CloudWatch Logs or STS operations: {unknown}")
    return {str(operation): _limit(operation, value) for operation, value in body.items()}


def _limit(operation: str, value: object) -> Limit:
    settings: Mapping[str, object] = value if isinstance(value, Mapping) else {"rate": value}
    extra = sorted(set(settings) - {"rate", "burst"})
    if extra:
        raise ValueError(f"{operation}: unknown fields {extra} (only rate and burst)")
    rate = _number(operation, "rate", settings.get("rate"))
    if rate <= 0:
        raise ValueError(f"{operation}: rate must be > 0, not {rate}")
    raw_burst = settings.get("burst")
    burst = max(1.0, rate) if raw_burst is None else _number(operation, "burst", raw_burst)
    if burst < 1:
        raise ValueError(f"{operation}: burst must be >= 1, not {burst}")
    return Limit(rate, burst)


def _number(operation: str, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{operation}: {field} must be a finite number, not {value!r}")
    return float(value)


class RateLimiter:
    """The account's limits, their buckets and what they let through; thread-safe.

    :param clock: monotonic seconds (a wall-clock step must not refill or drain a bucket).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._allowed: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()

    def configure(self, body: object) -> None:
        """Replace every limit (``{}`` clears them) with full buckets; zero the counters."""
        limits = parse_limits(body)
        with self._lock:
            now = self._clock()
            self._buckets = {op: TokenBucket(limit, now) for op, limit in limits.items()}
            self._allowed.clear()
            self._throttled.clear()

    def allow(self, operation: str) -> bool:
        """Whether a call may proceed; counted per operation when it has a limit."""
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                return True
            allowed = bucket.take(self._clock())
            (self._allowed if allowed else self._throttled)[operation] += 1
            return allowed

    def view(self) -> dict[str, Any]:
        """``{"limits": {op: {"rate", "burst"}}, "allowed": {op: n}, "throttled": {op: n}}``."""
        with self._lock:
            limits = {
                op: {"rate": bucket.limit.rate, "burst": bucket.limit.burst}
                for op, bucket in self._buckets.items()
            }
            return {
                "limits": limits,
                "allowed": dict(self._allowed),
                "throttled": dict(self._throttled),
            }

    def reset(self) -> None:
        """No limits, no counts."""
        self.configure({})
