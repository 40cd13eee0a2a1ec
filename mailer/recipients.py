"""Validate the members' lists and merge them into one list of people, each with one sender.

The rules, in one place:

* An address is validated and normalised with email-validator (no DNS look-ups unless
  asked); the key for de-duplication is the normalised address, case-folded.
* A person listed by several members keeps them all (``listed_by``, in network order).
* The sending member is the listing member whose own domain the address is at, else the
  first listing member in network order. So a person hears from their own organisation.
* When lists disagree on a field, the sending member's row wins; within one file, the
  fullest row wins, ties broken by its text, so the order of rows never matters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from mailer.config import Member, Network
from mailer.lists import ListFile, RawRow, read_list

LANGUAGES = {
    "sv": "sv",
    "svenska": "sv",
    "swedish": "sv",
    "se": "sv",
    "en": "en",
    "engelska": "en",
    "english": "en",
    "eng": "en",
}
SEGMENTS = {
    "public": "public",
    "offentlig": "public",
    "offentlig sektor": "public",
    "management": "management",
    "ledning": "management",
    "chef": "management",
    "business": "business",
    "företag": "business",
    "smf": "business",
    "sme": "business",
    "small firm": "business",
}
ROLE_LOCALPARTS = {
    "info",
    "registrator",
    "kontakt",
    "contact",
    "admin",
    "reception",
    "kansli",
    "office",
    "support",
    "noreply",
    "no-reply",
    "postmaster",
    "webmaster",
    "kommun",
    "kundtjanst",
    "growth",
    "sales",
    "hello",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class Person:
    """One merged recipient."""

    email: str
    name: str = ""
    organisation: str = ""
    title: str = ""
    language: str = "sv"
    segment: str = "public"
    tags: tuple[str, ...] = ()
    listed_by: tuple[str, ...] = ()
    sender: str = ""

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0] if self.name else ""

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]


@dataclass(frozen=True, slots=True)
class RowProblem:
    path: Path
    line: int
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.value!r}: {self.reason}"


@dataclass(slots=True)
class ListReport:
    """What happened to one file's rows."""

    member: str | None
    path: Path
    encoding: str = ""
    delimiter: str | None = None
    rows: int = 0
    valid: int = 0
    invalid: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    duplicates_in_file: int = 0
    duplicates_of_others: int = 0
    suppressed: int = 0
    final: int = 0  # people this file's member sends to

    def as_dict(self) -> dict[str, object]:
        return {
            "member": self.member,
            "path": str(self.path),
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "rows": self.rows,
            "valid": self.valid,
            "invalid": len(self.invalid),
            "invalid_rows": [
                {"line": p.line, "value": p.value, "reason": p.reason} for p in self.invalid
            ],
            "warnings": [
                {"line": p.line, "value": p.value, "reason": p.reason} for p in self.warnings
            ],
            "duplicates_in_file": self.duplicates_in_file,
            "duplicates_of_others": self.duplicates_of_others,
            "suppressed": self.suppressed,
            "final": self.final,
        }


@dataclass(slots=True)
class Conflict:
    email: str
    field: str
    kept: str
    dropped: str
    kept_from: str
    dropped_from: str


@dataclass(slots=True)
class Merge:
    people: list[Person]
    reports: list[ListReport]
    conflicts: list[Conflict]

    def by_member(self) -> dict[str, list[Person]]:
        out: dict[str, list[Person]] = {}
        for p in self.people:
            out.setdefault(p.sender, []).append(p)
        return out


class AddressError(ValueError):
    """An address that cannot be mailed; the message is the reason for the report."""


@lru_cache(maxsize=65536)
def normalise_address(raw: str, *, check_dns: bool = False) -> str:
    """The canonical, case-folded form of an address, or AddressError with the reason."""
    value = raw.strip().strip("<>").strip()
    if not value:
        raise AddressError("empty address")
    if _CONTROL.search(value):
        raise AddressError("contains control characters")
    if "@" not in value:
        raise AddressError("no @ in the address")
    try:
        result = validate_email(value, check_deliverability=check_dns)
    except EmailNotValidError as exc:
        raise AddressError(str(exc).rstrip(".")) from None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local.casefold()}@{domain.lower()}"


def clean_text(value: str, *, limit: int = 200) -> str:
    """A one-line, printable version of a free-text field (names, organisations)."""
    value = unicodedata.normalize("NFC", value)
    value = _CONTROL.sub(" ", value)
    return " ".join(value.split())[:limit]


def _person_fields(row: RawRow, member: Member | None) -> dict[str, str]:
    v = row.values
    name = clean_text(v.get("name", ""))
    if not name:
        name = clean_text(f"{v.get('first_name', '')} {v.get('last_name', '')}")
    language = LANGUAGES.get(v.get("language", "").strip().casefold(), "")
    segment = SEGMENTS.get(v.get("segment", "").strip().casefold(), "")
    return {
        "name": name,
        "organisation": clean_text(v.get("organisation", "")) or (member.name if member else ""),
        "title": clean_text(v.get("title", "")),
        "language": language or (member.default_language if member else None) or "",
        "segment": segment or (member.default_segment if member else "public"),
        "tags": ",".join(
            sorted(
                {
                    clean_text(t).casefold()
                    for t in re.split(r"[,;|]", v.get("tags", ""))
                    if t.strip()
                }
            )
        ),
    }


def _fullness(fields: Mapping[str, str]) -> tuple[int, tuple[str, ...]]:
    # More filled fields first; then the text itself, so the choice never depends on order.
    return (-sum(1 for x in fields.values() if x), tuple(fields.values()))


@dataclass(slots=True)
class _Entry:
    email: str
    fields: dict[str, dict[str, str]]  # member -> chosen row fields
    listed_by: list[str]


def validate_file(
    listing: ListFile, report: ListReport, member: Member | None, *, check_dns: bool = False
) -> dict[str, dict[str, str]]:
    """The valid people of one file by address; invalid rows and warnings go to the report."""
    people: dict[str, dict[str, str]] = {}
    report.encoding = listing.encoding
    report.delimiter = listing.delimiter
    for row in listing.rows:
        report.rows += 1
        raw = row.values.get("email", "")
        try:
            email = normalise_address(raw, check_dns=check_dns)
        except AddressError as exc:
            report.invalid.append(RowProblem(listing.path, row.line, clean_text(raw), str(exc)))
            continue
        report.valid += 1
        local = email.split("@", 1)[0]
        if local in ROLE_LOCALPARTS:
            report.warnings.append(
                RowProblem(
                    listing.path, row.line, email, "role address: kept, but no person reads it"
                )
            )
        fields = _person_fields(row, member)
        if email in people:
            report.duplicates_in_file += 1
            if _fullness(fields) >= _fullness(people[email]):
                continue
        people[email] = fields
    return people


def merge(
    network: Network,
    *,
    suppressed: Callable[[str], bool] | None = None,
    check_dns: bool = False,
) -> Merge:
    """Read every member's lists and merge them; unreadable files raise ListError."""
    entries: dict[str, _Entry] = {}
    reports: list[ListReport] = []
    file_people: list[tuple[ListReport, set[str]]] = []
    for member in network.members:
        for relative in member.lists:
            path = network.resolve(relative)
            listing = read_list(path, columns=member.columns.model_dump(), sheet=member.sheet)
            listing.path = Path(relative)
            report = ListReport(member=member.id, path=Path(relative))
            people = validate_file(listing, report, member, check_dns=check_dns)
            reports.append(report)
            file_people.append((report, set(people)))
            for email, fields in people.items():
                entry = entries.setdefault(email, _Entry(email, {}, []))
                if member.id not in entry.fields:
                    entry.listed_by.append(member.id)
                    entry.fields[member.id] = fields
                elif _fullness(fields) < _fullness(entry.fields[member.id]):
                    entry.fields[member.id] = fields

    members = {m.id: m for m in network.members}
    people_out: list[Person] = []
    conflicts: list[Conflict] = []
    suppressed_set: set[str] = set()
    for email in sorted(entries):
        entry = entries[email]
        if suppressed is not None and suppressed(email):
            suppressed_set.add(email)
            continue
        sender = choose_sender(email, entry.listed_by, members)
        people_out.append(_combine(entry, sender, conflicts, network.network.language))

    senders = {p.email: p.sender for p in people_out}
    for report, emails in file_people:
        for email in emails:
            if email in suppressed_set:
                report.suppressed += 1
            elif senders[email] == report.member:
                report.final += 1
            else:
                report.duplicates_of_others += 1
    return Merge(people=people_out, reports=reports, conflicts=conflicts)


def choose_sender(email: str, listed_by: Sequence[str], members: Mapping[str, Member]) -> str:
    """The listing member at whose domain the address is, else the first listing member."""
    domain = email.rsplit("@", 1)[1]
    for member_id in listed_by:
        for own in members[member_id].domains:
            if domain == own or domain.endswith("." + own):
                return member_id
    return listed_by[0]


def _combine(
    entry: _Entry, sender: str, conflicts: list[Conflict], default_language: str
) -> Person:
    chosen = dict(entry.fields[sender])
    for member_id in entry.listed_by:
        if member_id == sender:
            continue
        for key, value in entry.fields[member_id].items():
            if not value:
                continue
            if not chosen.get(key):
                chosen[key] = value
            elif chosen[key] != value and key in ("name", "language"):
                conflicts.append(Conflict(entry.email, key, chosen[key], value, sender, member_id))
    return Person(
        email=entry.email,
        name=chosen["name"],
        organisation=chosen["organisation"],
        title=chosen["title"],
        language=chosen["language"] or default_language,
        segment=chosen["segment"] or "public",
        tags=tuple(t for t in chosen["tags"].split(",") if t),
        listed_by=tuple(entry.listed_by),
        sender=sender,
    )


def check_files(paths: Iterable[Path], *, check_dns: bool = False) -> list[ListReport]:
    """Validate lists on their own, with no network.toml: what a member runs before sending."""
    reports = []
    for path in paths:
        listing = read_list(path)
        report = ListReport(member=None, path=path)
        people = validate_file(listing, report, None, check_dns=check_dns)
        report.final = len(people)
        reports.append(report)
    return reports
