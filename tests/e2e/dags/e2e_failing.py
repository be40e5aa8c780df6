"""One training job that the simulator fails (the test sets the outcome)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.testing.requests import training_request

with DAG(dag_id="e2e_failing", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    SageMakerTrainingOperator(
        task_id="train",
        config=training_request("e2e-fail-{{ ts_nodash | lower }}"),
        check_interval=2,
        max_attempts=60,
    )
