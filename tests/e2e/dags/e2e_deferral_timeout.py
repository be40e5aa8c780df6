"""A short budget, run while no triggerer is up: Airflow's deferral timeout ends the wait."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator, operators
from sagemaker_async.testing.requests import training_request

# The deferral timeout is the budget plus DEFERRAL_GRACE (a minute), and its length is not what
# this DAG is for. Each task parses its DAG file in a process of its own, so the shorter grace
# holds for this DAG's task alone.
GRACE = timedelta(seconds=5)
assert operators.DEFERRAL_GRACE > GRACE
operators.DEFERRAL_GRACE = GRACE

with DAG(
    dag_id="e2e_deferral_timeout", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
):
    SageMakerTrainingOperator(
        task_id="train",
        config=training_request("e2e-deferral-timeout-{{ ts_nodash | lower }}"),
        check_interval=2,
        max_attempts=5,
    )
