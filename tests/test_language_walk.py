"""One language per person: every command speaks Swedish or English, never both.

Walks every command and subcommand of ``mailer`` (found in the Click tree, so a new
command is walked without touching this file) with ``--help``, and runs the main commands
for real on a copy of the example workspace, in ``sv`` and in ``en``; a line with a word
only the other language uses fails. Data that is legitimately in either language (the
example network's names, titles and places, the members' list cells, addresses, paths,
options and config keys) is taken out before the words are looked for.

"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from mailer.cli import main
from tests.helpers import REPO, export_bundle

# Words only one language uses: found in the other language's output, they are a line
# left untranslated.
ONLY = {
    "en": [
        "the",
        "and",
        "with",
        "this",
        "not",
        "is",
        "are",
        "was",
        "were",
        "of",
        "to",
        "from",
        "message",
        "messages",
        "sent",
        "people",
        "nothing",
        "yet",
        "Error",
        "Usage",
        "Options",
        "Warning",
        "Commands",
        "Show",
        "written",
    ],
    "sv": [
        "och",
        "är",
        "inte",
        "att",
        "för",
        "med",
        "som",
        "till",
        "eller",
        "har",
        "kan",
        "inga",
        "mejl",
        "utskick",
        "utskicket",
        "Fel",
        "Användning",
        "Flaggor",
        "Kommandon",
        "Varning",
        "skickade",
        "än",
    ],
}
OTHER = {"sv": "en", "en": "sv"}
# Code-like tokens say nothing about the language: options, choices, keys, paths,
# addresses, commands in quotes ('mailer send ... --resend').
CODE = re.compile(r"\S*[-_=|/@\\\[\]{}<>#$*~`]\S*|\S*\.\S*\w\S*")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _list_cells(folder: Path) -> Iterator[str]:
    for path in sorted(folder.glob("*.csv")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;")
        for row in csv.reader(text.splitlines(), dialect):
            yield from row


def example_data() -> list[str]:
    """Every text of the example network and its lists, longest first."""
    network = tomllib.loads((REPO / "network.toml").read_text(encoding="utf-8"))
    # A value of several lines (a signature) shows line by line.
    values = (*_strings(network), *_list_cells(REPO / "recipients"))
    found = {line.strip() for value in values for line in value.splitlines()}
    return sorted((s for s in found if len(s) > 2), key=len, reverse=True)


DATA = example_data()


def foreign_lines(output: str, language: str) -> list[str]:
    """The lines of ``output`` with a word only the other language uses."""
    words = re.compile(r"(?<![\w'])(" + "|".join(ONLY[OTHER[language]]) + r")(?![\w'])")
    found = []
    for line in output.splitlines():
        text = line
        for datum in DATA:
            text = text.replace(datum, " ")
        text = CODE.sub(" ", text)
        if words.search(text):
            found.append(line)
    return found


def commands(group: click.Command = main, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(group, click.Group):
        for name in sorted(group.commands):
            yield from commands(group.commands[name], (*path, name))


# Whose help is converted on another branch (the first words of the command).
def walked(language: str) -> list[Any]:
    cases = []
    for path in commands():
        cases.append(pytest.param(path, language, id=f"{language}:{' '.join(path) or 'mailer'}"))
    return cases


@pytest.mark.parametrize(("path", "language"), walked("sv") + walked("en"))
def test_every_commands_help_speaks_one_language(path: tuple[str, ...], language: str) -> None:
    result = CliRunner().invoke(
        main, ["--language", language, *path, "--help"], env={"MAILER_NETWORK": None}
    )
    assert result.exit_code == 0, result.output
    assert not foreign_lines(result.output, language), "\n".join(
        foreign_lines(result.output, language)
    )


def test_the_walk_finds_every_command() -> None:
    found = {" ".join(p) for p in commands()}
    assert {"send", "status", "bundle send", "person export", "state reset"} <= found


# Each case: commands run first (any language), then the command whose output is checked.
# ``{ws}`` is the workspace, ``{bundle}`` a bundle of MSB's share.
RUNS: list[tuple[str, list[list[str]], list[str]]] = [
    ("send dry run", [], ["send", "invitation", "2", "--dry-run"]),
    ("send", [], ["send", "invitation", "2", "--yes"]),
    ("send again", [["send", "invitation", "2", "--yes"]], ["send", "invitation", "2"]),
    ("send unknown seminar", [], ["send", "invitation", "9"]),
    ("send bad kind", [], ["send", "invite", "2"]),
    ("send missing seminar", [], ["send", "invitation"]),
    ("status empty", [], ["status"]),
    ("status", [["send", "invitation", "2", "--yes"]], ["status"]),
    ("status rehearsal", [], ["status", "--rehearsal"]),
    ("state reset refused", [], ["state", "reset", "{ws}/x.txt", "--yes"]),
    ("check", [], ["check"]),
    ("recipients merge", [], ["recipients", "merge"]),
    ("recipients check", [], ["recipients", "check", "{ws}/recipients/msb.csv"]),
    ("preview", [], ["preview", "invitation", "2", "--to", "{person}"]),
    ("suppressed", [["unsubscribe", "nobody@example.org"]], ["suppressed"]),
    ("unsubscribe", [], ["unsubscribe", "nobody@example.org", "not-an-address"]),
    (
        "person export",
        [["send", "invitation", "2", "--yes"]],
        ["person", "export", "tom.walker@msb.example"],
    ),
    ("recipients hygiene", [], ["recipients", "hygiene"]),
    ("inbox import", [], ["inbox", "import", "{ws}/recipients"]),
    ("bundle status", [], ["bundle", "status", "{bundle}"]),
]


def run_cases() -> list[Any]:
    cases = []
    for language in ("sv", "en"):
        for name, before, args in RUNS:
            cases.append(pytest.param(before, args, language, id=f"{language}:{name}"))
    return cases


# The person whose mail preview shows: one who reads the language.
PERSON = {"sv": "asa.bjork@lansstyrelsen-varmland.example", "en": "tom.walker@msb.example"}


@pytest.mark.parametrize(("before", "args", "language"), run_cases())
def test_the_main_commands_speak_one_language(
    before: list[list[str]],
    args: list[str],
    language: str,
    workspace: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("MAILER_LANGUAGE", language)
    values = {"ws": str(workspace), "person": PERSON[language], "bundle": ""}
    if "{bundle}" in args:  # a member's machine, only for the cases that need one
        msb = request.getfixturevalue("members")["msb"]
        export_bundle(request.getfixturevalue("coordinator"), msb)
        values["bundle"] = str(msb.bundle)
    network = ["--network", str(workspace / "network.toml")]
    for step in before:
        assert run(network + step).exit_code in (0, 1)
    result = run(network + [a.format(**values) for a in args])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.output
    output = result.output  # stdout and stderr as the terminal shows them
    assert output.strip()
    foreign = foreign_lines(_outside_the_mail(output), language)
    assert not foreign, "\n".join(foreign)


def run(args: list[str]) -> Result:
    return CliRunner().invoke(main, args, env={"MAILER_NETWORK": None})


def _outside_the_mail(output: str) -> str:
    """A dry run's sample is the mail in its reader's language, not the coordinator's."""
    for start in ("Sample message:", "Exempel på mejl:"):
        if start in output:
            head, _, tail = output.partition(start)
            last = tail.rstrip().splitlines()[-1]
            return head + "\n" + last
    return output


def test_the_word_lists_tell_the_languages_apart() -> None:
    assert foreign_lines("Error: there is no seminar 9", "sv")
    assert foreign_lines("Fel: det finns inget seminarium 9", "en")
    assert foreign_lines("Sent 3 messages.", "sv") and foreign_lines("3 mejl skickade", "en")
    # Data in either language, options, keys and addresses are not a language slip.
    assert not foreign_lines("Förvaltningsrätten i Karlstad: 3", "en")
    assert not foreign_lines("Karlstad University, Senior lecturer", "sv")
    assert not foreign_lines("  --resend-uncertain  tom.walker@msb.example  [[seminars]]", "sv")
