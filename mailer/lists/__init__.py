"""Read one member's recipient list (CSV or Excel) into raw rows with their line numbers.

It does not judge addresses: that is :mod:`mailer.addresses` (and the merge,
:mod:`mailer.recipients`).

files     refusing what is not a list file; encoding, delimiter, CSV
xlsx      the rows of a workbook, .xlsx, .xls or .ods (loaded only for one)
cards     lists that are no table: vCard files and pasted To: lines
content   what the cells say: the address column, Name <address> cells
columns   the header row, and Swedish or English column names mapped onto the fields
messages  what is wrong with a file as a whole, and a report's words (the catalogue's)
"""

from __future__ import annotations

from mailer.lists.columns import (
    ALIASES,
    FIELDS,
    HEADER_SEARCH_ROWS,
    ListFile,
    RawRow,
    fold_header,
)
from mailer.lists.files import MAX_BYTES, read_list, sniff_delimiter
from mailer.lists.messages import (
    FIELD_NAMES,
    FORMATS,
    NOTES,
    PROBLEMS,
    Note,
    field_name,
    format_name,
    list_error,
    note_text,
)

__all__ = [
    "ALIASES",
    "FIELDS",
    "FIELD_NAMES",
    "FORMATS",
    "HEADER_SEARCH_ROWS",
    "MAX_BYTES",
    "NOTES",
    "PROBLEMS",
    "ListFile",
    "Note",
    "RawRow",
    "field_name",
    "fold_header",
    "format_name",
    "list_error",
    "note_text",
    "read_list",
    "sniff_delimiter",
]
