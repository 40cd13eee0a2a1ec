"""Read one member's recipient list (CSV or Excel) into raw rows with their line numbers.

It does not judge addresses: that is :mod:`mailer.addresses` (and the merge,
:mod:`mailer.recipients`).

files     refusing what is not a list file; encoding, delimiter, CSV
xlsx      the rows of an Excel workbook (loaded only for one)
columns   the header row, and Swedish or English column names mapped onto the fields
messages  what is wrong with a file as a whole, in English and Swedish
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
from mailer.lists.messages import MESSAGES, list_error

__all__ = [
    "ALIASES",
    "FIELDS",
    "HEADER_SEARCH_ROWS",
    "MAX_BYTES",
    "MESSAGES",
    "ListFile",
    "RawRow",
    "fold_header",
    "list_error",
    "read_list",
    "sniff_delimiter",
]
