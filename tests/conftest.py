"""Suite-wide set-up: a private Airflow home, so tests never touch a user's Airflow."""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.database import migrated_template

#: The suite's Python processes (pytest's, and the test stacks' Airflow processes) collect
#: garbage less often than CPython's default (700, 10, 10): they import and build Airflow's
#: apps, hundreds of thousands of long-lived objects, and collecting over and over costs about
#: a fifth of that CPU. Nothing a test checks depends on when garbage is collected.
GC_THRESHOLD = (100_000, 50, 100)
gc.set_threshold(*GC_THRESHOLD)

# Airflow reads its configuration on first import, so this runs before any test module loads.
_HOME = tempfile.mkdtemp(prefix="sagemaker-async-airflow-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# dag.test() only runs DAGs found in the DAGs folder, so tests write their DAG files here.
DAGS_FOLDER = os.path.join(_HOME, "dags")
os.makedirs(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = DAGS_FOLDER
AIRFLOW_DB = Path(_HOME) / "airflow.db"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_DB}"
os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
# boto must never find real credentials or config on the machine running the tests.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(_name, None)
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata database, made once per run and shared by every xdist
    worker (their temp folders share a parent); copy it, never open it in place."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return migrated_template(root)


# --- xdist groups ----------------------------------------------------------------------------
# `--dist loadgroup` sends the tests of one `xdist_group` mark to one worker. pytest-xdist
# tells its scheduler about the marks by appending "@group" to each node id on the worker,
# which pytest 9.2's structured node ids no longer let it do (pytest-xdist#1386): the marks
# would be ignored without a word. So the workers write the groups to a file and the
# scheduler reads them there; node ids stay as they are.

_GROUPS_FOLDER = pytest.StashKey[str]()


def _groups_folder(config: pytest.Config) -> str:
    if _GROUPS_FOLDER not in config.stash:
        config.stash[_GROUPS_FOLDER] = tempfile.mkdtemp(prefix="sagemaker-async-xdist-")
    return config.stash[_GROUPS_FOLDER]


def _group_of(item: pytest.Item) -> str | None:
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) or None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Controller: tell each worker where to write its groups."""
    node.workerinput["sagemaker_async_groups"] = _groups_folder(node.config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Worker: write ``node id -> group`` once every conftest has added its marks."""
    folder = getattr(config, "workerinput", {}).get("sagemaker_async_groups")
    if folder is None:
        return
    groups = {item.nodeid: group for item in items if (group := _group_of(item))}
    path = Path(folder) / f"{config.workerinput['workerid']}.json"
    path.with_suffix(".tmp").write_text(json.dumps(groups))
    path.with_suffix(".tmp").replace(path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    folder = Path(_groups_folder(config))

    class MarkGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
        """Load scheduling that keeps each group's tests in one worker, in collection order.

        A worker starts a test only once it knows the next one, so a worker busy with a group
        (minutes of end-to-end tests) always holds one more test. It takes that one from the
        back of the queue, where the unit tests are (collected last, done in a moment), so
        that no long test waits behind a group.
        """

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            # Called once every worker has collected, so every file is there.
            if self.groups is None:
                self.groups = {}
                for path in folder.glob("*.json"):
                    self.groups.update(json.loads(path.read_text()))
            return self.groups.get(nodeid) or str(super()._split_scope(nodeid))

        def _assign_work_unit(self, node: Any) -> None:
            group_names = set((self.groups or {}).values())
            busy = any(
                scope in group_names and not all(done.values())
                for scope, done in self.assigned_work.get(node, {}).items()
            )
            if busy and len(self.workqueue) > 1:
                self.workqueue.move_to_end(next(reversed(self.workqueue)), last=False)
            super()._assign_work_unit(node)

    return MarkGroupScheduling(config, log)


#: Niceness of an xdist worker, and so of the processes it starts, once it runs anything but
#: the tests on the shared e2e stacks. Those three groups are the suite's longest chains of
#: waits, so their Airflow processes (at the suite's own niceness) get the CPU first. The
#: production-topology test and the other tests, which mostly wait, take what is left.
OTHER_TESTS_NICENESS = 5
_NICED = pytest.StashKey[bool]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    config = item.config
    if not hasattr(config, "workerinput") or config.stash.get(_NICED, False):
        return
    if "stack" not in getattr(item, "fixturenames", ()):
        os.nice(OTHER_TESTS_NICENESS)
        config.stash[_NICED] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported (Airflow, boto, the test modules) lives as long as the process:
    frozen, the garbage collector never walks it again."""
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Leave what the tests built to the process's end: pytest's two full collections at the
    end of a session and the interpreter's last one would walk all of it, some seven CPU-s
    per xdist worker once dag.test() has run, all at the end of the suite. The price: an
    exception raised in ``__del__`` by garbage still uncollected then goes unreported, which
    pytest would only have reported after the summary, as a warning."""
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    # Every xdist worker has an Airflow home of its own: none is left behind.
    shutil.rmtree(_HOME, ignore_errors=True)
    if _GROUPS_FOLDER in config.stash:
        shutil.rmtree(config.stash[_GROUPS_FOLDER], ignore_errors=True)
