"""Sorting AWS errors into transient (retry) and final (report), by error code only."""

from __future__ import annotations

import asyncio
import random

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, SSLError
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


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ``ClientError``, else ``None``."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def _http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same call later may succeed."""
    if isinstance(exc, ClientError):
        return error_code(exc) in TRANSIENT_CODES or _http_status(exc) >= 500
    if isinstance(exc, SSLError):
        return False  # a certificate problem does not go away by waiting
    # Connection resets, refused connections and read/connect timeouts.
    return isinstance(
        exc, HTTPClientError | BotoConnectionError | asyncio.TimeoutError | ConnectionError
    )


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND_CODES


def describe_failure(exc: BaseException) -> str:
    """A one-line, secret-free account of a non-transient error, saying what kind it is."""
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
    return f"{kind}: {exc}"


def backoff(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Full-jitter exponential backoff: a random wait up to ``base * 2**attempt``, capped."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 16)))
