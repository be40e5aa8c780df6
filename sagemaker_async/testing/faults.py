"""Injected faults: AWS calls that are throttled, fail, stall or lose their connection.

The simulator asks :meth:`FaultInjector.decide` about every SageMaker JSON-protocol call
before it handles it, and about the CloudWatch Logs and STS calls the package makes (see
:mod:`~sagemaker_async.testing.operations`); those are faulted only when the configuration's
``operations`` names them, so settings without that filter fault SageMaker alone. The
control API (``/_simulator/...``) never comes through here.
"""

from __future__ import annotations

import contextlib
import math
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypedDict

from sagemaker_async.testing.operations import known_operations

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CREATE = "CreateTrainingJob"
# Kinds of injected fault, each with a counter; created_then_failed is a subset of errors.
COUNTERS = ("throttled", "errors", "dropped", "delayed", "down", "created_then_failed")


class ErrorBurst(TypedDict):
    """5xx answers for ``length`` seconds at the start of every ``every`` seconds."""

    every: float
    length: float


class FaultSettings(TypedDict, total=False):
    """What ``set_faults`` accepts; also the JSON body of ``POST /_simulator/faults``."""

    throttle_fraction: float
    error_fraction: float
    error_burst: ErrorBurst | None
    latency: float
    drop_fraction: float
    down_for: float
    operations: list[str] | None
    create_then_fail: bool
    seed: int | None


@dataclass(frozen=True)
class FaultConfig:
    """A validated fault configuration; the defaults inject nothing.

    Time windows (``down_for``, ``error_burst``) count from when the configuration was set.
    """

    throttle_fraction: float = 0.0
    error_fraction: float = 0.0
    error_burst: tuple[float, float] | None = None
    latency: float = 0.0
    drop_fraction: float = 0.0
    down_for: float = 0.0
    operations: tuple[str, ...] | None = None
    create_then_fail: bool = False
    seed: int | None = None

    def applies_to(self, operation: str, by_default: bool = True) -> bool:
        """Whether calls of ``operation`` may be faulted.

        :param by_default: whether it is faulted when there is no filter (SageMaker calls
            are; CloudWatch Logs and STS calls only when the filter names them).
        """
        if self.operations is None:
            return by_default
        return operation in self.operations

    def to_json(self) -> dict[str, Any]:
        """The configuration in the shape ``POST /_simulator/faults`` accepts."""
        burst = self.error_burst
        return {
            "throttle_fraction": self.throttle_fraction,
            "error_fraction": self.error_fraction,
            "error_burst": None if burst is None else {"every": burst[0], "length": burst[1]},
            "latency": self.latency,
            "drop_fraction": self.drop_fraction,
            "down_for": self.down_for,
            "operations": None if self.operations is None else list(self.operations),
            "create_then_fail": self.create_then_fail,
            "seed": self.seed,
        }


_KEYS = frozenset(f.name for f in fields(FaultConfig))


def parse_faults(body: Mapping[str, Any]) -> FaultConfig:
    """Validate a fault configuration; ``ValueError`` names the first bad setting."""
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise ValueError(f"unknown fault setting(s) {unknown}; known: {sorted(_KEYS)}")
    create_then_fail = body.get("create_then_fail", False)
    if not isinstance(create_then_fail, bool):
        raise ValueError("create_then_fail must be true or false")
    return FaultConfig(
        throttle_fraction=_fraction(body, "throttle_fraction"),
        error_fraction=_fraction(body, "error_fraction"),
        error_burst=_burst(body.get("error_burst")),
        latency=_seconds(body, "latency"),
        drop_fraction=_fraction(body, "drop_fraction"),
        down_for=_seconds(body, "down_for"),
        operations=_operations(body.get("operations")),
        create_then_fail=create_then_fail,
        seed=_seed(body.get("seed")),
    )


def _number(body: Mapping[str, Any], key: str, label: str | None = None) -> float:
    value = body.get(key)
    if value is None:
        return 0.0
    # bool is an int in Python, but "latency": true is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{label or key} must be a number, not {value!r}")
    return float(value)


def _fraction(body: Mapping[str, Any], key: str) -> float:
    value = _number(body, key)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{key} must be between 0 and 1, not {value}")
    return value


def _seconds(body: Mapping[str, Any], key: str) -> float:
    value = _number(body, key)
    if value < 0:
        raise ValueError(f"{key} must not be negative, not {value}")
    return value


def _burst(value: object) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"every", "length"}:
        raise ValueError('error_burst must be {"every": seconds, "length": seconds}')
    every = _number(value, "every", "error_burst.every")
    length = _number(value, "length", "error_burst.length")
    if every <= 0 or not 0 <= length <= every:
        raise ValueError("error_burst needs every > 0 and 0 <= length <= every")
    return every, length


def _operations(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("operations must be a non-empty list of names (omit it for all)")
    # A misspelt name would silently fault nothing, and a test relying on it would pass vacuously.
    unknown = sorted(set(value) - known_operations())
    if unknown:
        raise ValueError(f"not SageMaker, CloudWatch Logs or STS operations: {unknown}")
    return tuple(value)


def _seed(value: object) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"seed must be an integer, not {value!r}")


@dataclass(frozen=True)
class FaultAnswer:
    """An AWS JSON-protocol error answer."""

    status: int
    code: str
    message: str


THROTTLED = FaultAnswer(400, "ThrottlingException", "Rate exceeded")
INTERNAL = FaultAnswer(500, "InternalFailure", "We encountered an internal error. Try again.")
UNAVAILABLE = FaultAnswer(503, "ServiceUnavailable", "Service is unavailable. Try again later.")


@dataclass(frozen=True)
class Decision:
    """What to do with one call.

    :param kind: the fault's counter name; ``None`` answers the call normally.
    :param delay: seconds to wait before answering (faulted or not).
    :param answer: the error answer; ``None`` with a fault means drop the connection.
    :param serve_first: handle the call (create the job) before answering with the fault.
    """

    kind: str | None = None
    delay: float = 0.0
    answer: FaultAnswer | None = None
    serve_first: bool = False


class FaultInjector:
    """The current fault configuration, its random source and the fault counters.

    :param clock: monotonic time source for the ``down_for`` and ``error_burst`` windows.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._since = clock()
        self._random = random.Random()
        self._counters: Counter[str] = Counter()

    def configure(self, settings: Mapping[str, Any]) -> FaultConfig:
        """Replace the configuration (``{}`` clears it); counters keep counting."""
        config = parse_faults(settings)
        with self._lock:
            self._config = config
            self._since = self.clock()
            self._random = random.Random(config.seed)
        return config

    def reset(self) -> None:
        """Clear the configuration and the counters."""
        self.configure({})
        with self._lock:
            self._counters.clear()

    def view(self) -> dict[str, Any]:
        """The configuration, the counters since the last reset and the downtime left."""
        with self._lock:
            down_left = self._since + self._config.down_for - self.clock()
            return {
                "config": self._config.to_json(),
                "counters": {kind: self._counters[kind] for kind in COUNTERS},
                "down_remaining": round(max(0.0, down_left), 3),
            }

    def decide(self, operation: str, by_default: bool = True) -> Decision:
        """Choose the fate of one call of ``operation`` (and count it).

        :param by_default: see :meth:`FaultConfig.applies_to`.
        """
        with self._lock:
            config = self._config
            if not config.applies_to(operation, by_default):
                return Decision()
            if config.latency > 0:
                self._counters["delayed"] += 1
            kind = self._pick(config, self.clock() - self._since)
            if kind is None:
                return Decision(delay=config.latency)
            if config.create_then_fail and operation == CREATE:
                self._counters.update(("errors", "created_then_failed"))
                return Decision("errors", config.latency, INTERNAL, serve_first=True)
            answer = self._answer(kind)
            self._counters[kind] += 1
            return Decision(kind, config.latency, answer)

    def _pick(self, config: FaultConfig, elapsed: float) -> str | None:
        if elapsed < config.down_for:
            return "down"
        if self._roll(config.drop_fraction):
            return "dropped"
        burst = config.error_burst
        if burst is not None and elapsed % burst[0] < burst[1]:
            return "errors"
        if self._roll(config.throttle_fraction):
            return "throttled"
        if self._roll(config.error_fraction):
            return "errors"
        return None

    def _roll(self, fraction: float) -> bool:
        # Draw only for kinds that are configured, so a seed yields the same pattern no
        # matter which other settings are left at zero.
        return fraction > 0 and self._random.random() < fraction

    def _answer(self, kind: str) -> FaultAnswer | None:
        if kind == "dropped":
            return None
        if kind == "throttled":
            return THROTTLED
        if kind == "down":
            return UNAVAILABLE
        # Alternate 500 and 503, so callers meet both of SageMaker's usual server errors.
        return INTERNAL if self._counters["errors"] % 2 == 0 else UNAVAILABLE


def drop_connection(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI app that closes the client's connection without any HTTP answer.

    werkzeug's server puts the client socket in the environ as ``werkzeug.socket``. Shutting
    it down sends the FIN at once (``close()`` would not: the handler's file objects still
    hold the socket), so the client sees the connection end with no response. Raising a
    ``ConnectionError`` makes werkzeug treat the request as a dropped connection instead of
    writing its own 500 page; its keep-alive loop then reads EOF and ends the connection.
    """
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionResetError("simulated connection drop")
