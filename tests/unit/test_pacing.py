from __future__ import annotations

import asyncio
import time

import pytest

from sagemaker_async.pacing import FLOOR_RPS, Pacer, PollSchedule


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
    # A moment, with room for a busy machine: paced at even 200 a second they would take 1 s.
    assert time.monotonic() - started < 0.5
    assert pacer.limit is None


@pytest.mark.asyncio
async def test_configured_cap_spaces_requests() -> None:
    pacer = Pacer(max_rps=40)
    started = time.monotonic()
    await asyncio.gather(*(pacer.wait_turn() for _ in range(11)))
    # Eleven turns at 40 per second span ten gaps of 25 ms.
    assert time.monotonic() - started >= 0.24


@pytest.mark.asyncio
async def test_callers_that_give_up_waiting_give_their_turns_back() -> None:
    pacer = Pacer(max_rps=1)
    await pacer.wait_turn()  # the first turn is at once; the next is a second away
    waiting = [asyncio.ensure_future(pacer.wait_turn()) for _ in range(30)]
    await asyncio.sleep(0.05)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    started = time.monotonic()
    # Had the 30 kept their turns, the next caller would wait half a minute.
    await asyncio.wait_for(pacer.wait_turn(), timeout=5)
    assert time.monotonic() - started < 1.5


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


def test_first_polls_spread_over_the_window_on_a_shared_grid() -> None:
    clock = Clock()
    clock.now = 1000.03
    waits = [PollSchedule(10.0, clock).start(10.0) for _ in range(400)]
    assert all(0 <= wait <= 10.0 + 0.25 for wait in waits)
    dues = {round(clock.now + wait, 6) for wait in waits}
    assert len(dues) > 30, "the first polls must not bunch in a few slots"
    assert all(abs(due / 0.25 - round(due / 0.25)) < 1e-6 for due in dues)


def test_polls_stay_an_interval_apart_whatever_each_poll_takes() -> None:
    clock = Clock()
    schedule = PollSchedule(10.0, clock)
    clock.now += schedule.start(10.0)
    first = schedule.due
    for poll in range(1, 6):
        clock.now += 0.4  # the call's latency and the loop's lateness
        clock.now += schedule.advance()
        assert clock.now == pytest.approx(first + poll * 10.0)


def test_a_late_poll_goes_at_the_next_slot_then_keeps_the_cadence() -> None:
    clock = Clock()
    clock.now = 0.0
    schedule = PollSchedule(2.0, clock)
    clock.now += schedule.start(0.0)
    clock.now += 7.1  # a call that took several intervals
    assert schedule.advance() == pytest.approx(0.15)  # the next 0.25 s slot, 7.25
    schedule.restart()  # after retries: the poll made now (7.1) is the new origin
    assert schedule.advance() == pytest.approx(2.15)  # an interval on, at the slot 9.25


def test_intervals_off_the_slot_get_a_grid_they_divide() -> None:
    schedule = PollSchedule(2.7, Clock())
    assert 2.7 / schedule.slot == pytest.approx(round(2.7 / schedule.slot))
    assert 0.2 < schedule.slot < 0.3
