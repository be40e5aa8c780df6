"""Integration fixtures: one SageMaker simulator server and an initialised Airflow database."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemaker_async.testing import SageMakerSimulator, SimulatorClient
from tests.conftest import AIRFLOW_DB
from tests.database import copy_database


@pytest.fixture(scope="session")
def simulator() -> Iterator[SageMakerSimulator]:
    sim = SageMakerSimulator(default_duration=3.0, stop_delay=0.5)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim(simulator: SageMakerSimulator) -> SimulatorClient:
    """The simulator's control client, with jobs, rules and counters cleared."""
    client = simulator.client
    client.reset()
    return client


@pytest.fixture(scope="session", autouse=True)
def aws_default_connection(simulator: SageMakerSimulator) -> Iterator[None]:
    """``aws_default`` points at the simulator; the keys are dummies it accepts."""
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": simulator.endpoint_url},
    }
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(conn)
    os.environ["SAGEMAKER_CHECK_INTERVAL"] = "1"
    yield
    os.environ.pop("AIRFLOW_CONN_AWS_DEFAULT", None)


@pytest.fixture(scope="session")
def airflow_db(migrated_database: Path) -> None:
    """This worker's metadata database (see ``tests/conftest.py``), migrated."""
    copy_database(migrated_database, AIRFLOW_DB)


#: Integration modules whose tests mostly wait (on simulated jobs, faults, retries, the quota,
#: subprocesses), longest first: from tens of seconds to two minutes a test on a busy machine.
#: They are collected right after the end-to-end tests, so that xdist starts them early and
#: in this order; left to alphabetical order, one of them could be what the whole suite
#: waits for at its end.
LONG_WAITS = (
    "test_faults.py",
    "test_connections.py",
    "test_lineage.py",
    "test_capacity.py",
    "test_connection_type.py",
    "test_logtail.py",
    "test_sweep.py",
    "test_operators.py",
    "test_example_dags.py",
    "test_endpoint_errors.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        path = Path(str(item.path))
        if path.parent != here:
            return 0 if path.is_relative_to(here.parent / "e2e") else len(LONG_WAITS) + 1
        return LONG_WAITS.index(path.name) + 1 if path.name in LONG_WAITS else len(LONG_WAITS) + 1

    items.sort(key=rank)  # stable: the order within each rank stays
