"""The rights of the people on the lists: an owner-only state folder, export, forget, prune."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import stat
from pathlib import Path

import pytest

from mailer.errors import MailerError
from mailer.privacy import cutoff
from tests.helpers import use_smtp_everywhere
from tests.smtp_server import SmtpServer

MAJA = "maja.lund@msb.example"  # on MSB's list and (as MAJA.LUND@…) on Elsäkerhetsverket's


def state_files(workspace: Path) -> list[Path]:
    return [p for p in (workspace / ".mailer").rglob("*") if p.is_file()]


@pytest.fixture
def smtp_network(workspace: Path, smtp_server: SmtpServer) -> SmtpServer:
    """Every member's channel points at the test server: sends are real, in the journal."""
    use_smtp_everywhere(workspace, smtp_server.port)
    return smtp_server


def send_all(cli, smtp_network, kind: str = "invitation", number: str = "2") -> None:
    result = cli("send", kind, number, "--yes")
    assert result.exit_code == 0, result.output + result.stderr


def test_the_state_folder_is_readable_by_its_owner_only(cli, workspace, smtp_network):
    # A rehearsal too: its own folder in the state folder is owner-only like the rest.
    assert cli("send", "summary", "1", "--via", smtp_network.url, "--yes").exit_code == 0
    send_all(cli, smtp_network)
    assert cli("unsubscribe", "tom.walker@msb.example").exit_code == 0
    state = workspace / ".mailer"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    names = set()
    for path in state.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
        names.add(path.name)
    assert {"journal.sqlite3", "suppression.sqlite3", "delivery.log", "rehearsal"} <= names


def test_export_shows_lists_mailings_and_opt_out(cli, workspace, smtp_network):
    send_all(cli, smtp_network)
    data = json.loads(cli("person", "export", "Maja.Lund@msb.example", "--json").output)
    assert data["address"] == MAJA
    assert {(li["file"], li["line"]) for li in data["lists"]} == {
        ("recipients/msb.csv", 3),
        ("recipients/elsakerhetsverket.csv", 4),
    }
    (mailing,) = data["mailings"]
    assert mailing["mailing"] == "invitation-2" and mailing["state"] == "sent"
    assert mailing["member"] == "msb" and mailing["sent_at"]
    assert data["suppression"] == {"suppressed": False}
    assert any(MAJA in line for lines in data["log_lines"].values() for line in lines)

    assert cli("unsubscribe", MAJA).exit_code == 0
    text = cli("person", "export", MAJA).output
    assert "recipients/msb.csv:3 (msb)" in text
    assert re.search(r"invitation-2: sent from msb on \w+day \d+ \w+ 20\d\d at \d\d:\d\d", text)
    assert re.search(r"On the opt-out list: yes \(unsubscribed, since \w+day \d+ \w+ 20", text)


def test_forget_leaves_no_trace_and_no_later_list_brings_them_back(cli, workspace, smtp_network):
    send_all(cli, smtp_network)
    assert any(MAJA.encode() in p.read_bytes() for p in state_files(workspace))

    result = cli("person", "forget", MAJA, "--yes")
    # The members' own files still name her: said, with where, and exit code 1.
    assert result.exit_code == 1
    assert "recipients/msb.csv:3 (msb)" in result.stderr
    assert "recipients/elsakerhetsverket.csv:4 (elsakerhetsverket)" in result.stderr
    assert "still named in the state folder" not in result.stderr
    for path in state_files(workspace):
        data = path.read_bytes().lower()
        assert MAJA.encode() not in data, path
        assert b"maja lund" not in data, path

    # The lists still name her, and yet no mailing reaches her: not the next one, and
    # not this one sent again.
    smtp_network.handler.received.clear()
    send_all(cli, smtp_network, "summary", "1")
    assert cli("send", "invitation", "2", "--yes").exit_code == 0
    assert smtp_network.handler.received
    assert MAJA not in [r.lower() for r in smtp_network.handler.recipients()]

    data = json.loads(cli("person", "export", MAJA, "--json").output)
    assert data["suppression"]["reason"] == "forgotten" and data["mailings"] == []
    for path in state_files(workspace):
        assert MAJA.encode() not in path.read_bytes().lower(), path


def test_forget_and_export_cover_the_rehearsal_journal(cli, workspace, smtp_server):
    rehearsed = cli("send", "invitation", "2", "--via", smtp_server.url, "--yes")
    assert rehearsed.exit_code == 0, rehearsed.output + rehearsed.stderr
    practised = workspace / ".mailer" / "rehearsal" / "journal.sqlite3"
    assert MAJA.encode() in practised.read_bytes()

    data = json.loads(cli("person", "export", MAJA, "--json").output)
    (mailing,) = data["mailings"]
    assert mailing["mailing"] == "invitation-2" and mailing["rehearsal"] is True
    assert "rehearsal/journal.sqlite3:deliveries" in data["state_records"]
    text = cli("person", "export", MAJA).output
    assert "invitation-2: sent from msb on " in text and "(a rehearsal" in text

    assert cli("person", "forget", MAJA, "--yes").exit_code == 1  # still on the lists
    for path in state_files(workspace):
        assert MAJA.encode() not in path.read_bytes().lower(), path
    with contextlib.closing(sqlite3.connect(practised)) as db:
        emails = {r[0] for r in db.execute("SELECT email FROM deliveries")}
    assert emails and MAJA not in emails


def test_forget_asks_first(cli, workspace, smtp_network):
    send_all(cli, smtp_network)
    result = cli("person", "forget", MAJA, input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output + result.stderr
    assert any(MAJA.encode() in p.read_bytes() for p in state_files(workspace))


def test_forget_and_prune_ask_in_swedish(cli, workspace, smtp_network, monkeypatch):
    # The questions a Swede reads offer "[j/N]" and take "j" for yes, as send's does.
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    send_all(cli, smtp_network)
    kept = cli("person", "forget", MAJA, input="n\n")
    assert kept.exit_code == 1 and "[j/N]" in kept.output and "[y/N]" not in kept.output
    assert any(MAJA.encode() in p.read_bytes() for p in state_files(workspace))
    asked = cli("prune", "--older-than", "18m", input="j\n")
    assert asked.exit_code == 0, asked.output + asked.stderr
    assert "[j/N]" in asked.output and "[y/N]" not in asked.output
    forgotten = cli("person", "forget", MAJA, input="j\n")
    assert "[j/N]" in forgotten.output
    assert not any(MAJA.encode() in p.read_bytes() for p in state_files(workspace))


def test_a_bad_address_is_one_line(cli):
    result = cli("person", "export", "not-an-address")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "'not-an-address' is not an address" in line


def test_prune_removes_old_journal_rows_and_log_lines(cli, workspace, smtp_network):
    send_all(cli, smtp_network, "summary", "1")
    send_all(cli, smtp_network)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=800)).isoformat(timespec="milliseconds")
    journal = workspace / ".mailer" / "journal.sqlite3"
    with sqlite3.connect(journal) as db:
        db.execute(
            "UPDATE deliveries SET sent_at=?, updated_at=?, created_at=? WHERE mailing=?",
            (old, old, old, "summary-1"),
        )
    log = workspace / ".mailer" / "delivery.log"
    recent_lines = log.read_text(encoding="utf-8").splitlines()
    log.write_text(
        f"{old[:19]}+0000\tsummary-1\tmsb\told.line@msb.example\tsent\n"
        + log.read_text(encoding="utf-8")
    )

    result = cli("prune", "--older-than", "18m", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert "Removed " in result.output and "1 log line." in result.output
    with sqlite3.connect(journal) as db:
        mailings = {r[0] for r in db.execute("SELECT DISTINCT mailing FROM deliveries")}
    assert mailings == {"invitation-2"}
    assert log.read_text(encoding="utf-8").splitlines() == recent_lines
    assert b"summary-1" not in journal.read_bytes()  # vacuumed, not just unlinked rows


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        ("18m", dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC)),
        ("2y", dt.datetime(2024, 8, 31, 12, tzinfo=dt.UTC)),
        ("90d", dt.datetime(2026, 6, 2, 12, tzinfo=dt.UTC)),
        ("6w", dt.datetime(2026, 7, 20, 12, tzinfo=dt.UTC)),
    ],
)
def test_ages(age, expected):
    assert cutoff(age, now=dt.datetime(2026, 8, 31, 12, tzinfo=dt.UTC)) == expected


@pytest.mark.parametrize("age", ["18", "0m", "m", "18 months", "-3d"])
def test_a_bad_age_is_refused(age):
    with pytest.raises(MailerError, match="is not an age"):
        cutoff(age)


def maildir_files(workspace: Path) -> list[Path]:
    return sorted(p for p in (workspace / "outbox").rglob("*") if p.is_file())


def test_forget_names_or_deletes_the_maildir_copies_of_their_mail(cli, workspace):
    """The example network's channels are Maildirs: each message stays as a file."""
    result = cli("send", "invitation", "2", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    before = maildir_files(workspace)
    theirs = [p for p in before if MAJA.encode() in p.read_bytes().lower()]
    assert len(theirs) == 1 and theirs[0].parent.name == "new"
    shown = str(theirs[0].relative_to(workspace))

    data = json.loads(cli("person", "export", MAJA, "--json").output)
    assert data["mail_copies"] == [shown]
    assert shown in cli("person", "export", MAJA).output

    kept = cli("person", "forget", MAJA, "--yes")
    assert kept.exit_code == 1
    assert "still in the outbox" in kept.stderr and f"  {shown}" in kept.stderr
    assert maildir_files(workspace) == before

    deleted = cli("person", "forget", MAJA, "--yes", "--delete-mail-copies")
    assert deleted.exit_code == 1  # the members' lists still name her
    assert "Deleted 1 copy of mail to them from the outbox." in deleted.output
    assert "still in the outbox" not in deleted.stderr
    assert maildir_files(workspace) == [p for p in before if p != theirs[0]]
    assert cli("person", "export", MAJA, "--json").output.count("outbox") == 0


def test_the_export_speaks_the_persons_language_unless_one_is_chosen(cli, monkeypatch):
    """The answer to an access request goes to the person: in their language."""
    monkeypatch.delenv("MAILER_LANGUAGE")  # the network's language (sv) unless chosen
    english = cli("person", "export", "james.okafor@kau.example")  # 'en' on KAU's list
    assert english.output.startswith("Personal data about james.okafor@kau.example")
    assert "On the opt-out list: no" in english.output
    swedish = cli("person", "export", MAJA)
    assert swedish.output.startswith("Personuppgifter om maja.lund@msb.example")
    assert "På spärrlistan: nej" in swedish.output
    chosen = cli("--language", "sv", "person", "export", "james.okafor@kau.example")
    assert chosen.output.startswith("Personuppgifter om james.okafor@kau.example")
    data = json.loads(cli("person", "export", "james.okafor@kau.example", "--json").output)
    assert data["language"] == "en"
