"""The journal's schema: a list of migrations, each applied once and recorded in a table."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


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


def _m005_forgotten(db: sqlite3.Connection) -> None:
    # People forgotten (mailer person forget), by a salted hash: a send still running in
    # another process checks it in the same transaction, so it never writes them back.
    db.execute("CREATE TABLE forgotten (digest TEXT PRIMARY KEY, forgotten_at TEXT NOT NULL)")


def _m006_registration_answers(db: sqlite3.Connection) -> None:
    # What a person wrote in the web form (mailer serve): a special diet, a message to
    # the organisers. NULL for rows a form tool's export made.
    db.execute("ALTER TABLE registrations ADD COLUMN diet TEXT")
    db.execute("ALTER TABLE registrations ADD COLUMN message TEXT")


def _m007_inbox(db: sqlite3.Connection) -> None:
    # What came back to the members' mailboxes (mailer.inbox). A bounce is written on the
    # row of the message it returns (bounce, bounce_note, bounced_at) and the row keeps its
    # state: the server did take the message, so the quota, the plan (never resend) and the
    # bundle reports stay right without a new state to teach each of them.
    db.execute("ALTER TABLE deliveries ADD COLUMN bounce TEXT")
    db.execute("ALTER TABLE deliveries ADD COLUMN bounce_note TEXT")
    db.execute("ALTER TABLE deliveries ADD COLUMN bounced_at TEXT")
    db.execute("CREATE INDEX deliveries_message_id ON deliveries (message_id)")
    # Every message read, by its own Message-ID: reading a mailbox twice changes nothing.
    db.execute("""
        CREATE TABLE inbox_messages (
            message_id  TEXT PRIMARY KEY,
            kind        TEXT NOT NULL,
            mailing     TEXT,
            email       TEXT,
            action      TEXT NOT NULL,
            read_at     TEXT NOT NULL
        )""")
    # Each bounce of an address (one per report and address), for counting soft ones.
    db.execute("""
        CREATE TABLE bounces (
            report_id   TEXT NOT NULL,
            email       TEXT NOT NULL,
            mailing     TEXT NOT NULL,
            status      TEXT NOT NULL,
            permanent   INTEGER NOT NULL CHECK (permanent IN (0, 1)),
            bounced_at  TEXT NOT NULL,
            PRIMARY KEY (report_id, email)
        )""")
    db.execute("CREATE INDEX bounces_email ON bounces (email)")


def _m008_imap(db: sqlite3.Connection) -> None:
    # How far `mailer inbox fetch` has read each member's IMAP folder: the folder's
    # UIDVALIDITY and the last UID handled (a new UIDVALIDITY means: read it all again;
    # the messages read before are then recognised by their Message-ID).
    db.execute("""
        CREATE TABLE inbox_folders (
            member      TEXT NOT NULL,
            folder      TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            last_uid    INTEGER NOT NULL,
            PRIMARY KEY (member, folder)
        )""")


def _m009_signups(db: sqlite3.Connection) -> None:
    # Public sign-ups from a seminar's web page (mailer serve), double opt-in: a row is
    # made when the form is sent and confirmed_at set when the link in the mail is used.
    # consent_text: the words the person agreed to for later invitations (NULL: did not).
    db.execute("""
        CREATE TABLE signups (
            seminar      INTEGER NOT NULL,
            email        TEXT NOT NULL,
            name         TEXT NOT NULL,
            organisation TEXT NOT NULL,
            language     TEXT NOT NULL,
            consent_text TEXT,
            requested_at TEXT NOT NULL,
            confirmed_at TEXT,
            PRIMARY KEY (seminar, email)
        )""")


def _m010_attempts(db: sqlite3.Connection) -> None:
    # Recent attempts for rate limits that outlive a restart of mailer serve and hold
    # across its processes (public sign-ups per client and per address). The key is a
    # salted hash; rows older than their window are deleted as new ones come.
    db.execute("CREATE TABLE attempts (kind TEXT NOT NULL, digest TEXT NOT NULL, at TEXT NOT NULL)")
    db.execute("CREATE INDEX attempts_key ON attempts (kind, digest, at)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m001_initial,
    _m002_channel,
    _m003_bundles,
    _m004_registrations,
    _m005_forgotten,
    _m006_registration_answers,
    _m007_inbox,
    _m008_imap,
    _m009_signups,
    _m010_attempts,
]
