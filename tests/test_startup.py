"""``mailer --help`` starts fast: the heavy libraries load only in the commands using them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from mailer.cli import main

REPO = Path(__file__).resolve().parent.parent
# Each costs tens of milliseconds to import (lxml, cssutils and pydantic the most).
HEAVY = (
    "premailer",
    "lxml",
    "cssutils",
    "aiosmtplib",
    "openpyxl",
    "pydantic",
    "email_validator",
    "jinja2",
    "icalendar",
    "msal",
    "cryptography",
    "rich",
    "sqlite3",
    "asyncio",
)
PROBE = """
import json, sys
from mailer.cli import main
for args in json.loads(sys.argv[1]):
    try:
        main(args, prog_name="mailer")
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def imported_by(*runs: list[str]) -> set[str]:
    """The top-level packages a fresh interpreter holds after these ``mailer`` runs."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(runs)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name.split(".")[0] for name in modules}


def test_help_imports_nothing_heavy() -> None:
    loaded = imported_by(["--help"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_command_help_imports_nothing_heavy() -> None:
    paths: list[list[str]] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            paths.append([*prefix, name, "--help"])
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])

    walk(main, [])
    loaded = imported_by(*paths)  # one interpreter for all: each import happens once anyway
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_probe_sees_an_import() -> None:
    loaded = imported_by(["recipients", "--help"], ["--network", "/nonexistent.toml", "check"])
    assert "pydantic" in loaded  # check loads the config: the probe would notice
