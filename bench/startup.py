"""Start-up: ``mailer --help`` in a fresh interpreter, against the bare interpreter.

Each case starts one process (with the byte-code cache warm, as after an install) ten
times; the figure is the median CPU time (user + system) of the process, which a shared
machine does not inflate the way it does wall time (kept in the JSON too). Target:
``mailer --help`` under 0.25 s. The heavy libraries (premailer, lxml, aiosmtplib, openpyxl,
pydantic) are imported by the commands that need them; tests/test_startup.py keeps it so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

TITLE = "start-up: one process, from exec to exit"
REPO = Path(__file__).resolve().parent.parent
RUNS = 10  # processes per case run; the harness takes the median of its repeats


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    return env


def prepare(data: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "mailer", "--help"],
        env=_env(),
        cwd=REPO,
        check=True,
        capture_output=True,
    )


def _timed(args: list[str]) -> Callable[[Path], object]:
    def case(data: Path) -> object:
        import resource
        import statistics
        import time

        wall, cpu = [], []
        for _ in range(RUNS):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(args, env=_env(), cwd=REPO, check=True, capture_output=True)
            wall.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        # The figure is the process's CPU time (user + system): on a shared machine the
        # wall time mostly measures the other users; it is kept in the JSON beside it.
        return {"seconds": statistics.median(cpu), "wall_seconds": statistics.median(wall)}

    return case


CASES: dict[str, Callable[[Path], object]] = {
    "python -c pass (the interpreter alone)": _timed([sys.executable, "-c", "pass"]),
    "python -c 'import click'": _timed([sys.executable, "-c", "import click"]),
    "mailer --help": _timed([sys.executable, "-m", "mailer", "--help"]),
    "mailer send --help": _timed([sys.executable, "-m", "mailer", "send", "--help"]),
}
GOALS = {"mailer --help": {"seconds": 0.25}}
