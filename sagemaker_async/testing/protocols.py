"""Answers in each AWS wire protocol the simulator speaks, and small WSGI request helpers.

SageMaker and CloudWatch Logs speak JSON 1.1: an error is ``{"__type": code, "message": ...}``
with the code in ``x-amzn-ErrorType`` too. STS speaks the query protocol: an error is an XML
``ErrorResponse`` whose ``Error`` holds ``Type`` (``Sender`` or ``Receiver``), ``Code`` and
``Message``, as STS sends it (e.g. ``<Code>Throttling</Code><Message>Rate exceeded</Message>``
with HTTP 400, the answer AWS's knowledge-center article "iam-sts-throttling-error" quotes).

Callers name errors by their JSON codes; :data:`QUERY_CODES` gives the query protocol's
name where it differs:

- ``ThrottlingException`` is ``Throttling``: botocore's STS model has no throttling shape,
  and botocore's retry rules (``_retry.json``, ``retries/standard.py``) list ``Throttling``
  as the query services' throttling code;
- ``ExpiredTokenException`` (a request signed with an expired session token) is
  ``ExpiredToken``, "The security token included in the request is expired", as query
  services (STS, IAM) answer it; botocore's STS ``ExpiredTokenException`` shape is another
  error, the expired web identity token of ``AssumeRoleWithWebIdentity``.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from sagemaker_async.testing.operations import STS
from sagemaker_async.testing.sts import signer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

AWS_JSON = "application/x-amz-json-1.1"
DEFAULT_REGION = "us-east-1"
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
QUERY_CODES = {"ThrottlingException": "Throttling", "ExpiredTokenException": "ExpiredToken"}


def aws_error(code: str, message: str, status: int = 400) -> Response:
    """An error response botocore parses like a real AWS JSON-protocol error."""
    headers = {**aws_headers(), "x-amzn-ErrorType": code}
    payload = json.dumps({"__type": code, "message": message})
    return Response(payload, status, headers, content_type=AWS_JSON)


def query_error(code: str, message: str, status: int = 400) -> Response:
    """An STS (query protocol) error response; ``code`` as :data:`QUERY_CODES` renames it."""
    kind = "Sender" if status < 500 else "Receiver"
    payload = (
        f'<ErrorResponse xmlns="{STS_NAMESPACE}">'
        f"<Error><Type>{kind}</Type><Code>{escape(QUERY_CODES.get(code, code))}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return Response(payload, status, content_type="text/xml")


def error_for(service: str, code: str, message: str, status: int = 400) -> Response:
    """The error in the protocol of ``service`` (STS: query; the others: JSON 1.1)."""
    if service == STS:
        return query_error(code, message, status)
    return aws_error(code, message, status)


def aws_headers() -> dict[str, str]:
    """Headers every AWS answer carries."""
    return {"x-amzn-RequestId": str(uuid.uuid4())}


def json_labelled(start_response: StartResponse) -> StartResponse:
    """AWS answers JSON-protocol calls (those with an ``X-Amz-Target``, such as CloudWatch
    Logs') as ``application/x-amz-json-1.1``; moto labels some of them ``text/html``, which
    a client that refuses HTML pages from a wrong endpoint rightly takes for one."""

    def relabelled(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
        headers = [
            ("Content-Type", AWS_JSON)
            if key.lower() == "content-type" and value.lower().startswith("text/html")
            else (key, value)
            for key, value in headers
        ]
        return start_response(status, headers, *rest)

    return relabelled


def read_body(environ: WSGIEnvironment) -> bytes:
    """Read the request body and put it back, so moto can still read it on pass-through."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def parse_json(raw: bytes) -> dict[str, Any] | None:
    """A JSON object body, or ``None`` if it is not one."""
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def region_of(environ: WSGIEnvironment) -> str:
    """The Region the request was signed for."""
    who = signer(environ)
    return who[1] if who else DEFAULT_REGION


def json_answer(result: dict[str, Any]) -> Response:
    """A successful JSON 1.1 answer."""
    return Response(json.dumps(result), 200, aws_headers(), content_type=AWS_JSON)
