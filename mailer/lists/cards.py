"""Lists that are not tables: vCard files and pasted To: lines, read into rows.

A member's staff sends contacts exported as ``.vcf`` (vCard 2.1, 3.0 or 4.0, with
``CHARSET=`` and quoted-printable names), read with vobject; or pastes the To: line of
an old mail (``Anna Svensson <anna@x.example>; "Eriksson, Fredrik" <fr@x.example>``),
read with the standard library's address parser. Both become a :class:`ListFile` with
the same fields as a CSV list, each row numbered by the line where it starts.
"""

from __future__ import annotations

import re
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailer.lists.columns import ListFile
from mailer.lists.content import person_name
from mailer.lists.messages import list_error

if TYPE_CHECKING:
    from collections.abc import Iterator

_BEGIN = re.compile(r"^[ \t]*BEGIN[ \t]*:[ \t]*VCARD[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
# "To:", "Till:", "Cc:", "Kopia:" before a pasted line of addresses.
_PREFIX = re.compile(r"^\s*(?:to|till|cc|kopia|bcc|hemlig kopia|mottagare)\s*:\s*", re.I)
_ADDRESS = re.compile(r"[^\s@<>,;\"]+@[^\s@<>,;\"]+")
_SAMPLE_LINES = 50
# A heading over a pasted column: one or two words, no delimiter ("Mottagare", "To").
_HEADING = re.compile(r"\s*[^\W\d_][\w\- ]{0,40}\s*")


def is_vcard(text: str) -> bool:
    """Whether the text starts with a vCard (after blank lines)."""
    return _BEGIN.match(text.lstrip("\ufeff\r\n \t")) is not None


def read_vcards(path: Path, text: str, encoding: str) -> ListFile:
    """One row per card: e-mail, name, organisation, title. ListError when it is broken."""
    import vobject  # only for vCard files

    starts = [text.count("\n", 0, m.start()) + 1 for m in _BEGIN.finditer(text)]
    result = ListFile(path=path, encoding=encoding, format="vcard")
    result.columns = {"email": "EMAIL", "name": "FN", "organisation": "ORG", "title": "TITLE"}
    result.positions = {"email": 0, "name": 1, "organisation": 2, "title": 3}
    several = 0
    try:
        for n, card in enumerate(vobject.readComponents(text, ignoreUnreadable=True)):
            emails = _emails(card)
            several += len(emails) > 1
            result.lines.append(starts[n] if n < len(starts) else starts[-1])
            result.cells.append(
                [
                    emails[0] if emails else "",
                    _name(card),
                    _first(card, "org"),
                    _first(card, "title"),
                ]
            )
    except Exception as exc:  # vobject raises its ParseError and plain ValueErrors
        line = starts[len(result.lines)] if len(result.lines) < len(starts) else None
        raise list_error("vcard_bad", path, line=line, why=_why(exc)) from None
    if not result.lines:
        raise list_error("no_rows", path)
    if several:
        result.notes.append(("vcard_emails", {"count": str(several)}))
    return result


def _why(exc: Exception) -> str:
    return " ".join(str(exc).split())[:120] or exc.__class__.__name__


def _values(card: Any, key: str) -> list[Any]:
    return list(card.contents.get(key, []))


def _emails(card: Any) -> list[str]:
    """The card's addresses, the work or preferred one first, a home one last."""

    def rank(line: Any) -> int:
        kinds = {str(t).casefold() for t in line.params.get("TYPE", [])}
        kinds |= {str(t).casefold() for t in getattr(line, "singletonparams", [])}
        if "pref" in kinds or "PREF" in line.params or "work" in kinds:
            return 0
        return 2 if "home" in kinds else 1

    lines = sorted(_values(card, "email"), key=rank)  # stable: the card's order otherwise
    return [str(line.value).strip() for line in lines if str(line.value).strip()]


def _name(card: Any) -> str:
    for line in _values(card, "fn"):
        if str(line.value).strip():
            return str(line.value)
    for line in _values(card, "n"):
        value = line.value
        parts = [getattr(value, "given", ""), getattr(value, "family", "")]
        return " ".join(_text(p) for p in parts if _text(p))
    return ""


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value if v)
    return str(value or "")


def _first(card: Any, key: str) -> str:
    for line in _values(card, key):
        value = line.value
        return str(value[0]) if isinstance(value, list | tuple) and value else _text(value)
    return ""


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
    if entries and all(_ADDRESS.fullmatch(address) for _, address in entries):
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
    """(line, (name, address)) for each entry, the line being where the entry starts.

    A mail program wraps a long To: line anywhere, even inside a name or between a name
    and its <address>: a piece that holds no complete address is joined to the next.
    """
    pending, start = "", 0
    for number, raw in enumerate(lines, 1):
        line = _PREFIX.sub("", raw) if not pending else raw
        if not line.strip():
            continue
        if not pending:
            start = number
        pending = f"{pending} {line.strip()}" if pending else line.strip()
        if _incomplete(pending):
            continue
        for name, address in getaddresses([pending.replace(";", ",")]):
            if name or address:
                yield start, (name, address)
        pending = ""
    if pending.strip():
        for name, address in getaddresses([pending.replace(";", ",")]):
            if name or address:
                yield start, (name, address)
