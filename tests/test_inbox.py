"""mailer inbox import: bounces, auto-replies, unsubscribes and replies to messages that
really went out through a real SMTP server, read from a Maildir, an mbox and .eml files."""

from __future__ import annotations

import json
import mailbox
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.inbox import KINDS
from mailer.tokens import Signer
from tests.helpers import use_smtp_everywhere
from tests.inbox_corpus import CORPUS, DATE, Sent, send


@pytest.fixture
def server(workspace: Path, smtp_servers: Any) -> Any:
    started = smtp_servers()
    use_smtp_everywhere(workspace, started.port)
    return started


@pytest.fixture
def sent(cli: Any, workspace: Path, server: Any) -> Sent:
    return send(cli, workspace, server, "invitation", "2")


def maildir(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.Maildir(path, create=True)
    for data in messages:
        box.add(data)
    return path


def records(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.output.splitlines()]


def journal(workspace: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(workspace / ".mailer" / "journal.sqlite3")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def opt_outs(cli: Any) -> str:
    result = cli("suppressed")
    assert result.exit_code == 0, result.output + result.stderr
    return result.output


CASES = [
    # corpus file, class, action (a part of it)
    ("exchange-online-dsn.eml", "bounce", "opted out (bounced for good)"),
    ("exchange-online-no-dsn.eml", "bounce", "soft bounce counted (1 of 3"),
    ("postfix.eml", "bounce", "opted out (bounced for good)"),
    ("exim.eml", "bounce", "opted out (bounced for good)"),
    ("gmail.eml", "bounce", "opted out (bounced for good)"),
    # 5.5.0 says only "refused": recorded on the row, but no proof the address is dead.
    ("outlook-com.eml", "bounce", "bounce recorded (not the address: the address stays)"),
    ("postfix-delayed.eml", "delay", "counted"),
    ("out-of-office-sv.eml", "auto-reply", "counted"),
    ("reply-quoting.eml", "reply", "listed for the coordinator"),
    ("unsubscribe.eml", "unsubscribe", "unsubscribed"),
    ("forwarding-loop.eml", "loop", "left alone"),
    ("unknown.eml", "unknown", "left alone"),
]
STATUS = {
    "exchange-online-dsn.eml": "5.1.10",
    "exchange-online-no-dsn.eml": "5.2.2",
    "postfix.eml": "5.1.1",
    "exim.eml": "5.1.1",
    "gmail.eml": "5.2.1",
    "outlook-com.eml": "5.5.0",
}


def test_each_format_is_classified_matched_and_acted_on(cli, workspace, sent, tmp_path):
    people = sent.people()
    assert len(people) >= len(CASES)
    person = {name: people[i] for i, (name, _, _) in enumerate(CASES)}
    box = maildir(tmp_path / "Maildir", [sent.fill(name, person[name]) for name, _, _ in CASES])

    result = cli("inbox", "import", str(box), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    got = records(result)
    by_person = {r["person"]: r for r in got if r["kind"] != "unknown"}
    for name, kind, action in CASES:
        if kind == "unknown":
            assert any(r["kind"] == "unknown" and r["person"] is None for r in got)
            continue
        record = by_person[person[name]]
        assert record["kind"] == kind, (name, record)
        assert action in record["action"], (name, record)
        assert record["mailing"] == "invitation-2", (name, record)
    assert (
        "Tack för inbjudan! Jag kommer gärna. / Kan jag ta med en kollega?"
        in by_person[person["reply-quoting.eml"]]["detail"]
    )

    # The outcome is on the journal row of the message each bounce returned.
    for name, status in STATUS.items():
        ((bounce, note),) = journal(
            workspace,
            "SELECT bounce, bounce_note FROM deliveries WHERE mailing='invitation-2' AND email=?",
            person[name],
        )
        assert bounce == status, name
        assert note, name
    listed = opt_outs(cli)
    for name in ("exchange-online-dsn.eml", "postfix.eml", "exim.eml", "gmail.eml"):
        assert person[name] in listed
    assert person["exchange-online-no-dsn.eml"] not in listed  # soft: counted only
    assert person["outlook-com.eml"] not in listed
    assert person["unsubscribe.eml"] in listed
    for name in ("out-of-office-sv.eml", "reply-quoting.eml", "postfix-delayed.eml"):
        assert person[name] not in listed

    # `mailer status` shows the bounces beside the mailing's counts.
    shown = cli("status", "invitation-2")
    assert f"bounced   {person['postfix.eml']} (" in shown.output
    assert "5.1.1 550 5.1.1" in shown.output

    # Reading the same mail again (as an mbox this time) changes nothing.
    before = journal(workspace, "SELECT * FROM deliveries ORDER BY email")
    mbox_path = tmp_path / "export.mbox"
    mbox = mailbox.mbox(mbox_path)
    for name, _, _ in CASES:
        mbox.add(sent.fill(name, person[name]))
    mbox.close()
    again = cli("inbox", "import", str(mbox_path), "--json")
    assert again.exit_code == 0, again.output + again.stderr
    assert all("already read" in r["action"] for r in records(again))
    assert journal(workspace, "SELECT * FROM deliveries ORDER BY email") == before
    assert opt_outs(cli) == listed


def test_the_human_output_and_a_single_eml(cli, sent, tmp_path, monkeypatch):
    to, other = sent.people()[:2]
    path = tmp_path / "ndr.eml"
    path.write_bytes(sent.fill("postfix.eml", to))
    result = cli("inbox", "import", str(path))
    assert result.exit_code == 0, result.output + result.stderr
    assert f"{path}: bounce {to} (invitation-2): opted out (bounced for good)" in result.output
    assert "1 message read: bounce 1" in result.output
    # In Swedish, the network's language: the classes and the count read as Swedish.
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    path.write_bytes(sent.fill("postfix.eml", other).replace(b"3F2A1C0123@", b"3F2A1C0999@"))
    result = cli("inbox", "import", str(path))
    assert result.exit_code == 0, result.output + result.stderr
    assert f"{path}: studs {other} (invitation-2): spärrad (studsade för gott)" in result.output
    assert "1 mejl läst: studs 1" in result.output
    again = cli("inbox", "import", str(path), "--json")
    (record,) = records(again)
    assert (record["kind"], record["outcome"]) == ("bounce", "already-read")  # codes in JSON
    assert record["action"] == "redan läst, och då: spärrad (studsade för gott); inget ändrades"


def test_soft_bounces_in_different_mailings_become_permanent(cli, workspace, server, tmp_path):
    first = send(cli, workspace, server, "invitation", "2")
    second = send(cli, workspace, server, "invitation", "3")
    to = first.people()[0]
    late = "Sun, 20 Dec 2026 09:00:00 +0100"
    one = tmp_path / "one.eml"
    one.write_bytes(first.fill("exchange-online-no-dsn.eml", to, date=DATE))
    two = tmp_path / "two.eml"
    two.write_bytes(
        second.fill("exchange-online-no-dsn.eml", to, date=late).replace(
            b"e5f6-ndr-nodsn", b"e5f6-ndr-second"
        )
    )
    # The default (three, over two weeks) is not reached by two.
    result = cli("inbox", "import", str(one), "--json")
    assert "soft bounce counted (1 of 3" in records(result)[0]["action"]
    # Configured: two soft bounces over at least a week count as permanent.
    result = cli("inbox", "import", str(two), "--json", "--soft-bounces", "2", "--soft-days", "7")
    assert result.exit_code == 0, result.output + result.stderr
    assert "opted out (2 soft bounces over 15 days)" in records(result)[0]["action"]
    assert to in opt_outs(cli)


def test_unsubscribe_by_mail_needs_a_token_or_a_proven_sender(cli, sent, tmp_path, token_key):
    alice, bob, carol = sent.people()[:3]
    unproven = sent.fill("unsubscribe.eml", alice).replace(b"dmarc=pass", b"dmarc=fail")
    signer = Signer(token_key.encode())
    token = signer.sign("unsubscribe:oppna-data-varmland", bob)
    with_token = (
        sent.fill("unsubscribe.eml", carol)
        .replace(b"dmarc=pass", b"dmarc=none")
        .replace(b"Subject: unsubscribe", f"Subject: unsubscribe {token}".encode())
        .replace(b"unsub-33aa", b"unsub-token")
    )
    forged = (
        sent.fill("unsubscribe.eml", carol)
        .replace(b"Subject: unsubscribe", b"Subject: unsubscribe Zm9vQGV4YW1wbGUub3Jn.AAAA")
        .replace(b"unsub-33aa", b"unsub-forged")
    )
    box = maildir(tmp_path / "Maildir", [unproven, with_token, forged])
    result = cli("inbox", "import", str(box), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    actions = [r["action"] for r in records(result)]
    assert "no token and the sender is not proven" in actions[0]
    assert actions[1] == "unsubscribed"
    assert actions[2].startswith("refused: the token is not valid")
    listed = opt_outs(cli)
    assert bob in listed  # the token names bob, whoever sent it
    assert alice not in listed and carol not in listed


def test_malformed_hostile_and_huge_mail_is_skipped_with_a_line(cli, sent, tmp_path):
    from mailer.inbox import MAX_MESSAGE_BYTES

    to = sent.people()[0]
    hostile = b"".join(b"X-Spam-%d: y\n" % i for i in range(600)) + b"Subject: hi\n\nbody\n"
    long_header = b"Subject: " + b"a" * 70_000 + b"\n\nbody\n"
    huge = b"Subject: big\n\n" + b"x" * (MAX_MESSAGE_BYTES + 10) + b"\n"
    path = tmp_path / "mixed.mbox"
    with path.open("wb") as out:
        for data in (b"not mail at all\n", hostile, long_header, huge, sent.fill("gmail.eml", to)):
            out.write(b"From MAILER-DAEMON Fri Dec  4 10:15:00 2026\n" + data + b"\n")
    result = cli("inbox", "import", str(path))
    assert result.exit_code == 1, result.output + result.stderr
    out = result.output
    assert f"{path}#1: skipped: not a mail message" in out
    assert f"{path}#2: skipped: hostile headers (601" in out
    assert f"{path}#3: skipped: hostile headers (one longer" in out
    assert f"{path}#4: skipped: too big" in out
    assert f"{path}#5: bounce {to}" in out
    assert "Traceback" not in out + result.stderr


def test_a_missing_path_is_one_line_and_exit_2(cli, tmp_path):
    result = cli("inbox", "import", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_hygiene_names_the_rows_to_delete_in_each_members_list(
    cli, workspace, sent, tmp_path, monkeypatch
):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    people = sent.people()
    bounced = next(p for p in people if p.endswith("@msb.example"))
    path = tmp_path / "ndr.eml"
    path.write_bytes(sent.fill("postfix.eml", bounced))
    assert cli("inbox", "import", str(path)).exit_code == 0
    assert cli("unsubscribe", "maja.lund@msb.example").exit_code == 0
    assert cli("person", "forget", "tom.walker@msb.example", "--yes").exit_code == 1

    out = tmp_path / "hygiene.csv"
    result = cli("recipients", "hygiene", "--org", "msb", "--out", str(out))
    assert result.exit_code == 1, result.output + result.stderr
    lines = (workspace / "recipients" / "msb.csv").read_text("utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.lower().startswith(bounced))
    assert f"msb: recipients/msb.csv:{line}: {bounced}: studsade" in result.output
    assert "recipients/msb.csv:3: maja.lund@msb.example: avregistrerad" in result.output
    assert "recipients/msb.csv:5: tom.walker@msb.example: glömd" in result.output
    assert out.read_text("utf-8").splitlines()[0] == "member,file,line,email,reason,since"
    clean = cli("recipients", "hygiene", "--org", "konsumentverket")
    assert clean.exit_code == 0 and "Inga rader att ta bort." in clean.output
    unknown = cli("--language", "en", "recipients", "hygiene", "--org", "nobody")
    assert unknown.exit_code == 2 and "no member 'nobody'" in unknown.stderr


CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.eml"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(CORPUS_FILES),
    cuts=st.lists(st.tuples(st.integers(0, 4000), st.binary(max_size=40)), max_size=6),
)
def test_damaged_mail_is_classified_or_refused_never_a_traceback(name, cuts):
    from mailer.inbox import Unreadable, classify, parse

    data = bytearray((CORPUS / name).read_bytes())
    for at, junk in cuts:  # bytes overwritten anywhere: headers, boundaries, reports
        data[at : at + len(junk)] = junk
    try:
        found = classify(parse(bytes(data)))
    except Unreadable as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert found.kind in KINDS


def test_the_mailto_a_mail_program_writes_from_list_unsubscribe_is_honoured(cli, sent, tmp_path):
    """The mailto: of a message really sent carries its person's token in the subject: the
    mail a program writes from it unsubscribes that person, whoever's mailbox it came from
    (a shared or forwarding mailbox, no DMARC), and nobody else."""
    alice, bob = sent.people()[:2]
    header = sent.headers[alice]["List-Unsubscribe"]
    mailto = next(p.strip(" <>") for p in header.split(",") if "mailto:" in p)
    parts = urllib.parse.urlsplit(mailto)
    subject = urllib.parse.parse_qs(parts.query)["subject"][0]
    assert subject.startswith("unsubscribe ") and len(subject.split()) == 2
    written = (
        f"From: Someone Else <forwarder@elsewhere.example>\n"
        f"To: {parts.path}\nSubject: {subject}\nDate: Fri, 04 Dec 2026 11:00:00 +0100\n"
        f"Message-ID: <mailto-written-1@elsewhere.example>\n\nunsubscribe\n"
    )
    path = tmp_path / "unsubscribe.eml"
    path.write_text(written)
    result = cli("inbox", "import", str(path), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    (record,) = records(result)
    assert (record["kind"], record["outcome"], record["person"]) == (
        "unsubscribe",
        "unsubscribed",
        alice,
    )
    assert record["mailing"] == "invitation-2"
    listed = opt_outs(cli)
    assert alice in listed and bob not in listed


def test_an_unsubscribe_mail_from_a_rehearsals_mailto_changes_nothing(
    cli, workspace, smtp_servers, tmp_path
):
    """A tester answering a rehearsal's List-Unsubscribe mailto: the token is genuine but a
    rehearsal's, so nobody is unsubscribed."""
    from tests.inbox_corpus import received

    rehearsal = smtp_servers()
    result = cli("send", "invitation", "2", "--via", rehearsal.url, "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    practised = received(workspace, rehearsal)
    to = practised.people()[0]
    header = practised.headers[to]["List-Unsubscribe"]
    mailto = next(p.strip(" <>") for p in header.split(",") if "mailto:" in p)
    subject = urllib.parse.parse_qs(urllib.parse.urlsplit(mailto).query)["subject"][0]
    path = tmp_path / "unsubscribe.eml"
    path.write_text(
        f"From: <{to}>\nSubject: {subject}\nMessage-ID: <rehearsed-1@example.org>\n\nstop\n"
    )
    result = cli("inbox", "import", str(path), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    (record,) = records(result)
    assert record["outcome"] == "refused"
    assert "rehearsal" in record["action"]
    assert to not in opt_outs(cli)
