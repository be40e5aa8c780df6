"""Preparing a ``CreateTrainingJob`` request: coerce templated values, then validate it."""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StructureShape,
)
from botocore.validate import ParamValidator

from sagemaker_async.constraints import violations
from sagemaker_async.credentials import shared_loader
from sagemaker_async.naming import validate_job_name

_NUMBER_TYPES = {"integer": int, "long": int, "float": float, "double": float}
#: An IAM role name (IAM's own pattern); an ARN has a colon and a slash, which names cannot.
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
#: How many breaches of the model's maximums one message lists.
_MAX_REPORTED = 10


class InvalidConfigError(ValueError):
    """The training job request is malformed; the message names the field."""


@functools.lru_cache(maxsize=1)
def create_training_job_model() -> OperationModel:
    """The botocore model of ``CreateTrainingJob``, from the loader the SageMaker clients
    share: a task run parses the large SageMaker model once, not once more to validate."""
    # The call botocore's client creator makes, so that both read one cache entry.
    data = shared_loader().load_service_model("sagemaker", "service-2", api_version=None)
    return ServiceModel(data, service_name="sagemaker").operation_model("CreateTrainingJob")


def is_role_name(value: object) -> bool:
    """Whether ``value`` is an IAM role name rather than a role ARN."""
    return isinstance(value, str) and _ROLE_NAME.fullmatch(value) is not None


def prepare_config(config: object, *, role_names: bool = False) -> dict[str, Any]:
    """Return a validated copy of ``config`` ready for ``CreateTrainingJob``.

    Jinja renders everything to strings, so numbers and booleans that arrive as strings are
    turned back into what the API model says, and scalar values of string fields (such as
    ``HyperParameters``) become strings. The request is then checked with botocore's
    validation and against the model's maximums and patterns. Raises
    :class:`InvalidConfigError` naming the field.

    :param config: the request, a dict or a JSON string.
    :param role_names: accept an IAM role name in ``RoleArn`` (it is left as is, for the
        caller to expand to an ARN); otherwise a role name is refused with a hint.
    """
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as err:
            raise InvalidConfigError(f"config is a string but not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise InvalidConfigError(
            f"config must be a dict (the CreateTrainingJob request), got {type(config).__name__}"
        )
    shape = create_training_job_model().input_shape
    assert shape is not None  # CreateTrainingJob always has an input
    prepared: dict[str, Any] = _coerce(copy.deepcopy(config), shape)
    role = prepared.get("RoleArn")
    if is_role_name(role) and not role_names:
        raise InvalidConfigError(
            f"RoleArn {role!r} is an IAM role name, not an ARN: pass the full ARN "
            f"(arn:aws:iam::<account id>:role/{role}), or set expand_role_name=True to look it "
            "up in IAM"
        )
    # A role name is validated as the ARN it will become; the request keeps the name, for
    # the caller to expand.
    checked = {**prepared, "RoleArn": _stand_in_arn(str(role))} if is_role_name(role) else prepared
    report = ParamValidator().validate(checked, shape)
    if report.has_errors():
        raise InvalidConfigError(f"Invalid training job config: {report.generate_report()}")
    try:  # before the model's pattern for it, whose message is harder to read
        validate_job_name(prepared["TrainingJobName"])
    except ValueError as err:
        raise InvalidConfigError(str(err)) from None
    breaches = violations(checked, shape)
    if breaches:
        raise InvalidConfigError(f"Invalid training job config: {_listed(breaches)}")
    return prepared


def _stand_in_arn(role_name: str) -> str:
    return f"arn:aws:iam::000000000000:role/{role_name}"


def _listed(breaches: list[str]) -> str:
    shown = "\n".join(breaches[:_MAX_REPORTED])
    more = len(breaches) - _MAX_REPORTED
    return f"{shown}\n(and {more} more)" if more > 0 else shown


def _coerce(value: Any, shape: Shape) -> Any:
    kind = shape.type_name
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = shape.members
        return {k: _coerce(v, members[k]) if k in members else v for k, v in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_coerce(v, shape.member) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: _coerce(v, shape.value) for k, v in value.items()}
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "string" and isinstance(value, int | float):
        return str(value)
    if kind in _NUMBER_TYPES and isinstance(value, str):
        return _number(value, _NUMBER_TYPES[kind])
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _number(text: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        return text  # left as is, so validation names the field and the value


def instance_count(config: dict[str, Any]) -> int | None:
    """How many instances a training request asks for (SageMaker writes one log stream
    each), if it says: ``ResourceConfig``'s ``InstanceCount`` plus its instance groups'."""
    resource = config.get("ResourceConfig") or {}
    counts = [group.get("InstanceCount") for group in resource.get("InstanceGroups") or []]
    if "InstanceCount" in resource or not counts:
        counts.append(resource.get("InstanceCount"))
    if not all(isinstance(count, int) and count > 0 for count in counts):
        return None
    return sum(int(count) for count in counts)
