"""Which call a request is, answers in each protocol, faults by name and expired tokens."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser

from sagemaker_async.testing.faults import FaultInjector, parse_faults
from sagemaker_async.testing.limits import RateLimiter
from sagemaker_async.testing.logpages import LogSettings
from sagemaker_async.testing.protocols import aws_error, error_for, query_error
from sagemaker_async.testing.services import Call, LogsAndSts, identify
from sagemaker_async.testing.sts import AssumeRoleDesk


def environ(service: str, body: bytes = b"", target: str = "", token: str = "") -> dict[str, Any]:
    auth = f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/{service}/aws4_request"
    env: dict[str, Any] = {
        "HTTP_AUTHORIZATION": auth,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    if token:
        env["HTTP_X_AMZ_SECURITY_TOKEN"] = token
    return env


def test_calls_are_told_apart_by_target_or_action() -> None:
    assert identify(environ("sagemaker", target="SageMaker.ListTrainingJobs")) == Call(
        "sagemaker", "ListTrainingJobs"
    )
    assert identify(environ("logs", target="Logs_20140328.FilterLogEvents")) == Call(
        "logs", "FilterLogEvents"
    )
    sts = environ("sts", b"Action=AssumeRole&Version=2011-06-15&RoleArn=x")
    assert identify(sts) == Call("sts", "AssumeRole")
    assert sts["wsgi.input"].read() == b"Action=AssumeRole&Version=2011-06-15&RoleArn=x"
    assert identify(environ("s3")) is None
    assert identify(environ("sts")) is None  # no action: left to moto


def parse(service: str, operation: str, answer: Any) -> dict[str, Any]:
    """The error as botocore reads it."""
    model = botocore.session.get_session().get_service_model(service)
    response = {
        "status_code": answer.status_code,
        "headers": dict(answer.headers),
        "body": answer.get_data(),
    }
    shape = model.operation_model(operation).output_shape
    parsed: dict[str, Any] = create_parser(model.metadata["protocol"]).parse(response, shape)
    return parsed


def test_sts_errors_are_query_protocol_xml_with_its_codes() -> None:
    throttled = parse("sts", "AssumeRole", error_for("sts", "ThrottlingException", "Rate exceeded"))
    assert throttled["Error"] == {
        "Type": "Sender",
        "Code": "Throttling",
        "Message": "Rate exceeded",
    }
    expired = parse("sts", "GetCallerIdentity", query_error("ExpiredTokenException", "gone"))
    assert expired["Error"]["Code"] == "ExpiredToken"
    internal = parse("sts", "AssumeRole", query_error("InternalFailure", "oops", 500))
    assert (internal["Error"]["Type"], internal["ResponseMetadata"]["HTTPStatusCode"]) == (
        "Receiver",
        500,
    )


def test_logs_errors_are_json_with_the_code_in_type() -> None:
    answer = error_for("logs", "ThrottlingException", "Rate exceeded")
    assert answer.status_code == 400
    parsed = parse("logs", "FilterLogEvents", answer)
    assert parsed["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert aws_error("X", "y").headers["x-amzn-ErrorType"] == "X"


def test_faults_may_name_logs_and_sts_operations_which_are_faulted_only_when_named() -> None:
    config = parse_faults({"throttle_fraction": 1.0, "operations": ["AssumeRole", "GetLogEvents"]})
    assert config.applies_to("AssumeRole", by_default=False)
    assert not config.applies_to("FilterLogEvents", by_default=False)
    everything = parse_faults({"throttle_fraction": 1.0})
    assert everything.applies_to("DescribeTrainingJob")
    assert not everything.applies_to("GetCallerIdentity", by_default=False)
    injector = FaultInjector()
    injector.configure({"throttle_fraction": 1.0})
    assert injector.decide("FilterLogEvents", by_default=False).kind is None
    assert injector.decide("DescribeTrainingJob").kind == "throttled"
    with pytest.raises(ValueError, match="GetLogEvent"):
        parse_faults({"operations": ["GetLogEvent"]})


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def moto_answer(expiration: str) -> Any:
    payload = (
        "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
        "<AccessKeyId>ASIAISSUED</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
        f"<SessionToken>TOKEN1</SessionToken><Expiration>{expiration}</Expiration>"
        "</Credentials></AssumeRoleResult></AssumeRoleResponse>"
    ).encode()

    def app(env: Any, start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [payload]

    return app


def assume(desk: AssumeRoleDesk, backend: Any) -> None:
    body = b"Action=AssumeRole&RoleArn=r&RoleSessionName=s"
    desk.answer(
        {"RoleArn": "r"}, backend, environ("sts", body), lambda status, headers, *rest: None
    )


def test_a_session_token_is_refused_once_its_credentials_expire() -> None:
    clock = Clock()
    desk = AssumeRoleDesk(clock)
    desk.configure(10.0)
    assume(desk, moto_answer("2000-01-01T00:00:00Z"))  # rewritten: 10 s from now
    signed = environ("sagemaker", token="TOKEN1")
    clock.now += 9.9
    assert not desk.expired(signed)
    clock.now += 0.1
    assert desk.expired(signed)
    assert not desk.expired(environ("sagemaker"))  # long-term keys: no token
    assert not desk.expired(environ("sagemaker", token="NOT-ISSUED-HERE"))
    desk.reset()
    assert not desk.expired(signed)


def test_moto_lifetimes_are_read_from_its_answer() -> None:
    clock = Clock()
    desk = AssumeRoleDesk(clock)
    expiry = datetime.fromtimestamp(clock.now + 3600, timezone.utc)
    assume(desk, moto_answer(expiry.isoformat().replace("+00:00", "Z")))
    signed = environ("logs", token="TOKEN1")
    clock.now += 3599
    assert not desk.expired(signed)
    clock.now += 1
    assert desk.expired(signed)


def test_logs_and_sts_calls_are_counted_received_and_served() -> None:
    """What the bench reads as CloudWatch Logs requests: every call received, refused ones
    too (rate limit, fault, expired token), and served only when answered."""
    clock = Clock()
    limits = RateLimiter(clock=lambda: 0.0)  # a still clock: the bucket never refills
    limits.configure({"DescribeLogStreams": {"rate": 1, "burst": 1}})
    faults = FaultInjector()
    faults.configure({"throttle_fraction": 1.0, "operations": ["GetLogEvents"]})
    desk = AssumeRoleDesk(clock)
    desk.configure(10.0)
    assume(desk, moto_answer("2000-01-01T00:00:00Z"))
    calls = LogsAndSts(faults, limits, desk, LogSettings(), moto_answer("x"))

    def send(operation: str, token: str = "") -> None:
        target = f"Logs_20140328.{operation}"
        env = {**environ("logs", b"{}", target=target, token=token), "REQUEST_METHOD": "POST"}
        calls.answer(Call("logs", operation), env, lambda status, headers, *rest: None)

    send("DescribeLogStreams")  # served
    send("DescribeLogStreams")  # over the limit
    send("GetLogEvents")  # faulted
    clock.now += 11
    send("FilterLogEvents", token="TOKEN1")  # expired
    assert calls.counts.view() == {
        "received": {"DescribeLogStreams": 2, "GetLogEvents": 1, "FilterLogEvents": 1},
        "served": {"DescribeLogStreams": 1},
    }
    calls.counts.reset()
    assert calls.counts.view() == {"received": {}, "served": {}}
