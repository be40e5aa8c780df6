"""``airflow connections add --conn-type aws`` knows the type, with or without the amazon provider.

Each case runs Airflow's real CLI in a child process on the suite's private Airflow home and
database. "Without the amazon provider" hides its distribution from package metadata in the
child (a ``sitecustomize``), which is how Airflow's provider manager and this package look
for it; its modules stay importable, as they would be after an uninstall that left files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

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
_REGISTERED = """
import json
from airflow.providers_manager import ProvidersManager

manager = ProvidersManager()
hook = manager.hooks["aws"]
print(json.dumps({
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


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cli = [sys.executable, "-m", "airflow", *args]
    return subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)


def add_aws_connection(env: dict[str, str]) -> tuple[str, str]:
    """Add a connection with ``--conn-type aws``; return its id and the CLI's output."""
    conn_id = f"probe_{uuid.uuid4().hex[:8]}"
    extra = json.dumps({"region_name": "eu-west-1"})
    done = airflow(env, "connections", "add", conn_id, "--conn-type", "aws", "--conn-extra", extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return conn_id, done.stdout + done.stderr


def stored_type(conn_id: str) -> str | None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(Connection.conn_type).where(Connection.conn_id == conn_id))


def registered(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _REGISTERED], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_without_the_amazon_provider_this_package_registers_aws(tmp_path: Path) -> None:
    env = child_env(tmp_path, hide_amazon=True)
    conn_id, output = add_aws_connection(env)
    assert "The type provided to --conn-type is invalid" not in output
    assert stored_type(conn_id) == "aws"
    info = registered(env)
    assert AMAZON not in info["providers"]  # type: ignore[operator]
    assert info["package"] == "sagemaker-async"
    assert info["hook_class"] == "sagemaker_async.connection_hook.AwsConnectionHook"
    assert "extra__aws__region_name" in info["widgets"]  # type: ignore[operator]


def test_with_the_amazon_provider_its_aws_type_is_kept(tmp_path: Path) -> None:
    # The amazon provider is not a test dependency (it would register `aws` for every other
    # test); `make bench` installs it, and this case runs wherever it is installed.
    pytest.importorskip(
        "airflow.providers.amazon", reason="needs apache-airflow-providers-amazon installed"
    )
    env = child_env(tmp_path, hide_amazon=False)
    conn_id, output = add_aws_connection(env)
    assert "The type provided to --conn-type is invalid" not in output
    assert "has been already registered" not in output
    assert stored_type(conn_id) == "aws"
    info = registered(env)
    assert info["package"] == AMAZON
    # None of this package's form fields are mixed into the amazon provider's form.
    assert info["widgets"] == []
