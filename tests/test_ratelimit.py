"""The token bucket and the daily quota, driven by a fake clock."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.channels.ratelimit import DailyQuota, TokenBucket, estimate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def grants(bucket: TokenBucket, clock: FakeClock, arrivals: list[float]) -> list[float]:
    """When each request, arriving at the given times, may go (a caller waits as told)."""
    out = []
    for at in arrivals:
        clock.now = max(clock.now, at)
        while not bucket.take():
            clock.now += bucket.delay()
        out.append(clock.now)
    return out


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_thirty_a_minute_never_more_than_thirty_in_any_minute():
    clock = FakeClock()
    bucket = TokenBucket(30 / 60, clock=clock)
    times = grants(bucket, clock, [1000.0] * 200)  # everybody at once
    assert max_in_window(times, 60.0) == 30
    assert times[-1] - times[0] == pytest.approx(199 * 2.0)


@given(
    rate=st.floats(0.1, 50),
    gaps=st.lists(st.floats(0, 5), min_size=1, max_size=300),
    capacity=st.integers(1, 5),
)
def test_bound_holds_for_any_arrivals(rate, gaps, capacity):
    clock = FakeClock()
    bucket = TokenBucket(rate, capacity=capacity, clock=clock)
    arrivals, t = [], 1000.0
    for g in gaps:
        t += g
        arrivals.append(t)
    times = grants(bucket, clock, arrivals)
    window = 10 / rate
    # capacity + rate * window, with a hair of float slack on the window's edge
    assert max_in_window([x * (1 - 1e-12) for x in times], window) <= capacity + 10
    assert all(b >= a for a, b in itertools.pairwise(times))


def test_idle_bucket_does_not_save_up_beyond_its_capacity():
    clock = FakeClock()
    bucket = TokenBucket(1.0, capacity=3, clock=clock)
    clock.now += 3600
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.delay() == pytest.approx(1.0)
    clock.now += 0.5
    assert not bucket.take() and bucket.delay() == pytest.approx(0.5)


def test_daily_quota_counts_what_the_journal_says_was_used():
    quota = DailyQuota(10, used=8)
    assert quota.remaining == 2
    assert quota.take() and quota.take()
    assert not quota.take()
    quota.give_back()
    assert quota.remaining == 1


def test_estimate_spreads_over_days_by_quota():
    now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    one_day = estimate(100, rate=0.5, per_day=10_000, now=now)
    assert one_day.days == 0 and one_day.seconds == 200
    three_days = estimate(25_000, rate=0.5, per_day=10_000, used_today=5_000, now=now)
    assert three_days.days == 2
    assert three_days.finishes.date() == dt.date(2026, 12, 2)
    unlimited = estimate(10, rate=None, per_day=None, now=now)
    assert unlimited.days == 0
