from __future__ import annotations

import asyncio
import time

import pytest

from sagemaker_async.pacing import FLOOR_RPS, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_without_cap_or_throttling_requests_are_not_delayed() -> None:
    pacer = Pacer()
    started = time.monotonic()
    for _ in range(200):
        await pacer.wait_turn()
    assert time.monotonic() - started < 0.1
    assert pacer.limit is None


@pytest.mark.asyncio
async def test_configured_cap_spaces_requests() -> None:
    pacer = Pacer(max_rps=40)
    started = time.monotonic()
    await asyncio.gather(*(pacer.wait_turn() for _ in range(11)))
    # Eleven turns at 40 per second span ten gaps of 25 ms.
    assert time.monotonic() - started >= 0.24


@pytest.mark.asyncio
async def test_throttling_halves_the_limit_once_per_second_down_to_the_floor() -> None:
    clock = Clock()
    pacer = Pacer(max_rps=100, clock=clock)
    pacer.throttled()
    assert pacer.limit == 50
    pacer.throttled()  # the same burst of throttles: no second cut
    assert pacer.limit == 50
    for _ in range(10):
        clock.now += 1.0
        pacer.throttled()
    assert pacer.limit == FLOOR_RPS


@pytest.mark.asyncio
async def test_limit_recovers_gradually_up_to_the_cap() -> None:
    clock = Clock()
    pacer = Pacer(max_rps=100, clock=clock)
    pacer.throttled()
    seen = []
    for _ in range(20):
        clock.now += 1.0
        pacer.succeeded()
        seen.append(pacer.limit)
    assert seen[0] == pytest.approx(75)  # half again per second, not a jump back to the cap
    assert seen == sorted(seen)
    assert seen[-1] == 100


@pytest.mark.asyncio
async def test_without_a_cap_throttling_limits_and_recovery_lifts_the_limit() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock)
    for _ in range(30):  # about 30 requests per second observed
        clock.now += 1 / 30
        await pacer.wait_turn()
    pacer.throttled()
    assert pacer.limit is not None and FLOOR_RPS <= pacer.limit < 30
    for _ in range(30):
        clock.now += 1.0
        pacer.succeeded()
    assert pacer.limit is None
