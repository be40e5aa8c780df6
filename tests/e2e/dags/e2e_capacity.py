"""Six one-instance training tasks under a quota of two instances (the test sets the quota)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator
from sagemaker_async.testing.requests import training_request

#: The instance type the test limits; no other e2e DAG uses it.
INSTANCE_TYPE = "ml.p3.2xlarge"
RESOURCES = {"InstanceType": INSTANCE_TYPE, "InstanceCount": 1, "VolumeSizeInGB": 10}
WHEN = "{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash | lower }}"

with DAG(dag_id="e2e_capacity", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    for i in range(6):
        SageMakerTrainingOperator(
            task_id=f"train_{i}",
            config=training_request(f"e2e-cap-{i}-{WHEN}", ResourceConfig=RESOURCES),
            check_interval=2,
            print_log=False,
        )

with DAG(
    dag_id="e2e_capacity_failures", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
):
    for kind in ("capacity", "algorithm"):
        SageMakerTrainingOperator(
            task_id=kind,
            config=training_request(f"e2e-capfail-{kind}-{WHEN}"),
            check_interval=2,
            print_log=False,
        )
