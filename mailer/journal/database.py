"""The journal's database: every SQL statement against ``journal.sqlite3`` is here.

Deliveries (one row per mailing and person), bundles handed to members, registrations,
and the salted hashes of forgotten people. Writes go through :meth:`Journal.transaction`
(BEGIN IMMEDIATE, a bounded wait for another process's lock); a failure there is one
:class:`StateError` line. The file is opened by :func:`mailer.state.connect`, which
refuses a journal that vanished, was truncated or belongs to another state folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mailer import state
from mailer.errors import StateError
from mailer.i18n import _
from mailer.journal.inbox import InboxRecords
from mailer.journal.limits import AttemptRecords
from mailer.journal.records import (
    BundleExport,
    Delivery,
    Registration,
    ReportedOutcome,
    Signup,
)
from mailer.journal.schema import MIGRATIONS

STATES = ("queued", "sending", "sent", "deferred", "failed", "suppressed")
FILENAME = "journal.sqlite3"
# A rehearsal (``mailer send --via``) keeps its own journal here, inside the state folder so
# that export, forget and prune find it, and apart from the real one so that it never
# counts as sent, against a quota or in ``mailer status``.
REHEARSAL_DIR = "rehearsal"
# The tables that name a person (by their ``email`` column).
PERSONAL = ("deliveries", "registrations", "inbox_messages", "bounces", "signups")
# Per table: the column that dates a row, for pruning. Tables not named here are kept.
DATED = {
    "deliveries": "COALESCE(sent_at, updated_at)",
    "registrations": "imported_at",
    "inbox_messages": "read_at",
    "bounces": "bounced_at",
    "bundle_reports": "imported_at",
    "bundle_exports": "exported_at",
    "signups": "requested_at",
    "attempts": "at",
}


# Every insert of a person's row skips the forgotten: a run planned before `mailer person
# forget` (or a member's late report) must not write them back.
_QUEUE = """
    INSERT INTO deliveries (mailing, email, member, state, created_at, updated_at)
    SELECT ?, ?, ?, 'queued', ?, ?
    WHERE NOT EXISTS (SELECT 1 FROM forgotten WHERE digest=?)
    ON CONFLICT (mailing, email) DO NOTHING
"""


def timestamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def rehearsal_path(state_dir: Path) -> Path:
    return state_dir / REHEARSAL_DIR / FILENAME


def is_rehearsal(path: Path) -> bool:
    """Whether a journal file is a rehearsal's (the coordinator's or a member's)."""
    return path.parent.name == REHEARSAL_DIR


class Journal(InboxRecords, AttemptRecords):
    """The SQLite journal in the state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db, self._salt = state.open_store(path, what="the journal", steps=MIGRATIONS)
        self.db.row_factory = sqlite3.Row

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Journal:
        return cls(state_dir / FILENAME)

    @classmethod
    def for_rehearsal(cls, state_dir: Path) -> Journal:
        """The rehearsals' own journal (``.mailer/rehearsal/journal.sqlite3``)."""
        state.state_folder(state_dir)  # owner-only too, when the rehearsal creates it
        return cls(rehearsal_path(state_dir))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a lock held too long, a full disk or a read-only folder
        becomes one StateError line (an IntegrityError stays what it is)."""
        try:
            with state.transaction(self.db) as db:
                yield db
        except sqlite3.OperationalError as exc:
            raise state.error(exc, self.path, "write the journal") from None

    def digest(self, email: str) -> str:
        """The salted hash that stands for a forgotten (normalised) address."""
        return hmac.new(self._salt, email.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- reading ---------------------------------------------------------------

    def get(self, mailing: str, email: str) -> Delivery | None:
        row = self.db.execute(
            "SELECT * FROM deliveries WHERE mailing=? AND email=?", (mailing, email)
        ).fetchone()
        return Delivery(**row) if row else None

    def deliveries(self, mailing: str) -> dict[str, Delivery]:
        rows = self.db.execute("SELECT * FROM deliveries WHERE mailing=?", (mailing,))
        return {r["email"]: Delivery(**r) for r in rows}

    def mailings(self) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT mailing FROM deliveries GROUP BY mailing ORDER BY MIN(created_at)"
            )
        ]

    def counts(self, mailing: str) -> dict[str, dict[str, int]]:
        """member -> state -> count."""
        out: dict[str, dict[str, int]] = {}
        for r in self.db.execute(
            "SELECT member, state, COUNT(*) FROM deliveries WHERE mailing=? GROUP BY member, state",
            (mailing,),
        ):
            out.setdefault(r[0], {})[r[1]] = r[2]
        return out

    def used_since(self, member: str, since: dt.datetime) -> int:
        """Recipients this member's channel took (or may have taken) since then, any mailing.

        Uncertain rows count too: the server may have taken them, and a quota is a ceiling.
        """
        iso = since.astimezone(dt.UTC).isoformat(timespec="milliseconds")
        row = self.db.execute(
            """SELECT COUNT(*) FROM deliveries WHERE member=? AND (
                   (state='sent' AND sent_at>=?) OR (state='sending' AND updated_at>=?))""",
            (member, iso, iso),
        ).fetchone()
        return int(row[0])

    def oldest_since(self, member: str, since: dt.datetime) -> dt.datetime | None:
        """The first send in the window: the quota frees a slot 24 hours after it."""
        iso = since.astimezone(dt.UTC).isoformat(timespec="milliseconds")
        row = self.db.execute(
            "SELECT MIN(sent_at) FROM deliveries WHERE member=? AND state='sent' AND sent_at>=?",
            (member, iso),
        ).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    # -- writing ---------------------------------------------------------------

    def enqueue(self, mailing: str, people: Iterable[tuple[str, str]]) -> None:
        """Record (email, member) pairs as 'queued' unless the journal already knows them."""
        now = timestamp()
        with self.transaction() as db:
            db.executemany(
                _QUEUE, [(mailing, e, member, now, now, self.digest(e)) for e, member in people]
            )

    def defer(self, mailing: str, emails: Iterable[str], reply: str) -> None:
        """Mark people not sent in this run as 'deferred' (quota reached, for example)."""
        now = timestamp()
        with self.transaction() as db:
            db.executemany(
                """UPDATE deliveries SET state='deferred', last_reply=?, updated_at=?
                   WHERE mailing=? AND email=? AND state IN ('queued', 'deferred')""",
                [(reply, now, mailing, email) for email in emails],
            )

    def left_out(self, mailing: str, member: str, emails: Iterable[str]) -> int:
        """Mark a member's people still queued as 'suppressed': on the opt-out list, so
        its bundle send left them out; how many."""
        now = timestamp()
        with self.transaction() as db:
            return sum(
                db.execute(
                    """UPDATE deliveries SET state='suppressed', last_reply='on the opt-out list',
                       updated_at=? WHERE mailing=? AND email=? AND member=? AND state='queued'""",
                    (now, mailing, email, member),
                ).rowcount
                for email in emails
            )

    # -- bundles (members who send their own share) ------------------------------

    def add_bundle_export(self, digest: str, mailing: str, member: str, people: list[str]) -> None:
        """Remember a bundle and queue its people under their member, unless already there."""
        now = timestamp()
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO bundle_exports VALUES (?, ?, ?, ?, ?)",
                (digest, mailing, member, "\n".join(people), now),
            )
            db.executemany(_QUEUE, [(mailing, e, member, now, now, self.digest(e)) for e in people])

    def bundle_exports(self, mailing: str | None = None) -> list[BundleExport]:
        """Every export (of one mailing), with when its member last reported."""
        rows = self.db.execute(
            """
            SELECT e.*, (SELECT MAX(r.imported_at) FROM bundle_reports r
                         WHERE r.mailing = e.mailing AND r.member = e.member) AS reported_at
            FROM bundle_exports e WHERE ? IS NULL OR e.mailing = ?
            ORDER BY e.exported_at""",
            (mailing, mailing),
        )
        return [
            BundleExport(
                digest=r["digest"],
                mailing=r["mailing"],
                member=r["member"],
                people=r["people"].split("\n") if r["people"] else [],
                exported_at=r["exported_at"],
                reported_at=r["reported_at"],
            )
            for r in rows
        ]

    def bundle_report_imported(self, digest: str) -> str | None:
        """When a report with this digest was imported, or None."""
        row = self.db.execute(
            "SELECT imported_at FROM bundle_reports WHERE digest=?", (digest,)
        ).fetchone()
        return str(row[0]) if row else None

    def add_bundle_report(
        self, digest: str, bundle: str, mailing: str, member: str, outcomes: list[ReportedOutcome]
    ) -> None:
        """Merge a member's outcomes and remember the report, in one transaction."""
        now = timestamp()
        try:
            with self.transaction() as db:
                # The report first: a second import of the same report (two coordinators
                # at once, say) stops here, before any outcome is written.
                db.execute(
                    "INSERT INTO bundle_reports VALUES (?, ?, ?, ?, ?, ?)",
                    (digest, bundle, mailing, member, len(outcomes), now),
                )
                db.executemany(
                    """
                    INSERT INTO deliveries (mailing, email, member, state, message_id, attempts,
                                            last_reply, created_at, updated_at, sent_at, channel)
                    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'bundle'
                    WHERE NOT EXISTS (SELECT 1 FROM forgotten WHERE digest=?)
                    ON CONFLICT (mailing, email) DO UPDATE SET
                        member=excluded.member, state=excluded.state, channel='bundle',
                        message_id=COALESCE(excluded.message_id, message_id),
                        attempts=MAX(attempts, excluded.attempts), last_reply=excluded.last_reply,
                        updated_at=excluded.updated_at, sent_at=COALESCE(excluded.sent_at, sent_at)
                    """,
                    [
                        (
                            mailing,
                            o.email,
                            member,
                            o.state,
                            o.message_id,
                            o.attempts,
                            o.reply,
                            now,
                            now,
                            o.sent_at,
                            self.digest(o.email),
                        )
                        for o in outcomes
                    ],
                )
                self.reported_bounces(db, digest, mailing, outcomes, now)
        except sqlite3.IntegrityError:
            raise StateError(
                _("this report was already imported; nothing changed"), path=self.path
            ) from None

    # -- registrations (mailer.registrations) ------------------------------------

    def record_registrations(
        self, seminar: int, found: Mapping[str, Registration], *, source: str
    ) -> None:
        """Store who registered (and attended); a later import completes an earlier one."""
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self.transaction() as db:
            db.executemany(
                """
                INSERT INTO registrations
                    (seminar, email, registered, attended, source, line, imported_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (seminar, email) DO UPDATE SET
                    registered=excluded.registered,
                    attended=COALESCE(excluded.attended, attended),
                    source=excluded.source, line=excluded.line,
                    imported_at=excluded.imported_at
                """,
                [
                    (seminar, email, int(r.registered), r.attended, source, r.line, stamp)
                    for email, r in found.items()
                ],
            )

    def record_answer(
        self, seminar: int, email: str, *, registered: bool, diet: str = "", message: str = ""
    ) -> None:
        """One person's answer from the web form: the same row an import makes, with what
        they wrote (empty text stored as NULL). ``registered=False`` is a cancellation."""
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self.transaction() as db:
            db.execute(
                """
                INSERT INTO registrations (seminar, email, registered, attended, source,
                    line, imported_at, diet, message)
                VALUES (?, ?, ?, NULL, 'web', NULL, ?, ?, ?)
                ON CONFLICT (seminar, email) DO UPDATE SET
                    registered=excluded.registered, source='web',
                    imported_at=excluded.imported_at,
                    diet=excluded.diet, message=excluded.message
                """,
                (seminar, email, int(registered), stamp, diet or None, message or None),
            )

    def registrations(self, seminar: int) -> list[Registration]:
        rows = self.db.execute(
            "SELECT email, registered, attended, line FROM registrations WHERE seminar=?",
            (seminar,),
        )
        return [
            Registration(r[0], bool(r[1]), None if r[2] is None else bool(r[2]), r[3]) for r in rows
        ]

    # -- public sign-ups (mailer serve), double opt-in ------------------------------

    def request_signup(
        self,
        seminar: int,
        email: str,
        *,
        name: str,
        organisation: str,
        language: str,
        consent_text: str | None,
    ) -> bool:
        """Remember a sign-up until its link is used; False (nothing written) when the
        person is forgotten or already confirmed for this seminar."""
        with self.transaction() as db:
            if db.execute(
                "SELECT 1 FROM forgotten WHERE digest=?", (self.digest(email),)
            ).fetchone():
                return False
            return (
                db.execute(
                    """
                INSERT INTO signups (seminar, email, name, organisation, language,
                    consent_text, requested_at, confirmed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
                ON CONFLICT (seminar, email) DO UPDATE SET
                    name=excluded.name, organisation=excluded.organisation,
                    language=excluded.language, consent_text=excluded.consent_text,
                    requested_at=excluded.requested_at
                WHERE confirmed_at IS NULL
                """,
                    (seminar, email, name, organisation, language, consent_text, timestamp()),
                ).rowcount
                > 0
            )

    def confirm_signup(
        self, seminar: int, email: str, *, requested_since: str = ""
    ) -> Signup | None:
        """Use a sign-up's link: the person is registered for the seminar (the row an
        import makes, source 'signup') and, if they agreed, their consent dated. None when
        there is no such sign-up, or it is unconfirmed and older than ``requested_since``
        (an ISO timestamp: the link has expired)."""
        now = timestamp()
        with self.transaction() as db:
            db.execute(
                "UPDATE signups SET confirmed_at=COALESCE(confirmed_at, ?) "
                "WHERE seminar=? AND email=? AND (confirmed_at IS NOT NULL OR requested_at >= ?)",
                (now, seminar, email, requested_since),
            )
            row = db.execute(
                "SELECT * FROM signups WHERE seminar=? AND email=? AND confirmed_at IS NOT NULL",
                (seminar, email),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                """
                INSERT INTO registrations (seminar, email, registered, attended, source,
                    line, imported_at)
                VALUES (?, ?, 1, NULL, 'signup', NULL, ?)
                ON CONFLICT (seminar, email) DO UPDATE SET registered=1
                """,
                (seminar, email, now),
            )
        return Signup(**dict(row))

    def signups(self, *, seminar: int | None = None) -> list[Signup]:
        """Confirmed sign-ups: for ``seminar``, and everyone who agreed to later mail."""
        rows = self.db.execute(
            "SELECT * FROM signups WHERE confirmed_at IS NOT NULL "
            "AND (seminar=? OR consent_text IS NOT NULL) ORDER BY confirmed_at",
            (seminar,),
        )
        return [Signup(**dict(r)) for r in rows]

    def all_signups(self) -> list[Signup]:
        """Every sign-up, confirmed or not, oldest request first (for the coordinator)."""
        rows = self.db.execute("SELECT * FROM signups ORDER BY requested_at, seminar, email")
        return [Signup(**dict(r)) for r in rows]

    # -- one person's rights, and retention (mailer.privacy) ----------------------

    def person_records(self, email: str) -> dict[str, list[dict[str, Any]]]:
        """table -> this person's rows, for the tables that hold any."""
        found = {}
        for table in PERSONAL:
            rows = self.db.execute(f"SELECT * FROM {table} WHERE email=?", (email,))
            if records := [dict(r) for r in rows]:
                found[table] = records
        return found

    def bundles_naming(self, email: str) -> list[dict[str, Any]]:
        """The bundles handed to a member that carried this person."""
        rows = self.db.execute(
            "SELECT digest, mailing, member, people, exported_at FROM bundle_exports"
        )
        return [
            {k: r[k] for k in ("mailing", "member", "exported_at", "digest")}
            for r in rows
            if email in r["people"].split("\n")
        ]

    def forget(self, email: str) -> int:
        """Remove every row naming this person and keep a salted hash that stops any
        later write of them (a send still running elsewhere); how many rows changed."""
        changed = 0
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO forgotten VALUES (?, ?)", (self.digest(email), timestamp())
            )
            for table in PERSONAL:
                changed += db.execute(f"DELETE FROM {table} WHERE email=?", (email,)).rowcount
            for r in db.execute("SELECT digest, people FROM bundle_exports").fetchall():
                people = r["people"].split("\n")
                if email in people:
                    kept = "\n".join(p for p in people if p != email)
                    db.execute(
                        "UPDATE bundle_exports SET people=? WHERE digest=?", (kept, r["digest"])
                    )
                    changed += 1
        self.compact()
        return changed

    def prune(self, before: dt.datetime) -> int:
        """Remove rows older than ``before``; how many."""
        stamp = before.astimezone(dt.UTC).isoformat()
        changed = 0
        with self.transaction() as db:
            for table, column in DATED.items():
                sql = f"DELETE FROM {table} WHERE {column} < ?"
                if table == "bundle_exports":
                    # A report still kept refers to its bundle: keep that bundle too.
                    sql += " AND digest NOT IN (SELECT bundle FROM bundle_reports)"
                changed += db.execute(sql, (stamp,)).rowcount
        if changed:
            self.compact()
        return changed

    def compact(self) -> None:
        """Make deleted rows really gone: rebuild the file, empty the WAL (deleting a row
        leaves its bytes in free pages and in the WAL)."""
        try:
            self.db.execute("VACUUM")
        except sqlite3.OperationalError as exc:
            raise state.error(exc, self.path, "compact the journal") from None
        with contextlib.suppress(sqlite3.DatabaseError):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
