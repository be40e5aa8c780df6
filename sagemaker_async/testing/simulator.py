"""The simulator server: moto's WSGI app behind a middleware that owns training jobs."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Response

from sagemaker_async.testing.api import SageMakerApi, job_name_in
from sagemaker_async.testing.control import SimulatorClient
from sagemaker_async.testing.faults import Decision, FaultInjector, drop_connection
from sagemaker_async.testing.handler import QuietHandler
from sagemaker_async.testing.jobs import JobStore, Rule, SageMakerError, TrainingJob
from sagemaker_async.testing.logs import JobLogs, LogTicker
from sagemaker_async.testing.sts import AssumeRoleDesk, signer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

    from sagemaker_async.testing.handler import QuietHandler
from sagemaker_async.testing.faults import FaultSettings

CONTROL_PREFIX = "/_simulator/"
DEFAULT_REGION = "us-east-1"
_AWS_JSON = "application/x-amz-json-1.1"

log = logging.getLogger(__name__)


class SimulatorApp:
    """WSGI middleware: control API, simulated training jobs, everything else to moto.

    :param store: the job store.
    :param logs: the log writer.
    :param backend: the WSGI app that answers all other AWS requests (moto).
    """

    def __init__(self, store: JobStore, logs: JobLogs, backend: WSGIApplication) -> None:
        self.store = store
        self.logs = logs
        self.api = SageMakerApi(store, logs)
        self.backend = backend
        self.faults = FaultInjector()
        self.sts = AssumeRoleDesk(store.clock)
        self._control: dict[tuple[str, str], Callable[[dict[str, Any] | None], Response]] = {
            ("GET", "health"): lambda _: _json(200, {"ok": True}),
            ("GET", "jobs"): lambda _: _json(200, {"jobs": self.jobs_view()}),
            ("GET", "calls"): lambda _: _json(200, self._calls_view()),
            ("POST", "rules"): self._add_rule,
            ("POST", "reset"): lambda _: self._reset(),
            ("GET", "faults"): lambda _: _json(200, self.faults.view()),
            ("POST", "faults"): self._set_faults,
            ("GET", "sts"): lambda _: _json(200, self.sts.view()),
            ("POST", "sts"): self._set_sts,
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith(CONTROL_PREFIX):
            return self._control_call(environ, path)(environ, start_response)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith("SageMaker."):
            return self._sagemaker(target.split(".", 1)[1], environ, start_response)
        who = signer(environ)
        if who is not None and who[2] == "sts":
            request = self.sts.request_of(_read_body(environ))
            if request is not None:
                return self.sts.answer(request, self.backend, environ, start_response)
        return self.backend(environ, start_response)

    def jobs_view(self) -> list[dict[str, Any]]:
        """The control API's view of every job."""
        now = self.store.clock()
        return [self._job_view(job, now) for job in self.store.jobs()]

    def _job_view(self, job: TrainingJob, now: float) -> dict[str, Any]:
        listed, first_listed = self.store.job_listed(job.name)
        return {
            "name": job.name,
            "status": job.status(now),
            "secondary_status": job.secondary_status(now),
            "created_at": job.created_at,
            "tags": dict(job.tags),
            "calls": self.store.job_calls(job.name),
            "served_calls": self.store.job_calls(job.name, served=True),
            "signers": self.store.job_signers(job.name),
            "first_calls": self.store.job_first_calls(job.name),
            "listed": listed,
            "first_listed": first_listed,
        }

    def _calls_view(self) -> dict[str, Any]:
        return {"calls": self.store.calls(), "served": self.store.calls(served=True)}

    def _sagemaker(
        self, operation: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        body = _parse_json(_read_body(environ))
        job_name = job_name_in(body or {})
        who = signer(environ)
        self.store.count(operation, job_name, signer=None if who is None else who[0])
        # Decided before handling: a faulted call must have no effect (no job created).
        decision = self.faults.decide(operation)
        if decision.delay > 0:
            # Holds only this request's thread: the server runs one thread per request.
            time.sleep(decision.delay)
        if decision.kind is None or decision.serve_first:
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
            result = self.api.call(operation, body, _region(environ))
        except SageMakerError as err:
            return aws_error(err.code, err.message, err.status)
        except Exception:
            log.exception("simulator failed on %s", operation)
            return aws_error("InternalFailure", "The simulator failed unexpectedly.", 500)
        return Response(json.dumps(result), 200, _aws_headers(), content_type=_AWS_JSON)

    def _control_call(self, environ: WSGIEnvironment, path: str) -> Response:
        route = (str(environ.get("REQUEST_METHOD", "GET")), path[len(CONTROL_PREFIX) :].strip("/"))
        handler = self._control.get(route)
        if handler is None:
            return _json(404, {"ok": False, "error": f"no control route {route[0]} {path}"})
        return handler(_parse_json(_read_body(environ)))

    def _add_rule(self, body: dict[str, Any] | None) -> Response:
        try:
            rule = _rule_from(body)
            self.store.add_rule(rule)
        except (TypeError, ValueError) as err:
            return _json(400, {"ok": False, "error": str(err)})
        return _json(200, {"ok": True})

    def reset(self) -> None:
        """Forget jobs, rules, faults, counters and assumed roles; delete the jobs' log streams."""
        self.faults.reset()
        self.sts.reset()
        # Store first: once a job is gone from the store its logs are no longer written.
        self.store.reset()
        self.logs.reset()

    def _set_faults(self, body: dict[str, Any] | None) -> Response:
        try:
            if body is None:
                raise ValueError("the fault configuration must be a JSON object")
            self.faults.configure(body)
        except ValueError as err:
            return _json(400, {"ok": False, "error": str(err)})
        return _json(200, {"ok": True, **self.faults.view()})

    def _set_sts(self, body: dict[str, Any] | None) -> Response:
        try:
            if body is None:
                raise ValueError("the STS configuration must be a JSON object")
            self.sts.configure(body.get("credential_lifetime"))
        except (TypeError, ValueError) as err:
            return _json(400, {"ok": False, "error": str(err)})
        return _json(200, {"ok": True, **self.sts.view()})

    def _reset(self) -> Response:
        self.reset()
        return _json(200, {"ok": True})


def _fault_app(decision: Decision) -> WSGIApplication:
    if decision.answer is None:
        return drop_connection
    return aws_error(decision.answer.code, decision.answer.message, decision.answer.status)


def aws_error(code: str, message: str, status: int = 400) -> Response:
    """An error response botocore parses like a real AWS JSON-protocol error."""
    headers = {**_aws_headers(), "x-amzn-ErrorType": code}
    payload = json.dumps({"__type": code, "message": message})
    return Response(payload, status, headers, content_type=_AWS_JSON)


def _aws_headers() -> dict[str, str]:
    return {"x-amzn-RequestId": str(uuid.uuid4())}


def _json(status: int, payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload), status, content_type="application/json")


def _read_body(environ: WSGIEnvironment) -> bytes:
    """Read the request body and put it back, so moto can still read it on pass-through."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _parse_json(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _region(environ: WSGIEnvironment) -> str:
    who = signer(environ)
    return who[1] if who else DEFAULT_REGION


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
        self._ticker = LogTicker(self.logs, self.store.jobs)
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

    def log_lines(self, job_name: str) -> list[tuple[str, str]]:
        """``(stream, message)`` of every line the job wrote so far, as CloudWatch serves them."""
        logs = boto3.client(
            "logs",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        group = "/aws/sagemaker/TrainingJobs"
        streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job_name}/")
        lines = []
        for stream in streams["logStreams"]:
            name = stream["logStreamName"]
            page = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)
            lines += [(name, str(event["message"])) for event in page["events"]]
        return lines
