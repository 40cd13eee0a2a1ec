"""`mailer preview` shows the message a send hands to the server: every header, every part."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer.preview import header_lines, part_lines

ENGLISH = "tom.walker@msb.example"
# Different in every build of a message: when it was made, its id, its MIME boundaries.
_VARIES = re.compile(r'^(Date|Message-ID): .*$|boundary="[^"]+"', re.MULTILINE)


def sent_to(workspace: Path, email: str) -> EmailMessage:
    for path in (workspace / "outbox").glob("*/new/*"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if email in str(message["To"]):
            return message
    raise AssertionError(f"nothing sent to {email}")


def steady(text: str) -> str:
    return _VARIES.sub(lambda m: m.group(1) or 'boundary="*"', text)


@pytest.mark.parametrize(("kind", "number"), [("invitation", "2"), ("summary", "1")])
def test_preview_shows_every_header_as_sent(cli, workspace, kind, number):
    preview = cli("preview", kind, number, "--to", ENGLISH)
    assert preview.exit_code == 0, preview.stderr
    assert cli("send", kind, number).exit_code == 0
    sent = sent_to(workspace, ENGLISH)
    shown = steady(preview.output)
    # Every field of the message, in its order, with its value: the ones a coordinator
    # missed before too (one-click unsubscribe, bulk precedence, the MIME fields).
    fields = [steady(line) for line in header_lines(sent)]
    names = [line.split(":", 1)[0] for line in fields]
    for wanted in ("List-Unsubscribe-Post", "Precedence", "MIME-Version", "Content-Type"):
        assert wanted in names
    start = shown.index(fields[0])
    assert shown[start:].startswith("\n".join(fields) + "\n"), kind
    # And each MIME part's own fields, numbered.
    parts = "\n".join(steady(line) for line in part_lines(sent))
    assert re.search(r"\[1(\.1)?\] Content-Type: text/plain", parts)
    assert parts in shown, kind


def test_preview_speaks_swedish_with_swedish_numbers(cli, monkeypatch):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    result = cli("preview", "invitation", "2", "--to", ENGLISH)
    assert result.exit_code == 0, result.stderr
    assert "Kanal:" in result.output and "MIME-delar:" in result.output
    size = re.search(r"Meddelandets storlek: ([\d\u00a0 ]+) byte", result.output)
    assert size is not None and "," not in size.group(1)


@pytest.mark.parametrize("language", ["en", "sv"])
def test_preview_lines_end_without_spaces(cli, monkeypatch, language):
    # The text part's CRLF line ends reached the terminal as a space at the end of each line.
    monkeypatch.setenv("MAILER_LANGUAGE", language)
    result = cli("preview", "invitation", "2", "--to", ENGLISH)
    assert result.exit_code == 0, result.stderr
    lines = result.output.splitlines()
    assert len(lines) > 40
    assert [line for line in lines if line != line.rstrip()] == []
    assert "\r" not in result.output
