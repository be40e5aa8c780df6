from __future__ import annotations

from sagemaker_async.events import status_line


def test_status_line_of_a_failed_job_names_status_secondary_and_reason() -> None:
    describe = {
        "TrainingJobName": "job",
        "TrainingJobStatus": "Failed",
        "SecondaryStatus": "Failed",
        "FailureReason": "AlgorithmError: boom",
    }
    assert status_line(describe) == (
        "Training job job final status: Failed (Failed); failure reason: AlgorithmError: boom"
    )


def test_status_line_of_a_running_job_says_it_is_not_final() -> None:
    describe = {
        "TrainingJobName": "job",
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Training",
    }
    assert status_line(describe) == "Training job job status now: InProgress (Training)"
