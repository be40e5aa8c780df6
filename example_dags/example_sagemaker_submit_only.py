"""Submit a training job and move on; a downstream task picks up the job name from XCom.

Useful when something else (an event rule, a sensor, another DAG) follows the job.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, task

from sagemaker_async import SageMakerTrainingOperator

ROLE_ARN = os.environ.get("SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/sagemaker-training")
IMAGE = os.environ.get(
    "SAGEMAKER_TRAINING_IMAGE",
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
)
BUCKET = os.environ.get("SAGEMAKER_BUCKET", "example-training-bucket")

with DAG(
    dag_id="example_sagemaker_submit_only",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["sagemaker", "example"],
):
    submit = SageMakerTrainingOperator(
        task_id="submit_training",
        config={
            # A run triggered by hand has no logical date (so no {{ ts_nodash }}) in Airflow 3;
            # run_after, the trigger time, stands in for it there.
            "TrainingJobName": (
                "example-submit-"
                "{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash | lower }}"
            ),
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "RoleArn": ROLE_ARN,
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.large",
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
        },
        aws_conn_id="aws_default",
        wait_for_completion=False,
        action_if_job_exists="increment",
    )

    @task
    def announce(job_name: str) -> str:
        message = f"Training job {job_name} submitted; follow it in the SageMaker console."
        print(message)
        return job_name

    announce(submit.output["training_job_name"])
