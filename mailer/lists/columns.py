"""Which column holds what: the header row found and mapped onto the mailer's fields.

Members name their columns in Swedish or English, with or without hyphens and accents;
the header is the first row that names an address column (title rows above it are
skipped), and only the columns the mailer uses are kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from mailer.errors import ListError
from mailer.lists.content import address_column, first_of_several, split_display_names
from mailer.lists.messages import Note, list_error

HEADER_SEARCH_ROWS = 20  # title rows above the header that are skipped

FIELDS = (
    "email",
    "name",
    "first_name",
    "last_name",
    "organisation",
    "title",
    "language",
    "segment",
    "tags",
)

# Header aliases, compared after folding case and dropping everything but letters and
# digits ("E-postadress " -> "epostadress"). docs/guide.md prints this table.
#
# Each field's aliases are in order of preference: when a file has two columns for one
# field (Outlook's "Title" the honorific and "Job Title"; "E-mail Address" and "E-mail 2
# Address"), the earlier alias is used and the other reported as an alternative. So a
# job title comes before an honorific, a work address before a plain one, a plain one
# before a second, third or private one. Two columns of the same name stay ambiguous.
ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "arbetsepost",
        "epostarbete",
        "workemail",
        "businessemail",
        "email",
        "emailaddress",
        "emailadress",
        "epost",
        "epostadress",
        "mejl",
        "mejladress",
        "mail",
        "mailadress",
        "emejl",
        "epostadr",
        "email1value",
        "mottagare",
        "recipient",
        "email2address",
        "epostadress2",
        "email2value",
        "email3address",
        "epostadress3",
        "email3value",
        "privatepost",
        "epostprivat",
        "privateemail",
        "personalemail",
        "homeemail",
    ),
    "name": (
        "namn",
        "name",
        "fullname",
        "fulltnamn",
        "fullstandigtnamn",
        "kontaktperson",
        "displayname",
        "visningsnamn",
    ),
    "first_name": ("fornamn", "firstname", "givenname", "tilltalsnamn"),
    "last_name": ("efternamn", "lastname", "surname", "familyname"),
    "organisation": (
        "organisation",
        "organization",
        "org",
        "myndighet",
        "foretag",
        "company",
        "forvaltning",
        "arbetsgivare",
        "employer",
        "bolag",
        "organizationname",
        "organization1name",
    ),
    "title": (
        "befattning",
        "jobtitle",
        "yrkestitel",
        "organizationtitle",
        "organization1title",
        "position",
        "roll",
        "role",
        "tjanst",
        "titel",
        "title",
    ),
    "language": ("sprak", "language", "lang", "spraak"),
    "segment": ("segment", "malgrupp", "audience", "kategori", "category"),
    "tags": ("taggar", "tags", "tag", "etiketter", "etikett"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
# Fields that name a person as surely as an address, when a caller's ``extra_fields`` has
# them: a form export with only the code its registration link carried is read, each
# row's address empty.
IDENTIFIERS = ("token",)
# Lower is preferred; aliases given by a caller (``extra_fields``) rank after ours.
_RANK = {alias: rank for aliases in ALIASES.values() for rank, alias in enumerate(aliases)}


def fold_header(header: str) -> str:
    """'E-postadress ' -> 'epostadress'; 'Förnamn' -> 'fornamn'."""
    decomposed = unicodedata.normalize("NFKD", header.casefold())
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())


class RawRow(NamedTuple):
    """One data row: its line, its cells as read, and where the mailer's fields are.

    What :attr:`ListFile.rows` gives, for the readers that go row by row (registrations,
    the opt-out import, person export); the merge walks :class:`ListFile`'s lists itself.
    """

    line: int
    cells: Sequence[str]
    positions: Mapping[str, int]  # field -> index in cells

    @property
    def values(self) -> dict[str, str]:
        """The fields found, keyed by the mailer's field names."""
        cells = self.cells
        return {name: cells[i] for name, i in self.positions.items()}


@dataclass(slots=True)
class ListFile:
    """What was read from one file, and how.

    The data rows are two parallel lists, each row's line and its cells, which the merge
    walks with ``zip``; :attr:`rows` gives them as :class:`RawRow` objects.
    """

    path: Path
    encoding: str = "utf-8"
    format: str = "csv"  # a key of messages.FORMATS: csv, xlsx, xls, ods, vcard, addresses
    delimiter: str | None = None
    sheet: str | None = None
    header_line: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # field -> header as written
    positions: dict[str, int] = field(default_factory=dict)  # field -> column index
    lines: list[int] = field(default_factory=list)
    cells: list[Sequence[str]] = field(default_factory=list)
    # How the columns were chosen, for the report: (code in messages.NOTES, its values).
    notes: list[Note] = field(default_factory=list)
    # Other e-mail columns, preferred first: a row whose own is empty takes one of them.
    fallbacks: list[int] = field(default_factory=list)
    # Google's (value, label) column pairs: per row, a "Work" address beats a "Home" one.
    labelled: list[tuple[int, int]] = field(default_factory=list)

    @property
    def rows(self) -> list[RawRow]:
        """The data rows, each with its line and cells."""
        positions = self.positions
        pairs = zip(self.lines, self.cells, strict=True)
        return [RawRow(line, cells, positions) for line, cells in pairs]


def map_rows(
    result: ListFile,
    rows: Iterator[tuple[int, list[str]]],
    columns: Mapping[str, str | None] | None,
    extra_fields: Mapping[str, tuple[str, ...]] | None = None,
) -> ListFile:
    """Find the header in ``rows``, then keep each data row's cells of the mailer's fields."""
    path = result.path
    aliases = _ALIAS_TO_FIELD
    if extra_fields:
        aliases = {a: name for name, names in extra_fields.items() for a in names} | aliases
    header_line, header, index, rows = _find_header(result, rows, columns, aliases)
    result.header_line = header_line
    result.columns = {name: header[i].strip() or _column_name(i) for name, i in index.items()}
    width = max(index.values()) + 1
    at = index["email"]
    used = tuple(index.values())
    count = len(used)
    if used == tuple(range(count)):
        pick = None  # our columns come first, in order: keep the reader's list
        result.positions = index
    else:
        # Keep only our columns: a wide export's other cells would stay in memory too.
        pick = itemgetter(*used) if count > 1 else lambda row: (row[at],)
        result.positions = {name: n for n, name in enumerate(index)}
    add_line, add_cells = result.lines.append, result.cells.append
    strip = str.strip
    if result.fallbacks:
        rows = _with_fallbacks(result, rows, at)
    for line, row in rows:
        if len(row) < width:
            if not any(map(strip, row)):
                continue
            row = row + [""] * (width - len(row))
        # An address makes the row worth keeping; else any other field of ours that is filled.
        if not (row[at].strip() or any(row[i].strip() for i in used)):
            continue
        add_line(line)
        if pick is not None:
            add_cells(pick(row))
        elif len(row) > count:
            add_cells(row[:count])
        else:
            add_cells(row)
    if not result.lines:
        raise list_error("header_only", path, line=header_line)
    first_of_several(result)
    split_display_names(result)
    return result


_LETTER = re.compile(r"[A-Za-z]{1,2}")  # a spreadsheet's column letter: A ... ZZ


def _find_header(
    result: ListFile,
    rows: Iterator[tuple[int, list[str]]],
    columns: Mapping[str, str | None] | None,
    aliases: Mapping[str, str],
) -> tuple[int, list[str], dict[str, int], Iterator[tuple[int, list[str]]]]:
    """The header's line, cells and field -> column index, and the data rows after it.

    The header is the first row that names an address column; title rows above it (a
    heading, a date, an empty row) are skipped. When no row names one, the column whose
    cells are mostly addresses is used (see :func:`_by_content`); else ListError.
    """
    path = result.path
    seen: list[tuple[int, list[str]]] = []
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        seen.append((line, row))
        index = _header_index(result, line, row, columns, strict=False, aliases=aliases)
        if index is not None:
            return line, row, index, rows
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    if not seen:
        raise list_error("no_rows", path)
    line, row = seen[0]
    lettered = _by_letter(result, seen, (columns or {}).get("email"))
    if lettered is not None:
        return 0, lettered[0], lettered[1], chain(seen, rows)
    if not (columns or {}).get("email"):
        found = _by_content(result, seen, aliases)
        if found is not None:
            line, cells, index, data = found
            return line, cells, index, chain(data, rows)
    _header_index(result, line, row, columns, strict=True, aliases=aliases)  # raises
    raise AssertionError("unreachable")


def _by_letter(
    result: ListFile, seen: list[tuple[int, list[str]]], wanted: str | None
) -> tuple[list[str], dict[str, int]] | None:
    """A file with no header row whose address column ``columns.email`` names by its
    letter ('C', as a spreadsheet shows it): the empty header and the index, else None.
    A header cell with that very text was looked for first, and wins."""
    if not wanted or not _LETTER.fullmatch(wanted.strip()):
        return None
    at = 0
    for char in wanted.strip().upper():
        at = at * 26 + ord(char) - 64
    at -= 1
    first = seen[0][1]
    if not (at < len(first) and "@" in first[at]):
        return None  # a header row, or that column holds no address in the first row
    result.notes.append(("by_letter", {"column": _column_name(at)}))
    header = [""] * max(at + 1, *(len(row) for _, row in seen))
    return header, {"email": at}


def _by_content(
    result: ListFile, seen: list[tuple[int, list[str]]], aliases: Mapping[str, str]
) -> tuple[int, list[str], dict[str, int], list[tuple[int, list[str]]]] | None:
    """The address column found by its cells, when no header names it, else None.

    For a file with no header row (its first row holds addresses), a column whose header
    is empty, and one headed in words the alias table does not know ("Primär e-post"):
    a member cannot easily change an export's headers, so the file is read, and the report
    says which column was chosen, why, and how ``columns.email`` chooses another.
    """
    found = address_column([row for _, row in seen])
    if found is None:
        return None
    at, share = found
    first_line, first = seen[0]
    headerless = at < len(first) and "@" in first[at]
    named = "" if headerless or at >= len(first) else first[at].strip()
    header = [""] * max(len(row) for _, row in seen) if headerless else list(first)
    header += [""] * (at + 1 - len(header))
    index = {"email": at}
    if not headerless:
        for i, key in enumerate(map(fold_header, header)):
            name = aliases.get(key)
            if name is not None and name not in index:
                index[name] = i
    column, why = _column_name(at), str(share)
    if named:
        result.notes.append(("by_content_named", {"column": column, "header": named, "share": why}))
    else:
        result.notes.append(("by_content", {"column": column, "share": why}))
    if headerless:
        return 0, header, index, seen
    return first_line, header, index, seen[1:]


def _header_index(
    result: ListFile,
    line: int,
    header: list[str],
    columns: Mapping[str, str | None] | None,
    *,
    strict: bool,
    aliases: Mapping[str, str] = _ALIAS_TO_FIELD,
) -> dict[str, int] | None:
    """Field -> column index for a header row; None (or ListError when strict) if unusable."""
    path = result.path
    folded = [fold_header(h) for h in header]
    index: dict[str, int] = {}
    explicit: dict[str, str] = {k: v for k, v in (columns or {}).items() if v}
    if "email" in explicit:
        has_email = fold_header(explicit["email"]) in folded
    else:
        has_email = any(aliases.get(k) == "email" for k in folded)
    identified = not explicit.get("email") and any(aliases.get(k) in IDENTIFIERS for k in folded)
    if not (has_email or identified) and not strict:
        return None
    for name, wanted in explicit.items():
        key = fold_header(wanted)
        if key not in folded:
            raise list_error(
                "mapped_missing", path, line=line, wanted=wanted, name=name, found=_found(header)
            )
        index[name] = folded.index(key)
    others: dict[str, list[int]] = {}  # field -> the columns not used for it
    for i, key in enumerate(folded):
        alias = aliases.get(key)
        if alias is None or alias in explicit:
            continue
        name = alias
        if name in index:
            first = index[name]
            if folded[first] == key:  # two columns of the same name: no way to choose
                raise _two_columns(path, line, name, header, first, i)
            if _RANK.get(key, 99) < _RANK.get(folded[first], 99):
                index[name], i = i, first
            others.setdefault(name, []).append(i)
            continue
        index[name] = i
    if "email" not in index and identified:
        header.append("")  # a column the file lacks: every row's address is empty
        index["email"] = len(header) - 1
    if "email" not in index:
        raise list_error("no_email", path, line=line, found=_found(header))
    if "email" in others:
        email = others["email"]
        result.fallbacks = sorted(email, key=lambda i: (_RANK.get(folded[i], 99), i))
        result.labelled = _labelled(folded, [index["email"], *result.fallbacks])
    for name, skipped in others.items():
        used = header[index[name]].strip()
        for i in skipped:
            values = {"field": name, "used": used, "other": header[i].strip()}
            result.notes.append(("alternative", values))
    return index


def _labelled(folded: list[str], emails: list[int]) -> list[tuple[int, int]]:
    """Google's "E-mail 1 - Value" columns with their "E-mail 1 - Label" (or "- Type")."""
    at = {key: i for i, key in enumerate(folded)}
    pairs = []
    for i in emails:
        number = re.fullmatch(r"email(\d+)value", folded[i])
        if number is not None:
            label = at.get(f"email{number[1]}label", at.get(f"email{number[1]}type"))
            if label is not None:
                pairs.append((i, label))
    return pairs if len(pairs) > 1 else []


_WORK = re.compile(r"work|arbete|jobb|business", re.IGNORECASE)
_PRIVATE = re.compile(r"home|hem|privat|private|personal", re.IGNORECASE)


def _label_rank(label: str) -> int:
    return 0 if _WORK.search(label) else 2 if _PRIVATE.search(label) else 1


def _with_fallbacks(
    result: ListFile, rows: Iterator[tuple[int, list[str]]], at: int
) -> Iterator[tuple[int, list[str]]]:
    """Rows whose e-mail cell is empty take the first filled one of the other e-mail
    columns (Outlook's "E-mail 2 Address"): the person is on the list all the same."""
    fallbacks, labelled = result.fallbacks, result.labelled
    used = by_label = 0
    width = max(i for pair in labelled for i in pair) + 1 if labelled else 0
    for line, row in rows:
        if labelled and len(row) >= width:
            filled = [(_label_rank(row[j]), row[i]) for i, j in labelled if row[i].strip()]
            best = min(filled, key=itemgetter(0), default=None)
            if best is not None and best[1] != row[at]:
                row = list(row)
                row[at] = best[1]
                by_label += 1
                yield line, row
                continue
        if at < len(row) and not row[at].strip():
            other = next((row[i] for i in fallbacks if i < len(row) and row[i].strip()), None)
            if other is not None:
                row = list(row)
                row[at] = other
                used += 1
        yield line, row
    if by_label:
        result.notes.append(("by_label", {"count": str(by_label)}))
    if used:
        column = result.columns["email"]
        result.notes.append(("fallback", {"count": str(used), "column": column}))


def _two_columns(
    path: Path, line: int, name: str, header: list[str], first: int, second: int
) -> ListError:
    return list_error(
        "two_columns",
        path,
        line=line,
        name=name,
        a=header[first].strip(),
        ca=_column_name(first),
        b=header[second].strip(),
        cb=_column_name(second),
    )


def _column_name(index: int) -> str:
    """0 -> 'A', 27 -> 'AB': how a spreadsheet names the column."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _found(header: list[str]) -> str:
    names = [h.strip() for h in header if h.strip()]
    shown = ", ".join(repr(re.sub(r"\s+", " ", h))[:40] for h in names[:12])
    return shown or "none"
