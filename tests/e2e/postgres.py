"""A private PostgreSQL cluster on loopback, for Airflow's production topology in tests.

It uses the server binaries the machine has (``pg_config --bindir``, else
``/usr/lib/postgresql/*/bin``), runs ``initdb`` and ``postgres`` in a scratch folder on a free
port, and removes everything again on :meth:`PostgresCluster.stop`. The server refuses to run
as root, so under root both run as an unprivileged account that owns the scratch folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg2

from tests.e2e.stack import StackError, free_port, wait_for

SERVER_BINARIES = ("initdb", "postgres")
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres) not found: install them, e.g. "
    "`apt-get install postgresql` (Debian/Ubuntu), `dnf install postgresql-server` (Fedora) "
    "or `brew install postgresql` (macOS)"
)
#: Accounts tried, in order, to run the server as when we are root; created if none exists.
SERVER_ACCOUNTS = ("postgres", "nobody")
CREATED_ACCOUNT = "sagemaker-async-pg"
DATABASE = "airflow"
ROLE = "airflow"
# A throwaway cluster: durability costs time and buys nothing. Connections: two schedulers,
# two triggerers, a dag-processor and an api-server, each with a pool of up to 15.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "listen_addresses": "127.0.0.1",
}


class PostgresMissing(StackError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``postgres``; :class:`PostgresMissing` if none does."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, timeout=30, check=True
        )
        candidates.append(Path(done.stdout.strip()))
    # Debian and Ubuntu keep each major version apart; the newest first.
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: _version(p.parent.name), reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in SERVER_BINARIES):
            return folder
    raise PostgresMissing(INSTALL_HINT)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_ACCOUNTS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
    subprocess.run(
        [*useradd, CREATED_ACCOUNT],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return pwd.getpwnam(CREATED_ACCOUNT)


class PostgresCluster:
    """``initdb`` + ``postgres`` in a fresh temporary folder; :meth:`stop` removes it all.

    :param startup_timeout: seconds to wait for ``initdb`` and for the server to accept
        connections.
    """

    def __init__(self, startup_timeout: float = 120.0) -> None:
        self.bindir = find_bindir()
        self.startup_timeout = startup_timeout
        self.account = server_account()
        self.port = free_port()
        self.folder: Path | None = None
        self.server: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self._folder / "data"

    @property
    def log_path(self) -> Path:
        return self._folder / "postgres.log"

    @property
    def _folder(self) -> Path:
        if self.folder is None:
            raise StackError("the PostgreSQL cluster is not started")
        return self.folder

    def url(self, driver: str = "psycopg2") -> str:
        """SQLAlchemy URL of the Airflow database (trust authentication, loopback only)."""
        return f"postgresql+{driver}://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def airflow_env(self) -> dict[str, str]:
        """What points every Airflow process at this database, sync and async."""
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.url("psycopg2"),
            # Airflow derives the same from the sync URL; spelled out so a reader sees which
            # driver the async engine (api-server, triggerer) uses.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.url("asyncpg"),
        }

    def connect(self, **kwargs: Any) -> Any:
        """A psycopg2 connection to the Airflow database."""
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=ROLE, dbname=DATABASE, **kwargs
        )

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> PostgresCluster:
        # Not under pytest's tmp_path: its root folder is private to our user, and the server
        # account must be able to reach its data directory.
        self.folder = Path(tempfile.mkdtemp(prefix="sagemaker-async-pg-"))
        if self.account is not None:
            os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", ROLE]
        initdb += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        with self.log_path.open("ab") as log:
            done = subprocess.run(
                initdb,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=self.startup_timeout,
                **self._as_account(),
            )
        if done.returncode != 0:
            raise StackError(f"initdb failed:\n{self.output()[-3000:]}")
        argv = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-k", str(self.folder)]  # its Unix socket stays in the scratch folder too
        for key, value in SERVER_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        with self.log_path.open("ab") as log:
            self.server = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_account(),
            )
        wait_for(self._accepts, self.startup_timeout, "PostgreSQL to accept connections")
        self._create_database()
        return self

    def _as_account(self) -> dict[str, Any]:
        """Popen arguments that drop root for the server account (nothing when not root)."""
        if self.account is None:
            return {}
        return {
            "user": self.account.pw_uid,
            "group": self.account.pw_gid,
            "extra_groups": [],
            "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        }

    def _accepts(self) -> bool:
        if self.server is None or self.server.poll() is not None:
            raise StackError(f"postgres exited:\n{self.output()[-3000:]}")
        try:
            psycopg2.connect(
                host="127.0.0.1", port=self.port, user=ROLE, dbname="postgres", connect_timeout=5
            ).close()
        except psycopg2.OperationalError:
            return False
        return True

    def _create_database(self) -> None:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=ROLE, dbname="postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE refuses to run in a transaction
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL) and delete the folder; safe twice."""
        server, folder = self.server, self.folder
        self.server = self.folder = None
        if server is not None:
            if server.poll() is None:
                # SIGINT is PostgreSQL's "fast" shutdown: sessions are ended, not waited for.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(30)
            # Backends left behind by a server that did not stop in time go as well.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(10)
        if folder is not None:
            # Backends may still be letting go of files for a moment after SIGKILL.
            for _ in range(5):
                shutil.rmtree(folder, ignore_errors=True)
                if not folder.exists():
                    break
                time.sleep(0.5)

    def output(self) -> str:
        path = None if self.folder is None else self.log_path
        return path.read_text(errors="replace") if path and path.exists() else ""

    def __enter__(self) -> PostgresCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
