"""A small client for the simulator's control API (stdlib only, usable from any process)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, cast

CONTROL_PATH = "/_simulator"
# The simulator is a local test server: an HTTP(S)_PROXY from the environment must not catch it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SimulatorControlError(RuntimeError):
    """The control API answered with an error, or could not be reached."""


class SimulatorClient:
    """Talks to a running simulator's ``/_simulator/`` control API.

    :param endpoint_url: the simulator's base URL, e.g. ``http://127.0.0.1:5000``.
    :param timeout: seconds to wait for each request.
    """

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def health(self) -> bool:
        """Whether the simulator answers; never raises."""
        try:
            return bool(self._request("GET", "health", timeout=2.0).get("ok"))
        except SimulatorControlError:
            return False

    def wait_until_healthy(self, timeout: float = 30.0, interval: float = 0.1) -> bool:
        """Poll :meth:`health` until it is true or ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health():
                return True
            time.sleep(interval)
        return self.health()

    def add_rule(
        self,
        name_prefix: str,
        duration: float | None = None,
        outcome: str = "Completed",
        failure_reason: str | None = None,
    ) -> None:
        """Plan jobs whose name starts with ``name_prefix``; the newest matching rule wins.

        :param name_prefix: job-name prefix the rule applies to ("" matches every job).
        :param duration: seconds ``InProgress``; ``None`` keeps the simulator default.
        :param outcome: ``"Completed"`` or ``"Failed"``.
        :param failure_reason: ``FailureReason`` of failed jobs; ``None`` keeps the default.
        """
        rule = {
            "name_prefix": name_prefix,
            "duration": duration,
            "outcome": outcome,
            "failure_reason": failure_reason,
        }
        self._request("POST", "rules", rule)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job: name, status, secondary_status, created_at, tags and per-job calls."""
        return cast("list[dict[str, Any]]", self._request("GET", "jobs")["jobs"])

    def job(self, name: str) -> dict[str, Any] | None:
        """One job as in :meth:`jobs`, or ``None`` if there is no job of that name."""
        return next((job for job in self.jobs() if job["name"] == name), None)

    def calls(self) -> dict[str, int]:
        """How many times each SageMaker operation was received."""
        return cast("dict[str, int]", self._request("GET", "calls")["calls"])

    def reset(self) -> None:
        """Forget all jobs, rules and call counters."""
        self._request("POST", "reset", {})

    def _request(
        self,
        method: str,
        route: str,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.endpoint_url}{CONTROL_PATH}/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=timeout or self.timeout) as response:
                return cast("dict[str, Any]", json.loads(response.read()))
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            raise SimulatorControlError(f"{method} {route}: HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise SimulatorControlError(f"{method} {route}: {err}") from err
