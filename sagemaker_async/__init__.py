"""Deferrable Amazon SageMaker training for Apache Airflow 3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sagemaker_async.conntype import connection_types

__version__ = "0.1.0"

__all__ = [
    "SageMakerTrainingOperator",
    "SageMakerTrainingTrigger",
    "__version__",
    "get_provider_info",
]

if TYPE_CHECKING:
    from sagemaker_async.operators import SageMakerTrainingOperator
    from sagemaker_async.triggers import SageMakerTrainingTrigger


def get_provider_info() -> dict[str, Any]:
    """What Airflow's provider manager reads through the ``apache_airflow_provider`` entry point.

    It registers the ``aws`` connection type only when the amazon provider does not.
    """
    types = connection_types()
    return {
        **({"connection-types": types} if types else {}),
        "package-name": "sagemaker-async",
        "name": "SageMaker Async",
        "description": "Deferrable Amazon SageMaker training operator and trigger.",
        "versions": [__version__],
        "extra-links": [
            "sagemaker_async.links.SageMakerTrainingJobLink",
            "sagemaker_async.links.SageMakerTrainingLogsLink",
        ],
        "config": {
            "sagemaker_async": {
                "description": "Settings of the SageMaker training trigger.",
                "options": {
                    "max_requests_per_second": {
                        "description": (
                            "Cap on SageMaker API requests per second made by one triggerer "
                            "through one shared client (one per connection and region). "
                            "0 means no cap; the trigger still slows down when AWS throttles."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "20",
                        "default": "0",
                    },
                    "list_requests_per_second": {
                        "description": (
                            "Share of the account's ListTrainingJobs rate (about 2 requests "
                            "per second per account and region, shared with every other "
                            "client) that one triggerer's status sweeps spend, per "
                            "connection and region. Halved while AWS throttles."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "0.5",
                        "default": "1",
                    },
                    "logs_requests_per_second": {
                        "description": (
                            "Share of the account's CloudWatch Logs rate (FilterLogEvents: "
                            "5 requests per second per account and region, not adjustable) "
                            "that one triggerer's log tails spend, per connection and region. "
                            "Halved while AWS throttles; status polls never wait for it."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "0.5",
                        "default": "1",
                    },
                    "log_streams_requests_per_second": {
                        "description": (
                            "Share of the account's DescribeLogStreams rate (25 requests per "
                            "second per account and region) that one triggerer's log tails "
                            "spend, per connection and region, to learn their jobs' stream "
                            "names; halved while AWS throttles."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "2",
                        "default": "5",
                    },
                    "resume_hold": {
                        "description": (
                            "Seconds after it starts before a trigger run by a triggerer "
                            "sends its event. "
                            "Airflow 3.3's scheduler fails a resumed task whose trigger fired "
                            "before it handled the worker's exit on deferral; 0 turns it off."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "20",
                        "default": "10",
                    },
                },
            }
        },
    }


def __getattr__(name: str) -> Any:
    # Imported lazily: Airflow reads get_provider_info() while it is itself importing.
    if name == "SageMakerTrainingOperator":
        from sagemaker_async.operators import SageMakerTrainingOperator

        return SageMakerTrainingOperator
    if name == "SageMakerTrainingTrigger":
        from sagemaker_async.triggers import SageMakerTrainingTrigger

        return SageMakerTrainingTrigger
    raise AttributeError(name)
