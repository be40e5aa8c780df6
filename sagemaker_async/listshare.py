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
    share = configured_list_share()
    return Pacer(share, floor=share * LIST_FLOOR_FRACTION)


def configured_list_share() -> float:
    """``[sagemaker_async] list_requests_per_second`` (default 1; at most what AWS gives
    the whole account, about 2)."""
    from airflow.sdk import conf

    value = conf.getfloat(
        "sagemaker_async", "list_requests_per_second", fallback=DEFAULT_LIST_SHARE
    )
    return value if value > 0 else DEFAULT_LIST_SHARE


#: Default CloudWatch Logs share, requests per second (``[sagemaker_async]
#: logs_requests_per_second``): a fifth of the account's 5 ``FilterLogEvents`` per second
#: (AWS's CloudWatch Logs quotas: not adjustable), which every other reader shares.
DEFAULT_LOGS_SHARE = 1.0


def logs_share_pacer() -> Pacer:
    """A pacer at the configured CloudWatch Logs share, for the triggerer's log tails;
    throttling halves it down to a tenth. Status polls use other clients and never wait
    here."""
    from airflow.sdk import conf

    share = conf.getfloat(
        "sagemaker_async", "logs_requests_per_second", fallback=DEFAULT_LOGS_SHARE
    )
    share = share if share > 0 else DEFAULT_LOGS_SHARE
    return Pacer(share, floor=share * LIST_FLOOR_FRACTION)
