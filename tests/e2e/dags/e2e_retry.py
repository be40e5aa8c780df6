"""Retries that must re-attach to the job their first try started, never start a second one.

``budget_then_retry`` gives up on its first try before its job ends; ``dies_after_submit``
loses its worker between CreateTrainingJob and deferring.
"""

from __future__ import annotations

import os
import signal
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, get_current_context

from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.testing.requests import training_request


class BudgetThenRetry(SageMakerTrainingOperator):
    """A 20 s budget on the first try, which its job outlives; 120 s on the retry, which the
    test ends by hurrying the job once the retry has deferred on it."""

    def execute(self, context: Any) -> Any:
        if context["ti"].try_number > 1:
            self.max_attempts = 60
        return super().execute(context)


class DiesAfterSubmit(SageMakerTrainingOperator):
    """On its first try, the worker process is killed right after the job is created."""

    def _submit(self, *args: Any, **kwargs: Any) -> str:
        name = super()._submit(*args, **kwargs)
        if get_current_context()["ti"].try_number == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return name


with DAG(
    dag_id="e2e_retry",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
):
    BudgetThenRetry(
        task_id="budget_then_retry",
        config=training_request("e2e-retry-budget-{{ ts_nodash | lower }}"),
        check_interval=2,
        max_attempts=10,
    )
    DiesAfterSubmit(
        task_id="dies_after_submit",
        config=training_request("e2e-retry-dies-{{ ts_nodash | lower }}"),
        check_interval=2,
        max_attempts=60,
    )
