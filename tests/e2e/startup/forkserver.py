"""Start a test stack's Airflow commands as forks of one process that has imported Airflow.

Each ``airflow`` command spends some four CPU-seconds importing Airflow and reading its
configuration before it does anything, and a test stack starts four of them (the production
topology six), on a machine the other tests keep busy. This server imports Airflow once, in
the stack's environment, then forks one child per request. A child is what ``airflow
<command>`` would be from there on: its own session, its output in its log file, Airflow's
command line run to its end and the interpreter's exit. The server imports only what the
stack's commands import anyway (Airflow, with the stack's plugins, and the commands' modules),
and opens no database connection before a fork, as LocalExecutor and the dag-processor fork
from such a process too.

Its arguments are modules to import before any fork, besides Airflow's command line, and
``module:function`` to import and call (no arguments). Then,
one line each way: a JSON request ``{"argv": [...], "log": "path"}`` on stdin, the child's pid
on stdout. The server exits when its stdin closes.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import sys
from typing import TextIO


def serve(replies: TextIO) -> list[str] | None:
    """Fork one child per request: in a child, return its ``argv``; ``None`` at end of input."""
    # Children are reaped by the kernel: the server never waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            replies.close()
            become_command(request["log"])
            return [str(arg) for arg in request["argv"]]
        print(pid, file=replies, flush=True)
    return None


def become_command(log: str) -> None:
    """A session of its own (as ``start_new_session``), its output to its log file."""
    os.setsid()
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)


def main() -> None:
    # Airflow logs and warns to stdout: the replies get a descriptor of their own, and what
    # the server itself prints goes to its log (stderr).
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    from airflow.__main__ import main as airflow_main

    for spec in sys.argv[1:]:
        name, _, function = spec.partition(":")
        module = importlib.import_module(name)
        if function:
            getattr(module, function)()
    # What the children inherit lives as long as they do: their collections need not scan it.
    gc.freeze()
    argv = serve(replies)
    if argv is None:
        return
    sys.argv = argv
    sys.exit(airflow_main())


if __name__ == "__main__":
    main()
