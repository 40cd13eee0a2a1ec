"""The journal: one SQLite row per (mailing, person), written before and after each send.

``sending`` is recorded (and committed) before the SMTP transaction starts and replaced by
the outcome when the server answers, so a crash at any moment leaves a true record: a row
still in ``sending`` is *uncertain*: the server may or may not have taken it. While
sending, these writes go through :class:`GroupCommit`, which commits the writes of many
connections together. Message bodies are never stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mailer.errors import StateError
from mailer.redaction import redact

STATES = ("queued", "sending", "sent", "deferred", "failed", "suppressed")
FILENAME = "journal.sqlite3"
# A rehearsal (``mailer send --via``) keeps its own journal here, inside the state folder so
# that export, forget and prune find it, and apart from the real one so that it never
# counts as sent, against a quota or in ``mailer status``.
REHEARSAL_DIR = "rehearsal"


def _m001_initial(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE deliveries (
            mailing     TEXT NOT NULL,
            email       TEXT NOT NULL,
            member      TEXT NOT NULL,
            state       TEXT NOT NULL CHECK (state IN
                          ('queued','sending','sent','deferred','failed','suppressed')),
            message_id  TEXT,
            attempts    INTEGER NOT NULL DEFAULT 0,
            last_reply  TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            sent_at     TEXT,
            PRIMARY KEY (mailing, email)
        )""")
    db.execute("CREATE INDEX deliveries_state ON deliveries (mailing, member, state)")


def _m002_channel(db: sqlite3.Connection) -> None:
    # Which channel carried the message, and an index for the rolling daily quota.
    db.execute("ALTER TABLE deliveries ADD COLUMN channel TEXT")
    db.execute("CREATE INDEX deliveries_sent ON deliveries (member, sent_at)")


def _m003_bundles(db: sqlite3.Connection) -> None:
    # Bundles handed to members who send their share themselves, and the reports they sent
    # back; keyed by content digests so a re-import is recognised.
    db.execute("""
        CREATE TABLE bundle_exports (
            digest      TEXT PRIMARY KEY,
            mailing     TEXT NOT NULL,
            member      TEXT NOT NULL,
            people      TEXT NOT NULL,
            exported_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX bundle_exports_mailing ON bundle_exports (mailing, member)")
    db.execute("""
        CREATE TABLE bundle_reports (
            digest      TEXT PRIMARY KEY,
            bundle      TEXT NOT NULL REFERENCES bundle_exports (digest),
            mailing     TEXT NOT NULL,
            member      TEXT NOT NULL,
            entries     INTEGER NOT NULL,
            imported_at TEXT NOT NULL
        )""")


def _m004_registrations(db: sqlite3.Connection) -> None:
    # Who registered for a seminar and who came, from a form tool's export
    # (mailer.registrations); attended is NULL until an export says.
    db.execute("""
        CREATE TABLE registrations (
            seminar     INTEGER NOT NULL,
            email       TEXT NOT NULL,
            registered  INTEGER NOT NULL CHECK (registered IN (0, 1)),
            attended    INTEGER CHECK (attended IN (0, 1)),
            source      TEXT NOT NULL,
            line        INTEGER,
            imported_at TEXT NOT NULL,
            PRIMARY KEY (seminar, email)
        )""")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m001_initial,
    _m002_channel,
    _m003_bundles,
    _m004_registrations,
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One person's outcome learnt elsewhere: from a member's report."""

    email: str
    state: str
    message_id: str | None
    reply: str | None
    sent_at: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class BundleExport:
    digest: str
    mailing: str
    member: str
    people: list[str]
    exported_at: str
    reported_at: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    mailing: str
    email: str
    member: str
    state: str
    message_id: str | None
    attempts: int
    last_reply: str | None
    created_at: str
    updated_at: str
    sent_at: str | None
    channel: str | None = None

    @property
    def uncertain(self) -> bool:
        """A run stopped while this message was with the server: it may have arrived."""
        return self.state == "sending"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def private_dir(path: Path) -> Path:
    """Create the state folder readable by its owner only: it holds personal data."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def rehearsal_path(state_dir: Path) -> Path:
    return state_dir / REHEARSAL_DIR / FILENAME


def is_rehearsal(path: Path) -> bool:
    """Whether a journal file is a rehearsal's (the coordinator's or a member's)."""
    return path.parent.name == REHEARSAL_DIR


class Journal:
    """The SQLite journal in the state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; only an OS crash could lose
            # the last commits, which then replay as 'sending' (uncertain), never as lost.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"cannot open the journal: {exc}",
                path=path,
                hint="move the file aside to start a fresh journal",
            ) from None

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Journal:
        return cls(state_dir / FILENAME)

    @classmethod
    def for_rehearsal(cls, state_dir: Path) -> Journal:
        """The rehearsals' own journal (``.mailer/rehearsal/journal.sqlite3``)."""
        private_dir(state_dir)  # owner-only too, when the rehearsal creates it
        return cls(rehearsal_path(state_dir))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {r[0] for r in self.db.execute("SELECT name FROM migrations")}
        for step in MIGRATIONS:
            name = step.__name__.lstrip("_")
            if name in done:
                continue
            with self.transaction() as db:
                step(db)
                db.execute("INSERT INTO migrations VALUES (?, ?)", (name, _now()))

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
        now = _now()
        with self.transaction() as db:
            db.executemany(
                """INSERT INTO deliveries (mailing, email, member, state, created_at, updated_at)
                   VALUES (?, ?, ?, 'queued', ?, ?) ON CONFLICT (mailing, email) DO NOTHING""",
                [(mailing, email, member, now, now) for email, member in people],
            )

    def defer(self, mailing: str, emails: Iterable[str], reply: str) -> None:
        """Mark people not sent in this run as 'deferred' (quota reached, for example)."""
        now = _now()
        with self.transaction() as db:
            db.executemany(
                """UPDATE deliveries SET state='deferred', last_reply=?, updated_at=?
                   WHERE mailing=? AND email=? AND state IN ('queued', 'deferred')""",
                [(reply, now, mailing, email) for email in emails],
            )

    # -- bundles (members who send their own share) ------------------------------

    def add_bundle_export(self, digest: str, mailing: str, member: str, people: list[str]) -> None:
        """Remember a bundle and queue its people under their member, unless already there."""
        now = _now()
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO bundle_exports VALUES (?, ?, ?, ?, ?)",
                (digest, mailing, member, "\n".join(people), now),
            )
            db.executemany(
                """
                INSERT INTO deliveries (mailing, email, member, state, created_at, updated_at)
                VALUES (?, ?, ?, 'queued', ?, ?) ON CONFLICT (mailing, email) DO NOTHING
                """,
                [(mailing, email, member, now, now) for email in people],
            )

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
        self, digest: str, bundle: str, mailing: str, member: str, outcomes: list[Outcome]
    ) -> None:
        """Merge a member's outcomes and remember the report, in one transaction."""
        now = _now()
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
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'bundle')
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
                        )
                        for o in outcomes
                    ],
                )
        except sqlite3.IntegrityError:
            raise StateError(
                "this report was already imported; nothing changed", path=self.path
            ) from None


_START = """
    INSERT INTO deliveries (mailing, email, member, state, message_id, attempts,
                            created_at, updated_at, channel)
    VALUES (?, ?, ?, 'sending', ?, 1, ?, ?, ?)
    ON CONFLICT (mailing, email) DO UPDATE SET
        member=excluded.member, state='sending', message_id=excluded.message_id,
        attempts=attempts + 1, updated_at=excluded.updated_at, channel=excluded.channel
"""
_FINISH = """
    UPDATE deliveries SET state=?, last_reply=?, updated_at=?,
           sent_at=CASE WHEN ?='sent' THEN ? ELSE sent_at END
    WHERE mailing=? AND email=?
"""


class GroupCommit:
    """The journal's writes while sending, committed in groups.

    Dozens of connections finish transactions at about the same moment. Instead of a
    commit per write (two per message, 0.1-0.2 ms each), the writes queued during one turn
    of the event loop are committed by one transaction early in the next. The order of
    events is unchanged: start() returns only once 'sending' is committed, so the record
    still comes before the SMTP transaction. An outcome goes with the next group; a crash
    before that leaves its row in 'sending' (uncertain), which is still true.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._writes: list[tuple[str, tuple[object, ...]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False
        self._error: StateError | None = None

    async def start(
        self, mailing: str, email: str, member: str, message_id: str, channel: str | None = None
    ) -> None:
        """Record 'sending' before the SMTP transaction begins; returns once committed."""
        if self._error is not None:
            raise self._error
        now = _now()
        self._add(_START, (mailing, email, member, message_id, now, now, channel))
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def finish(self, mailing: str, email: str, state: str, reply: str | None) -> None:
        """Record the server's answer (committed with the next group)."""
        if state not in STATES:
            raise ValueError(state)
        reply = redact(reply) if reply else reply  # a server may echo what it was sent
        now = _now()
        self._add(_FINISH, (state, reply, now, state, now, mailing, email))

    def flush(self) -> None:
        """Commit what is queued now; raises StateError when the journal cannot be written."""
        self._commit()
        if self._error is not None:
            raise self._error

    def _add(self, sql: str, row: tuple[object, ...]) -> None:
        self._writes.append((sql, row))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        # Runs as a loop callback: it never raises, its waiters get the error instead.
        self._scheduled = False
        writes, self._writes = self._writes, []
        waiters, self._waiters = self._waiters, []
        if writes and self._error is None:
            try:
                with self.journal.transaction() as db:
                    for sql, group in itertools.groupby(writes, key=lambda w: w[0]):
                        db.executemany(sql, [row for _, row in group])
            except sqlite3.Error as exc:
                self._error = StateError(
                    f"cannot write the journal: {exc}",
                    path=self.journal.path,
                    hint="free disk space or stop the other process using it, then send again",
                )
        for waiter in waiters:
            if waiter.done():  # its worker was cancelled
                continue
            if self._error is not None:
                waiter.set_exception(self._error)
            else:
                waiter.set_result(None)
