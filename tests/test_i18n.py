"""The message catalogue: complete, consistent, and spoken where it is chosen."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mailer import i18n
from mailer.i18n import catalog


def test_the_catalogue_translates_every_message_in_the_code() -> None:
    messages = catalog.extract()
    problems = [
        line
        for language in ("sv", "en")
        for line in catalog.problems(
            catalog.read(catalog.SOURCE_DIR / language / "LC_MESSAGES" / "mailer.po"), messages
        )
    ]
    assert not problems, (
        "run 'make catalog' and translate in mailer/locale/sv/LC_MESSAGES/mailer.po:\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MSB", "MSB:s"),
        ("SCB", "SCB:s"),
        ("Lars", "Lars"),
        ("Max", "Max"),
        ("Karlstad", "Karlstads"),
        ("Karlstads universitet", "Karlstads universitets"),
        ("Region Värmland", "Region Värmlands"),
        ("Lantmäteriet", "Lantmäteriets"),
        ("Länsstyrelsen Värmland", "Länsstyrelsen Värmlands"),
        ("Förvaltningsrätten i Karlstad", "Förvaltningsrätten i Karlstads"),
        ("IT-avdelningen 2", "IT-avdelningen 2:s"),
    ],
)
def test_swedish_genitive(name: str, expected: str) -> None:
    assert i18n.genitive(name, "sv") == expected


def test_english_genitive() -> None:
    assert i18n.genitive("MSB", "en") == "MSB's"
    assert i18n.genitive("Lantmäteriet", "en") == "Lantmäteriet's"
    assert i18n.genitive("Karlstads universitets", "en") == "Karlstads universitets'"


def test_a_language_holds_inside_its_block_only() -> None:
    i18n.set_language("en")
    with i18n.speaking("sv"):
        assert i18n.current_language() == "sv"
    assert i18n.current_language() == "en"


def test_a_swedish_coordinator_gets_clicks_own_words_in_swedish(tmp_path) -> None:
    env = {"MAILER_LANGUAGE": "sv", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "mailer", "--help"], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0
    assert "Användning:" in run.stdout
    assert "Usage:" not in run.stdout


def test_click_says_nothing_that_click_words_does_not_list() -> None:
    """A newer Click may say something new; the catalogue cannot translate what it does not
    list. Not a failure (the person then reads that line in English), so a skip that names
    the messages to add to mailer/cli/click_words.py."""
    from pathlib import Path

    import click
    from babel.messages.extract import extract_from_dir

    import mailer.cli.click_words as click_words

    listed = {
        msgid
        for msgid, _plural in catalog.extract_python(
            Path(click_words.__file__).read_text(encoding="utf-8"), cli=False
        )
    }
    said = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            Path(click.__file__).parent,
            method_map=[("**.py", "python")],
            keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
        )
    }
    assert len(listed) > 50 and len(said) > 50
    new = sorted(said - listed)
    if new:
        pytest.skip(f"Click says messages mailer/cli/click_words.py does not list: {new!r}")


def test_language_can_follow_the_command_as_people_type_it(workspace, monkeypatch) -> None:
    from click.testing import CliRunner

    from mailer.cli import main

    monkeypatch.chdir(workspace)
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    swedish = CliRunner().invoke(main, ["status"])
    english = CliRunner().invoke(main, ["status", "--language", "en"])
    assert swedish.exit_code == english.exit_code == 0, swedish.output + english.output
    assert swedish.output != english.output
    assert "Inga utskick" in swedish.output
    assert "Inga utskick" not in english.output


def test_a_bad_web_address_in_the_config_is_explained_in_swedish(workspace, monkeypatch) -> None:
    from click.testing import CliRunner

    from mailer.cli import main
    from tests.helpers import edit_table

    edit_table(workspace, "network", website="https://")
    monkeypatch.chdir(workspace)
    result = CliRunner().invoke(main, ["--language", "sv", "check"])
    assert result.exit_code == 2
    assert "inget värdnamn" in result.output + result.stderr
    assert "no host name" not in result.output + result.stderr
