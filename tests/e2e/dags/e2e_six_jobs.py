"""Six training tasks at once: with one executor slot they can only overlap if deferred."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.testing.requests import training_request

with DAG(dag_id="e2e_six_jobs", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    for i in range(6):
        SageMakerTrainingOperator(
            task_id=f"train_{i}",
            config=training_request(f"e2e-six-{i}-{{{{ ts_nodash | lower }}}}"),
            check_interval=2,
            max_attempts=300,
        )
