"""One aiobotocore client per (event loop, client configuration), shared by all triggers.

A triggerer runs hundreds of triggers in one event loop. A client per trigger costs memory
(a service model and a connection pool each) and CPU (a few hundred milliseconds to build),
so triggers that would build identical clients share one, reference counted: built by the
first user, closed when the last one leaves. Pools are per event loop, so a client is never
used from a loop that did not create it.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import json
import weakref
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError
from botocore.utils import parse_timestamp

from sagemaker_async import credentials, errors
from sagemaker_async.connection import AwsSettings
from sagemaker_async.listshare import log_streams_share_pacer, logs_share_pacer
from sagemaker_async.pacing import Pacer

#: Concurrent HTTP connections per shared client, unless the botocore config says otherwise.
DEFAULT_MAX_CONNECTIONS = 50


@dataclass(frozen=True)
class ClientKey:
    """Everything that makes two clients different. Secrets enter only as a digest."""

    service: str
    region_name: str | None
    endpoint_url: str | None
    verify: str
    profile_name: str | None
    role_arn: str | None
    botocore_config: str = field(repr=False)
    credentials: str = field(repr=False)

    @classmethod
    def of(cls, settings: AwsSettings, service: str) -> ClientKey:
        role = settings.assume_role
        # Keys, token and AssumeRole arguments (an ExternalId is a shared secret) and where
        # STS is reached: only their digest is kept.
        secret = json.dumps(
            [
                settings.aws_access_key_id,
                settings.aws_secret_access_key,
                settings.aws_session_token,
                None if role is None else [role.kwargs, role.endpoint_url, role.region_name],
            ],
            sort_keys=True,
            default=str,
        )
        return cls(
            service=service,
            region_name=settings.region_name,
            endpoint_url=settings.endpoint_url,
            verify=repr(settings.verify),
            profile_name=settings.profile_name,
            role_arn=None if role is None else role.role_arn,
            botocore_config=json.dumps(settings.botocore_config, sort_keys=True, default=str),
            credentials=hashlib.sha256(secret.encode()).hexdigest(),
        )


@dataclass(eq=False)
class SharedClient:
    """A pooled client and the pacing that every user of it shares."""

    client: Any
    pacer: Pacer
    loop: asyncio.AbstractEventLoop
    closer: AsyncExitStack = field(repr=False)
    #: Calls in flight at once, as many as the client has connections. Callers beyond that
    #: wait here holding next to nothing, not as built and signed requests queued for a
    #: connection: a sweep can find thousands of jobs ended at once, and every object those
    #: requests hold would lengthen the loop's full garbage collections.
    slots: asyncio.Semaphore = field(repr=False)
    #: Operations with an account limit of their own, paced apart from :attr:`pacer`.
    pacers: dict[str, Pacer] = field(default_factory=dict, repr=False)

    async def close(self) -> None:
        await self.closer.aclose()

    @property
    def endpoint_url(self) -> str | None:
        """Where the client sends its requests (named in errors)."""
        return getattr(getattr(self.client, "meta", None), "endpoint_url", None)

    async def call(self, operation: str, **kwargs: Any) -> Any:
        """Call ``operation`` when the pacer allows; tell the pacer about throttling.

        An answer that is not the AWS API's raises :class:`errors.NotAwsAnswerError`, one
        line without the body: every caller (poll, sweep, log tail) logs what it raises.
        """
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("a pooled client was used from an event loop that did not create it")
        pacer = self.pacers.get(operation, self.pacer)
        # The turn first: callers waiting for one operation's pace must not hold the
        # connections another operation's calls need.
        await pacer.wait_turn()
        async with self.slots:
            try:
                result = await getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                if errors.error_code(exc) in errors.THROTTLING_CODES:
                    pacer.throttled()
                if not errors.is_aws_answer(exc):
                    raise errors.not_aws_answer(exc, self.endpoint_url) from None
                raise
        errors.check_answer(result, operation, self.endpoint_url)
        pacer.succeeded()
        return result


class ClientPool:
    """The shared clients of one event loop.

    :param max_rps: cap on requests per second per client; ``None`` for no cap.
    """

    def __init__(self, max_rps: float | None = None) -> None:
        self.max_rps = max_rps
        self._entries: dict[ClientKey, asyncio.Future[SharedClient]] = {}
        self._users: dict[ClientKey, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def acquire(self, settings: AwsSettings, service: str = "sagemaker") -> SharedClient:
        """The shared client for ``settings``, built on first use."""
        key = ClientKey.of(settings, service)
        if key not in self._entries:
            self._entries[key] = asyncio.ensure_future(self._build(settings, service))
        self._users[key] = self._users.get(key, 0) + 1
        try:
            return await asyncio.shield(self._entries[key])
        except BaseException:
            await self._leave(key)
            raise

    def users(self, settings: AwsSettings, service: str = "sagemaker") -> int:
        """How many holders the client for ``settings`` has (0 if it is not in the pool)."""
        return self._users.get(ClientKey.of(settings, service), 0)

    async def release(self, settings: AwsSettings, service: str = "sagemaker") -> None:
        await self._leave(ClientKey.of(settings, service))

    async def _leave(self, key: ClientKey) -> None:
        self._users[key] -= 1
        if self._users[key] > 0:
            return
        del self._users[key]
        entry = self._entries.pop(key)
        if not entry.done():
            # The last user left while the client was still being built: close it once built.
            entry.add_done_callback(_close_when_built)
        elif not entry.cancelled() and entry.exception() is None:
            await entry.result().close()

    async def _build(self, settings: AwsSettings, service: str) -> SharedClient:
        closer, client = await asyncio.to_thread(_build_client, settings, service)
        slots = asyncio.Semaphore(in_flight_cap(client.meta.config.max_pool_connections))
        loop = asyncio.get_running_loop()
        if service == "logs":
            # CloudWatch Logs has small account-wide limits of its own, one per operation:
            # shares of them, not the cap.
            pacers = {"describe_log_streams": log_streams_share_pacer()}
            return SharedClient(client, logs_share_pacer(), loop, closer, slots, pacers)
        return SharedClient(client, Pacer(self.max_rps), loop, closer, slots)


def in_flight_cap(max_pool_connections: object) -> int:
    """Calls a shared client lets through at once: its connection count, or the default
    when that is not a positive number (aiohttp reads 0 as "no limit")."""
    if isinstance(max_pool_connections, int) and max_pool_connections > 0:
        return max_pool_connections
    return DEFAULT_MAX_CONNECTIONS


def _build_client(settings: AwsSettings, service: str) -> tuple[AsyncExitStack, Any]:
    """Build a client in a worker thread; return what closes it (and its STS client), and it.

    Reading config files, loading the service model and generating the client class take a
    few hundred milliseconds of CPU, which must not stall the triggerer's event loop. Nothing
    built here is tied to this thread's private loop: HTTP sessions open with the first request.
    """
    # botocore's own retries would hide throttling from the shared pacer, and the trigger
    # retries transient errors itself: one attempt per call unless the user configures more.
    options = {
        "max_pool_connections": DEFAULT_MAX_CONNECTIONS,
        "retries": {"mode": "standard", "total_max_attempts": 1},
        # A fixed user agent: botocore otherwise rebuilds and sanitises its own twice per
        # request, about a sixth of a poll's CPU.
        "user_agent": user_agent(),
        **(settings.botocore_config or {}),
    }

    async def build() -> tuple[AsyncExitStack, Any]:
        async with AsyncExitStack() as stack:
            # The process's shared loader (see credentials.shared_loader): a model parsed
            # on the loop thread would stall every trigger.
            session = await credentials.aio_session(settings, stack)
            parsers = session.get_component("response_parser_factory")
            parsers.set_parser_defaults(timestamp_parser=epoch_or_text_timestamp)
            client = await stack.enter_async_context(
                session.create_client(
                    service, config=AioConfig(**options), **settings.client_kwargs()
                )
            )
            return stack.pop_all(), client

    return asyncio.run(build())


@functools.cache
def user_agent() -> str:
    """``sagemaker-async/<version> aiobotocore/<version> botocore/<version> Python/<version>``."""
    import platform

    import aiobotocore
    import botocore

    from sagemaker_async import __version__

    return (
        f"sagemaker-async/{__version__} aiobotocore/{aiobotocore.__version__} "
        f"botocore/{botocore.__version__} Python/{platform.python_version()}"
    )


def epoch_or_text_timestamp(value: Any) -> datetime.datetime:
    """A response timestamp as an aware UTC datetime, as botocore's own parser gives it.

    SageMaker's JSON answers carry epoch seconds, about ten per describe; botocore turns
    each into a datetime through dateutil's time zones, a sizeable share of a poll's CPU.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    result: datetime.datetime = parse_timestamp(value)
    return result


_CLOSING: set[asyncio.Task[None]] = set()  # keeps late closes alive until they finish


def _close_when_built(entry: asyncio.Future[SharedClient]) -> None:
    if not entry.cancelled() and entry.exception() is None:
        task = asyncio.ensure_future(entry.result().close())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ClientPool] = (
    weakref.WeakKeyDictionary()
)


def pool_for_running_loop() -> ClientPool:
    """The pool of the running event loop, created with the configured rate cap."""
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None:
        pool = _POOLS[loop] = ClientPool(configured_max_rps())
    return pool


def configured_max_rps() -> float | None:
    """``[sagemaker_async] max_requests_per_second``; 0 or unset means no cap."""
    from airflow.sdk import conf

    value = conf.getfloat("sagemaker_async", "max_requests_per_second", fallback=0.0)
    return value if value > 0 else None


def shared_client(settings: AwsSettings, service: str = "sagemaker") -> ClientLease:
    """Borrow the running loop's shared client for ``settings``: ``async with`` the result."""
    return ClientLease(settings, service)


class ClientLease:
    """One borrowing of a shared client, for an ``async with`` block.

    A class, not a generator-based context manager: a trigger tailing logs holds its lease
    for hours, and each object it holds lengthens the loop's full garbage collections. (A
    trigger's own SageMaker client is borrowed with :meth:`ClientPool.acquire` and
    :meth:`ClientPool.release`, which hold no object at all.)

    :param settings: the connection's settings.
    :param service: the AWS service of the client.
    """

    __slots__ = ("_pool", "service", "settings")

    def __init__(self, settings: AwsSettings, service: str = "sagemaker") -> None:
        self.settings = settings
        self.service = service
        self._pool: ClientPool | None = None

    async def __aenter__(self) -> SharedClient:
        self._pool = pool_for_running_loop()
        return await self._pool.acquire(self.settings, self.service)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            await self._pool.release(self.settings, self.service)
