"""The shares of the account's ``ListTrainingJobs`` and CloudWatch Logs rates that one
triggerer spends.

Users report (AWS does not document it) that ``ListTrainingJobs`` is limited to about 2
requests per second per account and region, not adjustable, and shared with every other
client of the account: other teams, SageMaker Studio, other triggerers. A triggerer's status
sweeps therefore spend a configured share of it, per connection and region, and halve it
while AWS throttles, so that several triggerers of one account back off together.
"""

from __future__ import annotations

from sagemaker_async.pacing import Pacer

#: Default share, requests per second (``[sagemaker_async] list_requests_per_second``).
DEFAULT_LIST_SHARE = 1.0
#: Throttling never slows listing below this fraction of the configured share.
LIST_FLOOR_FRACTION = 0.1


def list_share_pacer() -> Pacer:
    """A pacer at the configured List share, which throttling halves down to a tenth."""
    return _share_pacer(configured_list_share())


def configured_list_share() -> float:
    """``[sagemaker_async] list_requests_per_second`` (default 1; at most what AWS gives
    the whole account, about 2)."""
    return _configured("list_requests_per_second", DEFAULT_LIST_SHARE)


#: Default CloudWatch Logs share, requests per second (``[sagemaker_async]
#: logs_requests_per_second``): a fifth of the account's 5 ``FilterLogEvents`` per second
#: (AWS's CloudWatch Logs quotas: not adjustable), which every other reader shares.
DEFAULT_LOGS_SHARE = 1.0
#: Default ``DescribeLogStreams`` share (``[sagemaker_async] log_streams_requests_per_second``):
#: a fifth of the account's 25 per second (the operation's API reference).
DEFAULT_LOG_STREAMS_SHARE = 5.0


def logs_share_pacer() -> Pacer:
    """A pacer at the configured CloudWatch Logs share, for the triggerer's log tails;
    throttling halves it down to a tenth. Status polls use other clients and never wait
    here."""
    return _share_pacer(_configured("logs_requests_per_second", DEFAULT_LOGS_SHARE))


def log_streams_share_pacer() -> Pacer:
    """A pacer at the configured ``DescribeLogStreams`` share: the log tails find their
    jobs' stream names with it, apart from the ``FilterLogEvents`` reads."""
    share = _configured("log_streams_requests_per_second", DEFAULT_LOG_STREAMS_SHARE)
    return _share_pacer(share)


def _share_pacer(share: float) -> Pacer:
    return Pacer(share, floor=share * LIST_FLOOR_FRACTION)


def _configured(option: str, default: float) -> float:
    """A positive ``[sagemaker_async]`` rate, or ``default``."""
    from airflow.sdk import conf

    value = conf.getfloat("sagemaker_async", option, fallback=default)
    return value if value > 0 else default
