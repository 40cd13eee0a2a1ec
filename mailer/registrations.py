"""Who registered for a seminar, and who came: imported from a form tool's export.

The export (CSV or .xlsx, read by :func:`mailer.lists.read_list`) has an address column,
the ``token`` the invitation's registration link carried, or both. A row is matched to a person
on the members' lists by its token first (the person who was invited, whatever address
they typed into the form), else by its address. Rows that match nobody are reported, not
stored: the audiences only ever choose among the people on the lists.

Stored in the journal's SQLite file (table ``registrations``), one row per seminar and
person; importing again updates the rows, so a later export (with attendance ticked)
simply completes the earlier one.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mailer import tokens
from mailer.addresses import AddressError, normalise_address
from mailer.config import Network
from mailer.errors import ListError
from mailer.i18n import _
from mailer.journal import Journal, Registration
from mailer.lists import RawRow, read_list
from mailer.recipients import Person

# Header aliases, folded like mailer.lists does ("Närvarande" -> "narvarande").
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "token": ("token", "kod", "personligkod", "anmalningskod", "code", "ref"),
    "registered": ("anmald", "registered", "anmalan", "status", "kommer", "attending"),
    "attended": (
        "attended",
        "narvarande",
        "narvaro",
        "deltog",
        "attendance",
        "present",
        "checkedin",
        "incheckad",
    ),
}
YES = {"ja", "j", "yes", "y", "x", "1", "true", "sant", "närvarande", "deltog", "kommer", "✓"}
YES |= {"anmäld", "registered", "attended", "present", "incheckad", "checked in", "✔"}
NO = {"nej", "n", "no", "0", "false", "falskt", "", "-", "avanmäld", "cancelled", "återbud"}


@dataclass(frozen=True, slots=True)
class Unmatched:
    line: int
    value: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    path: Path
    seminar: int
    rows: int = 0
    by_token: int = 0
    by_address: int = 0
    registered: int = 0
    attended: int | None = None  # None: the file has no attendance column
    unmatched: list[Unmatched] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return self.by_token + self.by_address


@dataclass(frozen=True, slots=True)
class Status:
    """What the journal knows about one seminar's people."""

    registered: frozenset[str]
    attended: frozenset[str]
    attendance_known: bool


def _flag(value: str, *, path: Path, line: int, column: str) -> bool:
    folded = " ".join(value.strip().casefold().split())
    if folded in YES:
        return True
    if folded in NO:
        return False
    raise ListError(
        _("{column}: {value!r} is neither yes nor no").format(column=column, value=value),
        path=path,
        line=line,
        hint=_("use ja/nej, yes/no, x or 1/0"),
    )


def _person_of(
    row: RawRow, listed: Container[str], report: ImportReport, verify: Callable[[str], str]
) -> str | None:
    """The listed person a form's row names, by its token first, else by its address;
    None (and the reason in ``report.unmatched``) when it names nobody on the lists."""
    raw_token = row.values.get("token", "").strip()
    raw_email = row.values.get("email", "").strip()
    if raw_token:
        try:
            email = verify(raw_token)
        except tokens.TokenError as exc:
            # A tester filled in a rehearsal's form: its address must not count either.
            if not raw_email or isinstance(exc, tokens.RehearsalTokenError):
                report.unmatched.append(Unmatched(row.line, raw_token[:40], exc.message))
                return None
        else:
            if email not in listed:
                reason = _("the token's person is no longer on any list")
                report.unmatched.append(Unmatched(row.line, email, reason))
                return None
            report.by_token += 1
            return email
    try:
        email = normalise_address(raw_email)
    except AddressError as exc:
        report.unmatched.append(Unmatched(row.line, raw_email, str(exc)))
        return None
    if email not in listed:
        report.unmatched.append(Unmatched(row.line, email, _("on no member's list")))
        return None
    report.by_address += 1
    return email


def import_registrations(
    network: Network,
    journal: Journal,
    path: Path,
    *,
    seminar: int,
    people: Iterable[Person],
) -> ImportReport:
    """Read ``path`` and store who registered (and attended) for ``seminar``."""
    network.seminar(seminar)  # raises on an unknown number
    listed = {p.email: p for p in people}
    table = read_list(path, extra_fields=FORM_FIELDS)
    report = ImportReport(path=path, seminar=seminar)
    has_registered = "registered" in table.columns
    has_attended = "attended" in table.columns
    if has_attended:
        report.attended = 0
    signers: list[tokens.Signer] = []  # made on the first token: only then is a key needed
    purpose = tokens.registration_purpose(network, seminar)

    def verify(token: str) -> str:
        if not signers:
            signers.append(tokens.Signer.from_env(network, why=_("matching by token")))
        return signers[0].verify(purpose, token, refused=_("nobody was registered"))

    found: dict[str, tuple[bool, bool | None, int]] = {}  # email -> (registered, attended, line)
    for row in table.rows:
        report.rows += 1
        email = _person_of(row, listed, report, verify)
        if email is None:
            continue
        registered = (
            _flag(row.values["registered"], path=path, line=row.line, column="registered")
            if has_registered
            else True
        )
        attended = (
            _flag(row.values["attended"], path=path, line=row.line, column="attended")
            if has_attended
            else None
        )
        found[email] = (registered or bool(attended), attended, row.line)
    journal.record_registrations(
        seminar,
        {e: Registration(e, r, a, line) for e, (r, a, line) in found.items()},
        source=path.name,
    )
    report.registered = sum(1 for r, _, _ in found.values() if r)
    if has_attended:
        report.attended = sum(1 for _, a, _ in found.values() if a)
    return report


def status(journal: Journal, seminar: int) -> Status:
    rows = journal.registrations(seminar)
    return Status(
        registered=frozenset(r.email for r in rows if r.registered),
        attended=frozenset(r.email for r in rows if r.attended),
        attendance_known=any(r.attended is not None for r in rows),
    )
