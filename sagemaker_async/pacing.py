"""Request pacing shared by every trigger that uses one client.

Two limits apply: an optional configured cap (``[sagemaker_async] max_requests_per_second``)
and an adaptive one that halves when AWS answers with throttling and grows back by half
each second it does not. Every trigger waits for a turn here, so a throttled account slows
down as a whole instead of each trigger backing off on its own.

:class:`PollSchedule` says when each trigger polls: spread over the first interval, then
on a fixed cadence and a grid that triggers of the same interval share.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable

#: The adaptive limit never goes below this many requests per second.
FLOOR_RPS = 5.0
#: Cuts and recoveries happen at most once per this many seconds, however many calls
#: saw a throttle at once.
ADJUST_EVERY = 1.0
RECOVERY_FACTOR = 1.5
#: Polls fall on a grid of about this many seconds (exactly interval / n).
POLL_SLOT = 0.25


class Pacer:
    """Spaces the requests made through one client.

    :param max_rps: configured cap in requests per second; ``None`` or 0 for no cap.
    :param clock: monotonic seconds (replaceable in tests).
    :param floor: throttling never brings the limit below this many requests per second.
    """

    def __init__(
        self,
        max_rps: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        floor: float = FLOOR_RPS,
    ) -> None:
        self.cap = max_rps or None
        self.clock = clock
        self.floor = floor
        self.limit: float | None = self.cap
        self._next_slot = 0.0
        self._last_adjust = float("-inf")
        self._window_start = 0.0
        self._window_count = 0
        self._observed_rps = 0.0

    @property
    def gap(self) -> float:
        """Seconds between two requests at the current limit."""
        return 1.0 / self.limit if self.limit else 0.0

    async def wait_turn(self) -> None:
        """Wait until the next request may go out (a wait cancelled before then frees its
        turn)."""
        now = self.clock()
        self._count(now)
        if not self.limit:
            return
        slot = max(now, self._next_slot)
        gap = self.gap
        self._next_slot = slot + gap
        if slot <= now:
            return
        try:
            await asyncio.sleep(slot - now)
        except asyncio.CancelledError:
            # A caller that gives up (a follower cancelled as its job ends, a bounded save) gives
            # its turn back: a burst of them must not push every later caller back by
            # their whole queue. The turns behind it keep their times, so the pace holds on
            # average, at the cost of two requests in one gap once.
            self._next_slot -= gap
            raise

    def throttled(self) -> None:
        """AWS said slow down: halve the limit (at most once per second)."""
        now = self.clock()
        if now - self._last_adjust < ADJUST_EVERY:
            return
        self._last_adjust = now
        current = self.limit or max(self._observed_rps, self.floor * 2)
        self.limit = max(self.floor, current / 2)

    def succeeded(self) -> None:
        """A call went through: let the limit grow back towards the cap (or lift it)."""
        if self.limit is None or self.limit == self.cap:
            return
        now = self.clock()
        if now - self._last_adjust < ADJUST_EVERY:
            return
        self._last_adjust = now
        grown = self.limit * RECOVERY_FACTOR
        if self.cap is not None:
            self.limit = min(self.cap, grown)
        elif grown > 2 * self._observed_rps:
            self.limit = None  # demand is well below the limit: stop pacing
        else:
            self.limit = grown

    def _count(self, now: float) -> None:
        self._window_count += 1
        elapsed = now - self._window_start
        if elapsed >= 1.0:
            self._observed_rps = self._window_count / elapsed
            self._window_start, self._window_count = now, 0


class PollSchedule:
    """When one trigger polls: first at a random slot of its first interval, then every
    interval, on a grid that every trigger with the same interval shares.

    Spread over the interval, triggers deferred together do not poll in lock step. On the
    shared grid, the few that fall in one slot wake in the same loop iteration and their
    requests go out and come back together: waking the loop once per poll instead costs
    about a third more CPU per poll.

    :param interval: seconds between polls.
    :param clock: monotonic seconds (the default event loop's clock; replaceable in tests).
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.slot = interval / max(1, round(interval / POLL_SLOT))
        self.due = clock()

    def start(self, window: float) -> float:
        """Seconds to wait for the first poll, a random slot within ``window``."""
        self.due = self._on_grid(self.clock() + random.uniform(0, window))
        return max(0.0, self.due - self.clock())

    def advance(self) -> float:
        """Seconds to wait for the next poll: an interval after the last one was due, not
        after it ended, so the cadence does not drift by each call's latency; at once (on
        the next slot) if that time has passed."""
        self.due = self._on_grid(max(self.due + self.interval, self.clock()))
        return max(0.0, self.due - self.clock())

    def restart(self) -> None:
        """The poll made now counts as due now (after retries, the cadence starts anew)."""
        self.due = self.clock()

    def _on_grid(self, when: float) -> float:
        if self.slot <= 0:
            return when
        return math.ceil(when / self.slot - 1e-9) * self.slot
