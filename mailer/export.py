"""Write the merged list as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from mailer.recipients import Person

COLUMNS = (
    "email",
    "name",
    "organisation",
    "title",
    "language",
    "segment",
    "tags",
    "sender",
    "listed_by",
)


def spreadsheet_safe(value: str) -> str:
    """Prefix cells a spreadsheet would run as a formula (= + - @, tab, CR) with a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_merged_csv(people: Iterable[Person], path: Path) -> int:
    """Write one row per person (UTF-8 with BOM, so Excel reads å ä ö); return the count."""
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for p in people:
            writer.writerow(
                [
                    spreadsheet_safe(v)
                    for v in (
                        p.email,
                        p.name,
                        p.organisation,
                        p.title,
                        p.language,
                        p.segment,
                        ",".join(p.tags),
                        p.sender,
                        ",".join(p.listed_by),
                    )
                ]
            )
            count += 1
    return count
