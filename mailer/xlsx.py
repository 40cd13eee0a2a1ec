"""Read the rows of an Excel workbook (.xlsx) with openpyxl, as strings.

Kept apart from :mod:`mailer.lists` because openpyxl is slow to import and most lists
are CSV.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

from mailer.errors import ListError

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def read_xlsx_rows(path: Path, data: bytes, *, sheet: str | None) -> tuple[list[list[str]], int]:
    """All rows of the chosen sheet as text, and the line number of the first one."""
    if data.startswith(_OLE_MAGIC):
        raise ListError(
            "this Excel file is password-protected or in the old .xls format",
            path=path,
            hint="remove the password, or save it as .xlsx or CSV",
        )
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ListError(
            f"not a readable .xlsx file ({exc.__class__.__name__})",
            path=path,
            hint="open it in Excel and save it again as .xlsx or CSV",
        ) from None
    try:
        if sheet is not None:
            if sheet not in book.sheetnames:
                raise ListError(
                    f"no sheet named {sheet!r}",
                    path=path,
                    hint=f"sheets: {', '.join(book.sheetnames)}",
                )
            ws = book[sheet]
        else:
            ws = book.worksheets[0]
        rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        book.close()
    return rows, 1
