"""Who signed each request, and STS ``AssumeRole`` answered by moto but watched by the simulator.

Tests of assumed roles need to see which credentials reached SageMaker, and credentials that
expire within seconds to exercise their refresh. Real STS (and botocore's own parameter
validation) refuses a ``DurationSeconds`` under 900 and moto takes any value, so the simulator
can instead rewrite the ``Expiration`` of moto's answer to a few seconds ahead.

Temporary credentials stop working at their ``Expiration`` ("The date on which the current
credentials expire", the ``Credentials`` shape of botocore's STS model): AWS answers a request
signed with an expired session token ``ExpiredTokenException`` (JSON protocols; ``ExpiredToken``
in the query protocol), "The security token included in the request is expired". The desk
remembers when each session token it handed out expires so the simulator can answer the same;
requests without a session token (long-term keys) and tokens it never issued are accepted.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_SIGNER = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/")
_EXPIRATION = re.compile(rb"<Expiration>([^<]*)</Expiration>")
_ACCESS_KEY = re.compile(rb"<AccessKeyId>([^<]*)</AccessKeyId>")
_SESSION_TOKEN = re.compile(rb"<SessionToken>([^<]*)</SessionToken>")
#: The message AWS sends with ``ExpiredTokenException`` / ``ExpiredToken``.
EXPIRED_MESSAGE = "The security token included in the request is expired"
#: ``AssumeRole`` form fields that are protocol, not request.
_PROTOCOL_FIELDS = ("Action", "Version")


def signer(environ: WSGIEnvironment) -> tuple[str, str, str] | None:
    """``(access key id, region, service)`` from the request's SigV4 ``Authorization`` header."""
    match = _SIGNER.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return None if match is None else (match.group(1), match.group(2), match.group(3))


class AssumeRoleDesk:
    """Records every ``AssumeRole`` moto answers; can shorten the credentials' lifetime.

    :param clock: the time source (epoch seconds).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._lifetime: float | None = None
        self._assumed: list[dict[str, Any]] = []
        self._expiry: dict[str, float] = {}  # session token -> epoch seconds it expires at

    def configure(self, lifetime: float | None) -> None:
        """Seconds the credentials of later ``AssumeRole`` answers last; ``None``: moto's."""
        if lifetime is not None and not lifetime > 0:
            raise ValueError(f"credential_lifetime must be a positive number, got {lifetime!r}")
        with self._lock:
            self._lifetime = None if lifetime is None else float(lifetime)

    def view(self) -> dict[str, Any]:
        """``{"credential_lifetime": s or None, "assumed": [...]}``, oldest first.

        Each assumed role: ``source_key`` (the key id that signed the request), ``request``
        (its fields, e.g. ``RoleArn``, ``ExternalId``), ``access_key`` (the key id issued),
        ``expiration`` (as answered) and ``at`` (epoch seconds).
        """
        with self._lock:
            return {"credential_lifetime": self._lifetime, "assumed": list(self._assumed)}

    def reset(self) -> None:
        """Forget the records and answer with moto's lifetime again."""
        with self._lock:
            self._lifetime = None
            self._assumed.clear()
            self._expiry.clear()

    def expired(self, environ: WSGIEnvironment) -> bool:
        """Whether the request is signed with a session token this desk issued that has
        expired; long-term keys (no token) and unknown tokens never are."""
        token = str(environ.get("HTTP_X_AMZ_SECURITY_TOKEN", ""))
        if not token:
            return False
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and self.clock() >= expiry

    @staticmethod
    def request_of(body: bytes) -> dict[str, str] | None:
        """The fields of an STS request if it is an ``AssumeRole``, else ``None``."""
        fields = dict(parse_qsl(body.decode(errors="replace")))
        if fields.get("Action") != "AssumeRole":
            return None
        return {k: v for k, v in fields.items() if k not in _PROTOCOL_FIELDS}

    def answer(
        self,
        request: dict[str, str],
        backend: WSGIApplication,
        environ: WSGIEnvironment,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """Let moto answer, then shorten the lifetime if asked and record the call."""
        status, headers, payload = _call(backend, environ)
        with self._lock:
            lifetime = self._lifetime
        if status.startswith("200"):
            if lifetime is not None:
                expiry = datetime.fromtimestamp(self.clock() + lifetime, timezone.utc)
                stamp = expiry.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
                payload = _EXPIRATION.sub(b"<Expiration>" + stamp + b"</Expiration>", payload)
            self._record(request, environ, payload)
            self._note_expiry(payload)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    def _record(self, request: dict[str, str], environ: WSGIEnvironment, payload: bytes) -> None:
        issued = _ACCESS_KEY.search(payload)
        expiration = _EXPIRATION.search(payload)
        who = signer(environ)
        with self._lock:
            self._assumed.append(
                {
                    "source_key": None if who is None else who[0],
                    "request": request,
                    "access_key": issued.group(1).decode() if issued else None,
                    "expiration": expiration.group(1).decode() if expiration else None,
                    "at": self.clock(),
                }
            )

    def _note_expiry(self, payload: bytes) -> None:
        token, expiration = _SESSION_TOKEN.search(payload), _EXPIRATION.search(payload)
        if token is None or expiration is None:
            return
        try:
            expiry = datetime.fromisoformat(expiration.group(1).decode().replace("Z", "+00:00"))
        except ValueError:
            return  # an answer the desk cannot read: its token is simply never refused
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)
        with self._lock:
            self._expiry[token.group(1).decode()] = expiry.timestamp()


def _call(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[str, list[Any], bytes]:
    """Run a WSGI app to completion; return its status, headers and body."""
    answered: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        answered["status"], answered["headers"] = status, headers
        return chunks.append

    body = app(environ, start_response)
    try:
        chunks.extend(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return answered["status"], answered["headers"], b"".join(chunks)
