"""The AWS operations the simulator tells apart, and the service each belongs to.

SageMaker calls are the simulator's own; of CloudWatch Logs and STS only the operations the
package calls can be rate limited or faulted (a misspelt name is refused rather than
limiting nothing).
"""

from __future__ import annotations

from functools import lru_cache

SAGEMAKER = "sagemaker"
LOGS = "logs"
STS = "sts"
#: CloudWatch Logs operations the package calls (its log tail and last-lines read).
LOGS_OPERATIONS = frozenset({"FilterLogEvents", "DescribeLogStreams", "GetLogEvents"})
#: STS operations the package calls (assumed roles, the connection test).
STS_OPERATIONS = frozenset({"AssumeRole", "GetCallerIdentity"})


@lru_cache(maxsize=1)
def sagemaker_operations() -> frozenset[str]:
    """Every SageMaker operation name, from botocore's service model (loaded once, ~0.3 s)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(str(name) for name in model.operation_names)


def known_operations() -> frozenset[str]:
    """The operations a rate limit or a fault may name."""
    return sagemaker_operations() | LOGS_OPERATIONS | STS_OPERATIONS
