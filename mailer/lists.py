"""Read one member's recipient list (CSV or Excel) into raw rows with their line numbers.

Members forward whatever their systems export, so this module detects the encoding
(UTF-8 with or without BOM, else Windows-1252) and the delimiter, and maps Swedish or
English column names onto the fields the mailer knows. It does not judge addresses:
that is :mod:`mailer.recipients`.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailer.errors import ListError

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
ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
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
    ),
    "title": (
        "titel",
        "title",
        "roll",
        "role",
        "befattning",
        "position",
        "jobtitle",
        "yrkestitel",
        "tjanst",
    ),
    "language": ("sprak", "language", "lang", "spraak"),
    "segment": ("segment", "malgrupp", "audience", "kategori", "category"),
    "tags": ("taggar", "tags", "tag", "etiketter", "etikett"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


def fold_header(header: str) -> str:
    """'E-postadress ' -> 'epostadress'; 'Förnamn' -> 'fornamn'."""
    decomposed = unicodedata.normalize("NFKD", header.casefold())
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row: the fields found, keyed by the mailer's field names."""

    line: int
    values: Mapping[str, str]


@dataclass(slots=True)
class ListFile:
    """What was read from one file, and how."""

    path: Path
    rows: list[RawRow] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # field -> header as written


def read_list(
    path: Path,
    *,
    columns: Mapping[str, str | None] | None = None,
    sheet: str | None = None,
) -> ListFile:
    """Read a .csv/.txt or .xlsx list; raise ListError when the file as a whole is unusable."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ListError(
            "old Excel format (.xls) is not supported",
            path=path,
            hint="open it in Excel and save it as .xlsx or CSV (UTF-8)",
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ListError("no such file", path=path, hint="check the path in network.toml") from None
    except OSError as exc:
        raise ListError(f"cannot read the file: {exc.strerror}", path=path) from None
    if not data.strip():
        raise ListError("the file is empty", path=path, hint="export the list again")
    if suffix in (".xlsx", ".xlsm") or data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0":
        from mailer.xlsx import read_xlsx_rows  # openpyxl is slow to import: only when needed

        table, start_line = read_xlsx_rows(path, data, sheet=sheet)
        result = ListFile(path=path, encoding="xlsx")
        return _map_rows(result, iter(table), start_line, columns)
    return _read_csv(path, data, columns)


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    if b"\x00" in data[:4096]:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return data.decode("utf-16"), "utf-16"
        raise ListError(
            "this is not a text file (it looks binary)",
            path=path,
            hint="export the list as CSV or .xlsx",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Excel on a Swedish Windows machine writes Windows-1252; Latin-1 decodes anything.
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _sniff_delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    sample = text[:16384]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in ",;\t"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _read_csv(path: Path, data: bytes, columns: Mapping[str, str | None] | None) -> ListFile:
    text, encoding = _decode(path, data)
    if _looks_binary(text):
        raise ListError(
            "this is not a text file (it looks binary)",
            path=path,
            hint="export the list as CSV or .xlsx",
        )
    delimiter = _sniff_delimiter(text)
    result = ListFile(path=path, encoding=encoding, delimiter=delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def numbered() -> Iterator[tuple[int, list[str]]]:
        try:
            for row in reader:
                # reader.line_num is the line where the row *ended*: fine for one-line rows,
                # and a row with an embedded newline is reported at its last line.
                yield reader.line_num, row
        except csv.Error as exc:
            raise ListError(f"broken CSV: {exc}", path=path, line=reader.line_num) from None

    return _map_numbered(result, numbered(), columns)


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    bad = sum(1 for c in sample if unicodedata.category(c) == "Cc" and c not in "\r\n\t")
    return bad > max(8, len(sample) // 50)


def _map_rows(
    result: ListFile,
    table: Iterator[list[str]],
    start_line: int,
    columns: Mapping[str, str | None] | None,
) -> ListFile:
    return _map_numbered(result, ((start_line + i, row) for i, row in enumerate(table)), columns)


def _map_numbered(
    result: ListFile,
    rows: Iterator[tuple[int, list[str]]],
    columns: Mapping[str, str | None] | None,
) -> ListFile:
    path = result.path
    first = next(((n, row) for n, row in rows if any(cell.strip() for cell in row)), None)
    if first is None:
        raise ListError("the file has no rows", path=path, hint="export the list again")
    header_line, header = first
    index = _header_index(path, header_line, header, columns)
    result.columns = {name: header[i].strip() for name, i in index.items()}
    width = len(header)
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            row = row + [""] * (width - len(row))
        result.rows.append(RawRow(line=line, values={f: row[i] for f, i in index.items()}))
    return result


def _header_index(
    path: Path, line: int, header: list[str], columns: Mapping[str, str | None] | None
) -> dict[str, int]:
    folded = [fold_header(h) for h in header]
    index: dict[str, int] = {}
    explicit: dict[str, str] = {k: v for k, v in (columns or {}).items() if v}
    for name, wanted in explicit.items():
        key = fold_header(wanted)
        if key not in folded:
            raise ListError(
                f"the column {wanted!r} set for {name} in network.toml is not in the file",
                path=path,
                line=line,
                hint=f"columns found: {_found(header)}",
            )
        index[name] = folded.index(key)
    for i, key in enumerate(folded):
        alias = _ALIAS_TO_FIELD.get(key)
        if alias is None or alias in explicit:
            continue
        name = alias
        if name in index:
            raise ListError(
                f"two columns mean {name}: {header[index[name]].strip()!r} and "
                f"{header[i].strip()!r}",
                path=path,
                line=line,
                hint="remove or rename one of them",
            )
        index[name] = i
    if "email" not in index:
        raise ListError(
            "no e-mail column",
            path=path,
            line=line,
            hint=f"columns found: {_found(header)}; accepted names: e-post, e-postadress, "
            "epost, mejl, mail, email, e-mail (or set columns.email for the member in "
            "network.toml)",
        )
    return index


def _found(header: list[str]) -> str:
    names = [h.strip() for h in header if h.strip()]
    shown = ", ".join(repr(re.sub(r"\s+", " ", h))[:40] for h in names[:12])
    return shown or "none"
