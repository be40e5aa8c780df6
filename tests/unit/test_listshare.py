from __future__ import annotations

import pytest

from sagemaker_async.listshare import (
    DEFAULT_LIST_SHARE,
    DEFAULT_LOG_STREAMS_SHARE,
    DEFAULT_LOGS_SHARE,
    configured_list_share,
    list_share_pacer,
    log_streams_share_pacer,
    logs_share_pacer,
)


def test_the_share_defaults_to_one_request_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__SAGEMAKER_ASYNC__LIST_REQUESTS_PER_SECOND", raising=False)
    assert configured_list_share() == DEFAULT_LIST_SHARE == 1.0


def test_the_share_is_read_from_the_config_and_throttling_halves_it_to_a_tenth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__LIST_REQUESTS_PER_SECOND", "0.5")
    pacer = list_share_pacer()
    assert pacer.cap == 0.5
    now = [0.0]
    pacer.clock = lambda: now[0]
    for _ in range(10):
        now[0] += 2.0
        pacer.throttled()
    assert pacer.limit == pytest.approx(0.05)


def test_a_share_of_zero_or_less_falls_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__LIST_REQUESTS_PER_SECOND", "0")
    assert configured_list_share() == DEFAULT_LIST_SHARE


def test_the_logs_share_is_well_under_the_account_limit_and_configurable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW__SAGEMAKER_ASYNC__LOGS_REQUESTS_PER_SECOND", raising=False)
    assert logs_share_pacer().cap == DEFAULT_LOGS_SHARE < 5  # FilterLogEvents: 5/s per account
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__LOGS_REQUESTS_PER_SECOND", "2")
    pacer = logs_share_pacer()
    assert (pacer.cap, pacer.floor) == (2.0, pytest.approx(0.2))


def test_the_log_streams_share_is_a_fifth_of_the_account_limit_and_configurable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW__SAGEMAKER_ASYNC__LOG_STREAMS_REQUESTS_PER_SECOND", raising=False)
    # DescribeLogStreams: 25 per second per account and region.
    assert log_streams_share_pacer().cap == DEFAULT_LOG_STREAMS_SHARE == 25 / 5
    monkeypatch.setenv("AIRFLOW__SAGEMAKER_ASYNC__LOG_STREAMS_REQUESTS_PER_SECOND", "-1")
    assert log_streams_share_pacer().cap == DEFAULT_LOG_STREAMS_SHARE
