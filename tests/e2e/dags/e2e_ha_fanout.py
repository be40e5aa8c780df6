"""Many training jobs deferred at once, for Airflow's production topology (two triggerers).

One mapped task: ``E2E_HA_TASKS`` instances (default 40), each with its own job name.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.testing.requests import training_request

TASKS = int(os.environ.get("E2E_HA_TASKS", "40"))

with DAG(dag_id="e2e_ha_fanout", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    SageMakerTrainingOperator.partial(
        task_id="train",
        check_interval=3,
        # 600 s: far past the test's length, so only the jobs' end (which the test brings
        # forward once the triggers have moved) ends the waits.
        max_attempts=200,
    ).expand(
        config=[
            training_request(f"e2e-ha-{i:02d}-{{{{ ts_nodash | lower }}}}") for i in range(TASKS)
        ]
    )
