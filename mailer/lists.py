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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

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
    delimiter: str | None = None
    sheet: str | None = None
    header_line: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # field -> header as written
    positions: dict[str, int] = field(default_factory=dict)  # field -> column index
    lines: list[int] = field(default_factory=list)
    cells: list[Sequence[str]] = field(default_factory=list)

    @property
    def rows(self) -> list[RawRow]:
        """The data rows, each with its line and cells."""
        positions = self.positions
        pairs = zip(self.lines, self.cells, strict=True)
        return [RawRow(line, cells, positions) for line, cells in pairs]


# Whole-file problems: (English, Swedish) message and hint; {names} are filled in.
_ACCEPTED = "e-post, e-postadress, epost, mejl, mail, email, e-mail"
MESSAGES: dict[str, tuple[tuple[str, str | None], tuple[str, str | None]]] = {
    "too_big": (
        (
            "the file is {mb} MB; lists up to {max} MB are read",
            "export only the people to invite, and only the columns the mailer uses",
        ),
        (
            "filen är {mb} MB; listor på upp till {max} MB läses",
            "exportera bara de personer som ska bjudas in, och bara kolumnerna som behövs",
        ),
    ),
    "missing": (("no such file", "check the path"), ("filen finns inte", "kontrollera sökvägen")),
    "folder": (("this is a folder, not a file", None), ("det här är en mapp, inte en fil", None)),
    "unreadable": (("cannot read the file: {why}", None), ("filen kan inte läsas: {why}", None)),
    "empty": (
        ("the file is empty", "export the list again"),
        ("filen är tom", "exportera listan igen"),
    ),
    "password": (
        (
            "this Excel file is password-protected",
            "open it in Excel, remove the password (File > Info > Protect Workbook) and "
            "save it again",
        ),
        (
            "Excel-filen är lösenordsskyddad",
            "öppna den i Excel, ta bort lösenordet (Arkiv > Information > Skydda "
            "arbetsbok) och spara igen",
        ),
    ),
    "xls": (
        (
            "old Excel format (.xls) is not supported",
            "open it in Excel and save it as .xlsx or CSV (UTF-8)",
        ),
        (
            "det gamla Excel-formatet (.xls) stöds inte",
            "öppna filen i Excel och spara den som .xlsx eller CSV (UTF-8)",
        ),
    ),
    "magic": (
        ("this is {what}, not a list", "export the list as CSV or .xlsx"),
        ("det här är {what_sv}, inte en lista", "exportera listan som CSV eller .xlsx"),
    ),
    "binary": (
        ("this is not a text file (it looks binary)", "export the list as CSV or .xlsx"),
        ("det här är ingen textfil (den ser binär ut)", "exportera listan som CSV eller .xlsx"),
    ),
    "unclosed_quote": (
        (
            "broken CSV: a quoted field that starts here is never closed",
            'check the quotes (") on this line',
        ),
        (
            "trasig CSV: ett fält inom citattecken som börjar här avslutas aldrig",
            'kontrollera citattecknen (") på raden',
        ),
    ),
    "broken_csv": (("broken CSV: {why}", None), ("trasig CSV: {why}", None)),
    "no_rows": (
        ("the file has no rows", "export the list again"),
        ("filen har inga rader", "exportera listan igen"),
    ),
    "header_only": (
        ("only a header row, no people", "export the list again, with its rows"),
        ("bara en rubrikrad, inga personer", "exportera listan igen, med raderna"),
    ),
    "mapped_missing": (
        (
            "the column {wanted!r} set for {name} in network.toml is not in the file",
            "columns found: {found}",
        ),
        (
            "kolumnen {wanted!r} som anges för {name} i network.toml finns inte i filen",
            "kolumner i filen: {found}",
        ),
    ),
    "two_columns": (
        (
            "two columns mean {name}: {a!r} (column {ca}) and {b!r} (column {cb})",
            "remove or rename one of them",
        ),
        (
            "två kolumner betyder {name}: {a!r} (kolumn {ca}) och {b!r} (kolumn {cb})",
            "ta bort eller byt namn på en av dem",
        ),
    ),
    "no_email": (
        (
            "no e-mail column",
            "columns found: {found}; accepted names: " + _ACCEPTED + " (or set "
            "columns.email for the member in network.toml)",
        ),
        (
            "ingen e-postkolumn",
            "kolumner i filen: {found}; godtagna namn: " + _ACCEPTED + " (eller ange "
            "columns.email för medlemmen i network.toml)",
        ),
    ),
    "xlsx_bad": (
        ("not a readable .xlsx file ({why})", "open it in Excel and save it again as .xlsx or CSV"),
        (
            "ingen läsbar .xlsx-fil ({why})",
            "öppna den i Excel och spara den igen som .xlsx eller CSV",
        ),
    ),
    "chart": (
        ("the sheet {title!r} is a chart, not a table", None),
        ("fliken {title!r} är ett diagram, inte en tabell", None),
    ),
    "no_sheet": (
        ("no sheet named {sheet!r}", "sheets: {sheets}"),
        ("det finns ingen flik som heter {sheet!r}", "flikar: {sheets}"),
    ),
}


def list_error(code: str, path: Path, *, line: int | None = None, **values: object) -> ListError:
    """A ListError in English that also carries its Swedish wording."""
    (en, en_hint), (sv, sv_hint) = MESSAGES[code]
    return ListError(
        en.format(**values),
        path=path,
        line=line,
        hint=en_hint.format(**values) if en_hint else None,
        translations={"sv": (sv.format(**values), sv_hint.format(**values) if sv_hint else None)},
    )


# Far beyond any member's list (100,000 people is ~10 MB): a bigger file is almost
# certainly a whole HR or CRM export that should be filtered first.
MAX_BYTES = 25 * 1024 * 1024
HEADER_SEARCH_ROWS = 20  # title rows above the header that are skipped

_MAGIC = (
    (b"\x89PNG", "a PNG image", "en PNG-bild"),
    (b"\xff\xd8\xff", "a JPEG image", "en JPEG-bild"),
    (b"GIF8", "a GIF image", "en GIF-bild"),
    (b"%PDF", "a PDF document", "ett PDF-dokument"),
    (b"\x1f\x8b", "a gzip archive", "ett gzip-arkiv"),
    (b"{\\rtf", "an RTF document", "ett RTF-dokument"),
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")


def read_list(
    path: Path,
    *,
    columns: Mapping[str, str | None] | None = None,
    sheet: str | None = None,
    extra_fields: Mapping[str, tuple[str, ...]] | None = None,
) -> ListFile:
    """Read a .csv/.txt or .xlsx list; raise ListError when the file as a whole is unusable.

    ``extra_fields`` maps more field names to their header aliases (folded, as in
    ALIASES), for files that are not recipient lists, such as a form tool's export.
    """
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise list_error(
                "too_big", path, mb=f"{size / 1024 / 1024:.0f}", max=MAX_BYTES // 1024 // 1024
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise list_error("missing", path) from None
    except IsADirectoryError:
        raise list_error("folder", path) from None
    except OSError as exc:
        raise list_error("unreadable", path, why=exc.strerror) from None
    if not data.strip():
        raise list_error("empty", path)
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED in data:
            raise list_error("password", path)
        raise list_error("xls", path)
    if path.suffix.lower() == ".xls":
        raise list_error("xls", path)
    for magic, what, what_sv in _MAGIC:
        if data.startswith(magic):
            raise list_error("magic", path, what=what, what_sv=what_sv)
    if data.startswith(b"PK\x03\x04") or path.suffix.lower() in (".xlsx", ".xlsm"):
        from mailer.xlsx import read_xlsx_rows  # openpyxl is slow to import: only when needed

        table, start_line, sheet_name = read_xlsx_rows(path, data, sheet=sheet)
        result = ListFile(path=path, encoding="xlsx", sheet=sheet_name)
        numbered = ((start_line + i, row) for i, row in enumerate(table))
        return _map_numbered(result, numbered, columns, extra_fields)
    return _read_csv(path, data, columns, extra_fields)


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:4096]:
        raise list_error("binary", path)
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass  # a BOM before Windows-1252 text: seen from tools that add one blindly
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Excel on a Swedish Windows machine writes Windows-1252; Latin-1 decodes anything.
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most rows of one width (> 1)."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (0, 0, 0)
    for preference, delimiter in enumerate((",", "\t", ";")):
        widths: dict[int, int] = {}
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
            for n, row in enumerate(reader):
                if n >= 50:
                    break
                if any(cell.strip() for cell in row):
                    widths[len(row)] = widths.get(len(row), 0) + 1
        except csv.Error:
            continue
        if not widths:
            continue
        width = max(widths, key=lambda w: (widths[w], w))
        if width < 2:
            continue  # splits nothing: a one-column list reads the same with any of them
        score = (widths[width], width, preference)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_csv(
    path: Path,
    data: bytes,
    columns: Mapping[str, str | None] | None,
    extra_fields: Mapping[str, tuple[str, ...]] | None = None,
) -> ListFile:
    text, encoding = _decode(path, data)
    if _looks_binary(text):
        raise list_error("binary", path)
    delimiter = sniff_delimiter(text)
    result = ListFile(path=path, encoding=encoding, delimiter=delimiter)
    stream = io.StringIO(text, newline="")
    # strict: an unterminated quote must be an error, not a name that eats the rest.
    reader = csv.reader(stream, delimiter=delimiter, strict=True)

    def numbered() -> Iterator[tuple[int, list[str]]]:
        line = 1
        try:
            for row in reader:
                # A row is reported at the line where it starts, even when a quoted
                # field inside it holds line breaks.
                yield line, row
                line = reader.line_num + 1
        except csv.Error as exc:
            if "end of data" in str(exc):
                raise list_error("unclosed_quote", path, line=line) from None
            raise list_error("broken_csv", path, line=reader.line_num or line, why=exc) from None

    if '"' in text:
        return _map_numbered(result, numbered(), columns, extra_fields)
    # No quotes, so no field holds a line break: row n is line n, numbered at C speed.
    try:
        return _map_numbered(result, enumerate(reader, 1), columns, extra_fields)
    except csv.Error as exc:
        raise list_error("broken_csv", path, line=reader.line_num, why=exc) from None


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    bad = sum(1 for c in sample if unicodedata.category(c) == "Cc" and c not in "\r\n\t")
    return bad > max(8, len(sample) // 50)


def _map_numbered(
    result: ListFile,
    rows: Iterator[tuple[int, list[str]]],
    columns: Mapping[str, str | None] | None,
    extra_fields: Mapping[str, tuple[str, ...]] | None = None,
) -> ListFile:
    path = result.path
    aliases = _ALIAS_TO_FIELD
    if extra_fields:
        aliases = {a: name for name, names in extra_fields.items() for a in names} | aliases
    # The header is the first row that names an address column; title rows above it (a
    # heading, a date, an empty row) are skipped.
    seen: list[tuple[int, list[str]]] = []
    found: tuple[int, list[str], dict[str, int]] | None = None
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        seen.append((line, row))
        index = _header_index(path, line, row, columns, strict=False, aliases=aliases)
        if index is not None:
            found = (line, row, index)
            break
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    if not seen:
        raise list_error("no_rows", path)
    if found is None:
        line, row = seen[0]
        _header_index(path, line, row, columns, strict=True, aliases=aliases)  # raises
        raise AssertionError("unreachable")
    header_line, header, index = found
    result.header_line = header_line
    result.columns = {name: header[i].strip() for name, i in index.items()}
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
    return result


def _header_index(
    path: Path,
    line: int,
    header: list[str],
    columns: Mapping[str, str | None] | None,
    *,
    strict: bool,
    aliases: Mapping[str, str] = _ALIAS_TO_FIELD,
) -> dict[str, int] | None:
    """Field -> column index for a header row; None (or ListError when strict) if unusable."""
    folded = [fold_header(h) for h in header]
    index: dict[str, int] = {}
    explicit: dict[str, str] = {k: v for k, v in (columns or {}).items() if v}
    if "email" in explicit:
        has_email = fold_header(explicit["email"]) in folded
    else:
        has_email = any(aliases.get(k) == "email" for k in folded)
    if not has_email and not strict:
        return None
    for name, wanted in explicit.items():
        key = fold_header(wanted)
        if key not in folded:
            raise list_error(
                "mapped_missing", path, line=line, wanted=wanted, name=name, found=_found(header)
            )
        index[name] = folded.index(key)
    for i, key in enumerate(folded):
        alias = aliases.get(key)
        if alias is None or alias in explicit:
            continue
        name = alias
        if name in index:
            first = index[name]
            raise list_error(
                "two_columns",
                path,
                line=line,
                name=name,
                a=header[first].strip(),
                ca=_column_name(first),
                b=header[i].strip(),
                cb=_column_name(i),
            )
        index[name] = i
    if "email" not in index:
        raise list_error("no_email", path, line=line, found=_found(header))
    return index


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
