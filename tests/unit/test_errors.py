"""Sorting errors: exceptions built as botocore and aiobotocore build them, no network."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    SSLError,
)

from sagemaker_async import errors
from tests.unit.fakes import client_error

URL = "http://127.0.0.1:49151/"
HTML = "<!DOCTYPE html>\n<html>\n<head><title>501 Not Implemented</title></head>\n</html>\n"


def cannot_connect(cause: BaseException, url: str = URL) -> EndpointConnectionError:
    """What botocore raises when no connection opens: the HTTP client's error wraps the
    socket's (urllib3's ``NewConnectionError``, aiohttp's ``ClientConnectorError``)."""
    client_side = OSError("Failed to establish a new connection")
    client_side.__cause__ = cause
    return EndpointConnectionError(endpoint_url=url, error=client_side)


def refused() -> EndpointConnectionError:
    return cannot_connect(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))


def unresolved(host: str) -> EndpointConnectionError:
    return cannot_connect(socket.gaierror(-2, "Name or service not known"), f"https://{host}/")


def non_aws_answer(status: int, body: str = HTML, content_type: str = "text/html") -> ClientError:
    """What botocore's JSON protocols raise for an answer without an AWS error document:
    the HTTP status as the code, the body as the message."""
    response: Any = {
        "Error": {"Code": str(status), "Message": body},
        "ResponseMetadata": {
            "HTTPStatusCode": status,
            "HTTPHeaders": {"content-type": f"{content_type}; charset=utf-8"},
        },
    }
    return ClientError(response, "DescribeTrainingJob")


def test_a_resolver_outage_is_not_a_name_that_does_not_resolve() -> None:
    # "Temporary failure in name resolution": the resolver, not the name; waiting heals it.
    exc = cannot_connect(socket.gaierror(socket.EAI_AGAIN, "Temporary failure"))
    assert errors.connect_failure(exc) is None
    assert not errors.is_misconfiguration(exc)


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no route to host"),
        (socket.gaierror(-2, "Name or service not known"), "host name does not resolve"),
    ],
)
def test_an_endpoint_that_cannot_be_connected_to_is_unreachable(
    cause: BaseException, reason: str
) -> None:
    exc = cannot_connect(cause)
    assert errors.connect_failure(exc) == reason
    assert errors.is_unreachable(exc) and errors.is_misconfiguration(exc)
    line = errors.describe_failure(exc)
    assert line.startswith(f"cannot reach {URL}: {reason}; check endpoint_url")
    assert "\n" not in line


@pytest.mark.parametrize(
    "exc",
    [
        cannot_connect(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")),
        EndpointConnectionError(endpoint_url=URL),
        ConnectTimeoutError(endpoint_url=URL),
    ],
    ids=["reset", "no-cause", "connect-timeout"],
)
def test_resets_and_timeouts_meet_an_endpoint_and_stay_transient(exc: Exception) -> None:
    assert not errors.is_unreachable(exc)
    assert errors.is_transient(exc) and not errors.is_misconfiguration(exc)


def test_an_unreachable_endpoint_gets_three_attempts_over_about_ten_seconds() -> None:
    pauses = [errors.unreachable_pause(refused(), tries) for tries in (1, 2, 3)]
    assert pauses[:2] == list(errors.UNREACHABLE_PAUSES) and pauses[2] is None
    assert sum(errors.UNREACHABLE_PAUSES) <= 10


def test_a_region_botocore_does_not_know_fails_at_once_naming_it() -> None:
    exc = unresolved("api.sagemaker.us-eest-1.amazonaws.com")
    assert errors.unknown_region(exc) == "us-eest-1"
    assert errors.unreachable_pause(exc, 1) is None
    line = errors.describe_failure(exc)
    assert line.startswith("region_name 'us-eest-1' is not an AWS region")
    assert "api.sagemaker.us-eest-1.amazonaws.com does not resolve" in line


@pytest.mark.parametrize(
    "host",
    [
        "api.sagemaker.us-east-1.amazonaws.com",
        "api.sagemaker.cn-north-1.amazonaws.com.cn",
        "api.sagemaker.us-gov-west-1.amazonaws.com",
        "sagemaker.internal.example.com",
    ],
)
def test_a_known_region_or_own_host_that_does_not_resolve_gets_its_retries(host: str) -> None:
    exc = unresolved(host)
    assert errors.unknown_region(exc) is None
    assert errors.unreachable_pause(exc, 1) == errors.UNREACHABLE_PAUSES[0]
    assert "check endpoint_url, region_name and DNS" in errors.describe_failure(exc)


@pytest.mark.parametrize("status", [200, 400, 403, 404, 501])
def test_an_answer_without_aws_error_code_is_final_and_told_in_one_line(status: int) -> None:
    exc = non_aws_answer(status)
    assert not errors.is_aws_answer(exc)
    assert not errors.is_transient(exc) and errors.is_misconfiguration(exc)
    plain = errors.not_aws_answer(exc, URL)
    assert isinstance(plain, errors.NotAwsAnswerError)
    assert errors.error_code(plain) == str(status)
    line = errors.describe_failure(plain)
    assert line == (f"HTTP {status} from {URL}: not an AWS answer (text/html); check endpoint_url")
    assert "<" not in str(plain) and "\n" not in str(plain)
    assert "<" not in errors.describe_failure(exc)  # also before the pool or hook replaced it


@pytest.mark.parametrize("status", sorted(errors.RETRYABLE_STATUSES))
def test_a_gateway_answer_without_aws_error_code_stays_transient(status: int) -> None:
    exc = non_aws_answer(status, body="Bad Gateway", content_type="text/plain")
    assert errors.is_transient(exc) and not errors.is_misconfiguration(exc)
    assert errors.is_transient(errors.not_aws_answer(exc, URL))


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (client_error("ThrottlingException", "DescribeTrainingJob"), True),
        (client_error("ServiceUnavailable", "DescribeTrainingJob", status=503), True),
        (client_error("AccessDeniedException", "DescribeTrainingJob"), False),
        (client_error("ValidationException", "DescribeTrainingJob"), False),
    ],
)
def test_aws_errors_keep_their_classification(exc: ClientError, transient: bool) -> None:
    assert errors.is_aws_answer(exc)
    assert errors.not_aws_answer(exc, URL) is exc
    assert errors.is_transient(exc) is transient
    assert not errors.is_misconfiguration(exc)


def test_an_html_page_as_a_successful_answer_is_not_aws() -> None:
    page = {
        "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {"content-type": "text/html"}}
    }
    with pytest.raises(errors.NotAwsAnswerError, match="HTTP 200 from http"):
        errors.check_answer(page, "DescribeTrainingJob", URL)
    json = {"ResponseMetadata": {"HTTPHeaders": {"content-type": "application/x-amz-json-1.1"}}}
    errors.check_answer(json, "DescribeTrainingJob", URL)
    errors.check_answer({"TrainingJobStatus": "InProgress"}, "DescribeTrainingJob", URL)


@pytest.mark.parametrize(
    "wrapped",
    [FileNotFoundError(errno.ENOENT, "No such file or directory"), IsADirectoryError()],
)
def test_a_ca_bundle_the_http_client_cannot_load_is_final(wrapped: OSError) -> None:
    # aiobotocore wraps what loading ``verify`` raises in a bare HTTPClientError.
    exc = HTTPClientError(error=wrapped)
    assert not errors.is_transient(exc) and errors.is_misconfiguration(exc)
    assert errors.describe_failure(exc).endswith("; check verify (the CA bundle path)")


def test_other_http_client_errors_stay_transient() -> None:
    assert errors.is_transient(HTTPClientError(error=ConnectionResetError()))
    assert not errors.is_transient(SSLError(endpoint_url=URL, error="bad certificate"))
