"""The journal's records of what came back by mail (mailer.inbox): the messages read,
each address's bounces, and how far each IMAP folder has been read.

A mixin of :class:`mailer.journal.Journal`, which opens the file and owns the
transactions; kept apart so that the delivery records stay readable on their own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterable

from mailer.journal.records import Bounce, Delivery, InboxRecord, ReportedOutcome


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class InboxRecords:
    db: sqlite3.Connection

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # Journal's

    def inbox_read(self, message_id: str) -> str | None:
        """What was done when this message was read before, or None."""
        row = self.db.execute(
            "SELECT action FROM inbox_messages WHERE message_id=?", (message_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def by_message_id(self, message_id: str) -> Delivery | None:
        """The delivery that carried this Message-ID (angle brackets included)."""
        row = self.db.execute(
            "SELECT * FROM deliveries WHERE message_id=? ORDER BY updated_at DESC LIMIT 1",
            (message_id,),
        ).fetchone()
        return Delivery(**row) if row else None

    def last_sent_to(self, email: str, member: str | None = None) -> Delivery | None:
        """The latest message sent to this address (through this member)."""
        row = self.db.execute(
            """SELECT * FROM deliveries WHERE email=? AND state='sent'
               AND (? IS NULL OR member=?) ORDER BY sent_at DESC LIMIT 1""",
            (email, member, member),
        ).fetchone()
        return Delivery(**row) if row else None

    def soft_bounces(self, email: str) -> list[tuple[str, str, str]]:
        """(mailing, when, status) of each earlier bounce of this address that was not for
        good, oldest first (which of them are soft is mailer.inbox's to say)."""
        rows = self.db.execute(
            "SELECT mailing, bounced_at, status FROM bounces WHERE email=? AND permanent=0"
            " ORDER BY bounced_at",
            (email,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def record_inbox(self, record: InboxRecord, bounces: Iterable[Bounce] = ()) -> bool:
        """Remember a message read and write its bounces on their rows, in one
        transaction; False (and nothing written) when it was read before."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO inbox_messages VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.message_id,
                    record.kind,
                    record.mailing,
                    record.email,
                    record.action,
                    _now(),
                ),
            )
            if cur.rowcount == 0:
                return False
            for b in bounces:
                db.execute(
                    "INSERT OR IGNORE INTO bounces VALUES (?, ?, ?, ?, ?, ?)",
                    (record.message_id, b.email, b.mailing, b.status, int(b.permanent), b.at),
                )
                db.execute(
                    """UPDATE deliveries SET bounce=?, bounce_note=?, bounced_at=?, updated_at=?
                       WHERE mailing=? AND email=?""",
                    (b.status, b.diagnostic, b.at, _now(), b.mailing, b.email),
                )
        return True

    @staticmethod
    def reported_bounces(
        db: sqlite3.Connection,
        digest: str,
        mailing: str,
        outcomes: list[ReportedOutcome],
        now: str,
    ) -> None:
        """The bounces a member's mailbox gave back ('mailer bundle inbox'): on the rows,
        as 'mailer inbox import' writes them, and counted with the rest (soft bounces)."""
        bounced = [o for o in outcomes if o.bounce]
        db.executemany(
            """UPDATE deliveries SET bounce=?, bounce_note=?, bounced_at=?, updated_at=?
               WHERE mailing=? AND email=?""",
            [(o.bounce, o.bounce_note, o.bounced_at, now, mailing, o.email) for o in bounced],
        )
        # One row per report and address, as for a bounce read here; a later report of
        # the same bounce has another digest but the same time, so it is not counted twice.
        db.executemany(
            """INSERT INTO bounces SELECT ?, ?, ?, ?, ?, ?
               WHERE NOT EXISTS (SELECT 1 FROM bounces
                                 WHERE email=? AND mailing=? AND bounced_at=?)""",
            [
                (
                    f"report:{digest}",
                    o.email,
                    mailing,
                    o.bounce,
                    int(o.bounce_permanent),
                    o.bounced_at,
                    o.email,
                    mailing,
                    o.bounced_at,
                )
                for o in bounced
            ],
        )

    def imap_position(self, member: str, folder: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID handled) of a member's IMAP folder, or None."""
        row = self.db.execute(
            "SELECT uidvalidity, last_uid FROM inbox_folders WHERE member=? AND folder=?",
            (member, folder),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def set_imap_position(self, member: str, folder: str, uidvalidity: int, uid: int) -> None:
        with self.transaction() as db:
            db.execute(
                """INSERT INTO inbox_folders VALUES (?, ?, ?, ?)
                   ON CONFLICT (member, folder) DO UPDATE SET
                       uidvalidity=excluded.uidvalidity, last_uid=excluded.last_uid""",
                (member, folder, uidvalidity, uid),
            )

    # A Graph mailbox has no UIDs: its position is the receivedDateTime (whole seconds
    # since the epoch, UTC) of the last message handled, kept in the same table under its
    # own folder name with UIDVALIDITY 0.

    def graph_position(self, member: str, folder: str) -> dt.datetime | None:
        """When the last message handled in a member's Graph folder was received, or None."""
        known = self.imap_position(member, f"graph:{folder}")
        return dt.datetime.fromtimestamp(known[1], dt.UTC) if known else None

    def set_graph_position(self, member: str, folder: str, received: dt.datetime) -> None:
        self.set_imap_position(member, f"graph:{folder}", 0, int(received.timestamp()))
