"""``airflow connections add --conn-type aws`` knows the type, with or without the amazon provider.

Each case runs Airflow's real CLI in a child process on the suite's private Airflow home and
database, and reads there what Airflow's provider manager registered. "Without the amazon
provider" hides its distribution from package metadata in the child (a ``sitecustomize``),
which is how Airflow's provider manager and this package look for it; its modules stay
importable, as they would be after an uninstall that left files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

AMAZON = "apache-airflow-providers-amazon"
_HIDE_AMAZON = f"""
import importlib.metadata
import importlib_metadata


def _hide(module):
    discover = module.Distribution.discover.__func__

    def without_amazon(cls, **kwargs):
        for dist in discover(cls, **kwargs):
            name = (dist.metadata["Name"] or "").lower().replace("_", "-")
            if name != {AMAZON!r}:
                yield dist

    module.Distribution.discover = classmethod(without_amazon)


_hide(importlib.metadata)
_hide(importlib_metadata)
"""
#: ``airflow connections add ARGS`` through Airflow's command line, then, in the same process
#: (one Airflow import rather than two), what its provider manager registered for ``aws``.
_ADD_THEN_REPORT = """
import json
import sys

from airflow.__main__ import main

sys.argv = ["airflow", "connections", "add", *sys.argv[1:]]
try:
    main()
    status = 0
except SystemExit as error:
    status = error.code

from airflow.providers_manager import ProvidersManager

manager = ProvidersManager()
hook = manager.hooks["aws"]
print(json.dumps({
    "status": status,
    "package": hook.package_name if hook else None,
    "hook_class": hook.hook_class_name if hook else None,
    "widgets": sorted(k for k in manager.connection_form_widgets if k.startswith("extra__aws__")),
    "providers": sorted(manager.providers),
}))
"""


def child_env(tmp_path: Path, hide_amazon: bool) -> dict[str, str]:
    env = dict(os.environ)
    if hide_amazon:
        (tmp_path / "sitecustomize.py").write_text(_HIDE_AMAZON)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    return env


def add_aws_connection(env: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """Add a connection with ``--conn-type aws`` in a child process.

    Returns its id, the command's output and what the child's provider manager registered
    (the one the command used: registrations come from the providers' entry points).
    """
    conn_id = f"probe_{uuid.uuid4().hex[:8]}"
    extra = json.dumps({"region_name": "eu-west-1"})
    args = [conn_id, "--conn-type", "aws", "--conn-extra", extra]
    done = subprocess.run(
        [sys.executable, "-c", _ADD_THEN_REPORT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    *output, report = done.stdout.strip().splitlines()
    info = json.loads(report)
    assert info["status"] in (0, None), f"{info['status']}\n{done.stderr[-3000:]}"
    return conn_id, "\n".join(output) + done.stderr, info


def stored_type(conn_id: str) -> str | None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(Connection.conn_type).where(Connection.conn_id == conn_id))


def test_without_the_amazon_provider_this_package_registers_aws(tmp_path: Path) -> None:
    env = child_env(tmp_path, hide_amazon=True)
    conn_id, output, info = add_aws_connection(env)
    assert "The type provided to --conn-type is invalid" not in output
    assert stored_type(conn_id) == "aws"
    assert AMAZON not in info["providers"]
    assert info["package"] == "sagemaker-async"
    assert info["hook_class"] == "sagemaker_async.connection_hook.AwsConnectionHook"
    assert "extra__aws__region_name" in info["widgets"]


def test_with_the_amazon_provider_its_aws_type_is_kept(tmp_path: Path) -> None:
    # The amazon provider is not a test dependency (it would register `aws` for every other
    # test); `make bench` installs it, and this case runs wherever it is installed.
    pytest.importorskip(
        "airflow.providers.amazon", reason="needs apache-airflow-providers-amazon installed"
    )
    env = child_env(tmp_path, hide_amazon=False)
    conn_id, output, info = add_aws_connection(env)
    assert "The type provided to --conn-type is invalid" not in output
    assert "has been already registered" not in output
    assert stored_type(conn_id) == "aws"
    assert info["package"] == AMAZON
    # None of this package's form fields are mixed into the amazon provider's form.
    assert info["widgets"] == []
