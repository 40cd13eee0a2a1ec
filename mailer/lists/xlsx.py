"""Read the rows of a workbook (.xlsx, old .xls, .ods) with python-calamine, as strings.

calamine (Rust) reads a 7,700-row sheet about ten times faster than openpyxl's read-only
mode, whose per-cell Python work was a third of a 100,000-row merge (bench/merge.py).
Imported only when an Excel list is read, so that only Excel lists load it.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.i18n import _
from mailer.lists.messages import list_error

if TYPE_CHECKING:
    from python_calamine import CalamineWorkbook


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        # calamine gives a date-only cell as a date; the text stays what openpyxl gave
        # (a datetime at midnight), so a list reads the same as before.
        return f"{value.isoformat()}T00:00:00"
    return str(value)


def read_xlsx_rows(
    path: Path, data: bytes, *, sheet: str | None, kind: str = "xlsx"
) -> tuple[list[list[str]], int, str]:
    """All rows of the chosen sheet as text, the sheet row number of the first, the sheet.

    A merged range reads as its top-left value in every cell it covers (a member who
    merged "Karlstads kommun" down a column means it for every row). A cell holding an
    Excel error (#N/A, #REF!) reads as empty.
    """
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # a damaged file: zip, XML or calamine errors
        code = "xls" if kind == "xls" else "xlsx_bad"
        raise list_error(code, path, why=exc.__class__.__name__) from None
    with book:
        name = _choose_sheet(path, book, sheet)
        try:
            ws = book.get_sheet_by_name(name)
            # From A1, not from the first filled cell: line numbers are the sheet's rows.
            values = ws.to_python(skip_empty_area=False)
            merged = ws.merged_cell_ranges or []
        except Exception as exc:
            raise list_error("xlsx_bad", path, why=f"{exc.__class__.__name__}, {name!r}") from None
    text = _cell_text
    rows = [[v if type(v) is str else text(v) for v in row] for row in values]
    for (min_row, min_col), (max_row, max_col) in merged:
        _fill(rows, min_row, min_col, max_row, max_col)
    return rows, 1, name


def _fill(rows: list[list[str]], min_row: int, min_col: int, max_row: int, max_col: int) -> None:
    """Give every cell of a merged range (0-based, inclusive) its top-left value."""
    if min_row >= len(rows) or min_row > max_row or min_col > max_col:
        return
    top_row = rows[min_row]
    top = top_row[min_col] if min_col < len(top_row) else ""
    for r in range(min_row, min(max_row, len(rows) - 1) + 1):
        row = rows[r]
        if len(row) <= max_col:
            row.extend([""] * (max_col + 1 - len(row)))
        row[min_col : max_col + 1] = [top] * (max_col + 1 - min_col)


def _choose_sheet(path: Path, book: CalamineWorkbook, sheet: str | None) -> str:
    """The name of the sheet to read: the first worksheet, or the one named (any case)."""
    from python_calamine import SheetTypeEnum

    kinds = {m.name: m.typ for m in book.sheets_metadata}
    if sheet is None:
        for name in book.sheet_names:
            if kinds.get(name, SheetTypeEnum.WorkSheet) == SheetTypeEnum.WorkSheet:
                return name
        raise list_error("xlsx_bad", path, why=_("no worksheet"))
    for name in book.sheet_names:
        if name.strip().casefold() == sheet.strip().casefold():
            if kinds.get(name) == SheetTypeEnum.ChartSheet:
                raise list_error("chart", path, title=name)
            return name
    raise list_error("no_sheet", path, sheet=sheet, sheets=", ".join(book.sheet_names))
