"""The send benchmark still runs (a few messages; the figures themselves come from bench/)."""

from __future__ import annotations

import pytest

from bench import send


@pytest.mark.slow
def test_send_benchmark_runs_and_counts_what_arrived(monkeypatch):
    monkeypatch.setenv("MAILER_TOKEN_KEY", "0" * 64)
    rows = send.measure(count=20, naive_count=5, build_count=5, rounds=1)
    assert [row[0] for row in rows] == [
        send.CEILING,
        send.NAIVE,
        send.DEFAULTS,
        send.ONE,
        send.BUILT,
    ]
    text = send.report(rows)
    assert "targets (mailer defaults >= 80% of ceiling and >= 10x naive)" in text


@pytest.mark.slow
def test_send_benchmark_runs_over_starttls(monkeypatch):
    monkeypatch.setenv("MAILER_TOKEN_KEY", "0" * 64)
    rows = send.measure(count=6, naive_count=2, build_count=0, tls=True, rounds=2)
    assert [row[1] for row in rows] == [6, 2, 6, 6]
    assert "STARTTLS on every connection" in send.report(rows, tls=True)
