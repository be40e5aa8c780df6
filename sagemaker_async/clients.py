"""Async SageMaker clients for the triggerer, built without blocking its event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from sagemaker_async.connection import AwsSettings


@asynccontextmanager
async def open_client(settings: AwsSettings, service: str = "sagemaker") -> AsyncIterator[Any]:
    """An aiobotocore client for ``settings``; closed when the block ends.

    Loading the service model takes a few hundred milliseconds of CPU, so the loader
    caches are warmed in a worker thread rather than on the event loop.
    """
    config = AioConfig(warm_up_loader_caches=True, **(settings.botocore_config or {}))
    async with AioSession().create_client(
        service, config=config, **settings.client_kwargs()
    ) as client:
        yield client
