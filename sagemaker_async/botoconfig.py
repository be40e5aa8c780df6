"""The types ``botocore.config.Config`` wants for its arguments, checked before botocore sees them.

botocore checks names and a few values itself, but a value of the wrong type either crashes
inside botocore (``retries="lots"`` raises ``AttributeError``) or is accepted and fails at the
first request, far from the DAG file (``connect_timeout="5"``). Types follow botocore's own
documentation of ``Config``; an option missing here (a newer botocore's) is left to botocore.
"""

from __future__ import annotations

from collections.abc import Mapping

_NUMBER = (int, float)
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "region_name": (str,),
    "signature_version": (str,),
    "user_agent": (str,),
    "user_agent_extra": (str,),
    "user_agent_appid": (str,),
    "connect_timeout": _NUMBER,
    "read_timeout": _NUMBER,
    "parameter_validation": (bool,),
    "max_pool_connections": (int,),
    "proxies": (dict,),
    "proxies_config": (dict,),
    "s3": (dict,),
    "s3_disable_express_session_auth": (bool,),
    "retries": (dict,),
    "client_cert": (str, list, tuple),
    "inject_host_prefix": (bool,),
    "endpoint_discovery_enabled": (bool,),
    "use_dualstack_endpoint": (bool,),
    "use_fips_endpoint": (bool,),
    "ignore_configured_endpoint_urls": (bool,),
    "defaults_mode": (str,),
    "tcp_keepalive": (bool,),
    "request_min_compression_size_bytes": (int,),
    "disable_request_compression": (bool,),
    "client_context_params": (dict,),
    "sigv4a_signing_region_set": (str,),
    "request_checksum_calculation": (str,),
    "response_checksum_validation": (str,),
    "account_id_endpoint_mode": (str,),
    "auth_scheme_preference": (str,),
}
_RETRY_TYPES: dict[str, tuple[type, ...]] = {
    "max_attempts": (int,),
    "total_max_attempts": (int,),
    "mode": (str,),
}
_EXAMPLES = {"retries": " (such as {'mode': 'standard', 'max_attempts': 10})"}


def check_types(options: object, name: str = "botocore_config") -> None:
    """Raise ``ValueError`` naming the first option of ``options`` with a wrong type.

    Values are never quoted: proxies and client certificates may hold secrets.

    :param options: keyword arguments meant for ``botocore.config.Config``.
    :param name: what the caller calls ``options``, for the message.
    """
    if not isinstance(options, Mapping):
        raise ValueError(
            f"{name} must be a dict of botocore.config.Config arguments, "
            f"got {type(options).__name__}"
        )
    _check(options, _OPTION_TYPES, name)
    retries = options.get("retries")
    if isinstance(retries, Mapping):
        _check(retries, _RETRY_TYPES, f"{name}['retries']")


def _check(options: Mapping[str, object], types: dict[str, tuple[type, ...]], name: str) -> None:
    for key, value in options.items():
        wanted = types.get(key)
        if wanted is None or value is None or _is(value, wanted):
            continue
        kinds = " or ".join(t.__name__ for t in wanted)
        raise ValueError(
            f"{name}[{key!r}] must be {_article(kinds)}{_EXAMPLES.get(key, '')}, "
            f"got {type(value).__name__}"
        )


def _is(value: object, wanted: tuple[type, ...]) -> bool:
    # bool is an int to Python, never to botocore: True is no timeout and no pool size.
    if isinstance(value, bool) and bool not in wanted:
        return False
    return isinstance(value, wanted)


def _article(kinds: str) -> str:
    return f"an {kinds}" if kinds[0] in "aeiou" else f"a {kinds}"
