"""Two deferred jobs across a triggerer restart: one finishes, one outlives its budget."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.testing.requests import training_request

#: The budget of ``outlives_budget``: check_interval x max_attempts seconds.
BUDGET = 2 * 30

with DAG(dag_id="e2e_restart", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    SageMakerTrainingOperator(
        task_id="finishes",
        config=training_request("e2e-restart-ok-{{ ts_nodash | lower }}"),
        check_interval=2,
        max_attempts=300,
    )
    SageMakerTrainingOperator(
        task_id="outlives_budget",
        config=training_request("e2e-restart-late-{{ ts_nodash | lower }}"),
        check_interval=2,
        max_attempts=BUDGET // 2,
    )
