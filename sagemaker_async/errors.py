"""Sorting AWS errors into transient (retry) and final (report), by error code or class.

Never by message text. Errors that show the client set up wrong (an endpoint that refuses
connections or does not resolve, an answer that is not the AWS API's, a CA bundle that
cannot be loaded) are final, and their one-line :func:`summary` names the setting to check.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import random
import re
import socket
import ssl
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import botocore
import botocore.loaders
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    HTTPClientError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
#: What an AWS call through aiobotocore raises when it fails.
CALL_ERRORS = (ClientError, BotoCoreError, asyncio.TimeoutError, ConnectionError)
THROTTLING_CODES = frozenset(c for c in TRANSIENT_CODES if "hrottl" in c or "Limit" in c)
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
#: DescribeTrainingJob answers ``ValidationException`` for an unknown name; the name has been
#: validated before any call, so here that code means "no such job".
NOT_FOUND_CODES = frozenset({"ValidationException", "ResourceNotFound"})
#: Pauses between attempts to reach an endpoint that has not answered yet and cannot be
#: connected to at all (connection refused, no route, host name not resolved): three
#: attempts over about 10 s ride out a proxy restarting or a resolver's hiccup, and a wrong
#: ``endpoint_url`` or region fails in seconds instead of retrying for the whole wait.
UNREACHABLE_PAUSES = (3.0, 6.0)
#: Statuses of answers without an AWS error document that may heal by waiting: those
#: botocore's standard retry mode retries (server errors, gateways), and 429. Any other
#: such answer (a 501, a 404 page) means the endpoint is not the AWS API.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_CONNECT_FAILURES = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network unreachable",
}
_NOT_RESOLVED = "host name does not resolve"
#: What loading a CA bundle that is missing, unreadable or not PEM raises inside the HTTP
#: client (aiobotocore wraps it in a bare ``HTTPClientError``).
_TLS_SETUP_ERRORS = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    ssl.SSLError,
)


class NotAwsAnswerError(ClientError):
    """An HTTP answer that is not the AWS API's (an HTML page, a proxy's text, a 501).

    Its message is one line naming the status and the endpoint; the body is dropped. The
    error code stays the HTTP status, as botocore set it. Built by :func:`not_aws_answer`
    and :func:`check_answer`.
    """


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ``ClientError``, else ``None``."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def _http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same call later may succeed.

    An unreachable endpoint (:func:`is_unreachable`) counts as transient here; callers bound
    its retries while the endpoint has never answered.
    """
    if isinstance(exc, ClientError):
        if not is_aws_answer(exc):
            return _http_status(exc) in RETRYABLE_STATUSES
        return error_code(exc) in TRANSIENT_CODES or _http_status(exc) >= 500
    if isinstance(exc, SSLError) or tls_setup_failure(exc) is not None:
        return False  # a certificate problem does not go away by waiting
    # Connection resets, refused connections and read/connect timeouts.
    return isinstance(
        exc, HTTPClientError | BotoConnectionError | asyncio.TimeoutError | ConnectionError
    )


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND_CODES


def is_aws_answer(exc: ClientError) -> bool:
    """Whether the error came with an AWS error code. When the body holds none (an HTML
    page, a proxy's text), botocore's JSON protocols use the HTTP status as the code."""
    code = error_code(exc)
    return code is not None and code != str(_http_status(exc))


def not_aws_answer(exc: ClientError, endpoint_url: str | None) -> ClientError:
    """``exc`` if AWS answered it; else a :class:`NotAwsAnswerError` in its place, without
    the body (raise it ``from None``, so the body stays out of tracebacks too)."""
    if is_aws_answer(exc) or isinstance(exc, NotAwsAnswerError):
        return exc
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}
    return _not_aws(_http_status(exc), headers, exc.operation_name, endpoint_url)


def check_answer(response: Mapping[str, Any], operation: str, endpoint_url: str | None) -> None:
    """Raise :class:`NotAwsAnswerError` for a successful answer that is an HTML page (a
    captive portal, a proxy's sign-in page): botocore returns it as an empty response, and a
    job with no status would be polled until the deadline. An answer that parsed into fields
    is AWS's, whatever its label."""
    metadata = response.get("ResponseMetadata") or {}
    headers = metadata.get("HTTPHeaders") or {}
    parsed = any(key != "ResponseMetadata" for key in response)
    if _media_type(headers) == "text/html" and not parsed:
        status = int(metadata.get("HTTPStatusCode") or 0)
        raise _not_aws(status, headers, operation, endpoint_url)


def _not_aws(
    status: int, headers: Mapping[str, Any], operation: str, endpoint_url: str | None
) -> NotAwsAnswerError:
    message = (
        f"HTTP {status} from {endpoint_url or 'the endpoint'}: not an AWS answer "
        f"({_media_type(headers) or 'no content type'}); check endpoint_url"
    )
    response: Any = {
        "Error": {"Code": str(status), "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return NotAwsAnswerError(response, operation)


def _media_type(headers: Mapping[str, Any]) -> str:
    return str(headers.get("content-type") or "").split(";")[0].strip().lower()


def connect_failure(exc: BaseException) -> str | None:
    """Why no connection to the endpoint could be opened ("connection refused", "host name
    does not resolve", ...), or ``None`` if that is not what ``exc`` says. Resets, timeouts
    and dropped connections are not such failures: they meet an endpoint that exists."""
    if not isinstance(exc, EndpointConnectionError):
        return None
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            # "Temporary failure in name resolution" is the resolver's outage, not the name's.
            return None if cause.errno == socket.EAI_AGAIN else _NOT_RESOLVED
        if isinstance(cause, OSError) and cause.errno in _CONNECT_FAILURES:
            return _CONNECT_FAILURES[cause.errno]
    return None


def is_unreachable(exc: BaseException) -> bool:
    """Whether no connection to the endpoint could be opened at all."""
    return connect_failure(exc) is not None


def unreachable_pause(exc: BaseException, tries: int) -> float | None:
    """The pause before trying an unreachable endpoint again after ``tries`` failed
    attempts in a row; ``None`` once :data:`UNREACHABLE_PAUSES` are spent, and at once for
    a host that names a region botocore does not know (no wait makes it resolve)."""
    if unknown_region(exc) is not None or tries > len(UNREACHABLE_PAUSES):
        return None
    return UNREACHABLE_PAUSES[max(tries, 1) - 1]


def unknown_region(exc: BaseException) -> str | None:
    """The region in the host name of an endpoint that does not resolve, when botocore
    knows no region of that name (a typo such as ``us-eest-1``); else ``None``."""
    if connect_failure(exc) != _NOT_RESOLVED:
        return None
    for label in _host(exc).split("."):
        shaped = [known for pattern, known in _partitions() if pattern.match(label)]
        if shaped and not any(label in known for known in shaped):
            return label
    return None


def tls_setup_failure(exc: BaseException) -> BaseException | None:
    """The local error that kept the HTTP client from setting up TLS (a CA bundle that is
    missing, unreadable or not PEM), or ``None``."""
    if not isinstance(exc, HTTPClientError):
        return None
    wrapped = exc.kwargs.get("error")
    return wrapped if isinstance(wrapped, _TLS_SETUP_ERRORS) else None


def is_misconfiguration(exc: BaseException) -> bool:
    """Whether ``exc`` shows the client set up wrong: an endpoint that cannot be connected
    to, an answer that is not the AWS API's, TLS that cannot be set up. No retry of the task
    heals these (callers give an unreachable endpoint its bounded retries first)."""
    if isinstance(exc, ClientError):
        return not is_aws_answer(exc) and not is_transient(exc)
    return is_unreachable(exc) or tls_setup_failure(exc) is not None


def summary(exc: BaseException) -> str:
    """``exc`` in one line, never with a response body; for a client set up wrong, what
    went wrong where and which setting to check."""
    if isinstance(exc, ClientError) and not is_aws_answer(exc):
        return str(not_aws_answer(exc, None).response["Error"]["Message"])
    region = unknown_region(exc)
    if region is not None:
        return (
            f"region_name {region!r} is not an AWS region (botocore {botocore.__version__} "
            f"knows none of that name): {_host(exc)} does not resolve"
        )
    reason = connect_failure(exc)
    if reason is not None:
        check = "endpoint_url, region_name and DNS" if reason == _NOT_RESOLVED else "endpoint_url"
        return f"cannot reach {_url(exc)}: {reason}; check {check}"
    tls = tls_setup_failure(exc)
    if tls is not None:
        return f"cannot set up TLS: {tls}; check verify (the CA bundle path)"
    return str(exc)


def _url(exc: BaseException) -> str:
    kwargs = getattr(exc, "kwargs", None) or {}
    return str(kwargs.get("endpoint_url") or "the endpoint")


def _host(exc: BaseException) -> str:
    return urlsplit(_url(exc)).hostname or ""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the errors botocore wrapped in it and their causes, outermost first."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        kwargs = getattr(current, "kwargs", None)
        wrapped = kwargs.get("error") if isinstance(kwargs, dict) else None
        for linked in (wrapped, current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


@functools.cache
def _partitions() -> tuple[tuple[re.Pattern[str], frozenset[str]], ...]:
    """Each AWS partition's pattern of region names, and the regions botocore knows in it
    (a 7 kB file, read once, on the first unresolvable host)."""
    data = botocore.loaders.create_loader().load_data("partitions")
    return tuple(
        (re.compile(p["regionRegex"]), frozenset(p.get("regions") or {}))
        for p in data["partitions"]
    )


def describe_failure(exc: BaseException) -> str:
    """A one-line, secret-free account of a non-transient error, saying what kind it is."""
    if is_misconfiguration(exc) or (isinstance(exc, ClientError) and not is_aws_answer(exc)):
        return summary(exc)  # says itself what is wrong and which setting to check
    code = error_code(exc)
    if code in CREDENTIAL_CODES:
        kind = "AWS rejected the credentials"
    elif code in ACCESS_CODES:
        kind = "access denied"
    elif code in NOT_FOUND_CODES:
        kind = "training job not found"
    elif isinstance(exc, LookupError | ValueError):
        kind = "invalid setting"
    elif isinstance(exc, ClientError | BotoCoreError):
        kind = "AWS error"
    else:
        kind = "unexpected error"
    return f"{kind}: {summary(exc)}"


def backoff(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Full-jitter exponential backoff: a random wait up to ``base * 2**attempt``, capped."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 16)))
