"""Real Airflow stacks for the end-to-end tests, with every process's output on failure.

The tests on the shared ``stack`` run in xdist groups (``make test`` runs ``--dist
loadgroup``): each group runs in one worker, in collection order, on that worker's own
simulator and stack. ``stack`` is package-scoped, so a worker stops its stack once it moves on
to tests outside ``tests/e2e``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemaker_async.testing import SageMakerSimulator
from tests.conftest import GC_THRESHOLD
from tests.e2e.inputs import put_example_inputs
from tests.e2e.stack import AirflowStack

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = [
    *sorted((ROOT / "example_dags").glob("*.py")),
    *sorted((ROOT / "tests/e2e/dags").glob("*.py")),
]
_STACKS: list[AirflowStack] = []
#: The DAG files never change while a stack runs: parsed once, not every 30 s (Airflow's
#: default), which would keep a core a sixth busy per stack.
QUIET_DAG_PROCESSOR = {"AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600"}
#: Imported once by each Airflow process rather than by each task run: about a third of the
#: CPU a task run costs, on a suite that runs some 250 of them.
PRELOAD = ("sagemaker_async.operators", "sagemaker_async.triggers")
#: One after the other the tests on the shared stack take some seven minutes, so they run on
#: three stacks: three xdist groups of about the same length. A test goes to the group of its
#: name, else of its module, else to the last group.
STACK_GROUPS = {
    "test_kills.py": "e2e-stack-1",
    "test_triggerer.py::test_triggerer_restart_keeps_jobs_and_deadlines": "e2e-stack-1",
    "test_capacity.py": "e2e-stack-2",
    "test_triggerer.py::test_trigger_polls_in_the_triggerer_process": "e2e-stack-2",
    "test_triggerer.py::test_failed_job_reason_is_in_the_task_log": "e2e-stack-2",
}
LAST_STACK_GROUP = "e2e-stack-3"
#: Tasks whose worker process a test kills (``tests/e2e/dags/e2e_retry.py``).
KILLED_ON_PURPOSE = {"e2e_retry.dies_after_submit"}
#: Distinctive credentials for ``aws_default``, so a test can look for them anywhere.
SECRETS = ("AKIAE2EPROBEKEY7Q4Z", "e2e-secret-access-key-Xq81vPz", "e2e-session-token-Mw53Lr0")


def job_status(sim: SageMakerSimulator, prefix: str) -> str | None:
    """Status of the first job whose name starts with ``prefix``, if any."""
    jobs = sim.client.jobs(prefix)
    return jobs[0]["status"] if jobs else None


@pytest.fixture(scope="package")
def e2e_simulator() -> Iterator[SageMakerSimulator]:
    with SageMakerSimulator(default_duration=10.0, stop_delay=1.0) as sim:
        put_example_inputs(sim.endpoint_url)
        yield sim


@pytest.fixture(scope="package")
def stack(
    e2e_simulator: SageMakerSimulator,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: Path,
) -> Iterator[AirflowStack]:
    """api-server, scheduler, dag-processor and triggerer, with one executor slot."""
    airflow = AirflowStack(
        tmp_path_factory.mktemp("e2e") / "airflow",
        DAG_FILES,
        e2e_simulator.endpoint_url,
        parallelism=1,
        extra_env={"SAGEMAKER_CHECK_INTERVAL": "2", **QUIET_DAG_PROCESSOR},
        credentials=SECRETS,
        serve_logs=False,
        preload=PRELOAD,
        database=migrated_database,
        gc_threshold=GC_THRESHOLD,
        fork=True,
        trim_execution_api=True,
    )
    _STACKS.append(airflow)
    try:
        airflow.start()
        yield airflow
        # Airflow 3.3 fails a resumed task whose trigger fired before the scheduler handled
        # the worker's exit on deferral; the triggers' resume hold leaves it a margin (10 s
        # against the 8.3 s measured). Only a task whose worker a test kills may fail so.
        killed = airflow.killed_externally()
        raced = [line for task, line in killed.items() if task not in KILLED_ON_PURPOSE]
        assert not raced, "tasks failed as killed from outside, by no test:\n" + "\n".join(raced)
    finally:
        airflow.stop(graceful=False)
        _STACKS.remove(airflow)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the tests that share a stack in xdist groups; anything else on its own stack
    (the production topology) in a group of its own, so that no group waits behind it."""
    for item in items:
        path = Path(str(item.path))
        if "stack" in getattr(item, "fixturenames", ()):
            name = f"{path.name}::{getattr(item, 'originalname', item.name)}"
            group = STACK_GROUPS.get(name) or STACK_GROUPS.get(path.name, LAST_STACK_GROUP)
        elif path.is_relative_to(ROOT / "tests/e2e"):
            group = f"e2e-{path.stem}"
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _STACKS:
        report.sections.append(("airflow processes", _STACKS[-1].process_output()))
