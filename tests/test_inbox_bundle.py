"""mailer bundle inbox: a member who sends its own share reads what came back to its own
mailbox, and its report carries the bounces and unsubscribes to the coordinator.

Real parts throughout: the coordinator exports a signed bundle, the member sends it through
its own aiosmtpd server, the bounces answer the messages that server really took, and the
report goes back through 'mailer bundle import-report'.
"""

from __future__ import annotations

import json
import mailbox
import sqlite3
import urllib.parse
from typing import Any

import pytest

from mailer.suppression import Suppression
from tests.helpers import Member
from tests.inbox_corpus import Sent, bundle_sent


@pytest.fixture
def msb_sent(coordinator: Any, members: dict[str, Member], monkeypatch) -> Sent:
    return bundle_sent(coordinator, members["msb"], monkeypatch)


def unsubscribe_written_from(sent: Sent, to: str) -> bytes:
    """The mail a mail program writes from the List-Unsubscribe mailto: of ``to``'s message,
    sent from another mailbox (a shared one: no DMARC proof of the person)."""
    header = sent.headers[to]["List-Unsubscribe"]
    mailto = urllib.parse.urlsplit(next(p.strip(" <>") for p in header.split(",") if "mailto" in p))
    subject = urllib.parse.parse_qs(mailto.query)["subject"][0]
    return (
        f"From: <kansliet@elsewhere.example>\nTo: {mailto.path}\nSubject: {subject}\n"
        "Date: Fri, 04 Dec 2026 11:00:00 +0100\nMessage-ID: <by-mailto-1@elsewhere.example>\n"
        "\nunsubscribe\n"
    ).encode()


def records(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.output.splitlines()]


def test_the_members_mailbox_goes_back_to_the_coordinator_in_the_report(
    coordinator, workspace, members, msb_sent, tmp_path
):
    msb = members["msb"]
    bounced, soft, unsubscribed, replied = msb_sent.people()[:4]
    box = mailbox.Maildir(msb.root / "Maildir", create=True)
    for data in (
        msb_sent.fill("postfix.eml", bounced),
        msb_sent.fill("exchange-online-no-dsn.eml", soft),
        unsubscribe_written_from(msb_sent, unsubscribed),
        msb_sent.fill("reply-quoting.eml", replied),
    ):
        box.add(data)

    read = msb("bundle", "inbox", str(msb.bundle), str(msb.root / "Maildir"), "--json")
    assert read.exit_code == 0, read.output
    got = [(r["kind"], r["person"], r["outcome"], r["member"]) for r in records(read)]
    assert got == [
        ("bounce", bounced, "opted-out", "msb"),
        ("bounce", soft, "soft-counted", "msb"),
        ("unsubscribe", unsubscribed, "unsubscribed", "msb"),
        ("reply", replied, "listed", "msb"),
    ]
    # Read again (as the human output this time): nothing changes.
    again = msb("bundle", "inbox", str(msb.bundle), str(msb.root / "Maildir"))
    assert again.exit_code == 0, again.output
    assert again.output.count("already read") == 4
    assert f"mailer bundle report {msb.bundle}" in again.output

    # The report carries the permanent bounce and the unsubscribe; the soft one stays home.
    report = json.loads(msb.report().read_text())
    assert report["bounced"] == [bounced]
    assert report["unsubscribed"] == [unsubscribed]
    imported = coordinator("bundle", "import-report", str(msb.root / "report.json"))
    assert imported.exit_code == 0, imported.output + imported.stderr
    with Suppression.in_state_dir(workspace / ".mailer") as opt_out:
        assert opt_out.entry(bounced).reason == "bounced"
        assert opt_out.entry(unsubscribed).reason == "unsubscribed"
        assert opt_out.entry(soft) is None and opt_out.entry(replied) is None
    # The coordinator tells the member which rows of its list to delete.
    hygiene = coordinator("recipients", "hygiene", "--org", "msb")
    assert f"{bounced}: bounced" in hygiene.output
    assert f"{unsubscribed}: unsubscribed" in hygiene.output


def test_a_token_from_another_bundle_or_a_forged_one_is_refused(members, msb_sent, tmp_path):
    msb = members["msb"]
    to = msb_sent.people()[0]
    forged = unsubscribe_written_from(msb_sent, to)
    token = forged.split(b"Subject: unsubscribe ", 1)[1].split(b"\n", 1)[0]
    forged = forged.replace(token, token[:-4] + b"AAAA")
    path = tmp_path / "forged.eml"
    path.write_bytes(forged)
    read = msb("bundle", "inbox", str(msb.bundle), str(path), "--json")
    assert read.exit_code == 0, read.output
    (record,) = records(read)
    assert record["outcome"] == "refused"
    assert "not one of this bundle's" in record["action"]
    assert json.loads(msb.report().read_text())["unsubscribed"] == []


def test_without_mail_or_a_channel_it_says_what_to_give(members, msb_sent):
    msb = members["msb"]
    result = msb("bundle", "inbox", str(msb.bundle))
    assert result.exit_code == 2
    assert "give the saved mail to read, or --channel" in result.output
    # The member's CHANNEL.toml is SMTP without imap_host: no mailbox to read.
    result = msb("bundle", "inbox", str(msb.bundle), "--channel", str(msb.channel))
    assert result.exit_code == 2
    assert "reaches no mailbox to read" in result.output
    both = msb("bundle", "inbox", str(msb.bundle), "x.mbox", "--channel", str(msb.channel))
    assert both.exit_code == 2 and "not both" in both.output


def test_another_members_channel_file_is_refused_as_send_refuses_it(members, msb_sent):
    # Reading opens the bundle for the channel file exactly as sending does.
    msb, other = members["msb"], next(m for name, m in members.items() if name != "msb")
    result = msb("bundle", "inbox", str(msb.bundle), "--channel", str(other.channel))
    assert result.exit_code == 2
    assert (
        f"this bundle is for the member 'msb', but the channel file is for '{other.member}'"
        in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_bounce_itself_reaches_the_coordinators_journal(
    coordinator, workspace, members, msb_sent, monkeypatch
):
    """The status code and the diagnostic of each bounce the member read go on the
    coordinator's rows, as 'mailer inbox import' writes them for its own sends."""
    msb = members["msb"]
    bounced, soft = msb_sent.people()[:2]
    box = mailbox.Maildir(msb.root / "Maildir", create=True)
    box.add(msb_sent.fill("postfix.eml", bounced))
    box.add(msb_sent.fill("exchange-online-no-dsn.eml", soft))
    read = msb("bundle", "inbox", str(msb.bundle), str(msb.root / "Maildir"))
    assert read.exit_code == 0, read.output

    report = json.loads(msb.report().read_text())
    by_email = {p["email"]: p for p in report["people"]}
    assert by_email[bounced]["bounce"] == "5.1.1"
    assert by_email[soft]["bounce"] == "5.2.2"
    monkeypatch.chdir(workspace)
    imported = coordinator("bundle", "import-report", str(msb.root / "report.json"))
    assert imported.exit_code == 0, imported.output + imported.stderr

    db = sqlite3.connect(workspace / ".mailer" / "journal.sqlite3")
    try:
        rows = {
            r[0]: r[1:]
            for r in db.execute(
                "SELECT email, state, bounce, bounce_note, bounced_at FROM deliveries"
                " WHERE mailing='invitation-2' AND bounce IS NOT NULL"
            )
        }
        counted = db.execute("SELECT email, status, permanent FROM bounces ORDER BY status")
        assert counted.fetchall() == [(bounced, "5.1.1", 1), (soft, "5.2.2", 0)]
    finally:
        db.close()
    assert set(rows) == {bounced, soft}
    state, status, note, at = rows[bounced]
    assert (state, status) == ("sent", "5.1.1")  # the server took it; it came back later
    assert "Recipient address rejected" in note and at.startswith("2026-12-04T09:15")
    assert rows[soft][1] == "5.2.2" and "mailbox full" in rows[soft][2]

    status_out = coordinator("status", "invitation-2")
    assert status_out.exit_code == 0, status_out.output
    assert f"bounced   {bounced} (MSB): 5.1.1" in status_out.output
    assert f"bounced   {soft} (MSB): 5.2.2" in status_out.output
    as_json = json.loads(coordinator("status", "invitation-2", "--json").output)
    bounces = {p["email"]: p["bounce"] for p in as_json["invitation-2"]["problems"]}
    assert bounces == {bounced: "5.1.1", soft: "5.2.2"}
    person = json.loads(coordinator("person", "export", soft, "--json").output)
    (mailing,) = person["mailings"]
    assert (mailing["bounce"], mailing["member"]) == ("5.2.2", "msb")
    text = coordinator("person", "export", soft).output
    assert "bounced on " in text and "5.2.2" in text and "mailbox full" in text
    # The journal's tables are named as a person reads them, not by their SQL names.
    assert "Mail to them that came back (bounces) (journal.sqlite3): 1 record" in text
    assert ":bounces" not in text


def test_a_report_with_a_made_up_status_is_refused(coordinator, members, msb_sent):
    msb = members["msb"]
    path = msb.report()
    data = json.loads(path.read_text())
    data["people"][0]["bounce"] = "rm -rf"
    path.write_text(json.dumps(data))
    imported = coordinator("bundle", "import-report", str(path))
    assert imported.exit_code == 2
    assert "'rm -rf' is not a bounce's status code" in imported.output
