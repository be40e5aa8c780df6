"""The model's maximums and patterns: what AWS would refuse is refused before any call.

Every limit asserted here is read from botocore's model, not written down: the tests follow
the model botocore ships, as the check does.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import Shape

from sagemaker_async.config import InvalidConfigError, create_training_job_model, prepare_config
from sagemaker_async.constraints import violations
from tests.unit.fakes import base_config


def member(*path: str) -> Shape:
    """The model's shape at ``path`` (``"*"`` steps into a list member or map value)."""
    shape: Any = create_training_job_model().input_shape
    for step in path:
        if step == "*":
            shape = shape.member if shape.type_name == "list" else shape.value
        else:
            shape = shape.members[step]
    return shape  # type: ignore[no-any-return]


HYPERPARAMETERS = member("HyperParameters")
MAX_HYPERPARAMETERS: int = HYPERPARAMETERS.metadata["max"]
MAX_VALUE: int = HYPERPARAMETERS.value.metadata["max"]  # type: ignore[attr-defined]
MAX_CHANNELS: int = member("InputDataConfig").metadata["max"]


def refused(config: dict[str, Any]) -> str:
    with pytest.raises(InvalidConfigError) as raised:
        prepare_config(config)
    message = str(raised.value)
    assert message.startswith("Invalid training job config: ")
    return message


def test_the_model_gives_the_limits_the_issue_names() -> None:
    # If botocore's model changes these, the check follows it; this only says what it is now.
    assert (MAX_HYPERPARAMETERS, MAX_VALUE) == (100, 2500)


def test_4000_hyperparameters_are_refused_naming_the_field_and_the_maximum() -> None:
    config = {**base_config(), "HyperParameters": {f"p{i}": "1" for i in range(4000)}}
    assert refused(config) == (
        "Invalid training job config: Invalid length for parameter HyperParameters, "
        f"value: 4000, valid max length: {MAX_HYPERPARAMETERS}"
    )


def test_as_many_hyperparameters_as_the_model_allows_pass() -> None:
    config = {**base_config(), "HyperParameters": {f"p{i}": 1 for i in range(MAX_HYPERPARAMETERS)}}
    assert len(prepare_config(config)["HyperParameters"]) == MAX_HYPERPARAMETERS


def test_a_3_mb_hyperparameter_value_is_refused_without_being_quoted() -> None:
    config = {**base_config(), "HyperParameters": {"blob": "x" * 3_000_000}}
    message = refused(config)
    assert message == (
        "Invalid training job config: Invalid length for parameter HyperParameters.blob, "
        f"value: 3000000, valid max length: {MAX_VALUE}"
    )


def test_a_value_at_the_models_maximum_passes_and_one_more_is_refused() -> None:
    fits = {**base_config(), "HyperParameters": {"v": "x" * MAX_VALUE}}
    assert prepare_config(fits)["HyperParameters"]["v"] == "x" * MAX_VALUE
    over = {**base_config(), "HyperParameters": {"v": "x" * (MAX_VALUE + 1)}}
    assert "HyperParameters.v, value: 2501" in refused(over)


def test_list_lengths_are_bounded_by_the_model() -> None:
    source = {"S3DataType": "S3Prefix", "S3Uri": "s3://b/k"}
    channels = [
        {"ChannelName": f"c{i}", "DataSource": {"S3DataSource": source}}
        for i in range(MAX_CHANNELS + 1)
    ]
    assert refused({**base_config(), "InputDataConfig": channels}) == (
        "Invalid training job config: Invalid length for parameter InputDataConfig, "
        f"value: {MAX_CHANNELS + 1}, valid max length: {MAX_CHANNELS}"
    )


def test_patterns_are_matched_against_the_whole_value() -> None:
    config = {**base_config(), "Environment": {"1NOT_A_NAME": "x"}}
    message = refused(config)
    pattern = member("Environment").key.metadata["pattern"]  # type: ignore[attr-defined]
    assert message == (
        "Invalid training job config: Invalid value for parameter Environment key, "
        f"value: '1NOT_A_NAME', must match the pattern: {pattern}"
    )
    channel = {
        "ChannelName": "train!",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/k"}},
    }
    assert "InputDataConfig[0].ChannelName, value: 'train!'" in refused(
        {**base_config(), "InputDataConfig": [channel]}
    )


def test_numbers_above_the_models_maximum_are_refused() -> None:
    shape = member("ResourceConfig", "KeepAlivePeriodInSeconds")
    top = shape.metadata["max"]
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}
    config = {**base_config(), "ResourceConfig": {**resources, "KeepAlivePeriodInSeconds": top + 1}}
    assert refused(config) == (
        "Invalid training job config: Invalid value for parameter "
        f"ResourceConfig.KeepAlivePeriodInSeconds, value: {top + 1}, valid max value: {top}"
    )


def test_every_breach_is_reported_up_to_ten() -> None:
    config = {**base_config(), "HyperParameters": {f"p{i}": "x" * 3000 for i in range(12)}}
    lines = refused(config).splitlines()
    assert len(lines) == 11
    assert lines[-1] == "(and 2 more)"


def test_patterns_python_cannot_read_are_skipped_not_guessed() -> None:
    # Tag keys and values use Java's \p{L} classes: a tag Python cannot check is left to AWS.
    config = {**base_config(), "Tags": [{"Key": "équipe", "Value": "données"}]}
    assert prepare_config(config)["Tags"] == config["Tags"]


def test_a_typical_request_has_no_breaches() -> None:
    shape = create_training_job_model().input_shape
    assert shape is not None
    assert violations(prepare_config(base_config()), shape) == []
