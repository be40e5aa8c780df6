"""The simulator server: moto's WSGI app behind a middleware that owns training jobs.

SageMaker calls are answered here; CloudWatch Logs and STS calls get AWS's checks (expired
session tokens, faults the settings name, rate limits) in
:mod:`~sagemaker_async.testing.services` before moto answers them; any other call goes
straight to moto.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Response

from sagemaker_async.testing.api import SageMakerApi, job_name_in
from sagemaker_async.testing.capacity import Capacity
from sagemaker_async.testing.clients import aws_client
from sagemaker_async.testing.control import SimulatorClient
from sagemaker_async.testing.faults import THROTTLED, Decision, FaultInjector, drop_connection
from sagemaker_async.testing.handler import QuietHandler
from sagemaker_async.testing.history import parse_history, seed_history
from sagemaker_async.testing.jobs import JobStore, Rule, SageMakerError
from sagemaker_async.testing.limits import RateLimiter
from sagemaker_async.testing.listing import ListingSettings
from sagemaker_async.testing.loglines import LOG_GROUP
from sagemaker_async.testing.logs import JobLogs, LogTicker
from sagemaker_async.testing.operations import SAGEMAKER
from sagemaker_async.testing.protocols import (
    DEFAULT_REGION,
    aws_error,
    json_answer,
    json_labelled,
    parse_json,
    read_body,
    region_of,
)
from sagemaker_async.testing.routes import ControlApi, ControlRequest
from sagemaker_async.testing.services import LogsAndSts, expired_answer, identify
from sagemaker_async.testing.sts import AssumeRoleDesk, signer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

    from sagemaker_async.testing.handler import QuietHandler
from sagemaker_async.testing.faults import FaultSettings
from sagemaker_async.testing.logpages import LogOptions

CONTROL_PREFIX = "/_simulator/"

log = logging.getLogger(__name__)


class SimulatorApp:
    """WSGI middleware: control API, simulated training jobs, Logs and STS checks, moto.

    :param store: the job store.
    :param logs: the log writer.
    :param backend: the WSGI app that answers all other AWS requests (moto).
    """

    def __init__(self, store: JobStore, logs: JobLogs, backend: WSGIApplication) -> None:
        self.store = store
        self.logs = logs
        self.listing = ListingSettings()
        self.api = SageMakerApi(store, logs, self.listing)
        self.backend = backend
        self.faults = FaultInjector()
        self.limits = RateLimiter()
        self.sts = AssumeRoleDesk(store.clock)
        self.log_settings = logs.settings
        self.others = LogsAndSts(self.faults, self.limits, self.sts, self.log_settings, backend)
        # Quotas and capacity failures: the store asks them, under its lock, on each create.
        self.capacity = Capacity(store.running)
        store.admission = self.capacity
        self.control = ControlApi(self)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith(CONTROL_PREFIX):
            return self._control_call(environ, path)(environ, start_response)
        call = identify(environ)
        if call is None:
            if environ.get("HTTP_X_AMZ_TARGET"):
                start_response = json_labelled(start_response)
            return self.backend(environ, start_response)
        if call.service == SAGEMAKER:
            return self._sagemaker(call.operation, environ, start_response)
        return self.others.answer(call, environ, start_response)

    def _sagemaker(
        self, operation: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        body = parse_json(read_body(environ))
        job_name = job_name_in(body or {})
        who = signer(environ)
        self.store.count(operation, job_name, signer=None if who is None else who[0])
        if self.sts.expired(environ):  # refused before anything else, as AWS authenticates first
            return expired_answer(SAGEMAKER)(environ, start_response)
        # Decided before handling: a faulted call must have no effect (no job created).
        decision = self.faults.decide(operation)
        if decision.delay > 0:
            # Holds only this request's thread: the server runs one thread per request.
            time.sleep(decision.delay)
        if decision.kind is None or decision.serve_first:
            # The account's rate limit: over it, the call is answered and has no effect.
            if not self.limits.allow(operation):
                throttled = aws_error(THROTTLED.code, THROTTLED.message, THROTTLED.status)
                return throttled(environ, start_response)
            self.store.count(operation, job_name, served=True)
            served = self._serve(operation, body, environ)
            if decision.kind is None:
                return served(environ, start_response)
        return _fault_app(decision)(environ, start_response)

    def _serve(
        self, operation: str, body: dict[str, Any] | None, environ: WSGIEnvironment
    ) -> WSGIApplication:
        """The app that answers a call; our own operations run here, before it is called.

        That is what lets ``create_then_fail`` create the job and still answer an error.
        """
        if not self.api.handles(operation, body or {}):
            return self.backend
        return self._answer(operation, body, environ)

    def _answer(
        self, operation: str, body: dict[str, Any] | None, environ: WSGIEnvironment
    ) -> Response:
        try:
            if body is None:
                raise SageMakerError("SerializationException", "Request body is not a JSON object")
            result = self.api.call(operation, body, region_of(environ))
        except SageMakerError as err:
            return aws_error(err.code, err.message, err.status)
        except Exception:
            log.exception("simulator failed on %s", operation)
            return aws_error("InternalFailure", "The simulator failed unexpectedly.", 500)
        return json_answer(result)

    def _control_call(self, environ: WSGIEnvironment, path: str) -> Response:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        request = ControlRequest(
            body=parse_json(read_body(environ)),
            query={key: values[-1] for key, values in query.items()},
        )
        return self.control.answer(method, path[len(CONTROL_PREFIX) :].strip("/"), request)

    def reset(self) -> None:
        """Forget jobs, rules, faults, limits, quotas, capacity failures, counters (CloudWatch
        Logs and STS ones too) and assumed roles, restore the listing and log settings;
        delete the jobs' log streams."""
        self.faults.reset()
        self.limits.reset()
        self.capacity.reset()
        self.listing.reset()
        self.log_settings.reset()
        self.sts.reset()
        self.others.counts.reset()
        # Store first: once a job is gone from the store its logs are no longer written.
        self.store.reset()
        self.logs.reset()


def _fault_app(decision: Decision) -> WSGIApplication:
    if decision.answer is None:
        return drop_connection
    return aws_error(decision.answer.code, decision.answer.message, decision.answer.status)


class SageMakerSimulator:
    """SageMaker training jobs with a lifecycle, on top of moto's server, in a thread.

    :param host: interface to bind.
    :param port: port to bind; 0 picks a free one.
    :param default_duration: seconds a job stays ``InProgress`` unless a rule says otherwise.
    :param stop_delay: seconds between ``StopTrainingJob`` and ``Stopped``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        default_duration: float = 5.0,
        stop_delay: float = 1.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.store = JobStore(default_duration=default_duration, stop_delay=stop_delay)
        self.logs = JobLogs(clock=self.store.clock, is_current=self.store.is_current)
        backend = DomainDispatcherApplication(create_backend_app)
        self.app = SimulatorApp(self.store, self.logs, backend)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ticker: LogTicker | None = None

    def start(self) -> SageMakerSimulator:
        """Bind the port and serve in daemon threads."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = make_server(
            self.host, self._requested_port, self.app, threaded=True, request_handler=QuietHandler
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sagemaker-sim-server",
            daemon=True,
        )
        self._thread.start()
        self._ticker = LogTicker(self.logs)
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Shut the server down and join its threads; safe to call twice."""
        server, thread, ticker = self._server, self._thread, self._ticker
        self._server = self._thread = self._ticker = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()
        if ticker is not None:
            ticker.stop()

    def __enter__(self) -> SageMakerSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_port)

    @property
    def endpoint_url(self) -> str:
        """The URL to give boto3 / aiobotocore clients as ``endpoint_url``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def client(self) -> SimulatorClient:
        """A control API client for this simulator."""
        return SimulatorClient(self.endpoint_url)

    def add_rule(
        self,
        name_prefix: str,
        duration: float | None = None,
        outcome: str = "Completed",
        failure_reason: str | None = None,
    ) -> None:
        """Same as :meth:`SimulatorClient.add_rule`, without HTTP."""
        self.store.add_rule(Rule(name_prefix, duration, outcome, failure_reason))

    def hurry(self, name_prefix: str, within: float = 2.0) -> list[str]:
        """Same as :meth:`SimulatorClient.hurry`, without HTTP."""
        return self.store.hurry(name_prefix, within)

    def reset(self) -> None:
        """Same as :meth:`SimulatorClient.reset`, without HTTP."""
        self.app.reset()

    def set_faults(self, **config: Unpack[FaultSettings]) -> None:
        """Same as :meth:`SimulatorClient.set_faults`, without HTTP."""
        self.app.faults.configure(config)

    def clear_faults(self) -> None:
        """Same as :meth:`SimulatorClient.clear_faults`, without HTTP."""
        self.app.faults.configure({})

    def faults(self) -> dict[str, Any]:
        """Same as :meth:`SimulatorClient.faults`, without HTTP."""
        return self.app.faults.view()

    def set_credential_lifetime(self, seconds: float | None) -> None:
        """Same as :meth:`SimulatorClient.set_credential_lifetime`, without HTTP."""
        self.app.sts.configure(seconds)

    def assumed_roles(self) -> list[dict[str, Any]]:
        """Same as :meth:`SimulatorClient.assumed_roles`, without HTTP."""
        return list(self.app.sts.view()["assumed"])

    def set_listing(self, time_filters: str) -> None:
        """Same as :meth:`SimulatorClient.set_listing`, without HTTP."""
        self.app.listing.configure({"time_filters": time_filters})

    def set_logs(self, **settings: Unpack[LogOptions]) -> None:
        """Same as :meth:`SimulatorClient.set_logs`, without HTTP."""
        self.app.log_settings.configure(settings)

    def log_settings(self) -> dict[str, Any]:
        """Same as :meth:`SimulatorClient.log_settings`, without HTTP."""
        return self.app.log_settings.view()

    def set_rate_limits(self, limits: dict[str, float | dict[str, float]]) -> None:
        """Same as :meth:`SimulatorClient.set_rate_limits`, without HTTP."""
        self.app.limits.configure(limits)

    def set_quotas(self, quotas: dict[str, int]) -> None:
        """Same as :meth:`SimulatorClient.set_quotas`, without HTTP."""
        self.app.capacity.quotas.configure(quotas)

    def quotas(self, region: str = DEFAULT_REGION) -> dict[str, Any]:
        """Same as :meth:`SimulatorClient.quotas`, without HTTP."""
        return self.app.capacity.quotas.view(region)

    def add_capacity_failure(
        self,
        name_prefix: str,
        count: int | None = 1,
        after: float | None = None,
        reason: str = "CapacityError",
    ) -> None:
        """Same as :meth:`SimulatorClient.add_capacity_failure`, without HTTP."""
        failure = {"name_prefix": name_prefix, "count": count, "after": after, "reason": reason}
        self.app.capacity.failures.add(failure)

    def capacity_failures(self) -> list[dict[str, Any]]:
        """Same as :meth:`SimulatorClient.capacity_failures`, without HTTP."""
        return list(self.app.capacity.failures.view()["capacity_failures"])

    def seed_history(self, count: int, **spec: Any) -> int:
        """Same as :meth:`SimulatorClient.seed_history`, without HTTP."""
        return seed_history(self.store, parse_history({"count": count, **spec}, self.store.clock()))

    def log_lines(self, job_name: str) -> list[tuple[str, str]]:
        """``(stream, message)`` of every line the job wrote so far, as CloudWatch serves them,
        stream by stream (in stream name order), each stream's lines in order."""
        logs = aws_client("logs", self.endpoint_url)
        pages = logs.get_paginator("describe_log_streams").paginate(
            logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job_name}/"
        )
        lines = []
        for stream in (stream for page in pages for stream in page["logStreams"]):
            name = stream["logStreamName"]
            page = logs.get_log_events(
                logGroupName=LOG_GROUP, logStreamName=name, startFromHead=True
            )
            lines += [(name, str(event["message"])) for event in page["events"]]
        return lines
