"""The network-wide opt-out list: people who must never be mailed, whoever lists them.

It lives in the state folder (``.mailer/suppression.sqlite3``, owner-only) and wins over
every member's list, always: :func:`mailer.recipients.merge` drops anyone on it, and
:func:`mailer.campaign.plan.make_plan` checks it again before anything is sent.

Every entry is keyed by a salted hash (HMAC-SHA256 with a per-workspace random salt) of
the normalised address, so a lookup never needs the address itself. The address is kept
beside the hash for the coordinator's ``mailer suppressed`` listing, except for people
who asked to be forgotten: :meth:`Suppression.forget` blanks it and keeps only the hash,
which still blocks the address while no longer storing who it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mailer.addresses import AddressError, normalise_address
from mailer.config import Network
from mailer.errors import StateError
from mailer.journal import private_dir
from mailer.recipients import Merge, merge

FILENAME = "suppression.sqlite3"
REASONS = ("unsubscribed", "bounced", "forgotten", "other")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS suppressed (
    digest    TEXT PRIMARY KEY,          -- HMAC-SHA256(salt, normalised address), hex
    email     TEXT,                      -- NULL once the person has been forgotten
    reason    TEXT NOT NULL CHECK (reason IN ('unsubscribed','bounced','forgotten','other')),
    note      TEXT NOT NULL DEFAULT '',
    added_at  TEXT NOT NULL              -- UTC, ISO 8601
);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    digest: str
    email: str | None
    reason: str
    note: str
    added_at: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Suppression:
    """The opt-out list of one workspace; a context manager around its SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            private_dir(path.parent)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.executescript(_SCHEMA)
            self._salt = self._load_salt()
            self._digests: set[str] | None = None
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StateError(
                f"cannot open the suppression list: {exc}",
                path=path,
                hint="restore the file from a backup of the state folder",
            ) from None

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Suppression:
        return cls(state_dir / FILENAME)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Suppression:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load_salt(self) -> bytes:
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(32),))
        (salt,) = self.db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()
        return bytes.fromhex(salt)

    # -- keys ------------------------------------------------------------------

    def digest(self, email: str) -> str:
        """The key of an already normalised address."""
        return hmac.new(self._salt, email.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def normalise(address: str) -> str:
        """The address as merge keys it; AddressError when it cannot be an address."""
        return normalise_address(address)

    # -- reading ---------------------------------------------------------------

    def __contains__(self, email: object) -> bool:
        """Is this normalised address suppressed? (The callable merge takes.)"""
        if not isinstance(email, str):
            return False
        if self._digests is None:
            self._digests = {r[0] for r in self.db.execute("SELECT digest FROM suppressed")}
        return self.digest(email) in self._digests

    def is_suppressed(self, email: str) -> bool:
        return email in self

    def entries(self) -> list[Entry]:
        rows = self.db.execute(
            "SELECT digest, email, reason, note, added_at FROM suppressed ORDER BY added_at, email"
        )
        return [Entry(*r) for r in rows]

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM suppressed").fetchone()[0])

    # -- writing ---------------------------------------------------------------

    def add(self, email: str, *, reason: str = "unsubscribed", note: str = "") -> bool:
        """Suppress a normalised address; False if it already was (the first date stays)."""
        if reason not in REASONS:
            raise ValueError(reason)
        stored = None if reason == "forgotten" else email
        cur = self.db.execute(
            "INSERT OR IGNORE INTO suppressed VALUES (?, ?, ?, ?, ?)",
            (self.digest(email), stored, reason, note, _now()),
        )
        if reason == "forgotten":
            self.forget(email)
        self._digests = None
        return cur.rowcount == 1

    def add_many(
        self, emails: Iterable[str], *, reason: str = "unsubscribed", note: str = ""
    ) -> int:
        """Suppress several normalised addresses in one transaction; how many were new."""
        added = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for email in emails:
                added += self.add(email, reason=reason, note=note)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return added

    def forget(self, email: str) -> None:
        """Keep only the salted hash of this address: still blocked, no longer stored.

        For ``mailer person forget``: the person is added if they were not on the list.
        """
        digest = self.digest(email)
        self.db.execute(
            "INSERT OR IGNORE INTO suppressed VALUES (?, NULL, 'forgotten', '', ?)",
            (digest, _now()),
        )
        self.db.execute(
            "UPDATE suppressed SET email=NULL, reason='forgotten', note='' WHERE digest=?",
            (digest,),
        )
        self._digests = None


def suppressed_checker(state_dir: Path) -> Callable[[str], bool]:
    """A fast "is this normalised address suppressed?" for merge and planning.

    Reads the list once and closes it; creates nothing when there is no list yet.
    """
    path = state_dir / FILENAME
    if not path.exists():
        return lambda email: False
    with Suppression(path) as suppression:
        suppression.__contains__("")  # load the digests while the file is open
        return suppression.__contains__


def merge_without_suppressed(network: Network, *, check_dns: bool = False) -> Merge:
    """The network's merged list with everybody on the opt-out list left out."""
    return merge(network, suppressed=suppressed_checker(network.state_dir), check_dns=check_dns)


def parse_addresses(values: Iterable[str]) -> Iterator[tuple[str, str | AddressError]]:
    """Each raw value with its normalised address, or the AddressError saying why not."""
    for raw in values:
        try:
            yield raw, normalise_address(raw)
        except AddressError as exc:
            yield raw, exc
