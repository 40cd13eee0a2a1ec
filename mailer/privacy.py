"""The rights of the people on the lists (GDPR articles 15 and 17), and retention:
show everything held about one person, forget them, and prune what is old.

The state folder holds personal data in three shapes:

* journals (the coordinator's, a rehearsal's, a member's bundle journal): read and changed
  only through :class:`mailer.journal.Journal`'s methods, which own their SQL;
* line-oriented files (``delivery.log``, CSV): one line per event or person, handled here;
* the opt-out list (:mod:`mailer.suppression`), which keeps only a salted hash of a
  forgotten address, so a later list naming them again still does not mail them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import fcntl
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailer import state as stores
from mailer.addresses import AddressError, normalise_address
from mailer.config import Network
from mailer.errors import MailerError, StateError
from mailer.fields import LANGUAGES
from mailer.i18n import _
from mailer.journal import FILENAME as JOURNAL_FILE
from mailer.journal import Journal, is_rehearsal
from mailer.lists import read_list
from mailer.lists.files import os_reason
from mailer.suppression import FILENAME as SUPPRESSION_FILE
from mailer.suppression import Suppression

LINE_FILES = (".log", ".csv", ".tsv", ".txt", ".jsonl")
_AGE = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$")
_LOG_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{4}|Z)?)")


@dataclass(frozen=True, slots=True)
class Listing:
    """A row of a member's list that names the person."""

    member: str
    path: str
    line: int
    language: str = ""  # the row's language ('sv', 'en'), else the member's default

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.member})"


@dataclass(slots=True)
class Forgotten:
    address: str
    rows: int = 0  # database rows removed
    log_lines: int = 0  # lines removed from logs and other line files
    still_listed: list[Listing] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)  # state files still naming them
    mail_copies: list[Path] = field(default_factory=list)  # in a maildir channel's folder
    deleted_copies: int = 0  # of those, deleted as asked


@dataclass(slots=True)
class Pruned:
    before: dt.datetime
    rows: int = 0
    log_lines: int = 0


def address_of(raw: str) -> str:
    try:
        return normalise_address(raw)
    except AddressError as exc:
        message = _("{value!r} is not an address: {reason}")
        raise MailerError(message.format(value=raw, reason=exc)) from None


# -- finding ---------------------------------------------------------------------------


def listings(network: Network, email: str) -> list[Listing]:
    """Every row of every member's list that names this (normalised) address."""
    found = []
    for member in network.members:
        for relative in member.lists:
            listing = read_list(
                network.resolve(relative), columns=member.columns.model_dump(), sheet=member.sheet
            )
            for row in listing.rows:
                try:
                    if normalise_address(row.values.get("email", "")) == email:
                        raw = row.values.get("language", "").strip().casefold()
                        language = LANGUAGES.get(raw) or member.default_language or ""
                        found.append(Listing(member.id, relative, row.line, language))
                except AddressError:
                    continue
    return found


def mail_copies(network: Network, email: str) -> list[Path]:
    """The copies of mail to this (normalised) address that the members' channels of
    type maildir keep (``outbox/<member>/new/...``): an SMTP or Graph channel keeps none."""
    found: list[Path] = []
    for member in network.members:
        if member.channel.type != "maildir":
            continue
        folder = network.resolve(member.channel.path)
        for sub in ("new", "cur", "tmp"):
            box = folder / sub
            if box.is_dir():
                found.extend(p for p in sorted(box.iterdir()) if _addressed_to(p, email))
    return found


def workspace_path(network: Network, path: Path) -> str:
    """A path in the workspace as relative to it, as network.toml names paths."""
    try:
        return str(path.relative_to(network.root.resolve()))
    except ValueError:
        return str(path)


def _addressed_to(path: Path, email: str) -> bool:
    """Is this stored message to ``email`` (To, Cc or Bcc)? Only its header is read."""
    from email.parser import BytesHeaderParser
    from email.utils import getaddresses

    try:
        with path.open("rb") as handle:
            headers = BytesHeaderParser().parse(handle)
    except OSError:
        return False
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in headers.get_all(name, [])]
    for _name, address in getaddresses(fields):
        try:
            if normalise_address(address) == email:
                return True
        except AddressError:
            continue
    return False


def _state_files(state_dir: Path) -> list[Path]:
    if not state_dir.is_dir():
        return []
    return sorted(p for p in state_dir.rglob("*") if p.is_file())


def _journals(state_dir: Path) -> list[Path]:
    """Every journal in the state folder: the coordinator's, rehearsals', members'."""
    if not state_dir.is_dir():
        return []
    return sorted(state_dir.rglob(JOURNAL_FILE))


# -- export ----------------------------------------------------------------------------


def _mailing(d: dict[str, Any], rehearsal: bool) -> dict[str, Any]:
    """One delivery as a person's export shows it."""
    return {
        "mailing": d.get("mailing"),
        "member": d.get("member"),
        "state": d.get("state"),
        "sent_at": d.get("sent_at"),
        "message_id": d.get("message_id"),
        # A bounce that came back later (mailer inbox, or a member's report).
        "bounce": d.get("bounce"),
        "bounce_note": d.get("bounce_note"),
        "bounced_at": d.get("bounced_at"),
        "rehearsal": rehearsal,
    }


def export(network: Network, raw: str) -> dict[str, Any]:
    """Everything the workspace holds about one person (a subject access request)."""
    email = address_of(raw)
    state = network.state_dir
    records: dict[str, list[dict[str, Any]]] = {}
    rehearsed: set[str] = set()  # the keys of records from a rehearsal's journal
    bundles: list[dict[str, Any]] = []
    for path in _journals(state):
        where = path.relative_to(state)
        with Journal(path) as journal:
            for table, rows in journal.person_records(email).items():
                records[f"{where}:{table}"] = rows
                if is_rehearsal(path):
                    rehearsed.add(f"{where}:{table}")
            bundles.extend(journal.bundles_naming(email))
    log_lines = {
        str(path.relative_to(state)): lines
        for path in _state_files(state)
        if path.suffix in LINE_FILES and (lines := _matching_lines(path, email))
    }
    suppression: dict[str, Any] = {"suppressed": False}
    if stores.known(state / SUPPRESSION_FILE):
        with Suppression.in_state_dir(state) as opt_out:
            entry = opt_out.entry(email)
        if entry is not None:
            suppression = {"suppressed": True, "reason": entry.reason, "since": entry.added_at}
    # A rehearsal's rows (its own journal) went to a test server, not to the person.
    deliveries = [
        (row, key in rehearsed)
        for key, rows in records.items()
        if key.endswith(":deliveries")
        for row in rows
    ]
    named = listings(network, email)
    copies = [workspace_path(network, p) for p in mail_copies(network, email)]
    return {
        "address": email,
        # The person's language, as their lists say (else the network's): the language
        # the answer to their request is written in.
        "language": next((li.language for li in named if li.language), None)
        or network.network.language,
        "lists": [{"member": li.member, "file": li.path, "line": li.line} for li in named],
        "mailings": [_mailing(d, rehearsal) for d, rehearsal in deliveries],
        "suppression": suppression,
        "mail_copies": copies,
        "bundles": bundles,
        "state_records": records,
        "log_lines": log_lines,
    }


def _matching_lines(path: Path, email: str) -> list[str]:
    needle = email.casefold()
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n") for line in handle if needle in line.casefold()]
    except OSError:
        return []


# -- forget ----------------------------------------------------------------------------


def forget(network: Network, raw: str, *, delete_mail_copies: bool = False) -> Forgotten:
    """Remove the person from every state file; keep only a salted hash on the opt-out list.

    The copies of mail to them that a maildir channel keeps are named in the result, or
    deleted when ``delete_mail_copies``.
    """
    email = address_of(raw)
    state = network.state_dir
    result = Forgotten(email)
    # The opt-out entry first: if anything below fails, they are at least never mailed.
    with Suppression.in_state_dir(state) as opt_out:
        opt_out.forget(email)
        opt_out.compact()  # the address may linger in the page the update rewrote
    for path in _journals(state):
        with Journal(path) as journal:
            result.rows += journal.forget(email)
    for path in _state_files(state):
        if path.suffix in LINE_FILES:
            result.log_lines += _rewrite_lines(path, lambda line: email in line.casefold())
    needle = email.encode()
    result.leftovers = [p for p in _state_files(state) if needle in p.read_bytes().lower()]
    result.still_listed = listings(network, email)
    result.mail_copies = mail_copies(network, email)
    if delete_mail_copies:
        for path in result.mail_copies:
            path.unlink(missing_ok=True)
            result.deleted_copies += 1
        result.mail_copies = []
    return result


def _rewrite_lines(path: Path, drop: Any) -> int:
    """Rewrite a line file without the lines ``drop`` picks; owner-only; how many went.

    Under an exclusive ``flock`` of the old file until the new one has its name: a send
    writing the delivery log meanwhile waits, then writes to the new file
    (``campaign.log.DeliveryLog``), so none of its lines is lost.
    """
    try:
        source = open(path, "rb")  # noqa: SIM115 (held open for its lock)
    except OSError as exc:
        raise StateError(_("cannot read: {why}").format(why=os_reason(exc)), path=path) from None
    with source:
        fcntl.flock(source.fileno(), fcntl.LOCK_EX)
        text = source.read().decode("utf-8", errors="surrogateescape")
        lines = text.splitlines(True)
        kept = [line for line in lines if not drop(line)]
        if len(kept) == len(lines):
            return 0
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.writelines(kept)
        os.replace(tmp, path)
    return len(lines) - len(kept)


# -- retention -------------------------------------------------------------------------


def cutoff(age: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """The moment ``age`` ago: '18m' (months), '2y', '90d', '6w'."""
    match = _AGE.match(age)
    if not match or int(match.group(1)) == 0:
        raise MailerError(
            _("--older-than {age!r} is not an age").format(age=age),
            hint=_("say e.g. 18m, 2y, 90d or 6w"),
        )
    n, unit = int(match.group(1)), match.group(2)
    now = now or dt.datetime.now(dt.UTC)
    if unit == "d":
        return now - dt.timedelta(days=n)
    if unit == "w":
        return now - dt.timedelta(weeks=n)
    months = n * 12 if unit == "y" else n
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


def prune(network: Network, before: dt.datetime) -> Pruned:
    """Remove journal rows and log lines older than ``before``; the opt-out list stays."""
    state = network.state_dir
    result = Pruned(before)
    for path in _journals(state):
        with Journal(path) as journal:
            result.rows += journal.prune(before)
    for path in _state_files(state):
        if path.suffix == ".log":
            result.log_lines += _rewrite_lines(path, lambda line: _older(line, before))
    return result


def _older(line: str, before: dt.datetime) -> bool:
    match = _LOG_TIME.match(line)
    if not match:
        return False
    try:
        when = dt.datetime.fromisoformat(match.group(1))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when < before
