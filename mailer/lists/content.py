"""What the cells of a list say when its header does not: address columns, display names.

A column pasted from a mail program holds ``Anna Svensson <anna@x.example>``; a list
without a header row starts with an address. Both are read from the cells themselves,
with the standard library's address parser (:func:`email.utils.parseaddr`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.utils import parseaddr
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailer.lists.columns import ListFile

# Something@something.tld, possibly inside <...>: enough to tell an address column from
# a name or phone column; the addresses themselves are judged later (mailer.addresses).
_ADDRESS = re.compile(r"[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+")
GOOGLE_SEPARATOR = ":::"
MOSTLY = 0.5  # share of a column's filled cells that must look like addresses


def address_column(rows: Sequence[Sequence[str]]) -> tuple[int, int] | None:
    """The column whose filled cells are mostly addresses, and their share in percent.

    The first row may be a header, so it only counts for a column where it holds an
    address too. Among several such columns, the one with most addresses (then the
    leftmost) is chosen.
    """
    width = max((len(row) for row in rows), default=0)
    best: tuple[int, int, int] | None = None  # (addresses, -column, share)
    for at in range(width):
        cells = [row[at].strip() for row in rows if at < len(row) and row[at].strip()]
        if cells and not _ADDRESS.search(cells[0]):
            cells = cells[1:]  # a header cell above the addresses
        if not cells:
            continue
        hits = sum(1 for cell in cells if _ADDRESS.search(cell))
        share = hits * 100 // len(cells)
        if hits and share >= MOSTLY * 100 and (best is None or (hits, -at) > best[:2]):
            best = (hits, -at, share)
    return None if best is None else (-best[1], best[2])


def split_display_names(result: ListFile) -> None:
    """Cells like ``Namn <adress>``: the address is the <...> part; the name fills the name.

    The name is used only when the file has no name column of its own. "Eriksson,
    Fredrik" (as Outlook writes a To: line) becomes "Fredrik Eriksson".
    """
    positions = result.positions
    at = positions["email"]
    cells = result.cells
    if "<" not in "\n".join([row[at] for row in cells]):  # at C speed: the common case
        return
    has_name = any(key in positions for key in ("name", "first_name", "last_name"))
    name_at = len(positions)
    changed: list[Sequence[str]] = []
    for row in cells:
        raw = row[at]
        name, address = parseaddr(raw) if "<" in raw else ("", raw)
        new = list(row)
        new[at] = address or raw  # unparseable: kept, so the row is reported as invalid
        if not has_name:
            new.append(person_name(name))
        changed.append(new)
    result.cells = changed
    if not has_name:
        positions["name"] = name_at
        result.columns["name"] = result.columns["email"]
    result.notes.append(("display_names", {"column": result.columns["email"]}))


def first_of_several(result: ListFile) -> None:
    """Google Contacts puts two addresses of one kind in one cell, "a@x ::: b@y": the
    first is used, the others noted as alternatives (the row stays one person)."""
    at = result.positions["email"]
    cells = result.cells
    if GOOGLE_SEPARATOR not in "\n".join([row[at] for row in cells]):
        return
    changed: list[Sequence[str]] = []
    several = 0
    for row in cells:
        raw = row[at]
        if GOOGLE_SEPARATOR in raw:
            several += 1
            row = list(row)
            row[at] = raw.split(GOOGLE_SEPARATOR, 1)[0].strip()
        changed.append(row)
    result.cells = changed
    result.notes.append(("several_in_cell", {"count": str(several)}))


def person_name(display: str) -> str:
    """A display name as a person's name: "Eriksson, Fredrik" -> "Fredrik Eriksson"."""
    display = " ".join(display.split())
    if display.count(",") == 1:
        last, first = (part.strip() for part in display.split(","))
        if last and first:
            return f"{first} {last}"
    return display
