"""``botocore_config`` of the wrong type: a ``ValueError`` naming the option at DAG parse time."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_async.botoconfig import check_types
from sagemaker_async.operators import SageMakerTrainingOperator
from tests.unit.fakes import base_config


def parse(botocore_config: Any) -> None:
    SageMakerTrainingOperator(task_id="t", config=base_config(), botocore_config=botocore_config)


@pytest.mark.parametrize(
    ("botocore_config", "message"),
    [
        pytest.param(
            {"retries": "lots"},
            "botocore_config['retries'] must be a dict (such as {'mode': 'standard', "
            "'max_attempts': 10}), got str",
            id="retries-not-a-dict",
        ),
        pytest.param(
            {"retries": {"max_attempts": "3"}},
            "botocore_config['retries']['max_attempts'] must be an int, got str",
            id="retries-max-attempts-string",
        ),
        pytest.param(
            {"connect_timeout": "5"},
            "botocore_config['connect_timeout'] must be an int or float, got str",
            id="timeout-string",
        ),
        pytest.param(
            {"max_pool_connections": True},
            "botocore_config['max_pool_connections'] must be an int, got bool",
            id="bool-is-no-int",
        ),
        pytest.param(
            "retries=3",
            "botocore_config must be a dict of botocore.config.Config arguments, got str",
            id="not-a-dict",
        ),
    ],
)
def test_a_wrong_type_is_a_value_error_naming_the_option(
    botocore_config: Any, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        parse(botocore_config)
    assert str(raised.value) == message


def test_a_value_botocore_itself_refuses_is_a_value_error_too() -> None:
    # botocore raises its own InvalidRetryModeError (no ValueError) for this one.
    with pytest.raises(ValueError, match=r"botocore_config is not valid for botocore: .*\"mode\""):
        parse({"retries": {"mode": "fast"}})


def test_proxies_are_never_quoted_in_the_message() -> None:
    with pytest.raises(ValueError) as raised:
        check_types({"proxies": "http://user:secret@proxy"})
    assert "secret" not in str(raised.value)


def test_well_typed_options_pass_and_unknown_ones_are_left_to_botocore() -> None:
    check_types(
        {
            "retries": {"mode": "adaptive", "max_attempts": 10},
            "connect_timeout": 2.5,
            "read_timeout": 60,
            "max_pool_connections": 50,
            "tcp_keepalive": True,
            "s3": {"addressing_style": "path"},
            "some_future_option": object(),
        }
    )
    parse({"retries": {"mode": "standard"}, "connect_timeout": None})
