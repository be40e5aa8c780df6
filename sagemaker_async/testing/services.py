"""Which AWS call a request is, and the CloudWatch Logs and STS calls the package makes.

SageMaker calls are the simulator's own (:mod:`~sagemaker_async.testing.simulator`). The
CloudWatch Logs (JSON 1.1, ``X-Amz-Target: Logs_20140328.<operation>``) and STS (query
protocol, ``Action=<operation>``) calls go to moto, after the checks AWS makes of every call,
each answered in the service's protocol (:mod:`~sagemaker_async.testing.protocols`):

1. a request signed with an expired session token is refused (``ExpiredTokenException``;
   STS: ``ExpiredToken``);
2. injected faults, only for operations the fault settings name;
3. the account's rate limit of the operation (``ThrottlingException``; STS: ``Throttling``).

FilterLogEvents is answered here rather than by moto (:mod:`~sagemaker_async.testing.logpages`):
moto ignores ``logStreamNamePrefix`` and would answer every stream of the group. AssumeRole
goes through the :class:`~sagemaker_async.testing.sts.AssumeRoleDesk`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from moto.logs.models import logs_backends

from sagemaker_async.testing.faults import Decision, FaultInjector, drop_connection
from sagemaker_async.testing.jobs import ACCOUNT_ID
from sagemaker_async.testing.limits import RateLimiter
from sagemaker_async.testing.logpages import LogsError, LogSettings, filter_page
from sagemaker_async.testing.operations import LOGS, SAGEMAKER, STS
from sagemaker_async.testing.protocols import (
    error_for,
    json_answer,
    json_labelled,
    parse_json,
    read_body,
    region_of,
)
from sagemaker_async.testing.sts import EXPIRED_MESSAGE, AssumeRoleDesk, signer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_LOGS_TARGET = "Logs_20140328."


@dataclass(frozen=True)
class Call:
    """One AWS call: its service (``sagemaker``, ``logs`` or ``sts``) and operation."""

    service: str
    operation: str


def identify(environ: WSGIEnvironment) -> Call | None:
    """The SageMaker, CloudWatch Logs or STS call a request makes; ``None`` for any other."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target.startswith("SageMaker."):
        return Call(SAGEMAKER, target.split(".", 1)[1])
    if target.startswith(_LOGS_TARGET):
        return Call(LOGS, target[len(_LOGS_TARGET) :])
    who = signer(environ)
    if who is None or who[2] != STS:
        return None
    fields = dict(parse_qsl(read_body(environ).decode(errors="replace")))
    fields = fields or dict(parse_qsl(str(environ.get("QUERY_STRING", ""))))
    action = fields.get("Action")
    return Call(STS, action) if action else None


def expired_answer(service: str) -> WSGIApplication:
    """The answer to a request signed with an expired session token.

    ``ExpiredTokenException`` (STS: ``ExpiredToken``) with HTTP 400, the status CloudWatch
    Logs and SageMaker answer other credential errors with (``UnrecognizedClientException``,
    "The security token included in the request is invalid") and query services answer
    ``ExpiredToken`` with. AWS's "Common Errors" pages list ``ExpiredTokenException`` with
    403; botocore reads the code from the body either way.
    """
    return error_for(service, "ExpiredTokenException", EXPIRED_MESSAGE, 400)


class CallCounts:
    """How many times each CloudWatch Logs or STS operation was received, and served; the
    SageMaker counters live with the jobs (:class:`~sagemaker_async.testing.jobs.JobStore`).

    Received counts every call, refused ones too (expired token, fault, rate limit); served
    only those handed on to be answered. Thread-safe: the server runs a thread per request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: Counter[str] = Counter()
        self._served: Counter[str] = Counter()

    def count(self, operation: str, served: bool = False) -> None:
        with self._lock:
            (self._served if served else self._received)[operation] += 1

    def view(self) -> dict[str, dict[str, int]]:
        """``{"received": {operation: n}, "served": {operation: n}}`` since the last reset."""
        with self._lock:
            return {"received": dict(self._received), "served": dict(self._served)}

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self._served.clear()


class LogsAndSts:
    """Answers CloudWatch Logs and STS calls (see the module doc), counting them.

    :param faults: the fault injector.
    :param limits: the account's rate limits.
    :param sts: the AssumeRole desk (credential lifetimes, expired tokens).
    :param log_settings: the CloudWatch Logs settings (sparse pages).
    :param backend: moto's WSGI app.
    """

    def __init__(
        self,
        faults: FaultInjector,
        limits: RateLimiter,
        sts: AssumeRoleDesk,
        log_settings: LogSettings,
        backend: WSGIApplication,
    ) -> None:
        self.faults = faults
        self.limits = limits
        self.sts = sts
        self.log_settings = log_settings
        self.backend = backend
        self.counts = CallCounts()

    def answer(
        self, call: Call, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Check the call, then serve it."""
        self.counts.count(call.operation)
        if self.sts.expired(environ):
            return expired_answer(call.service)(environ, start_response)
        decision = self.faults.decide(call.operation, by_default=False)
        if decision.delay > 0:
            time.sleep(decision.delay)  # holds only this request's thread
        if decision.kind is not None:
            return self._fault(call.service, decision)(environ, start_response)
        if not self.limits.allow(call.operation):
            throttled = error_for(call.service, "ThrottlingException", "Rate exceeded", 400)
            return throttled(environ, start_response)
        self.counts.count(call.operation, served=True)
        return self._serve(call, environ, start_response)

    def _serve(
        self, call: Call, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if call.service == STS:
            request = self.sts.request_of(read_body(environ))
            if request is not None:
                return self.sts.answer(request, self.backend, environ, start_response)
            return self.backend(environ, start_response)
        if call.operation == "FilterLogEvents":
            return self._filter_page(environ)(environ, start_response)
        return self.backend(environ, json_labelled(start_response))

    def _filter_page(self, environ: WSGIEnvironment) -> WSGIApplication:
        body = parse_json(read_body(environ))
        if body is None:
            return error_for(LOGS, "SerializationException", "Request body is not a JSON object")
        backend = logs_backends[ACCOUNT_ID][region_of(environ)]
        try:
            return json_answer(filter_page(self.log_settings.current(), backend, body))
        except LogsError as err:
            return error_for(LOGS, err.code, err.message, 400)

    @staticmethod
    def _fault(service: str, decision: Decision) -> WSGIApplication:
        if decision.answer is None:
            return drop_connection
        answer = decision.answer
        return error_for(service, answer.code, answer.message, answer.status)
