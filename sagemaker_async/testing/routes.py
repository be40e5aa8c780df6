"""The simulator's control API (``/_simulator/...``): its routes and their JSON answers.

:class:`~sagemaker_async.testing.control.SimulatorClient` is its client; every route is
answered here, never faulted, limited or counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from sagemaker_async.testing.history import parse_history, seed_history
from sagemaker_async.testing.jobs import Rule, SageMakerError, TrainingJob
from sagemaker_async.testing.quotas import DEFAULT_REGION
from sagemaker_async.testing.stopping import positive_seconds

if TYPE_CHECKING:
    from sagemaker_async.testing.simulator import SimulatorApp


@dataclass(frozen=True)
class ControlRequest:
    """A control call: its JSON object body (``None`` if absent or not an object) and its
    query parameters (the last value of each)."""

    body: dict[str, Any] | None
    query: dict[str, str]


Handler = Callable[[ControlRequest], Response]


class ControlApi:
    """Answers the control routes of one simulator app.

    :param app: the simulator app whose jobs, faults, limits and settings are controlled.
    """

    def __init__(self, app: SimulatorApp) -> None:
        self.app = app
        failures = app.capacity.failures
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "health"): lambda _: json_response(200, {"ok": True}),
            ("GET", "jobs"): self._jobs,
            ("GET", "calls"): lambda _: json_response(200, self._calls_view()),
            ("POST", "rules"): self._add_rule,
            ("POST", "hurry"): self._hurry,
            ("POST", "reset"): self._reset,
            ("GET", "faults"): lambda _: json_response(200, app.faults.view()),
            ("POST", "faults"): _setter(app.faults.configure, app.faults.view),
            ("GET", "sts"): lambda _: json_response(200, app.sts.view()),
            ("POST", "sts"): _setter(self._configure_sts, app.sts.view),
            ("GET", "listing"): lambda _: json_response(200, app.listing.view()),
            ("POST", "listing"): _setter(app.listing.configure, app.listing.view),
            ("GET", "logs"): lambda _: json_response(200, app.log_settings.view()),
            ("POST", "logs"): _setter(app.log_settings.configure, app.log_settings.view),
            ("GET", "limits"): lambda _: json_response(200, app.limits.view()),
            ("POST", "limits"): _setter(app.limits.configure, app.limits.view),
            ("POST", "history"): self._seed_history,
            ("GET", "quotas"): self._quotas,
            ("POST", "quotas"): _setter(app.capacity.quotas.configure, app.capacity.quotas.view),
            ("GET", "capacity_failures"): lambda _: json_response(200, failures.view()),
            ("POST", "capacity_failures"): _setter(failures.add, failures.view),
        }

    def answer(self, method: str, route: str, request: ControlRequest) -> Response:
        """The answer to ``method`` on ``/_simulator/{route}``."""
        handler = self._routes.get((method, route))
        if handler is None:
            return json_response(404, {"ok": False, "error": f"no control route {method} {route}"})
        return handler(request)

    def jobs_view(self, prefix: str | None = None) -> list[dict[str, Any]]:
        """The control API's view of every job (or those whose name starts with ``prefix``)."""
        now = self.app.store.clock()
        return [self._job_view(job, now) for job in self.app.store.jobs(prefix)]

    def _jobs(self, request: ControlRequest) -> Response:
        return json_response(200, {"jobs": self.jobs_view(request.query.get("prefix"))})

    def _job_view(self, job: TrainingJob, now: float) -> dict[str, Any]:
        store = self.app.store
        listed, first_listed = store.job_listed(job.name)
        return {
            "name": job.name,
            "status": job.status(now),
            "secondary_status": job.secondary_status(now),
            "created_at": job.created_at,
            "ended_at": job.end_time(now),
            "tags": dict(job.tags),
            "calls": store.job_calls(job.name),
            "served_calls": store.job_calls(job.name, served=True),
            "signers": store.job_signers(job.name),
            "first_calls": store.job_first_calls(job.name),
            "listed": listed,
            "first_listed": first_listed,
        }

    def _calls_view(self) -> dict[str, Any]:
        store = self.app.store
        return {
            "calls": store.calls(),
            "served": store.calls(served=True),
            "logs_sts": self.app.others.counts.view(),
        }

    def _quotas(self, request: ControlRequest) -> Response:
        region = request.query.get("region", DEFAULT_REGION)
        return json_response(200, self.app.capacity.quotas.view(region))

    def _add_rule(self, request: ControlRequest) -> Response:
        try:
            self.app.store.add_rule(_rule_from(request.body))
        except (TypeError, ValueError) as err:
            return json_response(400, {"ok": False, "error": str(err)})
        return json_response(200, {"ok": True})

    def _hurry(self, request: ControlRequest) -> Response:
        body = request.body or {}
        prefix, within = body.get("name_prefix"), positive_seconds(body.get("within", 2.0))
        if not isinstance(prefix, str) or within is None:
            error = "hurry needs a string name_prefix and a positive number of seconds, within"
            return json_response(400, {"ok": False, "error": error})
        return json_response(200, {"jobs": self.app.store.hurry(prefix, within)})

    def _reset(self, request: ControlRequest) -> Response:
        self.app.reset()
        return json_response(200, {"ok": True})

    def _configure_sts(self, body: object) -> None:
        if not isinstance(body, dict):
            raise ValueError("the STS configuration must be a JSON object")
        self.app.sts.configure(body.get("credential_lifetime"))

    def _seed_history(self, request: ControlRequest) -> Response:
        started = time.monotonic()
        store = self.app.store
        try:
            created = seed_history(store, parse_history(request.body, store.clock()))
        except ValueError as err:
            return json_response(400, {"ok": False, "error": str(err)})
        except SageMakerError as err:
            return json_response(400, {"ok": False, "error": err.message})
        seconds = time.monotonic() - started
        return json_response(200, {"ok": True, "created": created, "seconds": seconds})


def _setter(configure: Callable[[Any], object], view: Callable[[], dict[str, Any]]) -> Handler:
    """A POST route that configures from the body: 400 with the reason if it is refused,
    else 200 with the view of the new configuration."""

    def handler(request: ControlRequest) -> Response:
        try:
            if request.body is None:
                raise ValueError("the body must be a JSON object")
            configure(request.body)
        except (TypeError, ValueError) as err:
            return json_response(400, {"ok": False, "error": str(err)})
        return json_response(200, {"ok": True, **view()})

    return handler


def json_response(status: int, payload: dict[str, Any]) -> Response:
    """A control API answer."""
    return Response(json.dumps(payload), status, content_type="application/json")


def _rule_from(body: dict[str, Any] | None) -> Rule:
    if body is None or not isinstance(body.get("name_prefix"), str):
        raise ValueError("a rule needs a string name_prefix")
    duration = body.get("duration")
    return Rule(
        name_prefix=body["name_prefix"],
        duration=None if duration is None else float(duration),
        outcome=str(body.get("outcome") or "Completed"),
        failure_reason=body.get("failure_reason"),
    )
