"""What a Swedish coordinator read wrong in a walk through the tool, and reads right now."""

from __future__ import annotations

import email
import email.message
import email.policy
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def swedish(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")


def test_one_registration_needs_no_plural(cli, workspace):
    """The count goes last, so one person is never "1 anmälda"."""
    export = workspace / "anmalan.csv"
    export.write_text("E-post;Närvarande\nmaja.lund@msb.example;ja\n", encoding="utf-8")
    result = cli("registrations", "import", str(export), "--seminar", "2")
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 rad; 1 matchade (0 med kod, 1 med adress); seminarium 2: anmälda 1, deltog 1." in (
        result.output
    )
    assert "1 anmälda" not in result.output


def test_click_speaks_swedish_in_errors_and_help(cli):
    missing = cli("send", "invitation")
    assert missing.exit_code == 2
    assert "Fel: Saknat argument 'SEMINAR'." in missing.stderr
    not_a_number = cli("send", "invitation", "x")
    assert "'x' är inte ett giltigt tal (integer)." in not_a_number.stderr
    helped = cli("bundle", "keygen", "--help")
    assert "[krävs]" in helped.output
    assert "[required]" not in helped.output


def test_a_rehearsal_is_a_provutskick(cli):
    """ "Repetition" reads as sending the mailing again: the opposite of a rehearsal."""
    helped = cli("send", "--help")
    assert "provutskick" in helped.output.lower()
    assert "repetition" not in helped.output.lower()


def _paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's words, from ``()`` (mailer itself) down to ``bundle send``."""
    found = [prefix]
    for name, sub in getattr(group, "commands", {}).items():
        found.extend(_paths(sub, (*prefix, name)))
    return found


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_help_fits_80_columns(cli, monkeypatch, language):
    """Preformatted blocks (the exit codes) are not rewrapped by Click: they must fit."""
    from mailer.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    for words in _paths(main):
        helped = cli("--language", language, *words, "--help")
        assert helped.exit_code == 0, (words, helped.output)
        wide = [line for line in helped.output.splitlines() if len(line) > 80]
        assert not wide, (words, wide)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_sign_up_confirmation_is_wrapped_like_every_mail(workspace, language):
    """Its text part at 72 columns; the link on a line of its own, never broken."""
    from mailer.config import load_network
    from mailer.journal import Signup
    from mailer.signups import confirmation_message

    network = load_network(workspace / "network.toml")
    seminar = next(s for s in network.seminars if s.number == 2)
    url = "https://oppnadata-varmland.example/seminarium/2/bekrafta?token=" + "x" * 90
    signup = Signup(2, "kim.nyberg@smaforetag.example", "Kim Nyberg", "", language, None, "", None)
    message = confirmation_message(network, seminar, signup, url)
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert url in text.splitlines()
    assert all(len(line) <= 72 for line in text.splitlines() if line != url), text


def test_a_maildir_reply_reads_the_same_in_every_language(cli):
    """Sent in Swedish, read in English (a person's access request): no Swedish in it."""
    sent = cli("send", "invitation", "2", "--yes", "--quiet")
    assert sent.exit_code == 0, sent.output + sent.stderr
    report = cli("--language", "en", "person", "export", "maja.lund@msb.example")
    assert report.exit_code == 0, report.output + report.stderr
    assert "invitation-2 from msb: sent (maildir: " in report.output
    assert "sparat" not in report.output


def test_status_of_a_mailing_not_begun_is_one_line(cli):
    """Not a table of headers with nothing under them."""
    result = cli("status", "invitation-3")
    assert result.exit_code == 0, result.output + result.stderr
    assert result.output.strip() == "Inga utskick än."
