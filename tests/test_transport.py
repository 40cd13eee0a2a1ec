"""The SMTP transaction's own bytes, and the journal's grouped writes, against real parts."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from pathlib import Path

import pytest

from mailer.channels.smtp import SmtpSettings, SmtpTransport
from mailer.errors import StateError
from mailer.journal import GroupCommit, Journal
from mailer.message import Outgoing

HEADERS = b"From: seminarier@msb.example\r\nTo: anna.berg@example.org\r\nSubject: Hej\r\n\r\n"


def send_all(port: int, messages: list[Outgoing]) -> list[str]:
    async def run() -> list[str]:
        settings = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)
        transport = SmtpTransport(settings, label="MSB")
        try:
            return [await transport.send(m) for m in messages]
        finally:
            await transport.close()

    try:
        return asyncio.run(run())
    finally:
        gc.collect()  # a leaked socket warns here


def outgoing(n: int, body: bytes) -> Outgoing:
    return Outgoing(
        sender="seminarier@msb.example",
        recipient=f"person{n}@example.org",
        message_id=f"<t.{n}@msb.example>",
        data=HEADERS + body,
    )


def test_lines_that_start_with_a_dot_arrive_as_written(smtp_server):
    bodies = [
        b".\r\n..\r\n.hidden\r\nend\r\n",  # a lone dot would end the message if not stuffed
        b"no final line end\r\n.",
        b"Hej!\r\n",
    ]
    replies = send_all(smtp_server.port, [outgoing(n, b) for n, b in enumerate(bodies)])
    assert all(r.startswith("250") for r in replies)
    arrived = {m.rcpt_tos[0]: m.data for m in smtp_server.received}
    assert arrived == {
        "person0@example.org": HEADERS + bodies[0],
        "person1@example.org": HEADERS + bodies[1] + b"\r\n",
        "person2@example.org": HEADERS + bodies[2],
    }


def test_bare_line_ends_are_sent_as_crlf(smtp_server):
    (reply,) = send_all(smtp_server.port, [outgoing(0, b"one\ntwo\rthree\r\n.four\n")])
    assert reply.startswith("250")
    (item,) = smtp_server.received
    assert item.data == HEADERS + b"one\r\ntwo\r\nthree\r\n.four\r\n"


SMUGGLING = [
    # End-of-data with a bare LF on either side, then a second transaction: a server that
    # reads bare LF as a line end would deliver the forged message. Every bare CR and LF
    # must reach the server as CRLF (and the dot be stuffed), so all of it stays body.
    b"Hej\n.\r\nMAIL FROM:<forged@example.org>\r\nRCPT TO:<victim@example.org>\r\n",
    b"Hej\r\n.\nMAIL FROM:<forged@example.org>\r\nRCPT TO:<victim@example.org>\r\n",
    b"Hej\r.\r\nDATA\r\n",
]


@pytest.mark.parametrize("body", SMUGGLING)
def test_a_smuggled_end_of_data_stays_inside_the_one_message(smtp_server, body):
    (reply,) = send_all(smtp_server.port, [outgoing(0, body)])
    assert reply.startswith("250")
    (item,) = smtp_server.received
    assert item.rcpt_tos == ["person0@example.org"]
    expected = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    assert item.data == HEADERS + expected


# -- the journal's grouped writes -------------------------------------------------


def state_seen_by_another_connection(path: Path, email: str) -> str | None:
    with sqlite3.connect(path) as other:
        row = other.execute("SELECT state FROM deliveries WHERE email=?", (email,)).fetchone()
    return row[0] if row else None


def test_sending_is_committed_before_start_returns(tmp_path):
    async def run(journal: Journal) -> None:
        writes = GroupCommit(journal)
        await writes.start("m", "a@example.org", "msb", "<1@msb.example>")
        # What a crash right now would leave: the record is on disk.
        assert state_seen_by_another_connection(journal.path, "a@example.org") == "sending"
        writes.finish("m", "a@example.org", "sent", "250 OK")
        await writes.start("m", "b@example.org", "msb", "<2@msb.example>")  # the same group
        assert state_seen_by_another_connection(journal.path, "a@example.org") == "sent"
        writes.finish("m", "b@example.org", "failed", "550 no such user")
        writes.flush()
        assert state_seen_by_another_connection(journal.path, "b@example.org") == "failed"

    with Journal(tmp_path / "journal.sqlite3") as journal:
        asyncio.run(run(journal))
        delivery = journal.get("m", "a@example.org")
        assert delivery is not None and delivery.attempts == 1 and delivery.sent_at


def test_many_connections_share_a_commit_and_keep_their_order(tmp_path):
    async def one(writes: GroupCommit, n: int) -> None:
        email = f"p{n}@example.org"
        await writes.start("m", email, "msb", f"<{n}@msb.example>")
        writes.finish("m", email, "deferred", "451 later")
        await writes.start("m", email, "msb", f"<{n}@msb.example>")  # the retry
        writes.finish("m", email, "sent", "250 OK")

    async def run(journal: Journal) -> None:
        writes = GroupCommit(journal)
        await asyncio.gather(*(one(writes, n) for n in range(50)))
        writes.flush()

    with Journal(tmp_path / "journal.sqlite3") as journal:
        asyncio.run(run(journal))
        rows = journal.deliveries("m")
    assert len(rows) == 50
    assert {(d.state, d.attempts) for d in rows.values()} == {("sent", 2)}


def test_a_journal_that_cannot_be_written_stops_with_one_error(tmp_path):
    async def run(journal: Journal) -> None:
        writes = GroupCommit(journal)
        journal.db.execute("ALTER TABLE deliveries RENAME TO elsewhere")
        results = await asyncio.gather(
            writes.start("m", "a@example.org", "msb", "<1@msb.example>"),
            writes.start("m", "b@example.org", "msb", "<2@msb.example>"),
            return_exceptions=True,
        )
        assert all(isinstance(r, StateError) for r in results)
        with pytest.raises(StateError, match="cannot write the journal"):
            await writes.start("m", "c@example.org", "msb", "<3@msb.example>")
        with pytest.raises(StateError):
            writes.flush()

    with Journal(tmp_path / "journal.sqlite3") as journal:
        asyncio.run(run(journal))
