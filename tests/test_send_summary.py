"""A summary of a seminar that has not taken place yet: the send asks first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import edit_seminar


@pytest.fixture
def early(workspace: Path) -> Path:
    # Seminar 2 is on 16 March 2027: give it a summary before it has taken place.
    edit_seminar(workspace, 2, summary_file="seminars/1-summary.md")
    return workspace


def sent(workspace: Path) -> int:
    outbox = workspace / "outbox"
    return sum(1 for _ in outbox.glob("*/new/*")) if outbox.exists() else 0


def test_no_means_nothing_is_sent(cli, early) -> None:
    result = cli("send", "summary", "2", input="n\n")
    assert result.exit_code == 1
    assert "Seminar 2 has not taken place yet (Tuesday 16 March 2027, 8:00–10:00 AM CET)" in (
        result.output
    )
    assert "Send its summary now anyway? [y/N]" in result.output
    assert sent(early) == 0


def test_yes_sends_it(cli, early) -> None:
    result = cli("send", "summary", "2", input="y\n")
    assert result.exit_code == 0, result.output
    assert sent(early) > 0


def test_the_yes_option_skips_the_question(cli, early) -> None:
    result = cli("send", "summary", "2", "--yes")
    assert result.exit_code == 0, result.output
    assert "has not taken place" not in result.output
    assert sent(early) > 0


def test_a_dry_run_does_not_ask(cli, early) -> None:
    result = cli("send", "summary", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "has not taken place" not in result.output


def test_a_summary_after_the_seminar_does_not_ask(cli, workspace) -> None:
    result = cli("send", "summary", "1")  # 17 March 2026: over
    assert result.exit_code == 0, result.output
    assert "has not taken place" not in result.output


def test_the_question_is_in_the_persons_language(cli, early, monkeypatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    result = cli("send", "summary", "2", input="n\n")
    assert result.exit_code == 1
    assert "Seminarium 2 har inte ägt rum än (tisdag 16 mars 2027 kl. 08.00–10.00)" in (
        result.output
    )
    assert "Skicka sammanfattningen ändå nu? [j/N]" in result.output
    assert "Avbrutet!" in result.output
    assert sent(early) == 0


def test_a_swedish_yes_is_ja(cli, early, monkeypatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    result = cli("send", "summary", "2", input="ja\n")
    assert result.exit_code == 0, result.output
    assert sent(early) > 0
