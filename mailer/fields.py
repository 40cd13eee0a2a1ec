"""The free-text fields of a list row: one clean line each, languages and segments read.

Members write "Svenska", "engelska" or "EN"; names hold line breaks from a CRM; titles
repeat down a list. This module turns a file's cells into each row's :data:`Fields`,
cleaning each distinct value once, and says which values held control characters. It
also makes any text from a file safe to show on a terminal (:func:`shown`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter

from mailer.addresses import CONTROL_CHARACTERS
from mailer.config import Member

LANGUAGES = {
    "sv": "sv",
    "svenska": "sv",
    "swedish": "sv",
    "se": "sv",
    "en": "en",
    "engelska": "en",
    "english": "en",
    "eng": "en",
}
SEGMENTS = {
    "public": "public",
    "offentlig": "public",
    "offentlig sektor": "public",
    "management": "management",
    "ledning": "management",
    "chef": "management",
    "business": "business",
    "företag": "business",
    "smf": "business",
    "sme": "business",
    "small firm": "business",
}


# The fields a person carries from a row, in this order (a tuple per row: a list has up
# to ~100,000 rows and a tuple is the cheapest object to make and compare).
PERSON_FIELDS = ("name", "organisation", "title", "language", "segment", "tags")
_NAME, _LANGUAGE = PERSON_FIELDS.index("name"), PERSON_FIELDS.index("language")
Fields = tuple[str, str, str, str, str, str]


def clean_text(value: str, *, limit: int = 200) -> str:
    """A one-line, printable, NFC version of a free-text field (names, organisations)."""
    if value.isprintable() and unicodedata.is_normalized("NFC", value):
        # The common case, at C speed: no control characters, no line breaks.
        return (" ".join(value.split()) if "  " in value else value.strip())[:limit]
    value = unicodedata.normalize("NFC", value)
    value = CONTROL_CHARACTERS.sub(" ", value)
    return " ".join(value.split())[:limit]


def shown(value: object) -> str:
    """``str(value)`` safe for a terminal: each control character written as its escape.

    A file name or a cell from a list can hold ESC, BEL or NUL; printed raw, they move the
    cursor, recolour the screen or hide the rest of a report line. Escaped (``\\x1b``),
    the reader still sees that they are there.
    """
    text = str(value)
    if text.isprintable():
        return text
    return CONTROL_CHARACTERS.sub(lambda m: repr(m.group())[1:-1], text)


def _clean_field(raw: str) -> tuple[str, bool]:
    """A free-text field as one clean line, and whether it held control characters."""
    if raw.isprintable():
        if raw.isascii():
            return (" ".join(raw.split()) if "  " in raw else raw.strip())[:200], False
        return clean_text(raw), False
    return clean_text(raw), CONTROL_CHARACTERS.search(raw) is not None


class _Cleaned(dict[str, str]):
    """Raw value -> its clean form, each distinct value cleaned once (``__missing__``)."""

    __slots__ = ("clean",)

    def __init__(self, clean: Callable[[str], str]) -> None:
        super().__init__()
        self.clean = clean

    def __missing__(self, raw: str) -> str:
        value = self[raw] = self.clean(raw)
        return value


class FieldReader:
    """Turns one file's rows into :data:`Fields`, with the member's defaults.

    A file is read a column at a time: organisations, titles, languages and first names
    repeat down a list, and each distinct value is cleaned once, then looked up in C
    (``map`` over a dict); ``zip`` makes each row's tuple.
    """

    __slots__ = (
        "dirty",
        "first_name",
        "language",
        "languages",
        "last_name",
        "name",
        "organisation",
        "organisations",
        "segment",
        "segments",
        "tag_lists",
        "tags",
        "text",
        "title",
    )

    def __init__(self, positions: Mapping[str, int], member: Member | None) -> None:
        # Where each field is in a row's cells, or None when the file has no such column.
        get = positions.get
        self.name = get("name")
        self.first_name = get("first_name")
        self.last_name = get("last_name")
        self.organisation = get("organisation")
        self.title = get("title")
        self.language = get("language")
        self.segment = get("segment")
        self.tags = get("tags")
        organisation = member.name if member else ""
        language = (member.default_language if member else None) or ""
        segment = member.default_segment if member else "public"
        # The cleaning functions close over these locals, not over self: a reader that its
        # own caches pointed back at would be a reference cycle, left for the collector.
        dirty: set[str] = set()  # values that held control characters

        def clean(raw: str) -> str:
            text, had_control = _clean_field(raw)
            if had_control:
                dirty.add(raw)
            return text

        self.dirty = dirty
        self.text = _Cleaned(clean)
        self.organisations = _Cleaned(lambda raw: clean(raw) or organisation)
        self.languages = _Cleaned(lambda raw: LANGUAGES.get(raw.strip().casefold(), "") or language)
        self.segments = _Cleaned(lambda raw: SEGMENTS.get(raw.strip().casefold(), "") or segment)
        self.tag_lists = _Cleaned(_tag_list)

    def fields(self, rows: Sequence[Sequence[str]]) -> list[Fields]:
        """Every row's fields (see :meth:`cleaned` for what had to be cleaned)."""
        count = len(rows)

        def column(at: int | None, values: _Cleaned) -> Iterable[str]:
            if at is None:
                return repeat(values[""], count)
            return map(values.__getitem__, map(itemgetter(at), rows))

        names = column(self.name, self.text)
        if self.first_name is not None or self.last_name is not None:
            names = [
                name or (f"{first} {last}" if first and last else first or last)
                for name, first, last in zip(
                    names,
                    column(self.first_name, self.text),
                    column(self.last_name, self.text),
                    strict=True,
                )
            ]
        return list(
            zip(
                names,
                column(self.organisation, self.organisations),
                column(self.title, self.text),
                column(self.language, self.languages),
                column(self.segment, self.segments),
                column(self.tags, self.tag_lists),
                strict=True,
            )
        )

    def cleaned(self, cells: Sequence[str]) -> list[str]:
        """The fields of a row, read by :meth:`fields`, that held control characters."""
        keys = ["name"]
        if self.name is None or not self.text[cells[self.name]]:
            keys += ["first_name", "last_name"]
        keys += ["organisation", "title"]
        return [
            key
            for key in keys
            if (at := getattr(self, key)) is not None and cells[at] in self.dirty
        ]


def _tag_list(raw: str) -> str:
    """Tags as one sorted, comma-separated, case-folded string."""
    tags = {clean_text(t).casefold() for t in re.split(r"[,;|]", raw) if t.strip()}
    return ",".join(sorted(tags))
