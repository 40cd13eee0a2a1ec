"""The benchmark runner's arithmetic (the figures themselves come from ``python -m bench``)."""

from __future__ import annotations

import importlib

from bench.__main__ import _verdicts, _with_ratios, available


def case(seconds: float, messages: int | None = None, mb: float = 50.0) -> dict[str, object]:
    summary = {"messages": messages} if messages else None
    return {"seconds": seconds, "peak_mb": mb, "cpu_seconds": seconds, "summary": summary}


def test_rates_are_compared_when_cases_count_messages() -> None:
    cases = _with_ratios({"naive": case(10.0, 40), "fast": case(2.0, 10_000)}, "naive")
    assert cases["naive"]["rate"] == 4.0
    assert cases["fast"]["rate"] == 5_000.0
    assert cases["fast"]["ratio"] == 1_250.0  # a rate ratio, although the counts differ


def test_times_are_compared_otherwise() -> None:
    cases = _with_ratios({"base": case(3.0), "other": case(1.5)}, "base")
    assert cases["other"]["ratio"] == 2.0


def test_goals_say_met_or_missed() -> None:
    cases = _with_ratios({"naive": case(10.0, 40), "fast": case(2.0, 10_000, mb=300)}, "naive")
    said = _verdicts(cases["fast"], {"rate": 3000, "ratio": 50, "mb": 250})
    assert said == ">= 3,000/s met, >= 50x met, < 250 MB MISSED"


def test_every_benchmark_names_its_cases() -> None:
    names = available()
    assert {"build", "scale", "startup"} <= set(names)
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        assert module.TITLE and module.CASES
        for goal in getattr(module, "GOALS", {}):
            assert goal in module.CASES, (name, goal)
