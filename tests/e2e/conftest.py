"""One real Airflow stack for the end-to-end tests, with every process's output on failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemaker_async.testing import SageMakerSimulator
from tests.e2e.inputs import put_example_inputs
from tests.e2e.stack import AirflowStack

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = [
    *sorted((ROOT / "example_dags").glob("*.py")),
    *sorted((ROOT / "tests/e2e/dags").glob("*.py")),
]
_STACKS: list[AirflowStack] = []
#: Distinctive credentials for ``aws_default``, so a test can look for them anywhere.
SECRETS = ("AKIAE2EPROBEKEY7Q4Z", "e2e-secret-access-key-Xq81vPz", "e2e-session-token-Mw53Lr0")


def jobs_with_prefix(sim: SageMakerSimulator, prefix: str) -> list[dict[str, Any]]:
    return [job for job in sim.client.jobs() if job["name"].startswith(prefix)]


def job_status(sim: SageMakerSimulator, prefix: str) -> str | None:
    """Status of the first job whose name starts with ``prefix``, if any."""
    jobs = jobs_with_prefix(sim, prefix)
    return jobs[0]["status"] if jobs else None


@pytest.fixture(scope="session")
def e2e_simulator() -> Iterator[SageMakerSimulator]:
    with SageMakerSimulator(default_duration=10.0, stop_delay=1.0) as sim:
        put_example_inputs(sim.endpoint_url)
        yield sim


@pytest.fixture(scope="session")
def stack(
    e2e_simulator: SageMakerSimulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowStack]:
    """api-server, scheduler, dag-processor and triggerer, with one executor slot."""
    airflow = AirflowStack(
        tmp_path_factory.mktemp("e2e") / "airflow",
        DAG_FILES,
        e2e_simulator.endpoint_url,
        parallelism=1,
        extra_env={"SAGEMAKER_CHECK_INTERVAL": "2"},
        credentials=SECRETS,
    )
    _STACKS.append(airflow)
    try:
        airflow.start()
        yield airflow
    finally:
        airflow.stop()
        _STACKS.remove(airflow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _STACKS:
        report.sections.append(("airflow processes", _STACKS[-1].process_output()))
