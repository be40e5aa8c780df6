"""Three long jobs for the user actions on deferred tasks: mark failed, mark success, clear."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.testing.requests import training_request

with DAG(dag_id="e2e_kill", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    for action in ("mark_failed", "mark_success", "clear"):
        SageMakerTrainingOperator(
            task_id=action,
            config=training_request(
                f"e2e-kill-{action.replace('_', '-')}-{{{{ ts_nodash | lower }}}}"
            ),
            check_interval=2,
            max_attempts=300,
        )
