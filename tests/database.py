"""One migrated SQLite metadata database per test run, copied wherever a test needs one.

``airflow db migrate`` costs some 7 CPU-seconds. The suite needs a fresh database in every
xdist worker that runs ``dag.test()`` and in every SQLite Airflow stack, so the first of them
migrates one and the others copy it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMPLATE_NAME = "migrated-airflow.db"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrated_template(folder: Path, timeout: float = 300.0) -> Path:
    """The migrated database in ``folder``, made by the first caller (of any process)."""
    template = folder / TEMPLATE_NAME
    with _locked(folder / f"{TEMPLATE_NAME}.lock"):
        if not template.exists():
            _migrate(template, timeout)
    return template


def _migrate(target: Path, timeout: float) -> None:
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="sagemaker-async-migrate-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env["AIRFLOW_HOME"] = home
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{partial}"
        done = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{(done.stdout + done.stderr)[-3000:]}")
    partial.replace(target)


def copy_database(template: Path, target: Path) -> None:
    """Write the template's content into ``target`` through SQLite's backup API, which is
    safe even when a process already holds connections to ``target``."""
    source, destination = sqlite3.connect(template), sqlite3.connect(target)
    try:
        source.backup(destination)
    finally:
        source.close()
        destination.close()
