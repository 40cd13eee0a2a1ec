"""Read the rows of an Excel workbook (.xlsx) with openpyxl, as strings.

Kept apart from :mod:`mailer.lists` because openpyxl is slow to import and most lists
are CSV.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from pathlib import Path
from typing import Any

from mailer.errors import ListError


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

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores: nothing for us.
            warnings.simplefilter("ignore")
            # Not read-only: read-only mode does not expose merged cells.
            book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:  # a damaged file raises anything from zipfile to lxml
        raise ListError(
            f"not a readable .xlsx file ({exc.__class__.__name__})",
            path=path,
            hint="open it in Excel and save it again as .xlsx or CSV",
        ) from None
    try:
        ws = _choose_sheet(path, book, sheet)
        if not hasattr(ws, "iter_rows"):
            raise ListError(f"the sheet {ws.title!r} is a chart, not a table", path=path)
        first_row, first_col = ws.min_row, ws.min_column
        rows = [
            [_cell_text(v) for v in row]
            for row in ws.iter_rows(min_row=first_row, min_col=first_col, values_only=True)
        ]
        for merged in ws.merged_cells.ranges:
            top = rows[merged.min_row - first_row][merged.min_col - first_col]
            for r in range(merged.min_row, merged.max_row + 1):
                for c in range(merged.min_col, merged.max_col + 1):
                    rows[r - first_row][c - first_col] = top
        return rows, first_row, ws.title
    finally:
        book.close()


def _choose_sheet(path: Path, book: Any, sheet: str | None) -> Any:
    if sheet is None:
        return book.worksheets[0]
    for name in book.sheetnames:
        if name.strip().casefold() == sheet.strip().casefold():
            return book[name]
    raise ListError(
        f"no sheet named {sheet!r}",
        path=path,
        hint=f"sheets: {', '.join(book.sheetnames)}",
    )
