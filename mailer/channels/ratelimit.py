"""How fast and how much a channel may send: a token bucket and a rolling daily quota.

Both take the clock as an argument, so tests drive them with a fake one. Neither sleeps:
the bucket says how long the caller must wait, and the caller decides how to wait (and
whether a Ctrl-C ends the wait early).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
DAY = dt.timedelta(days=1)


class TokenBucket:
    """At most ``capacity + rate * T`` sends in any window of T seconds.

    With the default capacity of 1, sends are at least ``1 / rate`` apart, so a channel
    configured for 30 a minute never sends more than 30 in any 60-second window. The
    bucket counts the moment of :meth:`take`, not of a promise made earlier, so a caller
    that wakes late cannot make the next one early: wait :meth:`delay` seconds, then
    ``take()``, and try again if it says no (another connection was quicker).
    """

    _EPSILON = 1e-9  # tokens; float rounding must not keep a caller waiting forever

    def __init__(self, rate: float, *, capacity: float = 1.0, clock: Clock = time.monotonic):
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def delay(self) -> float:
        """Seconds until a token is free (0: now)."""
        self._refill()
        missing = 1 - self._tokens
        return 0.0 if missing <= self._EPSILON else missing / self.rate

    def take(self) -> bool:
        """Take a token if one is free now."""
        if self.delay() > 0:
            return False
        self._tokens -= 1
        return True


class DailyQuota:
    """Recipients per rolling 24 hours, given how many the journal says were used already."""

    def __init__(self, limit: int, used: int) -> None:
        self.limit = limit
        self.used = used

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def take(self) -> bool:
        """Count one recipient; False when the quota is spent (nothing is counted then)."""
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def give_back(self) -> None:
        """A reserved recipient was not sent after all (the run stopped first)."""
        self.used = max(0, self.used - 1)


@dataclass(frozen=True, slots=True)
class Estimate:
    seconds: float  # sending time, not counting the days spent waiting for quota
    finishes: dt.datetime  # when the last message should leave
    days: int  # extra days the quota spreads the mailing over (0: it all goes now)


def estimate(
    count: int,
    *,
    rate: float | None,
    per_day: int | None,
    used_today: int = 0,
    now: dt.datetime,
    unlimited_rate: float = 200.0,
) -> Estimate:
    """When ``count`` messages will have left, given the rate (per second) and the quota.

    The quota is a rolling 24 hours, so what does not fit in what is left today goes out
    in later days, ``per_day`` a day.
    """
    seconds = count / (rate or unlimited_rate)
    days = 0
    if per_day is not None:
        left_today = max(0, per_day - used_today)
        if count > left_today:
            days = math.ceil((count - left_today) / per_day)
            # The last day's share is sent at the configured rate after the wait.
            last_share = count - left_today - (days - 1) * per_day
            return Estimate(
                seconds,
                now + days * DAY + dt.timedelta(seconds=last_share / (rate or unlimited_rate)),
                days,
            )
    return Estimate(seconds, now + dt.timedelta(seconds=seconds), days)
