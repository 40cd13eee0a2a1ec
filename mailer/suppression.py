"""The network-wide opt-out list: people who must never be mailed, whoever lists them.

It lives in the state folder (``.mailer/suppression.sqlite3``, owner-only) and wins over
every member's list, always: :func:`mailer.recipients.merge` drops anyone on it, and
:func:`mailer.campaign.plan.make_plan` checks it again before anything is sent.

Every entry is keyed by a salted hash (HMAC-SHA256 with a per-workspace random salt) of
the normalised address, so a lookup never needs the address itself. The address is kept
beside the hash for the coordinator's ``mailer suppressed`` listing, except for people
who asked to be forgotten: :meth:`Suppression.forget` blanks it and keeps only the hash,
which still blocks the address while no longer storing who it was.

This module owns every SQL statement against ``suppression.sqlite3``; the file is opened
by :func:`mailer.state.connect` (refused when it vanished or was truncated), and its
schema grows by the ``_m00N_`` migrations below, recorded in a ``migrations`` table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mailer import state
from mailer.addresses import AddressError, normalise_address
from mailer.config import Network
from mailer.errors import StateError
from mailer.i18n import N_, _
from mailer.recipients import Merge, merge

FILENAME = "suppression.sqlite3"
REASONS = ("unsubscribed", "bounced", "forgotten", "other")
# Stored as the codes above; shown as these words, in the reader's language.
REASON_NAMES = {
    "unsubscribed": N_("unsubscribed"),
    "bounced": N_("bounced"),
    "forgotten": N_("forgotten"),
    "other": N_("other"),
}


def reason_name(code: str) -> str:
    """A reason code as a person reads it: 'unsubscribed' -> 'avregistrerad'."""
    name = REASON_NAMES.get(code)
    return _(name) if name else code


def _m001_initial(db: sqlite3.Connection) -> None:
    # IF NOT EXISTS: a list from before migrations already has this table.
    db.execute("""
        CREATE TABLE IF NOT EXISTS suppressed (
            digest    TEXT PRIMARY KEY,    -- HMAC-SHA256(salt, normalised address), hex
            email     TEXT,                -- NULL once the person has been forgotten
            reason    TEXT NOT NULL CHECK (reason IN
                        ('unsubscribed','bounced','forgotten','other')),
            note      TEXT NOT NULL DEFAULT '',
            added_at  TEXT NOT NULL        -- UTC, ISO 8601
        )""")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_initial]


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
        self.db, self._salt = state.open_store(path, what="the suppression list", steps=MIGRATIONS)
        self._digests: set[str] | None = None
        try:
            self._digests = self._load_digests()
        except StateError:
            self.db.close()
            raise

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Suppression:
        return cls(state_dir / FILENAME)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Suppression:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One transaction, or the one already open (add inside add_many)."""
        if self.db.in_transaction:
            return contextlib.nullcontext(self.db)
        return _translated(self.db, self.path)

    def _load_digests(self) -> set[str]:
        # Read at open too: a damaged file is one StateError line there, not a traceback
        # in the middle of a merge.
        try:
            return {r[0] for r in self.db.execute("SELECT digest FROM suppressed")}
        except sqlite3.DatabaseError as exc:
            raise state.error(exc, self.path, "read the suppression list") from None

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
            self._digests = self._load_digests()
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
        with self._transaction():
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
        with self._transaction():
            for email in emails:
                added += self.add(email, reason=reason, note=note)
        return added

    def withdraw(self, email: str, *, since: str) -> bool:
        """Take back an unsubscription made at or after ``since`` (UTC, ISO 8601): the web
        page's "undo". Only ``unsubscribed`` entries go; a bounce or a forgotten person
        stays. True if the address came off the list."""
        with self._transaction():
            cur = self.db.execute(
                "DELETE FROM suppressed WHERE digest=? AND reason='unsubscribed'"
                " AND email IS NOT NULL AND added_at >= ?",
                (self.digest(email), since),
            )
        self._digests = None
        return cur.rowcount == 1

    def forget(self, email: str) -> None:
        """Keep only the salted hash of this address: still blocked, no longer stored.

        For ``mailer person forget``: the person is added if they were not on the list.
        """
        digest = self.digest(email)
        with self._transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO suppressed VALUES (?, NULL, 'forgotten', '', ?)",
                (digest, _now()),
            )
            self.db.execute(
                "UPDATE suppressed SET email=NULL, reason='forgotten', note='' WHERE digest=?",
                (digest,),
            )
        self._digests = None

    def entry(self, email: str) -> Entry | None:
        """This normalised address's entry, if it is on the list."""
        row = self.db.execute(
            "SELECT digest, email, reason, note, added_at FROM suppressed WHERE digest=?",
            (self.digest(email),),
        ).fetchone()
        return Entry(*row) if row else None

    def compact(self) -> None:
        """Rebuild the file and empty the WAL: a forgotten address may linger in the page
        an update rewrote."""
        try:
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            raise state.error(exc, self.path, "compact the suppression list") from None


@contextlib.contextmanager
def _translated(db: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    try:
        with state.transaction(db):
            yield db
    except sqlite3.OperationalError as exc:
        raise state.error(exc, path, "write the suppression list") from None


def suppressed_checker(state_dir: Path) -> Callable[[str], bool]:
    """A fast "is this normalised address suppressed?" for merge and planning.

    Reads the list once and closes it; creates nothing when there is no list yet (but a
    list the state folder had and lost is refused, never taken for an empty one).
    """
    path = state_dir / FILENAME
    if not state.known(path):
        return lambda email: False
    with Suppression(path) as suppression:
        suppression.__contains__("")  # load the digests while the file is open
        return suppression.__contains__


def listed(state_dir: Path) -> list[Entry]:
    """Everyone on the opt-out list; creates nothing when there is no list yet."""
    path = state_dir / FILENAME
    if not state.known(path):
        return []
    with Suppression(path) as suppression:
        return suppression.entries()


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


# -- unsubscribing (the CLI, a web form, a mailbox reader) --------------------------------


def read_addresses(path: Path) -> Iterator[tuple[int, str]]:
    """(line, raw address) from a list with an e-mail column, or one address per line.

    Blank lines and ``#`` comment lines are skipped (a kept list of opt-outs often has
    both). Raises ListError when the file cannot be read at all.
    """
    from mailer.lists import list_error, read_list
    from mailer.lists.files import os_reason

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise list_error("missing", path) from None
    except OSError as exc:
        raise list_error("unreadable", path, why=os_reason(exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel on Windows; addresses are ASCII
    first = next((line for line in text.splitlines() if _wanted(line)), "")
    if "@" in first:
        # A plain list: an address per line; anything after a delimiter is a comment.
        for number, line in enumerate(text.splitlines(), 1):
            value = line.replace(";", ",").replace("\t", ",").split(",", 1)[0].strip()
            if _wanted(value):
                yield number, value
        return
    for row in read_list(path).rows:
        value = row.values.get("email", "")
        if _wanted(value):
            yield row.line, value


def _wanted(line: str) -> bool:
    """Not blank, not a comment."""
    text = line.strip()
    return bool(text) and not text.startswith("#")


@dataclass(slots=True)
class Unsubscribed:
    """What :func:`unsubscribe` did: ``rejected`` holds (where, value, why) per bad value.

    ``refused``: asked to be strict, a file had a line that is not an address, so nothing
    was added at all (a wrong file or column must not put anyone on the list by mistake).
    """

    path: Path
    added: int = 0
    again: int = 0  # already on the list
    total: int = 0  # on the list now
    rejected: list[tuple[str, str, AddressError]] = field(default_factory=list)
    refused: bool = False


def unsubscribe(
    state_dir: Path,
    addresses: Iterable[str] = (),
    *,
    files: Iterable[Path] = (),
    reason: str = "unsubscribed",
    note: str = "",
    strict: bool = False,
) -> Unsubscribed:
    """Put the valid addresses (given, or read from files) on the opt-out list.

    Values that are not addresses are reported in ``rejected``, the others added; but
    when ``strict``, a line of a file that is not an address refuses the whole call
    (``refused``: nothing added). When nothing is added, nothing is opened or created.
    """
    raw: list[tuple[str, str]] = [("", a) for a in addresses]  # (where, value)
    for path in files:
        raw.extend((f"{path}:{line}: ", value) for line, value in read_addresses(path))
    result = Unsubscribed(state_dir / FILENAME)
    valid: list[str] = []
    for where, value in raw:
        try:
            valid.append(normalise_address(value))
        except AddressError as exc:
            result.rejected.append((where, value, exc))
    result.refused = strict and any(where for where, _value, _exc in result.rejected)
    if result.refused or (not valid and result.rejected):
        return result
    with Suppression(result.path) as suppression:
        result.added = suppression.add_many(valid, reason=reason, note=note)
        result.total = len(suppression)
    result.again = len(set(valid)) - result.added
    return result
