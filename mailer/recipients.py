"""Validate the members' lists and merge them into one list of people, each with one sender.

The rules, in one place:

* An address is validated and normalised by :mod:`mailer.addresses`; the key for
  de-duplication is the normalised address, lower-cased.
* A person listed by several members keeps them all (``listed_by``, in network order).
* The sending member is the listing member whose own domain the address is at, else the
  first listing member in network order. So a person hears from their own organisation.
* When lists disagree on a field, the sending member's row wins; within one file, the
  fullest row wins, ties broken by its text, so the order of rows never matters.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from mailer.addresses import (
    COMMON_DOMAINS,
    ROLE_LOCALPARTS,
    AddressError,
    likely_typo,
    normaliser,
    say,
)
from mailer.config import Member, Network
from mailer.fields import PERSON_FIELDS, FieldReader, Fields, clean_text, shown
from mailer.i18n import _, current_language, speaking
from mailer.lists import ListFile, Note, field_name, format_name, note_text, read_list


class Person(NamedTuple):
    """One merged recipient.

    A named tuple, not a frozen dataclass: just as immutable, and a big merge makes
    80,000 of them, where a frozen dataclass's ``__init__`` cost seven times as much.
    """

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
    """One row's problem: ``code`` keys :data:`mailer.addresses.REASONS`; ``args`` fill
    its blanks (:data:`mailer.addresses.BLANKS`)."""

    path: Path
    line: int
    value: str
    code: str
    detail: str = ""
    args: tuple[str, ...] = ()

    def reason(self, language: str | None = None) -> str:
        """Why, in the current language (or ``language``); a field named in it, too."""
        with speaking(language or current_language()):
            if self.code == "cleaned":
                return say(self.code, *(field_name(arg) for arg in self.args))
            return say(self.code, *self.args)

    def text(self, language: str | None = None) -> str:
        # The file name as the terminal may show it; the value is already a repr.
        return f"{shown(self.path)}:{self.line}: {self.value!r}: {self.reason(language)}"

    def __str__(self) -> str:
        return self.text()

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "value": self.value,
            "code": self.code,
            "reason": self.reason(),
            "detail": self.detail,
        }


@dataclass(slots=True)
class ListReport:
    """What happened to one file's rows."""

    member: str | None
    path: Path
    encoding: str = ""
    delimiter: str | None = None
    sheet: str | None = None
    header_line: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    format: str = ""  # a key of mailer.lists.FORMATS
    notes: list[Note] = field(default_factory=list)  # how the columns were chosen
    rows: int = 0
    valid: int = 0
    invalid: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    duplicates_in_file: int = 0
    duplicates_of_others: int = 0
    suppressed: int = 0
    final: int = 0  # people this file's member sends to

    def as_dict(self) -> dict[str, object]:
        """The report for --json; its texts in the current language."""
        return {
            "member": self.member,
            "path": str(self.path),
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "header_line": self.header_line,
            "columns": self.columns,
            "format": self.format,
            "format_name": format_name(self.format) if self.format else "",
            "notes": [note_text(note) for note in self.notes],
            "rows": self.rows,
            "valid": self.valid,
            "invalid": len(self.invalid),
            "duplicates_in_file": self.duplicates_in_file,
            "duplicates_of_others": self.duplicates_of_others,
            "suppressed": self.suppressed,
            "final": self.final,
            "invalid_rows": [p.as_dict() for p in self.invalid],
            "warnings": [p.as_dict() for p in self.warnings],
        }


@dataclass(slots=True)
class Conflict:
    """Two members' lists disagree on a field; the sending member's value was kept."""

    email: str
    field: str
    kept: str
    dropped: str
    kept_from: str
    dropped_from: str

    def text(self, name: Callable[[str], str] = str) -> str:
        """The conflict in the current language; ``name`` turns a member's id into the
        name the tables use (``Network.member_label``)."""
        return _(
            "{email}: {field} {kept!r} (from {kept_from}, the sender) kept over {dropped!r} "
            "(from {dropped_from})"
        ).format(
            email=self.email,
            field=field_name(self.field),
            kept=self.kept,
            kept_from=name(self.kept_from),
            dropped=self.dropped,
            dropped_from=name(self.dropped_from),
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "email": self.email,
            "field": self.field,
            "kept": self.kept,
            "kept_from": self.kept_from,
            "dropped": self.dropped,
            "dropped_from": self.dropped_from,
        }


@dataclass(slots=True)
class Merge:
    people: list[Person]
    reports: list[ListReport]
    conflicts: list[Conflict]
    suppressed: int = 0  # distinct people left out because they are on the opt-out list

    def by_member(self) -> dict[str, list[Person]]:
        out: dict[str, list[Person]] = {}
        for p in self.people:
            out.setdefault(p.sender, []).append(p)
        return out


_NAME, _LANGUAGE = PERSON_FIELDS.index("name"), PERSON_FIELDS.index("language")


def _fullness(fields: Fields) -> tuple[int, Fields]:
    # More filled fields first; then the text itself, so the choice never depends on order.
    return (fields.count("") - len(fields), fields)


def validate_file(
    listing: ListFile,
    report: ListReport,
    member: Member | None,
    *,
    check_dns: bool = False,
    known_domains: tuple[str, ...] = COMMON_DOMAINS,
) -> dict[str, dict[str, str]]:
    """The valid people of one file by address; invalid rows and warnings go to the report."""
    people = _validate(listing, report, member, check_dns, known_domains)
    return {email: dict(zip(PERSON_FIELDS, f, strict=True)) for email, f in people.items()}


def _validate(
    listing: ListFile,
    report: ListReport,
    member: Member | None,
    check_dns: bool,
    known_domains: tuple[str, ...],
) -> dict[str, Fields]:
    """:func:`validate_file` with each person's fields as a tuple, for the merge."""
    people: dict[str, Fields] = {}
    report.encoding = listing.encoding
    report.delimiter = listing.delimiter
    report.sheet = listing.sheet
    report.header_line = listing.header_line
    report.columns = dict(listing.columns)
    report.format = listing.format
    report.notes = list(listing.notes)
    path = report.path
    typos: dict[str, str | None] = {}  # per domain; most lists have a handful of domains
    role = ROLE_LOCALPARTS
    normalise = normaliser(check_dns=check_dns, remember=False)
    reader = FieldReader(listing.positions, member)
    rows = listing.cells
    every_fields = reader.fields(rows)
    warnings = report.warnings
    at = listing.positions["email"]
    for line, cells, fields in zip(listing.lines, rows, every_fields, strict=True):
        raw = cells[at]
        try:
            email = normalise(raw)
        except AddressError as exc:
            report.invalid.append(RowProblem(path, line, clean_text(raw), exc.code, exc.detail))
            continue
        local, _, domain = email.partition("@")
        if local in role:
            warnings.append(RowProblem(path, line, email, "role"))
        if domain in typos:
            typo = typos[domain]
        else:
            typo = typos[domain] = likely_typo(domain, known_domains)
        if typo:
            warnings.append(RowProblem(path, line, email, "typo", args=(typo,)))
        if reader.dirty:  # rare: some value in the file held control characters
            for key in reader.cleaned(cells):
                warnings.append(RowProblem(path, line, email, "cleaned", args=(key,)))
        previous = people.get(email)
        if previous is not None:
            report.duplicates_in_file += 1
            if _fullness(fields) >= _fullness(previous):
                continue
        people[email] = fields
    report.rows = len(listing.lines)
    report.valid = report.rows - len(report.invalid)
    return people


def merge(
    network: Network,
    *,
    suppressed: Callable[[str], bool] | None = None,
    check_dns: bool = False,
) -> Merge:
    """Read every member's lists and merge them; unreadable files raise ListError.

    ``suppressed`` says whether a normalised address is on the opt-out list; such people
    are left out whoever lists them.
    """
    with _gc_paused():
        return _merge(network, suppressed, check_dns)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a merge builds its objects.

    A merge makes about ten container objects per row and no reference cycles; the
    collector would scan the growing heap over and over, a third of the time of a
    100,000-row merge (bench/merge.py). Reference counting still frees everything.

    The people it returns live as long as the run: they go straight to the oldest
    generation, or the first collection afterwards would walk all 80,000 of them at once.
    Freeze-then-unfreeze moves every object the collector tracks there, not only the
    merge's; for the rest that only means being looked at in the next full collection.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if not gc.get_freeze_count():  # never undo a freeze the program made itself
                gc.freeze()
                gc.unfreeze()
            gc.enable()


# The files read, in network order: each one's report and its valid people by address.
_Files = list[tuple[ListReport, dict[str, Fields]]]


def _merge(network: Network, suppressed: Callable[[str], bool] | None, check_dns: bool) -> Merge:
    files, repeated = _read_files(network, check_dns)
    several = _rows_by_member(files, repeated)
    members = {m.id: m for m in network.members}
    people_out: list[Person] = []
    conflicts: list[Conflict] = []
    # Who sends to an address that is not simply its one listing member's: another
    # member, or nobody (None: suppressed).
    outcome: dict[str, str | None] = {}
    owners: dict[str, list[str]] = {}  # domain -> members it belongs to, looked up once
    language = network.network.language
    for report, people in files:
        member_id = report.member or ""
        listed_by = (member_id,)
        for email, fields in people.items():
            if email in repeated:
                continue
            if suppressed is not None and suppressed(email):
                outcome[email] = None
                continue
            people_out.append(_person(email, fields, listed_by, member_id, language))
    for email, by_member in several.items():
        if suppressed is not None and suppressed(email):
            outcome[email] = None
            continue
        if len(by_member) == 1:  # in several files of one member
            ((member_id, fields),) = by_member.items()
            people_out.append(_person(email, fields, (member_id,), member_id, language))
            continue
        domain = email.rpartition("@")[2]
        own = owners.get(domain)
        if own is None:
            own = owners[domain] = domain_owners(domain, members)
        sender = next((m for m in by_member if m in own), next(iter(by_member)))
        outcome[email] = sender
        people_out.append(_combine(email, by_member, sender, conflicts, language))

    people_out.sort(key=_by_email)
    conflicts.sort(key=_by_email)  # stable: one person's conflicts stay in field order
    _count_outcomes(files, outcome)
    return Merge(
        people=people_out,
        reports=[report for report, _ in files],
        conflicts=conflicts,
        suppressed=sum(1 for sender in outcome.values() if sender is None),
    )


def _read_files(network: Network, check_dns: bool) -> tuple[_Files, set[str]]:
    """Every member's files, validated; and the addresses found in more than one file."""
    files: _Files = []
    known = tuple(
        dict.fromkeys([*(d for m in network.members for d in m.domains), *COMMON_DOMAINS])
    )
    # Who is in more than one file, found with set operations (in C): most people are in
    # one file, and they then need no lookup of their own.
    seen: set[str] = set()
    repeated: set[str] = set()
    for member in network.members:
        for relative in member.lists:
            path = network.resolve(relative)
            listing = read_list(path, columns=member.columns.model_dump(), sheet=member.sheet)
            report = ListReport(member=member.id, path=Path(relative))
            people = _validate(listing, report, member, check_dns, known)
            del listing  # the rows are no longer needed: keep the peak low
            files.append((report, people))
            repeated.update(seen.intersection(people))
            seen.update(people)
    return files, repeated


def _rows_by_member(files: _Files, repeated: set[str]) -> dict[str, dict[str, Fields]]:
    """Address -> {member: its row}, in network order, for the people in several files.

    Where a member's own files repeat someone, its fullest row is kept.
    """
    several: dict[str, dict[str, Fields]] = {}
    for report, people in files:
        member_id = report.member or ""
        for email in repeated.intersection(people):
            fields = people[email]
            by_member = several.setdefault(email, {})
            kept = by_member.get(member_id)
            if kept is None or _fullness(fields) < _fullness(kept):
                by_member[member_id] = fields
    return several


def _count_outcomes(files: _Files, outcome: Mapping[str, str | None]) -> None:
    """Each file's final count: its people are its member's, but for the few in ``outcome``."""
    for report, people in files:
        its_member = report.member
        report.final = len(people)
        for email in outcome.keys() & people.keys():
            sender_of = outcome[email]
            if sender_of is None:
                report.suppressed += 1
                report.final -= 1
            elif sender_of != its_member:
                report.duplicates_of_others += 1
                report.final -= 1


_by_email = attrgetter("email")


def domain_owners(domain: str, members: Mapping[str, Member]) -> list[str]:
    """The members whose own domains include this domain (or a parent of it)."""
    return [
        member_id
        for member_id, member in members.items()
        if any(domain == own or domain.endswith("." + own) for own in member.domains)
    ]


def _combine(
    email: str,
    by_member: dict[str, Fields],
    sender: str,
    conflicts: list[Conflict],
    default_language: str,
) -> Person:
    """One person from every member's row: the sender's wins, the others fill its gaps."""
    chosen = list(by_member[sender])
    for member_id, fields in by_member.items():
        if member_id == sender:
            continue
        for i, value in enumerate(fields):
            if not value:
                continue
            if not chosen[i]:
                chosen[i] = value
            elif chosen[i] != value and i in (_NAME, _LANGUAGE):
                conflicts.append(
                    Conflict(email, PERSON_FIELDS[i], chosen[i], value, sender, member_id)
                )
    name, organisation, title, language, segment, tags = chosen
    merged = (name, organisation, title, language, segment, tags)
    return _person(email, merged, tuple(by_member), sender, default_language)


def _person(
    email: str, fields: Fields, listed_by: tuple[str, ...], sender: str, default_language: str
) -> Person:
    name, organisation, title, language, segment, tags = fields
    # Positional: 80,000 of these in a big merge, and keywords cost a third more.
    return Person(
        email,
        name,
        organisation,
        title,
        language or default_language,
        segment or "public",
        tuple(tags.split(",")) if tags else (),
        listed_by,
        sender,
    )


def check_files(
    paths: Iterable[Path], *, check_dns: bool = False, sheet: str | None = None
) -> list[ListReport]:
    """Validate lists on their own, with no network.toml: what a member runs before sending."""
    reports = []
    for path in paths:
        listing = read_list(path, sheet=sheet)
        report = ListReport(member=None, path=path)
        people = validate_file(listing, report, None, check_dns=check_dns)
        report.final = len(people)
        reports.append(report)
    return reports
