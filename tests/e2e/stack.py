"""A real Airflow 3 stack on loopback for end-to-end tests and ``make demo``.

It starts the SageMaker simulator (optionally), then ``airflow api-server``, ``scheduler``,
``dag-processor`` and ``triggerer`` with an Airflow home in a scratch folder (SQLite,
LocalExecutor, no examples), waits for conditions with bounded timeouts, and stops every
process it started by pid. Each process writes its output to a file, so a failing test can
show what every process said.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")
AIRFLOW_PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
#: What a fork server imports besides Airflow itself, which loads the stack's plugins as it is
#: imported (plugins are not loaded lazily when there is a preload plugin).
COMMAND_MODULES = [
    f"airflow.cli.commands.{name.replace('-', '_')}_command" for name in AIRFLOW_PROCESSES
]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STARTUP_FOLDER = Path(__file__).with_name("startup")
#: Called by a fork server (whose folder is on its path) before its first fork.
TRIM_EXECUTION_API = "execution_api:trim_execution_api_versions"
FORK_SERVER_LOG = "fork-server.log"
_EXECUTOR_REPORT = re.compile(
    r"Received executor event with state \w+ for task instance TaskInstanceKey\("
    r"dag_id='([^']*)', task_id='([^']*)', run_id='([^']*)', try_number=(\d+), map_index=(-?\d+)\)"
)


class StackError(RuntimeError):
    """The stack could not start, or a condition was not met in time."""


#: Appended to the preload plugin: building one client of each service parses its model into
#: the process's shared loader (no request is sent), which the forked task processes then
#: inherit instead of parsing it on every run (about 0.3 CPU-s a run). Airflow loads the
#: plugins again in every task process: one forked from a process that ran this has the
#: shared loader already, and builds nothing. (Nothing else creates it as a process starts.)
WARM_CLIENTS = """
from sagemaker_async.connection import settings_from
from sagemaker_async.credentials import boto3_session, shared_loader

if not shared_loader.cache_info().currsize:
    for _service in ("sagemaker", "logs"):
        session = boto3_session(settings_from("warm", "warm", {}))
        session.client(_service, region_name="us-east-1")
"""
#: How long the fork server may take to answer: its first answer waits for it to import
#: Airflow, on a machine four stacks keep busy.
FORK_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stat_fields(stat: Path) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` after ``(comm)``, which may hold spaces and
    parentheses: the first is the state (field 3 of the file), then ppid, pgrp, session..."""
    return stat.read_text().rsplit(")", 1)[1].split()


def session_members(session: int) -> list[int]:
    """Pids of the live processes of a session (Linux ``/proc``): a :class:`Process` is the
    leader of its own, and whatever it starts stays in it unless it calls ``setsid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat_fields(stat)[3]) == session:
                members.append(int(stat.parent.name))
    return members


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot), if it is there and not a zombie: with
    the pid, it tells the process from a later one that got its pid (Linux ``/proc``)."""
    try:
        fields = stat_fields(Path(f"/proc/{pid}/stat"))
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])  # starttime: field 22


#: The scheduler's line for a try it fails as killed from outside ("state mismatch").
_KILLED_EXTERNALLY = re.compile(
    r"[^\n]*reported that the task instance <TaskInstance: (\S+) [^>]*> finished with state "
    r"\w+, but the task instance's state attribute is[^\n]*"
)


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    """Call ``check`` until it returns something truthy; :class:`StackError` after ``timeout``.

    A check may be a REST call, which takes the api-server tens of milliseconds of CPU: once a
    second is soon enough for waits of tens of seconds, on a machine the stacks keep busy.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class ForkServer:
    """``tests/e2e/startup/forkserver.py`` in a stack's environment: Airflow imported once,
    each command a fork of it (some three CPU-seconds saved per command, the server's own
    import paid back by the second)."""

    def __init__(self, env: dict[str, str], preload: Iterable[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, str(STARTUP_FOLDER / "forkserver.py"), *preload],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
            bufsize=0,  # unbuffered: select() sees every reply
        )

    def fork(self, argv: list[str], log_path: Path, timeout: float = FORK_TIMEOUT) -> int:
        """Start ``argv`` (an ``airflow`` command line) as a fork; return its pid."""
        assert self.popen.stdin is not None and self.popen.stdout is not None
        request = json.dumps({"argv": argv, "log": str(log_path)}) + "\n"
        try:
            self.popen.stdin.write(request.encode())
            answered = select.select([self.popen.stdout], [], [], timeout)[0]
            reply = self.popen.stdout.readline() if answered else None
        except BrokenPipeError:
            reply = b""
        if reply is None or not reply.strip().isdigit():
            # It must not fork the request later, for nobody to stop.
            self.popen.kill()
            self.popen.wait(10)
            problem = {None: f"did not answer within {timeout:.0f}s", b"": "exited"}.get(
                reply, f"answered {reply!r}"
            )
            raise StackError(
                f"the fork server could not start {argv[1:2]}: it {problem}; see {self.log_path}"
            )
        return int(reply)

    def stop(self) -> None:
        """Close its input (it exits) and make sure it did; its children live on."""
        with contextlib.suppress(OSError):
            if self.popen.stdin is not None:
                self.popen.stdin.close()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()


class Process:
    """One child process in its own session, so stopping it also stops what it forked.

    :param server: fork it from this :class:`ForkServer` rather than run ``argv``; it then has
        the server's environment, not ``env``. Its exit status is unknown (the kernel reaps
        it for the server), so :meth:`stop` and :meth:`kill` return ``None``.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        server: ForkServer | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._terminated = False
        self._log: IO[bytes] | None = None
        self.popen: subprocess.Popen[bytes] | None = None
        if server is None:
            self._log = log_path.open("ab")
            self.popen = subprocess.Popen(
                argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
            )
            self.pid = self.popen.pid
        else:
            self.pid = server.fork(argv, log_path)
        self._started = process_start(self.pid)

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self._started is not None and process_start(self.pid) == self._started

    def wait(self, timeout: float) -> int | None:
        """Its exit status once it has exited (``None`` for a fork);
        :class:`subprocess.TimeoutExpired` if it has not within ``timeout`` seconds."""
        if self.popen is not None:
            return self.popen.wait(timeout)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.name, timeout)
            time.sleep(0.1)
        return None

    def terminate(self) -> None:
        """SIGTERM the process group (once), without waiting: :meth:`stop` waits."""
        if self.alive() and not self._terminated:
            self._signal(signal.SIGTERM)
            self._terminated = True

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM the process group, SIGKILL it if still there after ``grace`` seconds."""
        if self.alive():
            self.terminate()
            try:
                self.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.wait(10)
        # Children that outlived their parent (task runners, gunicorn workers) go too.
        self._kill_session()
        return self._closed()

    def kill(self) -> int | None:
        """SIGKILL it and everything it started at once: a crash, with no chance to clean up."""
        self._kill_session()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wait(10)
        return self._closed()

    def _closed(self) -> int | None:
        if self._log is not None:
            self._log.close()
        return self.popen.returncode if self.popen is not None else None

    def pause(self) -> None:
        """SIGSTOP the process group: it keeps its state and does nothing until :meth:`resume`."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def _kill_session(self) -> None:
        """SIGKILL the process group, and every process of its session: Airflow starts each
        task process in a process group of its own, which ``killpg`` does not reach."""
        self._signal(signal.SIGKILL)
        for pid in session_members(self.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class AirflowStack:
    """Airflow home, processes and a REST client for one end-to-end run.

    :param home: scratch folder for the Airflow home (created, emptied first).
    :param dag_files: DAG files copied into the DAGs folder.
    :param simulator_url: the SageMaker simulator endpoint ``aws_default`` points at.
    :param parallelism: ``[core] parallelism``, the number of executor slots.
    :param extra_env: more environment for every process (e.g. DAG settings, or
        ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` for another database than SQLite).
    :param schedulers: how many ``airflow scheduler`` processes (the second is "scheduler.2").
    :param triggerers: how many ``airflow triggerer`` processes (the second is "triggerer.2").
    :param serve_logs: whether the scheduler and the triggerer serve their logs over HTTP, for
        the UI of a running or deferred task. Airflow binds that server to every interface, so
        tests turn it off: the api-server reads the same files from disk.
    :param preload: modules every Airflow process imports as it starts (an Airflow plugin), so
        that the task processes LocalExecutor forks find them loaded rather than import them on
        every run; the plugin also parses the SageMaker and Logs service models once
        (:data:`WARM_CLIENTS`).
    :param database: a migrated SQLite metadata database to start from (copied), instead of
        running ``airflow db migrate``; only for the default SQLite database.
    :param fork: start the Airflow processes as forks of one that has imported Airflow (a
        :class:`ForkServer`), rather than as ``airflow`` commands of their own, which each
        import it again: for the tests, where four stacks start at once on a busy machine.
    :param trim_execution_api: the stack's processes build the execution API for the versions
        the task SDK needs only (``tests/e2e/startup/execution_api.py``), which spares the
        api-server most of four to nine CPU-seconds; needs ``fork``.
    :param gc_threshold: ``gc.set_threshold`` arguments for every process of the stack
        (through ``tests/e2e/startup/sitecustomize.py``, which also skips the collection at a
        normal exit); ``None`` keeps CPython's.
    """

    def __init__(
        self,
        home: Path,
        dag_files: Iterable[Path],
        simulator_url: str,
        parallelism: int = 4,
        extra_env: dict[str, str] | None = None,
        credentials: tuple[str, str, str | None] = ("testing", "testing", None),
        schedulers: int = 1,
        triggerers: int = 1,
        serve_logs: bool = True,
        preload: Iterable[str] = (),
        database: Path | None = None,
        gc_threshold: tuple[int, int, int] | None = None,
        fork: bool = False,
        trim_execution_api: bool = False,
    ) -> None:
        if trim_execution_api and not fork:
            raise ValueError("trim_execution_api is done by the fork server: it needs fork")
        self.home = home
        self.fork = fork
        self._fork_modules = list(COMMAND_MODULES)
        if trim_execution_api:
            self._fork_modules.append(TRIM_EXECUTION_API)
        self.server: ForkServer | None = None
        self.dag_files = list(dag_files)
        self.simulator_url = simulator_url
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.credentials = credentials
        self.replicas = {"scheduler": schedulers, "triggerer": triggerers}
        self.serve_logs = serve_logs
        self.preload = list(preload)
        self.processes: dict[str, Process] = {}
        self.retired: list[Process] = []
        self.env = self._environment(parallelism, extra_env or {})
        if gc_threshold is not None:
            paths = [str(STARTUP_FOLDER), *filter(None, [self.env.get("PYTHONPATH")])]
            self.env["PYTHONPATH"] = os.pathsep.join(paths)
            self.env["SAGEMAKER_ASYNC_GC_THRESHOLD"] = ",".join(map(str, gc_threshold))
        if database is not None and not self.on_sqlite:
            raise ValueError("a database template is only for the stack's own SQLite database")
        self.database = database
        self._token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    @property
    def db_file(self) -> Path:
        return self.home / "airflow.db"

    def _environment(self, parallelism: int, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
        key, secret, token = self.credentials
        conn_extra = {"region_name": "us-east-1", "endpoint_url": self.simulator_url}
        if token:
            conn_extra["aws_session_token"] = token
        connection = {"conn_type": "aws", "login": key, "password": secret, "extra": conn_extra}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                    self.home / "passwords.json"
                ),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_file}",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                # Airflow's fixed defaults (8793, 8794) would clash between stacks.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
                # A task's first call to the API server (5 s by default, five tries) can wait
                # longer than that behind SQLite's write lock on a busy machine.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                # Only the runs a test triggers: no scheduled runs appearing on their own.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.preload:
            env["AIRFLOW__CORE__LAZY_LOAD_PLUGINS"] = "False"
        env.update(extra)
        return env

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> AirflowStack:
        if self.home.exists():
            shutil.rmtree(self.home)
        (self.home / "process-logs").mkdir(parents=True)
        self.dags_folder.mkdir()
        for path in self.dag_files:
            shutil.copy(path, self.dags_folder)
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.password}))
        if self.preload:
            plugins = self.home / "plugins"  # Airflow's default [core] plugins_folder
            plugins.mkdir()
            imports = "".join(f"import {module}  # noqa: F401\n" for module in self.preload)
            (plugins / "preload.py").write_text(imports + WARM_CLIENTS)
        if self.database is None:
            self._run_once(["db", "migrate"], timeout)
        else:
            shutil.copy(self.database, self.db_file)
        if self.fork:
            self.server = ForkServer(
                self.env, self._fork_modules, self.home / "process-logs" / FORK_SERVER_LOG
            )
        for name in AIRFLOW_PROCESSES:
            for n in range(1, self.replicas.get(name, 1) + 1):
                self.start_process(name if n == 1 else f"{name}.{n}")
        wait_for(self._api_healthy, timeout, "the api-server to answer", interval=0.5)
        return self

    def _run_once(self, args: list[str], timeout: float) -> None:
        log = self.home / "process-logs" / f"{args[0]}-{args[1]}.log"
        with log.open("wb") as out:
            done = subprocess.run(
                [self.airflow, *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if done.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} failed:\n{log.read_text()[-3000:]}")

    @property
    def airflow(self) -> str:
        return str(Path(sys.executable).with_name("airflow"))

    def start_process(self, name: str, *args: str) -> Process:
        """Start ``airflow <command> [args]`` (``name`` is the command, ``.N`` for a replica)."""
        n = sum(1 for p in self.retired if p.name == name)
        log = self.home / "process-logs" / (f"{name}.log" if n == 0 else f"{name}-{n}.log")
        command = name.split(".")[0]  # "triggerer.2" is a second triggerer
        argv = [self.airflow, command, *args]
        # A replica's log server would find its port taken by the first one's.
        if command in ("scheduler", "triggerer") and (not self.serve_logs or "." in name):
            argv.append("--skip-serve-logs")
        self.processes[name] = Process(name, argv, self.env, log, self.server)
        return self.processes[name]

    def stop_process(self, name: str, grace: float = 15.0) -> int | None:
        process = self.processes.pop(name)
        self.retired.append(process)
        return process.stop(grace)

    def kill_process(self, name: str) -> int | None:
        """SIGKILL a process and everything it forked, as a crash or the OOM killer would."""
        process = self.processes.pop(name)
        self.retired.append(process)
        return process.kill()

    def stop(self, graceful: bool = True) -> None:
        """Stop every process: the others all at once, then the api-server, which they may
        still report to while they shut down.

        :param graceful: ``False`` SIGKILLs them all at once instead, for a test's teardown
            where nothing is checked any more: a graceful shutdown costs some 8 CPU-seconds.
        """
        if not graceful:
            for name in list(self.processes):
                self.kill_process(name)
        else:
            others = [name for name in self.processes if name != "api-server"]
            for name in others:
                self.processes[name].terminate()
            for name in [*reversed(others), "api-server"]:
                if name in self.processes:
                    self.stop_process(name)
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def process_output(self, tail: int = 4000) -> str:
        """The end of every process's output, for a failure report."""
        parts = []
        for process in [*self.retired, *self.processes.values()]:
            parts.append(
                f"===== {process.name} (pid {process.pid}) =====\n{process.output()[-tail:]}"
            )
        server_log = self.home / "process-logs" / FORK_SERVER_LOG
        if server_log.exists():
            parts.append(
                f"===== fork server =====\n{server_log.read_text(errors='replace')[-tail:]}"
            )
        return "\n".join(parts)

    # --- REST API --------------------------------------------------------------------------

    def _api_healthy(self) -> bool:
        try:
            with _OPENER.open(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _login(self) -> str:
        body = json.dumps({"username": "admin", "password": self.password}).encode()
        request = urllib.request.Request(
            f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with _OPENER.open(request, timeout=30) as response:
            return str(json.load(response)["access_token"])

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the public REST API (``/api/v2``) as the admin user."""
        if self._token is None:
            self._token = self._login()
        request = urllib.request.Request(
            f"{self.url}/api/v2{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        for attempt in range(4):
            try:
                with _OPENER.open(request, timeout=30) as response:
                    return json.load(response)
            except urllib.error.HTTPError as err:
                # SQLite lets one writer in at a time: under load the API server can answer
                # 500 "Database error" (database is locked); the write was rolled back.
                if err.code < 500 or attempt == 3:
                    raise StackError(
                        f"{method} {path} -> {err.code}: {err.read()[:500]!r}"
                    ) from None
                time.sleep(1 + attempt)
            except TimeoutError:
                # A reader behind a long SQLite write lock on a busy machine: a read is asked
                # again; a write is not, as it may have been done.
                if method != "GET" or attempt == 3:
                    raise
                time.sleep(1 + attempt)
        raise AssertionError("unreachable")

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        def parsed() -> bool:
            try:
                return bool(self.api("GET", f"/dags/{dag_id}"))
            except StackError:
                return False

        wait_for(parsed, timeout, f"DAG {dag_id} to be parsed")

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, *, with_logical_date: bool = True
    ) -> str:
        """Create a manual run through the REST API; return its run id.

        ``with_logical_date=True`` gives the run the current time as its logical date, so
        ``{{ ds }}``-style templates render as in a scheduled run (the test DAGs rely on it).
        ``False`` sends ``"logical_date": null``: the run a user gets from ``airflow dags
        trigger`` without ``-l``, from API clients, and from the UI's trigger form with the
        date cleared. Airflow 3 leaves ``ds``, ``ts``, ``logical_date`` and friends out of
        such a run's template context.
        """
        self.wait_for_dag(dag_id)
        logical_date = datetime.now(timezone.utc).isoformat() if with_logical_date else None
        body = {"logical_date": logical_date, "conf": conf or {}}
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", body)
        return str(run["dag_run_id"])

    def trigger_with_cli(self, dag_id: str, timeout: float = 120.0) -> str:
        """``airflow dags trigger DAG_ID`` (no ``-l``) against this stack; return the run id.

        On a forking stack the command is a fork of its server, as its other commands are.
        """
        self.wait_for_dag(dag_id)
        command = self.start_process("dags", "trigger", dag_id, "--output", "json")
        try:
            status = command.wait(timeout)
        except subprocess.TimeoutExpired:
            raise StackError(f"airflow dags trigger {dag_id} took over {timeout:.0f}s") from None
        finally:
            self.stop_process("dags")  # closes its log, and ends it if it outlived the timeout
        output = command.output()
        if status not in (0, None):  # None: a fork, whose status nobody hears of
            raise StackError(f"airflow dags trigger {dag_id} exited {status}:\n{output[-3000:]}")
        # Log lines and warnings share the output with the answer: take the JSON list.
        for line in reversed(output.splitlines()):
            if line.startswith("["):
                with contextlib.suppress(ValueError, LookupError, TypeError):
                    return str(json.loads(line)[0]["dag_run_id"])
        raise StackError(f"airflow dags trigger {dag_id} gave no run:\n{output[-3000:]}")

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def dag_run_state(self, dag_id: str, run_id: str) -> str:
        """The run's state (:meth:`task_tries` says why it reads the database on SQLite)."""
        if not self.on_sqlite:
            return str(self.dag_run(dag_id, run_id)["state"])
        sql = "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?"
        rows = self._read(sql, dag_id, run_id)
        if not rows:
            raise StackError(f"no run {run_id} of {dag_id}")
        return str(rows[0][0])

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in answer["task_instances"]}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``task_id -> state`` of the run's task instances (a mapped task's last instance)."""
        return {task: state for task, (_, state) in self.task_tries(dag_id, run_id).items()}

    def task_tries(self, dag_id: str, run_id: str) -> dict[str, tuple[int, str | None]]:
        """``task_id -> (try_number, state)`` of the run's task instances.

        Tests poll these every second while they wait. On SQLite they are read from the
        metadata database, as the api-server would read them: it took 80 to 200 ms to answer
        each such REST call (its access log), and these polls were most of what it answered in
        the suite. On another database they come from the REST list (its first page, 50).
        """
        if not self.on_sqlite:
            tis = self.task_instances(dag_id, run_id).items()
            return {task: (ti["try_number"], ti["state"]) for task, ti in tis}
        sql = (
            "SELECT task_id, try_number, state FROM task_instance WHERE dag_id = ? AND run_id = ?"
            " ORDER BY map_index"
        )
        rows = self._read(sql, dag_id, run_id)
        if not rows:
            self.dag_run_state(dag_id, run_id)  # no such run: StackError, as REST's 404
        return {task: (tries, state) for task, tries, state in rows}

    @property
    def on_sqlite(self) -> bool:
        return self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{self.db_file}"

    def _read(self, sql: str, *args: str) -> list[tuple[Any, ...]]:
        """One read of the stack's SQLite database, which Airflow keeps in WAL mode: a reader
        neither waits for its writers nor holds them up."""
        if not self.db_file.exists():  # sqlite3 would create an empty one
            raise StackError(f"no metadata database at {self.db_file}: the stack is not started")
        with contextlib.closing(sqlite3.connect(self.db_file, timeout=30)) as conn:
            return conn.execute(sql, args).fetchall()

    def settled_runs(self, dag_id: str, run_id: str) -> set[tuple[str, int, int]]:
        """``(task_id, try_number, map_index)`` of every run of the DAG run whose end a
        scheduler has received the executor's report of, from the schedulers' output.

        A task that defers ends its run, and the executor reports that to the scheduler a
        moment later. A trigger event handled before that report makes Airflow 3.3 fail the
        task ("finished with state success, but the task instance's state attribute is
        queued"), so a test that ends a job on purpose first waits for the report; the seconds
        the job then takes to end cover the scheduler's handling of it.
        """
        settled = set()
        for match in _EXECUTOR_REPORT.finditer(self._scheduler_output()):
            dag, task, run, try_number, map_index = match.groups()
            if (dag, run) == (dag_id, run_id):
                settled.add((task, int(try_number), int(map_index)))
        return settled

    def _scheduler_output(self) -> str:
        """What every scheduler of the stack has written, the stopped ones' included."""
        schedulers = [*self.retired, *self.processes.values()]
        return "\n".join(p.output() for p in schedulers if p.name.split(".")[0] == "scheduler")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Wait until the run is finished; return its state."""
        return wait_for(
            lambda: (s := self.dag_run_state(dag_id, run_id)) in ("success", "failed") and s,
            timeout,
            f"run {run_id} of {dag_id} to finish",
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", f"{path}?deserialize=true&stringify=false")["value"]

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """What "mark failed" / "mark success" in the UI does."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        self.api("PATCH", path, {"new_state": state})

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> None:
        """What "clear" in the UI does: the task runs again."""
        body = {"dry_run": False, "only_failed": False, "task_ids": [task_id], "dag_run_id": run_id}
        self.api("POST", f"/dags/{dag_id}/clearTaskInstances", body)

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(folder.glob("*")) if folder.exists() else []

    def killed_externally(self) -> dict[str, str]:
        """The tasks (``dag_id.task_id``, with the log line) whose schedulers logged that the
        executor reported a try as finished while the database said it was still scheduled,
        queued, running or restarting: Airflow's verdict that something outside killed it,
        which fails the try."""
        return {
            m.group(1): m.group(0) for m in _KILLED_EXTERNALLY.finditer(self._scheduler_output())
        }

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in self.task_log_files(dag_id, run_id, task_id)
        )
