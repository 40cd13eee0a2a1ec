"""Read the rows of an Excel workbook (.xlsx) with openpyxl, as strings.

Kept apart from :mod:`mailer.lists` because openpyxl is slow to import and most lists
are CSV.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

from mailer.lists import list_error


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def read_xlsx_rows(
    path: Path, data: bytes, *, sheet: str | None
) -> tuple[list[list[str]], int, str]:
    """All rows of the chosen sheet as text, the sheet row number of the first, the sheet.

    A merged range reads as its top-left value in every cell it covers (a member who
    merged "Karlstads kommun" down a column means it for every row).
    """
    import openpyxl
    from openpyxl.utils.cell import range_boundaries

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores: nothing for us.
            warnings.simplefilter("ignore")
            # Read-only mode streams the sheet: several times faster and leaner than the
            # full model, which a 10,000-row list would build cell object by cell object.
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a damaged file raises anything from zipfile to lxml
        raise list_error("xlsx_bad", path, why=exc.__class__.__name__) from None
    try:
        ws = _choose_sheet(path, book, sheet)
        if not hasattr(ws, "iter_rows"):
            raise list_error("chart", path, title=ws.title)
        try:
            rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        except Exception as exc:
            why = f"{exc.__class__.__name__}, {ws.title!r}"
            raise list_error("xlsx_bad", path, why=why) from None
        title = ws.title
        sheet_xml = getattr(ws, "_worksheet_path", None)
    finally:
        book.close()
    # Read-only mode does not report merged ranges: they are one element each at the end of
    # the sheet's XML.
    if sheet_xml:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            xml = archive.read(sheet_xml.lstrip("/"))
        for ref in _MERGED.findall(xml):
            try:
                min_col, min_row, max_col, max_row = range_boundaries(ref.decode("ascii"))
            except (ValueError, TypeError):
                continue
            _fill(rows, min_row, min_col, max_row, max_col)
    return rows, 1, title


_MERGED = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')


def _fill(rows: list[list[str]], min_row: int, min_col: int, max_row: int, max_col: int) -> None:
    """Give every cell of a merged range (1-based, inclusive) its top-left value."""
    if min_row > len(rows):
        return
    top_row = rows[min_row - 1]
    top = top_row[min_col - 1] if min_col <= len(top_row) else ""
    for r in range(min_row, min(max_row, len(rows)) + 1):
        row = rows[r - 1]
        if len(row) < max_col:
            row.extend([""] * (max_col - len(row)))
        for c in range(min_col, max_col + 1):
            row[c - 1] = top


def _choose_sheet(path: Path, book: Any, sheet: str | None) -> Any:
    if sheet is None:
        return book.worksheets[0]
    for name in book.sheetnames:
        if name.strip().casefold() == sheet.strip().casefold():
            return book[name]
    raise list_error("no_sheet", path, sheet=sheet, sheets=", ".join(book.sheetnames))
