"""Reading a list file: refusing what is not one, finding its encoding and delimiter.

Members forward whatever their systems export, so the encoding is detected (UTF-8 with or
without BOM, else Windows-1252), and the delimiter too. A path must name a regular file
of at most :data:`MAX_BYTES`: a FIFO or a device would block a read or never end it.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path

from mailer.errors import ListError
from mailer.i18n import N_, _
from mailer.lists.columns import ListFile, map_rows
from mailer.lists.messages import list_error

# Far beyond any member's list (100,000 people is ~10 MB): a bigger file is almost
# certainly a whole HR or CRM export that should be filtered first.
MAX_BYTES = 25 * 1024 * 1024

_MAGIC = (
    (b"\x89PNG", N_("a PNG image")),
    (b"\xff\xd8\xff", N_("a JPEG image")),
    (b"GIF8", N_("a GIF image")),
    (b"%PDF", N_("a PDF document")),
    (b"\x1f\x8b", N_("a gzip archive")),
    (b"{\\rtf", N_("an RTF document")),
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
    data = read_file_bytes(path)
    if not data.strip():
        raise list_error("empty", path)
    if data.startswith(_OLE_MAGIC) and _ENCRYPTED in data:
        raise list_error("password", path)  # an encrypted .xlsx is an OLE file too
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise list_error("magic", path, what=_(what))
    kind = _workbook_kind(path, data)
    if kind is not None:
        from mailer.lists.xlsx import read_xlsx_rows  # calamine: only for Excel lists

        table, start_line, sheet_name = read_xlsx_rows(path, data, sheet=sheet, kind=kind)
        result = ListFile(path=path, encoding=kind, format=kind, sheet=sheet_name)
        numbered = ((start_line + i, row) for i, row in enumerate(table))
        return map_rows(result, numbered, columns, extra_fields)
    return _read_text(path, data, columns, extra_fields)


def _workbook_kind(path: Path, data: bytes) -> str | None:
    """ "xls", "ods" or "xlsx" for a workbook, by its first bytes (a name can lie); or None."""
    if data.startswith(_OLE_MAGIC):
        return "xls"
    if data.startswith(b"PK\x03\x04"):
        return "ods" if b"application/vnd.oasis.opendocument" in data[:200] else "xlsx"
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return "xlsx"  # not a zip: calamine says why in the one line
    return None


def _read_text(
    path: Path,
    data: bytes,
    columns: Mapping[str, str | None] | None,
    extra_fields: Mapping[str, tuple[str, ...]] | None,
) -> ListFile:
    """A text list: vCards, a pasted To: line, else CSV (by content, whatever the name)."""
    text, encoding = _decode(path, data)
    if _looks_binary(text):
        raise list_error("binary", path)
    from mailer.lists import cards

    if cards.is_vcard(text):
        return cards.read_vcards(path, text, encoding)
    skip = cards.pasted_addresses(text)
    if skip is not None:
        return cards.read_pasted_addresses(path, text, encoding, skip)
    return _read_csv(path, text, encoding, columns, extra_fields)


def read_file_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_BYTES`, else ListError.

    Checked before reading: a FIFO would block the read, a device such as /dev/zero would
    never end it. The file is opened without blocking and checked again on the open
    descriptor, so a path swapped for a FIFO between the two checks cannot hang the run.
    """
    try:
        _check_file(path, path.stat())
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise list_error("missing", path) from None
    except IsADirectoryError:
        raise list_error("folder", path) from None
    except OSError as exc:
        raise list_error("unreadable", path, why=os_reason(exc)) from None
    with open(fd, "rb") as file:
        try:
            _check_file(path, os.fstat(fd))
            data = file.read(MAX_BYTES + 1)
        except OSError as exc:
            raise list_error("unreadable", path, why=os_reason(exc)) from None
    if len(data) > MAX_BYTES:  # it grew since it was looked at
        raise _too_big(path, len(data))
    return data


# What a path can name besides a file, for the one line that refuses it.
_KINDS = (
    (stat.S_ISFIFO, N_("a named pipe (FIFO)")),
    (stat.S_ISCHR, N_("a device")),
    (stat.S_ISBLK, N_("a device")),
    (stat.S_ISSOCK, N_("a socket")),
)


def _check_file(path: Path, info: os.stat_result) -> None:
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise list_error("folder", path)
    if not stat.S_ISREG(mode):
        what = next((kind for test, kind in _KINDS if test(mode)), N_("not a file"))
        raise list_error("not_file", path, what=_(what))
    if info.st_size > MAX_BYTES:
        raise _too_big(path, info.st_size)


def os_reason(exc: OSError) -> str:
    """Why the system refused, in the reader's language for the usual reasons (the
    system's own words are English)."""
    if isinstance(exc, PermissionError):
        return _("permission denied")
    return exc.strerror or exc.__class__.__name__


def _too_big(path: Path, size: int) -> ListError:
    return list_error(
        "too_big", path, mb=f"{size / 1024 / 1024:.0f}", max=MAX_BYTES // 1024 // 1024
    )


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
    text: str,
    encoding: str,
    columns: Mapping[str, str | None] | None,
    extra_fields: Mapping[str, tuple[str, ...]] | None = None,
) -> ListFile:
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
            raise list_error(
                "broken_csv", path, line=reader.line_num or line, why=_csv_problem(exc)
            ) from None

    if '"' in text:
        return map_rows(result, numbered(), columns, extra_fields)
    # No quotes, so no field holds a line break: row n is line n, numbered at C speed.
    try:
        return map_rows(result, enumerate(reader, 1), columns, extra_fields)
    except csv.Error as exc:
        raise list_error("broken_csv", path, line=reader.line_num, why=_csv_problem(exc)) from None


# The csv module's reasons (English only) as the catalogue's, first match wins.
_CSV_PROBLEMS = (
    ("expected after '\"'", N_("a quote inside a field that is not quoted as a whole")),
    ("field larger than field limit", N_("field larger than the limit of {limit} characters")),
    ("line contains NUL", N_("a NUL character in the line")),
    ("new-line character seen", N_("a line break inside a field that is not quoted")),
)


def _csv_problem(exc: csv.Error) -> str:
    """What broke, in the reader's language; the csv module's own words when it is new."""
    said = str(exc)
    for needle, text in _CSV_PROBLEMS:
        if needle in said:
            return _(text).format(limit=csv.field_size_limit())
    return said


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    bad = sum(1 for c in sample if unicodedata.category(c) == "Cc" and c not in "\r\n\t")
    return bad > max(8, len(sample) // 50)
