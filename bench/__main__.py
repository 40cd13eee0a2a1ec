"""Run benchmarks: ``python -m bench`` (all), ``python -m bench merge`` (one), ``--list``.

A benchmark is a module ``bench/NAME.py`` with

* ``TITLE``: one line saying what is measured;
* ``prepare(data_dir: Path) -> None``: make its input once (cached under bench/results/data/);
* ``CASES: dict[str, Callable[[Path], object]]``: case name -> function of the data folder;
  the first case is the baseline the others are compared with;
* optionally ``TARGETS: dict[str, tuple[float, float]]``: case -> (max seconds, max MB peak);
* optionally ``REPEAT``: at most this many runs per case (for cases that take minutes);
* optionally ``GOALS: dict[str, dict[str, float]]``: case -> any of ``rate`` (at least, per
  second), ``ratio`` (at least, against the baseline), ``seconds`` and ``mb`` (at most).

A case may return a dict with ``messages`` (how many it handled: the table then shows a rate
per second, and ratios compare rates, so a slow baseline can run on fewer) and ``seconds``
(the time of the part it measures, say without reading its input; the median of these is
used instead of the wall time), and ``cpu_seconds`` (the CPU time of that part).

Every case runs in its own fresh Python process pinned to one CPU, so its peak memory (the
process's maximum resident set, interpreter included) and its time are its own; the time is
the median of ``--repeat`` runs in that process. Results are printed as a table, with the
ratio to the baseline, and written as JSON to bench/results/NAME-<timestamp>.json (ignored
by git). The machines are shared: compare ratios measured in the same run, not absolute
figures across runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def available() -> list[str]:
    return sorted(
        p.stem
        for p in HERE.glob("*.py")
        if not p.stem.startswith("_") and "CASES" in p.read_text(encoding="utf-8")
    )


def load(name: str) -> ModuleType:
    return importlib.import_module(f"bench.{name}")


def data_dir(name: str) -> Path:
    path = RESULTS / "data" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _worker(name: str, case: str, repeat: int) -> None:
    """In the child process: run one case, print its figures as JSON."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    module = load(name)
    func = module.CASES[case]
    folder = data_dir(name)
    times, cpu, measured, measured_cpu = [], [], [], []
    summary: object = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        summary = func(folder)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if isinstance(summary, dict) and "seconds" in summary:
            measured.append(float(summary["seconds"]))
        if isinstance(summary, dict) and "cpu_seconds" in summary:
            measured_cpu.append(float(summary["cpu_seconds"]))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": statistics.median(measured or times),
                "wall_seconds": statistics.median(times),
                "cpu_seconds": statistics.median(measured_cpu or cpu),
                "runs": times,
                "cpu_runs": cpu,
                "peak_mb": peak_kb / 1024,
                "summary": summary if isinstance(summary, dict | list | int | str) else None,
            }
        )
    )


def run_benchmark(name: str, repeat: int) -> dict[str, Any]:
    module = load(name)
    # A module whose cases take minutes (100,000 people) may ask for fewer runs.
    repeat = min(repeat, getattr(module, "REPEAT", repeat))
    module.prepare(data_dir(name))
    results: dict[str, Any] = {}
    for case in module.CASES:
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "--worker", name, case, "--repeat", str(repeat)],
            capture_output=True,
            text=True,
            check=False,
            cwd=HERE.parent,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"bench {name}: case {case!r} failed")
        results[case] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "benchmark": name,
        "title": module.TITLE,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "repeat": repeat,
        "baseline": next(iter(module.CASES)),
        "targets": getattr(module, "TARGETS", {}),
        "goals": getattr(module, "GOALS", {}),
        "cases": _with_ratios(results, next(iter(module.CASES))),
    }


def _with_ratios(cases: dict[str, Any], baseline: str) -> dict[str, Any]:
    """Add each case's rate (when it counts messages) and its ratio to the baseline."""
    for r in cases.values():
        summary = r["summary"] if isinstance(r["summary"], dict) else {}
        if "messages" in summary and r["seconds"]:
            r["rate"] = summary["messages"] / r["seconds"]
    base = cases[baseline]
    for r in cases.values():
        if "rate" in r and "rate" in base:
            r["ratio"] = r["rate"] / base["rate"]
        else:
            r["ratio"] = base["seconds"] / r["seconds"] if r["seconds"] else float("inf")
    return cases


def _verdicts(r: dict[str, Any], goal: dict[str, float]) -> str:
    said = []
    for key, bound in goal.items():
        value = {"rate": r.get("rate", 0.0), "ratio": r["ratio"], "mb": r["peak_mb"]}.get(
            key, r["seconds"]
        )
        ok = value >= bound if key in ("rate", "ratio") else value <= bound
        shown = {"rate": f">= {bound:,.0f}/s", "ratio": f">= {bound:g}x", "mb": f"< {bound:g} MB"}
        said.append(f"{shown.get(key, f'< {bound:g} s')} {'met' if ok else 'MISSED'}")
    return ", ".join(said)


def print_table(report: dict[str, Any]) -> None:
    cases = report["cases"]
    targets = report["targets"]
    goals = report.get("goals", {})
    print(f"\n{report['benchmark']}: {report['title']}")
    header = (
        f"{'case':<56} {'seconds':>8} {'cpu s':>7} {'peak MB':>8} {'per s':>8} "
        f"{'vs base':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for case, r in cases.items():
        target = ""
        if case in targets:
            max_s, max_mb = targets[case]
            ok = r["seconds"] <= max_s and r["peak_mb"] <= max_mb
            target = f"< {max_s:g} s, < {max_mb:g} MB: {'met' if ok else 'MISSED'}"
        if case in goals:
            target = _verdicts(r, goals[case])
        rate = f"{r['rate']:>8,.0f}" if "rate" in r else f"{'':>8}"
        print(
            f"{case:<56} {r['seconds']:>8.3f} {r['cpu_seconds']:>7.2f} {r['peak_mb']:>8.0f} "
            f"{rate} {r['ratio']:>7.1f}x  {target}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(*args.worker, repeat=args.repeat)
        return 0
    names = args.names or available()
    if args.list:
        for name in available():
            print(f"{name:<16} {load(name).TITLE}")
        return 0
    unknown = [n for n in names if n not in available()]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(available())}")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for name in names:
        report = run_benchmark(name, args.repeat)
        print_table(report)
        out = RESULTS / f"{name}-{stamp}.json"
        out.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"results: {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
