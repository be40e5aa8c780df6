"""Checks against AWS that run on the worker right before a job is created.

The amazon provider's operator always does two things before ``CreateTrainingJob``: it turns
an IAM role *name* in ``RoleArn`` into the role's ARN (IAM ``GetRole``), and it checks that
every S3 input of the request exists. Both are here, each behind its own operator argument.
They use the task's connection: its credentials, and ``service_config.iam`` /
``service_config.s3`` (else the connection's ``endpoint_url``) as endpoints, as the amazon
provider does. Errors are told apart by their AWS error code only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from botocore.config import Config
from botocore.exceptions import ClientError

from sagemaker_async import errors
from sagemaker_async.config import is_role_name
from sagemaker_async.connection import get_settings
from sagemaker_async.credentials import client_config

if TYPE_CHECKING:
    from sagemaker_async.hooks import SageMakerHook

#: How long one check keeps retrying transient errors (throttling, 5xx) before giving up.
RETRY_FOR = 60.0
NO_SUCH_ROLE_CODES = frozenset({"NoSuchEntity", "NoSuchEntityException"})
NO_SUCH_BUCKET_CODES = frozenset({"NoSuchBucket", "404", "NotFound"})
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403", "AllAccessDisabled"})

ClientFactory = Callable[[str], Any]


class InfoLog(Protocol):
    """What the checks need of a logger (the task's, or a stdlib one)."""

    def info(self, event: Any, *args: Any) -> Any: ...


class PreflightError(ValueError):
    """A check before the create failed; the message names the role or the S3 URI."""


class Preflight:
    """The checks before a create, run at most once however often the create is retried.

    :param client: builds a boto3 client of a service (``"iam"``, ``"s3"``) for the task.
    :param check_s3_inputs: check that each S3 input of ``InputDataConfig`` exists.
    :param expand_role_name: replace a role name in ``RoleArn`` with the role's ARN.
    :param log: where to say what was done.
    """

    def __init__(
        self,
        client: ClientFactory,
        *,
        check_s3_inputs: bool,
        expand_role_name: bool,
        log: InfoLog,
    ) -> None:
        self.client = client
        self.check_s3_inputs = check_s3_inputs
        self.expand_role_name = expand_role_name
        self.log = log
        self._ready: dict[str, Any] | None = None

    def ready(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` with its role expanded, once its inputs are known to exist.

        Raises :class:`PreflightError` when a check fails; nothing has been created then.
        """
        if self._ready is None:
            if self.expand_role_name and is_role_name(config.get("RoleArn")):
                arn = expand_role(config["RoleArn"], self.client("iam"))
                self.log.info("RoleArn %s expanded to %s", config["RoleArn"], arn)
                config = {**config, "RoleArn": arn}
            if self.check_s3_inputs and any(s3_inputs(config)):
                check_inputs(config, self.client("s3"))
                self.log.info("Every S3 input of the request exists")
            self._ready = config
        return self._ready


def hook_clients(hook: SageMakerHook) -> ClientFactory:
    """Clients on the hook's connection, sharing its session, so a role is assumed once."""

    def build(service: str) -> Any:
        settings = get_settings(
            hook.aws_conn_id,
            service=service,
            region_name=hook.region_name,
            verify=hook.verify,
            botocore_config=hook.botocore_config,
        )
        session: Any = hook.session
        config = client_config(settings, Config)
        return session.client(service, config=config, **settings.client_kwargs())

    return build


def expand_role(role_name: str, iam: Any) -> str:
    """The ARN of the IAM role ``role_name`` (IAM ``GetRole``)."""
    try:
        response = _call(iam.get_role, RoleName=role_name)
    except ClientError as exc:
        code = errors.error_code(exc)
        if code in NO_SUCH_ROLE_CODES:
            raise PreflightError(
                f"RoleArn {role_name!r} is an IAM role name, and IAM has no role of that name "
                "in the account of aws_conn_id's credentials: pass the role's full ARN"
            ) from None
        if code in DENIED_CODES:
            raise PreflightError(
                f"RoleArn {role_name!r} is an IAM role name, and looking it up needs "
                "iam:GetRole, which aws_conn_id's credentials were denied: pass the full ARN "
                f"(arn:aws:iam::<account id>:role/{role_name}) or grant iam:GetRole"
            ) from None
        raise
    return str(response["Role"]["Arn"])


def s3_inputs(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(channel name, S3 URI)`` of each ``s3://`` input channel of the request."""
    for channel in config.get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        uri = source.get("S3Uri")
        if isinstance(uri, str) and uri.startswith("s3://"):
            yield str(channel.get("ChannelName")), uri


def check_inputs(config: dict[str, Any], s3: Any) -> None:
    """Raise :class:`PreflightError` unless every S3 input has at least one object.

    A URI names an object, a prefix, or a manifest file; each of them lists at least one
    object under its own key, which is also what SageMaker reads (an ``S3Prefix`` takes
    every key that starts with it, not only a "folder").
    """
    for channel, uri in s3_inputs(config):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        where = f"input channel {channel!r} ({uri})"
        try:
            listed = _call(s3.list_objects_v2, Bucket=bucket, Prefix=key, MaxKeys=1)
        except ClientError as exc:
            code = errors.error_code(exc)
            if code in NO_SUCH_BUCKET_CODES:
                raise PreflightError(
                    f"The S3 bucket {bucket!r} of {where} does not exist; no job was created"
                ) from None
            if code in DENIED_CODES:
                raise PreflightError(
                    f"Could not check {where}: S3 denied aws_conn_id's credentials, which this "
                    "check uses (the job reads its inputs with RoleArn). Grant them "
                    f"s3:ListBucket on {bucket!r}, or set check_s3_inputs=False"
                ) from None
            raise
        if not listed.get("KeyCount") and not listed.get("Contents"):
            raise PreflightError(
                f"No S3 object has the key or prefix {key!r} in bucket {bucket!r}, so {where} "
                "has no data; no job was created"
            )


def _call(method: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``method``, retrying transient errors with backoff for up to ``RETRY_FOR`` s."""
    give_up_at = time.monotonic() + RETRY_FOR
    attempt = 0
    while True:
        try:
            return method(**kwargs)
        except Exception as exc:
            if not errors.is_transient(exc) or time.monotonic() >= give_up_at:
                raise
            time.sleep(errors.backoff(attempt))
            attempt += 1
