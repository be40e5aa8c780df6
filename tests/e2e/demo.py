"""``make demo``: the example DAG through a real Airflow stack against the SageMaker simulator.

Starts the simulator and Airflow (api-server, scheduler, dag-processor, triggerer) on free
loopback ports in a scratch folder, puts the example's training data into the simulator's S3,
triggers ``example_sagemaker_training`` without a logical date (as ``airflow dags trigger``
does), prints the task's states and the job's status changes as they happen, then the result
and where the logs are.
Stops every process it started and exits 0, or non-zero with the reason. ``KEEP=1`` leaves
the stack up (until Ctrl-C) and prints the UI address and login. ``TOPOLOGY=ha`` runs it on
production's topology instead of the embedded SQLite one: PostgreSQL (a private cluster),
two schedulers and two triggerers.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sagemaker_async.testing import SimulatorClient
from tests.e2e.inputs import put_example_inputs
from tests.e2e.stack import AirflowStack, Process, StackError, free_port
from tests.e2e.topology import Topology, topology_named

ROOT = Path(__file__).resolve().parents[2]
DAG_ID, TASK_ID = "example_sagemaker_training", "train_model"
JOB_SECONDS = 20
TIMEOUT = 300.0


class Demo:
    #: the make target this is, for messages
    target = "demo"

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.folder = Path(tempfile.mkdtemp(prefix=f"sagemaker-async-{self.target}-"))
        self.processes: list[Process] = []
        self.topology = Topology()  # the embedded default; `run` reads TOPOLOGY

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def start_simulator(self, job_seconds: float = JOB_SECONDS) -> SimulatorClient:
        port = free_port()
        argv = [sys.executable, "-m", "sagemaker_async.testing", "--port", str(port)]
        argv += ["--duration", str(job_seconds)]
        self.processes.append(
            Process("simulator", argv, dict(os.environ), self.folder / "simulator.log")
        )
        client = SimulatorClient(f"http://127.0.0.1:{port}")
        if not client.wait_until_healthy(timeout=60):
            raise StackError(f"the simulator did not start:\n{self.processes[-1].output()[-2000:]}")
        self.say(f"SageMaker simulator up at {client.endpoint_url} (pid {self.processes[-1].pid})")
        uris = put_example_inputs(client.endpoint_url)
        self.say(f"the example's training data: {uris[len(uris) // 2]} and the days around it")
        return client

    def follow(self, stack: AirflowStack, sim: SimulatorClient, run_id: str) -> str:
        """Print task states and job statuses as they change; return the final task state."""
        last_state: str | None = "none"
        last_job: tuple[str, str] | None = None
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            state = stack.task_states(DAG_ID, run_id).get(TASK_ID)
            if state != last_state:
                self.say(f"task {TASK_ID}: {state or 'created, waiting for the scheduler'}")
                last_state = state
            jobs = [j for j in sim.jobs() if j["name"].startswith("example-train-")]
            if jobs and (jobs[-1]["status"], jobs[-1]["secondary_status"]) != last_job:
                last_job = (jobs[-1]["status"], jobs[-1]["secondary_status"])
                self.say(f"job {jobs[-1]['name']}: {last_job[0]} ({last_job[1]})")
            if state in ("success", "failed", "upstream_failed"):
                return state
            time.sleep(0.5)
        raise StackError(f"task {TASK_ID} did not finish within {TIMEOUT:.0f}s")

    def report(self, stack: AirflowStack, run_id: str) -> None:
        training = stack.xcom(DAG_ID, run_id, TASK_ID)["Training"]
        print("\nResult (XCom return_value):")
        print(f"  job name        {training['TrainingJobName']}")
        print(f"  status          {training['TrainingJobStatus']}")
        print(f"  model artifact  {training['ModelArtifacts']['S3ModelArtifacts']}")
        print(f"  billable time   {training['BillableTimeInSeconds']}s")
        print("\nLogs:")
        for path in stack.task_log_files(DAG_ID, run_id, TASK_ID):
            kind = "triggerer (polling)" if ".trigger." in path.name else "task (worker)"
            print(f"  {kind:20} {path}")
        print(f"  {'Airflow processes':20} {stack.home / 'process-logs'}")

    def run(self, keep: bool) -> int:
        self.topology = topology_named(os.environ.get("TOPOLOGY", ""))
        with self.topology:  # the database outlives every Airflow process
            self.say(f"topology: {self.topology.description}")
            sim = self.start_simulator()
            return self.with_stack(sim, lambda stack: self.exercise(stack, sim, keep))

    def with_stack(self, sim: SimulatorClient, body: Callable[[AirflowStack], int]) -> int:
        """Start Airflow on the simulator, run ``body``, then stop every process started."""
        stack = AirflowStack(
            self.folder / "airflow",
            sorted((ROOT / "example_dags").glob("*.py")),
            sim.endpoint_url,
            **self.topology.stack_options({"SAGEMAKER_CHECK_INTERVAL": "2"}),
        )
        try:
            self.say(
                "starting Airflow: db migrate, api-server, scheduler, dag-processor, triggerer"
            )
            stack.start()
            pids = ", ".join(f"{n} {p.pid}" for n, p in stack.processes.items())
            self.say(f"Airflow up at {stack.url} ({pids})")
            return body(stack)
        finally:
            stack.stop()
            for process in self.processes:
                process.stop()
            self.say(f"stopped every process this {self.target} started")

    def exercise(self, stack: AirflowStack, sim: SimulatorClient, keep: bool) -> int:
        # No logical date, as `airflow dags trigger` and REST clients start a run: the example
        # has to work the way a user first runs it, not only on its schedule.
        run_id = stack.trigger(DAG_ID, with_logical_date=False)
        self.say(f"triggered {DAG_ID} without a logical date, run {run_id}")
        state = self.follow(stack, sim, run_id)
        if state != "success":
            print(stack.task_log(DAG_ID, run_id, TASK_ID)[-3000:])
            raise StackError(f"task {TASK_ID} ended {state}")
        self.report(stack, run_id)
        if keep:
            self.wait_for_ctrl_c(stack)
        return 0

    def wait_for_ctrl_c(self, stack: AirflowStack) -> None:
        print(f"\nKEEP=1: Airflow UI at {stack.url}  login admin / {stack.password}")
        print("Press Ctrl-C to stop the stack.", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print()


def main(demo: Demo | None = None, keep: bool | None = None) -> int:
    demo = demo or Demo()
    if keep is None:
        keep = os.environ.get("KEEP", "") not in ("", "0")
    try:
        code = demo.run(keep=keep)
    except (StackError, OSError) as err:
        print(f"\nmake {demo.target} failed: {err}", file=sys.stderr)
        code = 1
    demo.say(f"total time {time.monotonic() - demo.started:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
