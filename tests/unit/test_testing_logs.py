"""The simulator's log streams: one per instance, and last lines that arrive late.

The writer fills moto's in-process CloudWatch Logs backend, in a Region no other test
writes to; each test deletes its streams.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from moto.logs.models import logs_backends

from sagemaker_async.testing import training_request
from sagemaker_async.testing.jobs import ACCOUNT_ID, JobStore, TrainingJob
from sagemaker_async.testing.loglines import (
    LOG_GROUP,
    instance_count,
    last_lines,
    log_lines,
    stream_names,
)
from sagemaker_async.testing.logpages import LogSettings, parse_log_config
from sagemaker_async.testing.logs import JobLogs

# CloudWatch (and moto) refuse events older than 14 days: the fake clock starts an hour ago.
START = float(int(time.time()) - 3600)
M5 = "ml.m5.large"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def region() -> str:
    return "eu-north-1"


@pytest.fixture
def store(clock: Clock) -> JobStore:
    # 10 s jobs: Starting 0-1, Downloading 1-2, Training 2-9 (epochs at 3..8), Uploading 9-10.
    return JobStore(default_duration=10.0, stop_delay=1.0, clock=clock)


@pytest.fixture
def settings() -> LogSettings:
    return LogSettings()


@pytest.fixture
def writer(clock: Clock, store: JobStore, settings: LogSettings) -> Iterator[JobLogs]:
    logs = JobLogs(clock=clock, is_current=store.is_current, settings=settings)
    yield logs
    logs.reset()


def resources(count: int = 1, **extra: Any) -> dict[str, Any]:
    return {"InstanceType": M5, "InstanceCount": count, "VolumeSizeInGB": 10, **extra}


def create(store: JobStore, region: str, name: str = "job", **overrides: Any) -> TrainingJob:
    return store.create(training_request(name, **overrides), region)


def written(region: str, stream: str) -> list[tuple[int, str]]:
    """``(ms, message)`` of the stream's events, in the order they were written."""
    group = logs_backends[ACCOUNT_ID][region].groups[LOG_GROUP]
    return [(event.timestamp, event.message) for event in group.streams[stream].events]


def test_a_single_instance_writes_the_lines_it_always_wrote(store: JobStore, region: str) -> None:
    job = create(store, region)
    assert stream_names(job) == [f"job/algo-1-{int(START)}"]
    lines = log_lines(job, None, START + 10.0)
    assert lines == [
        (START, "[Starting] Preparing the instances for training"),
        (START + 1.0, "[Downloading] Downloading input data"),
        (START + 2.0, "[Training] Training image download completed. Training in progress."),
        *[(START + 2.0 + e, f"epoch {e} loss={2.0 / (e + 1):.4f}") for e in range(1, 7)],
        (START + 9.0, "[Uploading] Uploading generated training model"),
        (START + 10.0, "[Completed] Training job completed"),
    ]


def test_every_instance_and_instance_group_has_a_stream(store: JobStore, region: str) -> None:
    groups = [
        {"InstanceGroupName": "a", "InstanceType": M5, "InstanceCount": 2},
        {"InstanceGroupName": "b", "InstanceType": "ml.p3.2xlarge", "InstanceCount": 1},
    ]
    job = create(store, region, ResourceConfig=resources(2, InstanceGroups=groups))
    assert instance_count(job) == 5
    assert stream_names(job) == [f"job/algo-{n}-{int(START)}" for n in range(1, 6)]


def test_each_instance_writes_its_own_epochs(store: JobStore, region: str) -> None:
    job = create(store, region, ResourceConfig=resources(4))
    first = log_lines(job, None, START + 10.0, host=1)
    third = log_lines(job, None, START + 10.0, host=3)
    assert [m for _, m in first if m.startswith("[")] == [m for _, m in third if m.startswith("[")]
    epochs = [(at, m) for at, m in third if m.startswith("epoch")]
    assert epochs[0] == (START + 3.5, "epoch 1 loss=1.0020")  # half an epoch later (2 of 4)
    assert len(epochs) == 6 and all(at < START + 9.0 for at, _ in epochs)


def test_the_writer_fills_every_stream_as_lines_fall_due(
    writer: JobLogs, store: JobStore, clock: Clock, region: str
) -> None:
    job = create(store, region, ResourceConfig=resources(3))
    clock.now = START + 4.2
    writer.sync(job)
    for host, stream in enumerate(stream_names(job), start=1):
        expected = [(int(at * 1000), m) for at, m in log_lines(job, None, clock.now, host)]
        assert written(region, stream) == expected
    clock.now = START + 10.0
    writer.sync(job)
    assert writer.pending() == []
    assert all(written(region, s)[-1][1].startswith("[Completed]") for s in stream_names(job))


def test_last_lines_follow_the_timeline_as_it_stands(
    store: JobStore, clock: Clock, region: str
) -> None:
    job = create(store, region)
    assert [m for _, m in last_lines(job, 3)] == [
        "epoch 6 loss=0.2857",
        "[Uploading] Uploading generated training model",
        "[Completed] Training job completed",
    ]
    clock.now = START + 5.5
    store.stop("job")
    assert [m for _, m in last_lines(job, 3)] == [
        "epoch 3 loss=0.5000",
        "[Stopping] Stopping the training job",
        "[Stopped] Training job stopped",
    ]
    assert last_lines(job, 0) == []


def test_late_lines_arrive_after_the_final_status(
    writer: JobLogs, settings: LogSettings, store: JobStore, clock: Clock, region: str
) -> None:
    settings.configure({"late_lines": 2, "late_lines_after": 5.0})
    job = create(store, region)
    (stream,) = stream_names(job)
    clock.now = START + 9.5
    writer.sync(job)  # the Uploading line is due, but it is one of the last two
    assert written(region, stream)[-1][1] == "epoch 6 loss=0.2857"
    clock.now = START + 10.0
    writer.sync(job)
    assert job.status(clock.now) == "Completed"
    assert written(region, stream)[-1][1] == "epoch 6 loss=0.2857"
    clock.now = START + 14.9
    writer.sync(job)
    assert len(written(region, stream)) == 9 and writer.pending() == [job]
    clock.now = START + 15.0
    writer.sync(job)
    every = [(int(at * 1000), m) for at, m in log_lines(job, None, START + 10.0)]
    assert written(region, stream) == every  # each line once, in order, own timestamps
    assert writer.pending() == []


def test_a_stop_that_changes_the_last_lines_loses_and_repeats_none(
    writer: JobLogs, settings: LogSettings, store: JobStore, clock: Clock, region: str
) -> None:
    settings.configure({"late_lines": 4, "late_lines_after": 2.0})
    job = create(store, region, ResourceConfig=resources(2))
    clock.now = START + 9.5
    writer.sync(job)  # holds epochs 5 and 6 and Uploading, all due
    clock.now = START + 9.6
    store.stop("job")  # Stopping at 9.6 and Stopped at 10.6 are now two of the last four
    for step in (9.7, 10.6, 12.5, 12.6):
        clock.now = START + step
        writer.sync(job)
    for host, stream in enumerate(stream_names(job), start=1):
        every = [(int(at * 1000), m) for at, m in log_lines(job, None, START + 10.6, host)]
        assert written(region, stream) == every
    assert every[-1][1] == "[Stopped] Training job stopped"
    assert writer.pending() == []


def test_without_late_lines_the_lines_never_lag_the_status(
    writer: JobLogs, store: JobStore, clock: Clock, region: str
) -> None:
    job = create(store, region)
    clock.now = START + 10.0
    writer.sync(job, clock.now)
    assert written(region, stream_names(job)[0])[-1][1] == "[Completed] Training job completed"
    assert writer.pending() == []


def test_settings_default_to_nothing_and_refuse_bad_values() -> None:
    config = parse_log_config({})
    assert (config.sparse_pages, config.late) == (False, False)
    assert parse_log_config({"late_lines_after": 3}).late
    assert not parse_log_config({"late_lines": 0, "late_lines_after": 3}).late
    assert parse_log_config({"page_events": 1}).sparse_pages
    for body, named in [
        ({"empty_pages": -1}, "empty_pages"),
        ({"page_events": 0}, "page_events"),
        ({"late_lines": 1.5}, "late_lines"),
        ({"late_lines_after": -1}, "late_lines_after"),
        ({"late_lines_after": "soon"}, "late_lines_after"),
        ({"empty_pages": True}, "empty_pages"),
        ({"late": 1}, "late"),
        ([], "JSON object"),
    ]:
        with pytest.raises(ValueError, match=named):
            parse_log_config(body)
