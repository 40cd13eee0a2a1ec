"""Lists that are not tables: vCard files and pasted To: lines, read into rows.

A member's staff sends contacts exported as ``.vcf`` (vCard 2.1, 3.0 or 4.0, with
``CHARSET=`` and quoted-printable names), read with vobject; or pastes the To: line of
an old mail (``Anna Svensson <anna@x.example>; "Eriksson, Fredrik" <fr@x.example>``),
read with the standard library's address parser. Both become a :class:`ListFile` with
the same fields as a CSV list, each row numbered by the line where it starts.
"""

from __future__ import annotations

import functools
import io
import re
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from mailer.i18n import _
from mailer.lists.columns import ListFile
from mailer.lists.content import person_name
from mailer.lists.messages import list_error

if TYPE_CHECKING:
    from collections.abc import Iterator

_BEGIN = re.compile(r"^[ \t]*BEGIN[ \t]*:[ \t]*VCARD[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
# "To:", "Till:", "Cc:", "Kopia:" before a pasted line of addresses.
_PREFIX = re.compile(r"^\s*(?:to|till|cc|kopia|bcc|hemlig kopia|mottagare)\s*:\s*", re.I)
_ADDRESS = re.compile(r"[^\s@<>,;\"]+@[^\s@<>,;\"]+")
# The properties read from a card (group prefixes such as "item1." allowed).
_WANTED = re.compile(r"(?:[\w-]+\.)?(BEGIN|END|FN|N|EMAIL|ORG|TITLE)[;:]", re.IGNORECASE)
_VCARD = re.compile(r":\s*VCARD\s*$", re.IGNORECASE)
_SAMPLE_LINES = 50
MOSTLY_ADDRESSES = 0.8  # of a pasted line's entries; a CSV line "a@x.example;Anna" has 50%
# A heading over a pasted column: one or two words, no delimiter ("Mottagare", "To").
_HEADING = re.compile(r"\s*[^\W\d_][\w\- ]{0,40}\s*")


def is_vcard(text: str) -> bool:
    """Whether the text starts with a vCard (after blank lines)."""
    return _BEGIN.match(text.lstrip("\ufeff\r\n \t")) is not None


def read_vcards(path: Path, text: str, encoding: str) -> ListFile:
    """One row per card: e-mail, name, organisation, title. ListError when it is broken.

    vobject's own line reader unfolds and splits the lines and its ContentLine decodes
    quoted-printable and CHARSET=; only the properties the mailer uses are handed to it
    (a phone's export carries photos and addresses too). Building vobject's whole card
    objects took 0.9 s for 7,700 cards, most of the merge benchmark's 2 s.
    """
    from vobject.base import getLogicalLines

    starts = _card_lines(text)
    result = ListFile(path=path, encoding=encoding, format="vcard")
    result.columns = {"email": "EMAIL", "name": "FN", "organisation": "ORG", "title": "TITLE"}
    result.positions = {"email": 0, "name": 1, "organisation": 2, "title": 3}
    card: dict[str, list[Property]] | None = None
    several = 0
    try:
        for logical, number in getLogicalLines(io.StringIO(text)):
            wanted = _WANTED.match(logical)
            if wanted is None:
                continue
            key = wanted.group(1).upper()
            if key in ("BEGIN", "END"):
                if card is not None and key == "END" and _VCARD.search(logical):
                    emails = _emails(card.get("EMAIL", []))
                    several += len(emails) > 1
                    n = len(result.lines)
                    result.lines.append(starts[n] if n < len(starts) else number)
                    result.cells.append([emails[0] if emails else "", *_fields(card)])
                    card = None
                elif key == "BEGIN" and _VCARD.search(logical):
                    card = {}
                continue
            if card is not None:
                card.setdefault(key, []).append(_property(logical, number))
    except Exception as exc:  # vobject's ParseError; a bad charset or QP: ValueError
        n = len(result.lines)
        line_no = starts[n] if n < len(starts) else None
        raise list_error("vcard_bad", path, line=line_no, why=_why(exc)) from None
    if card is not None:
        raise list_error("vcard_bad", path, line=starts[-1], why=_("END:VCARD missing"))
    if not result.lines:
        raise list_error("no_rows", path)
    if several:
        result.notes.append(("vcard_emails", {"count": str(several)}))
    return result


def _card_lines(text: str) -> list[int]:
    """The line where each card begins (counted on from the previous one: linear)."""
    starts, line, at = [], 1, 0
    for match in _BEGIN.finditer(text):
        line += text.count("\n", at, match.start())
        at = match.start()
        starts.append(line)
    return starts


def _why(exc: Exception) -> str:
    return " ".join(str(exc).split())[:120] or exc.__class__.__name__


class Property(NamedTuple):
    """One property of a card: its parameters, folded ("type", "work"), and its value."""

    kinds: frozenset[str]
    value: str


def _property(logical: str, number: int) -> Property:
    """A property line read with vobject: split by parseLine; a quoted-printable one
    decoded by ContentLine (CHARSET= too), built only for those, for speed."""
    from vobject.base import ContentLine, parseLine

    parsed: tuple[Any, ...] = parseLine(logical, number)
    name, params, value, group = parsed
    kinds = frozenset(str(p).casefold() for param in params for p in param)
    if "quoted-printable" in kinds:
        # What vobject's textLineToContentLine does; its stubs type the params as a
        # dict, but ContentLine takes parseLine's list of lists.
        value = ContentLine(name, params, value, group, encoded=True).value
    return Property(kinds, value)


def _emails(lines: list[Property]) -> list[str]:
    """The card's addresses, the work or preferred one first, a home one last."""

    def rank(line: Property) -> int:
        if "pref" in line.kinds or "work" in line.kinds:
            return 0
        return 2 if "home" in line.kinds else 1

    ranked = sorted(lines, key=rank)  # stable: the card's order otherwise
    return [value for line in ranked if (value := _text(line.value))]


def _fields(card: dict[str, list[Property]]) -> list[str]:
    """Name (FN, else N's given and family name), organisation (ORG's first), title."""
    name = next((t for line in card.get("FN", []) if (t := _text(line.value))), "")
    if not name and card.get("N"):
        parts = [*_split(card["N"][0].value), "", ""]  # family;given;additional;...
        name = " ".join(p for p in (_joined(parts[1]), _joined(parts[0])) if p)
    org = _joined(_split(card["ORG"][0].value)[0]) if card.get("ORG") else ""
    title = next((t for line in card.get("TITLE", []) if (t := _text(line.value))), "")
    return [name, org, title]


@functools.lru_cache(maxsize=4096)  # organisations repeat down a list
def _split(value: str) -> list[str | list[str]]:
    """A structured value (N, ORG) split at its semicolons, by vobject."""
    from vobject.vcard import splitFields

    return list(splitFields(value)) or [""]


def _text(value: str) -> str:
    """A text value with vCard's backslash escapes undone.

    vobject's own text decoding keeps only what comes before the first unescaped comma;
    exports write "Chef, stor" unescaped, so the value is taken whole (NUL: no separator).
    """
    from vobject.icalendar import stringToTextValues

    if "\\" not in value:
        return value.strip()
    return "".join(stringToTextValues(value, listSeparator="\x00")).strip()


def _joined(value: str | list[str]) -> str:
    """A field of a structured value: a list (given names, say) joined by spaces."""
    return " ".join(value).strip() if isinstance(value, list) else value.strip()


def pasted_addresses(text: str) -> int | None:
    """The line after a heading, if the text is a To: line (every entry an address, some
    with <...>) or a pasted column of ``Name <address>`` under a heading ("Mottagare");
    else None.

    A CSV line such as ``anna@x.example;Anna`` has an entry that is no address, and a
    bare column of addresses reads the same as a one-column list, so neither counts.
    """
    sample = text.lstrip("\ufeff").splitlines()[:_SAMPLE_LINES]
    first = next((n for n, line in enumerate(sample) if line.strip()), None)
    if first is None:
        return None
    heading = _PREFIX.match(sample[first]) is None and "@" not in sample[first]
    if heading and not _HEADING.fullmatch(sample[first]):
        return None
    lines = sample[first + 1 :] if heading else sample[first:]
    if not any("<" in line or ";" in line for line in lines):
        return None
    entries = [entry for _, entry in _entries(lines)]
    addresses = sum(1 for _, address in entries if _ADDRESS.fullmatch(address))
    # Mostly addresses: a few broken ones are the member's to fix, reported per row.
    if entries and addresses >= MOSTLY_ADDRESSES * len(entries):
        return first + 1 if heading else 0
    return None


def read_pasted_addresses(path: Path, text: str, encoding: str, skip: int = 0) -> ListFile:
    """One row per address in a pasted To: line: the address and its display name.

    ``skip`` lines (a heading) come first, as :func:`pasted_addresses` found.
    """
    result = ListFile(path=path, encoding=encoding, format="addresses", header_line=skip)
    lines = text.lstrip("\ufeff").splitlines()
    heading = lines[skip - 1].strip() if skip else ""
    result.columns = {"email": heading or "<address>", "name": heading or "display-name"}
    result.positions = {"email": 0, "name": 1}
    for line, (name, address) in _entries(lines[skip:]):
        result.lines.append(line + skip)
        result.cells.append((address, person_name(name)))
    if not result.lines:
        raise list_error("no_rows", path)
    return result


def _incomplete(piece: str) -> bool:
    """Whether a piece of a To: line ends inside an entry (a name, a quote, an <...>)."""
    if piece.count('"') % 2 or piece.count("<") > piece.count(">"):
        return True
    ends = [m.end() for m in _ADDRESS.finditer(piece)]
    return not ends or bool(re.sub(r"[\s>;,\"]", "", piece[ends[-1] :]))


def _entries(lines: list[str]) -> Iterator[tuple[int, tuple[str, str]]]:
    """(line, (name, address)) for each entry, the line being where its address is.

    A mail program wraps a long To: line anywhere, even inside a name or between a name
    and its <address>: a piece that holds no complete address is joined to the next.
    """
    pieces: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, 1):
        line = raw if pieces else _PREFIX.sub("", raw)
        if not line.strip():
            continue
        pieces.append((number, line.strip()))
        if not _incomplete(" ".join(text for _, text in pieces)):
            yield from _parsed(pieces)
            pieces = []
    if pieces:
        yield from _parsed(pieces)


def _parsed(pieces: list[tuple[int, str]]) -> Iterator[tuple[int, tuple[str, str]]]:
    """The entries of joined pieces of a To: line, each at the line of its address."""
    text = " ".join(piece for _, piece in pieces)
    at = 0  # the piece where the search for the next address starts
    for name, address in getaddresses([text.replace(";", ",")]):
        if not (name or address):
            continue  # the empty entry between two separators
        found = next((i for i in range(at, len(pieces)) if address in pieces[i][1]), at)
        at = found
        yield pieces[found][0], (name, address)
