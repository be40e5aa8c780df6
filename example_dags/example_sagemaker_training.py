"""Train a model every day on SageMaker without holding a worker slot while it trains.

The job is named after the run's date and time: a scheduled run's logical date, or for a run
started by hand (``airflow dags trigger``, the REST API, the UI's trigger form with its date
cleared) the moment it was triggered, since Airflow 3 gives such a run no logical date. A name
already taken, by a second run in the same second or a cleared task running again, takes the
next free ``-N`` suffix instead of failing. Everything that differs between accounts comes from
the environment, so the same file runs against AWS or the bundled SageMaker simulator.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from sagemaker_async import SageMakerTrainingOperator

ROLE_ARN = os.environ.get("SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/sagemaker-training")
IMAGE = os.environ.get(
    "SAGEMAKER_TRAINING_IMAGE",
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
)
BUCKET = os.environ.get("SAGEMAKER_BUCKET", "example-training-bucket")
CHECK_INTERVAL = int(os.environ.get("SAGEMAKER_CHECK_INTERVAL", "30"))

TRAINING_CONFIG = {
    # Not {{ ds }} / {{ ts_nodash }}: a run triggered by hand has no logical date in Airflow 3,
    # so those are undefined there and the task fails before submitting. run_after is set on
    # every run (the trigger time for a manual run); on a schedule the logical date wins, as
    # before. Renders as e.g. example-train-20260101t000000, a valid SageMaker job name.
    "TrainingJobName": (
        "example-train-{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash | lower }}"
    ),
    "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
    "RoleArn": ROLE_ARN,
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": (
                        f"s3://{BUCKET}/data/"
                        "{{ (dag_run.logical_date or dag_run.run_after) | ds }}/train/"
                    ),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
    ],
    "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "HyperParameters": {"objective": "reg:squarederror", "num_round": 100, "eta": 0.2},
}

with DAG(
    dag_id="example_sagemaker_training",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1},
    tags=["sagemaker", "example"],
):
    SageMakerTrainingOperator(
        task_id="train_model",
        config=TRAINING_CONFIG,
        aws_conn_id="aws_default",
        action_if_job_exists="increment",
        deferrable=True,
        check_interval=CHECK_INTERVAL,
        max_attempts=120,
    )
