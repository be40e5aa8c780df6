"""Airflow's production topology: PostgreSQL, two schedulers, two triggerers, and a triggerer
that dies without a graceful shutdown while it holds most of the deferred tasks.

Its triggers move to the survivor once the dead one's heartbeat is older than
``[triggerer] triggerer_health_check_threshold`` and run there again from scratch. The jobs
must neither be created twice nor stopped, and every task must resume exactly once.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemaker_async.testing import SageMakerSimulator
from tests.conftest import GC_THRESHOLD
from tests.e2e.conftest import _STACKS, PRELOAD, QUIET_DAG_PROCESSOR
from tests.e2e.postgres import PostgresCluster, PostgresMissing, find_bindir
from tests.e2e.stack import AirflowStack, wait_for
from tests.e2e.topology import TRIGGERER_HEALTH_CHECK_THRESHOLD, ProductionTopology

pytestmark = pytest.mark.e2e

DAG_FILE = Path(__file__).parent / "dags" / "e2e_ha_fanout.py"
DAG_ID, TASK_ID, PREFIX = "e2e_ha_fanout", "train", "e2e-ha-"
TASKS = 40
#: The second triggerer's ``--capacity``. Airflow gives new triggers to whichever triggerer
#: asks first, and one that already runs triggers asks more often, so on a busy machine one
#: triggerer can take them all. The test shapes the spread instead: the first triggerer is
#: paused until the second holds this many (more than half), then takes the rest; the second
#: is the one killed, and the first (default capacity) must adopt them all.
VICTIM_CAPACITY = 24
#: Longer than the whole test: every job is still training when the triggerer is killed and
#: when the survivor has taken its triggers over, however slowly the 40 tasks defer. Then the
#: test hurries them to their end (:meth:`SimulatorClient.hurry`) rather than wait it out.
JOB_SECONDS = 1800
HURRY_SECONDS = 5.0


@pytest.fixture
def cleanup() -> Iterator[contextlib.ExitStack]:
    """Undone at teardown, after the failure report has taken the processes' output."""
    with contextlib.ExitStack() as stack:
        yield stack


def postgres_missing() -> str | None:
    """What to install when the machine has no PostgreSQL server: the test fails, never skips."""
    try:
        find_bindir()
    except PostgresMissing as err:
        return str(err)
    return None


def query(db: PostgresCluster, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """One read of the Airflow metadata database, in its own short transaction."""
    conn = db.connect(connect_timeout=10)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    finally:
        conn.close()


def running_triggerer_jobs(db: PostgresCluster, *, looping: bool = False) -> list[int]:
    """Ids of the triggerers' jobs; ``looping``: only those that heartbeat from their loop.

    The job row is written before the triggerer starts its trigger runner; the first
    heartbeat after that comes from the loop that assigns triggers.
    """
    sql = "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running'"
    if looping:
        sql += " AND latest_heartbeat > start_date"
    return sorted(row[0] for row in query(db, sql))


def deferrals(db: PostgresCluster, run_id: str) -> dict[int, tuple[str, int | None, int | None]]:
    """``map_index -> (state, trigger id, triggerer job id)`` of the mapped task's instances."""
    rows = query(
        db,
        "SELECT ti.map_index, ti.state, t.id, t.triggerer_id FROM task_instance ti"
        " LEFT JOIN trigger t ON t.id = ti.trigger_id"
        " WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s",
        DAG_ID,
        run_id,
        TASK_ID,
    )
    return {index: (state, trigger, triggerer) for index, state, trigger, triggerer in rows}


def log_records(path: Path) -> list[str]:
    """The ``event`` (message) of every JSON line of one task or trigger log file."""
    events = []
    for raw in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            events.append(str(json.loads(raw).get("event", "")))
    return events


def start_triggerers(stack: AirflowStack, db: PostgresCluster) -> tuple[int, int]:
    """Start the second triggerer once the first has its job row: their job ids, in order.

    Both run on one host, so the ``job`` table (hostname, no pid) cannot tell them apart;
    the order they registered in can.
    """
    first = wait_for(lambda: running_triggerer_jobs(db), 120, "the first triggerer's job")
    stack.start_process("triggerer.2", "--capacity", str(VICTIM_CAPACITY))

    def second_one() -> list[int] | None:
        jobs = running_triggerer_jobs(db)
        return jobs if len(jobs) == 2 else None

    both = wait_for(second_one, 120, "the second triggerer's job")
    (second,) = set(both) - set(first)
    wait_for(
        lambda: len(running_triggerer_jobs(db, looping=True)) == 2, 120, "both triggerer loops"
    )
    return first[0], second


# A cluster, a migration on PostgreSQL and six Airflow processes: on a busy machine the stack
# alone has taken 150 s to come up, past the suite's default of 300 s per test.
@pytest.mark.timeout(600)
def test_triggerer_killed_on_production_topology(
    tmp_path: Path, cleanup: contextlib.ExitStack
) -> None:
    started = time.monotonic()

    def mark(phase: str) -> None:  # captured; shown with a failure or with -s
        print(f"[{time.monotonic() - started:6.1f}s] {phase}", flush=True)

    missing = postgres_missing()
    if missing is not None:
        pytest.fail(missing, pytrace=False)
    # One triggerer from the stack; the second comes after, so the two can be told apart.
    topology = ProductionTopology(schedulers=2, triggerers=1)
    cleanup.enter_context(topology)
    db = topology.database
    sim = cleanup.enter_context(SageMakerSimulator(default_duration=5.0, stop_delay=1.0))
    sim.add_rule(PREFIX, duration=JOB_SECONDS)
    stack = AirflowStack(
        tmp_path / "airflow",
        [DAG_FILE],
        sim.endpoint_url,
        parallelism=4,  # per scheduler: eight worker slots in all
        serve_logs=False,
        preload=PRELOAD,
        gc_threshold=GC_THRESHOLD,
        fork=True,
        **topology.stack_options({"E2E_HA_TASKS": str(TASKS), **QUIET_DAG_PROCESSOR}),
    )
    _STACKS.append(stack)  # the e2e conftest attaches every process's output to a failure
    cleanup.callback(_STACKS.remove, stack)
    cleanup.callback(stack.stop, graceful=False)
    stack.start()
    first, second = start_triggerers(stack, db)
    names = {first: "triggerer", second: "triggerer.2"}
    mark("stack up, both triggerers looping")

    paused = stack.processes["triggerer"]
    paused.pause()
    cleanup.callback(paused.resume)  # before the stack stops it (callbacks run last first)
    run_id = stack.trigger(DAG_ID)

    def second_full() -> bool:
        held_by = Counter(job for _, _, job in deferrals(db, run_id).values())
        return held_by[second] == VICTIM_CAPACITY

    wait_for(second_full, 300, f"the second triggerer to hold {VICTIM_CAPACITY}")
    paused.resume()
    mark(f"the second triggerer holds {VICTIM_CAPACITY}; the first resumed")

    # Every task deferred and its trigger in one of the two triggerers: map index ->
    # (trigger id, triggerer job id).
    def all_held() -> dict[int, tuple[int, int]] | None:
        held = {
            index: (trigger, job)
            for index, (state, trigger, job) in deferrals(db, run_id).items()
            if state == "deferred" and trigger is not None and job is not None
        }
        return held if len(held) == TASKS else None

    held = wait_for(all_held, 300, f"{TASKS} deferred tasks held by triggerers")
    mark(f"all {TASKS} tasks deferred")
    load = Counter(job for _, job in held.values())
    assert set(load) == set(names), f"triggers not spread over both triggerers: {load}"
    victim, survivor = (job for job, _ in load.most_common())
    assert victim == second, load
    orphans = {trigger: index for index, (trigger, job) in held.items() if job == victim}
    assert sim.client.calls().get("CreateTrainingJob") == TASKS

    stack.kill_process(names[victim])
    killed = time.monotonic()
    mark(f"killed {names[victim]} holding {len(orphans)} of the triggers ({dict(load)})")

    # The survivor takes every orphan over once the dead one's heartbeat is stale enough.
    def adopted() -> bool:
        placed = {t: job for _, t, job in deferrals(db, run_id).values() if t is not None}
        return all(placed.get(trigger) == survivor for trigger in orphans)

    wait_for(adopted, TRIGGERER_HEALTH_CHECK_THRESHOLD + 60, "the survivor to adopt the orphans")
    mark(f"{len(orphans)} orphans adopted {time.monotonic() - killed:.1f}s after the kill")
    jobs = sim.client.jobs(PREFIX)
    assert all(job["status"] == "InProgress" for job in jobs), "a job ended before the adoption"
    runs = {(TASK_ID, 1, index) for index in range(TASKS)}
    wait_for(lambda: runs <= stack.settled_runs(DAG_ID, run_id), 120, "deferrals to settle")
    assert len(sim.client.hurry(PREFIX, within=HURRY_SECONDS)) == TASKS

    state = stack.wait_for_run(DAG_ID, run_id, timeout=300)
    mark(f"run finished: {state}")

    # Every task succeeded on its first and only try.
    tis = query(
        db,
        "SELECT map_index, state, try_number FROM task_instance"
        " WHERE dag_id = %s AND run_id = %s AND task_id = %s ORDER BY map_index",
        DAG_ID,
        run_id,
        TASK_ID,
    )
    assert state == "success", tis
    assert tis == [(i, "success", 1) for i in range(TASKS)]

    # One job per task, created once, never stopped, run to its end.
    jobs = sim.client.jobs(PREFIX)
    assert len(jobs) == TASKS
    assert all(job["calls"].get("CreateTrainingJob") == 1 for job in jobs)
    assert all(job["status"] == "Completed" for job in jobs)
    assert sim.client.calls().get("StopTrainingJob", 0) == 0

    logs = stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={TASK_ID}"
    for index in range(TASKS):
        folder = logs / f"map_index={index}"
        # Resumed exactly once: the worker ran the task twice (submit, then resume), and the
        # operator logged one summary of the result, which it does on a success event.
        worker = log_records(folder / "attempt=1.log")
        assert worker.count("::group::Pre Execute") == 2, index
        assert sum(e.startswith("Created training job ") for e in worker) == 1, index
        name = f"Training job {PREFIX}{index:02d}-"
        ends = [e for e in worker if e.startswith(name) and ": model " in e]
        assert len(ends) == 1 and " Completed: " in ends[0], (index, ends)
        # Each trigger ran in the triggerer holding it at the kill (which may not have got to
        # start an orphan yet), and an orphan in the survivor too; no third triggerer.
        trigger_logs = sorted(folder.glob("attempt=1.log.trigger.*"))
        ran_in = {int(p.name.rsplit(".", 2)[-2]) for p in trigger_logs}
        holder = survivor if index in orphans.values() else held[index][1]
        assert holder in ran_in and ran_in <= {victim, survivor}, (index, ran_in, holder)
        # Every job was still training at the kill, so only the second run of an orphaned
        # trigger can have fired. At most one event logged per task: Airflow 3.3 sometimes
        # loses a trigger's last log lines, so the resume above is the proof of the one event.
        fired = [e for p in trigger_logs for e in log_records(p) if e == "Trigger fired event"]
        assert len(fired) <= 1, (index, len(fired))
