"""What a Swedish coordinator read wrong in a walk through the tool, and reads right now."""

from __future__ import annotations

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
    helped = cli("bundle", "keygen", "--help")
    assert "[krävs]" in helped.output
    assert "[required]" not in helped.output


def test_a_rehearsal_is_a_provutskick(cli):
    """ "Repetition" reads as sending the mailing again: the opposite of a rehearsal."""
    helped = cli("send", "--help")
    assert "provutskick" in helped.output.lower()
    assert "repetition" not in helped.output.lower()
