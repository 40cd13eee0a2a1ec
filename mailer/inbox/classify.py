"""What a message that came back is: a bounce, an auto-reply, an unsubscribe, a reply.

:func:`parse` turns bytes into a message (or says why not: too many headers, a header too
long, a structure the email package cannot take), :func:`classify` decides the class from
the headers and structure alone; :mod:`mailer.inbox.handling` then looks things up and acts.
"""

from __future__ import annotations

import email.errors
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Literal

from mailer.i18n import _
from mailer.inbox import dsn

Kind = Literal["bounce", "delay", "auto-reply", "unsubscribe", "reply", "loop", "unknown"]
KINDS: tuple[Kind, ...] = (
    "bounce",
    "delay",
    "auto-reply",
    "unsubscribe",
    "reply",
    "loop",
    "unknown",
)
MAX_HEADERS = 500  # a real message has a few dozen (a long relay chain: ~100)
MAX_HEADER_BYTES = 64 * 1024  # one header, folded lines together
MAX_PARTS = 200

# Subjects of out-of-office and other automatic replies (Exchange in Swedish and English,
# Gmail's vacation responder, common others).
_AUTO_SUBJECT = re.compile(
    r"^\s*(frånvaromeddelande|automatiskt svar|autosvar|automatic reply|auto(matic)?[- ]?reply"
    r"|auto:|out of (the )?office|ooo\b|abwesenheitsnotiz|autoreply|semester|på semester"
    r"|vacation reply|away from the office|i'm away|jag är (inte på plats|ledig|borta))",
    re.IGNORECASE,
)
# A link token: sealed (one base64url string) or from before sealing (``<address>.<mac>``).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}(\.[A-Za-z0-9_-]+)?")
_UNSUBSCRIBE_SUBJECT = re.compile(
    r"^\s*(unsubscribe|avregistrera|avsluta prenumeration|avanmäl)\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_REPLY_SUBJECT = re.compile(r"^\s*(re|sv|aw|vs|antw|fw|fwd|vb)\s*:", re.IGNORECASE)
# The line a mail program puts above a quote: "On ... wrote:", "Den ... skrev:", "From:".
_QUOTE_HEAD = re.compile(r"^(on\b.*wrote:|den\b.*skrev:?|från:|from:|-{3,})", re.IGNORECASE)
_MESSAGE_IDS = re.compile(r"<[^<>\s]{1,500}>")


class Unreadable(Exception):
    """Why a message was skipped; its text is one line for the coordinator."""


@dataclass(slots=True)
class Classified:
    kind: Kind
    message_id: str | None
    sender: str | None  # the From address, lower-cased
    subject: str
    refers_to: list[str] = field(default_factory=list)  # In-Reply-To and References
    report: dsn.Report | None = None  # for a bounce or delay
    token: str | None = None  # an unsubscribe mail's token, when its subject had one
    first_lines: str = ""  # of a reply: what the coordinator sees


def parse(data: bytes) -> EmailMessage:
    """The message, or Unreadable with the reason it cannot be taken."""
    head = data[: MAX_HEADERS * 1000].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = head.splitlines()
    starts = sum(1 for line in lines if line and line[:1] not in b" \t")
    if starts > MAX_HEADERS:
        raise Unreadable(
            _("hostile headers ({count} header lines; the limit is {limit})").format(
                count=starts, limit=MAX_HEADERS
            )
        )
    if len(head) > MAX_HEADERS * 1000 or _longest_header(lines) > MAX_HEADER_BYTES:
        raise Unreadable(
            _("hostile headers (one longer than {limit} bytes)").format(limit=MAX_HEADER_BYTES)
        )
    if not starts or b":" not in lines[0]:
        raise Unreadable(_("not a mail message (no headers)"))
    try:
        msg = BytesParser(policy=policy.default).parsebytes(data)
    except (email.errors.MessageError, ValueError, LookupError, IndexError) as exc:
        raise Unreadable(_("malformed ({error})").format(error=type(exc).__name__)) from None
    assert isinstance(msg, EmailMessage)
    if sum(1 for _ in msg.walk()) > MAX_PARTS:
        raise Unreadable(_("too many parts (over {limit})").format(limit=MAX_PARTS))
    return msg


def _longest_header(lines: list[bytes]) -> int:
    longest = current = 0
    for line in lines:
        current = current + len(line) if line[:1] in b" \t" else len(line)
        longest = max(longest, current)
    return longest


def header(msg: EmailMessage, name: str) -> str:
    """A header's value as written (unfolded); empty when missing."""
    return dsn.raw_headers(msg).get(name.lower(), "")


def decoded(value: str) -> str:
    """A header's text with its RFC 2047 encoded words decoded (a Subject)."""
    if "=?" not in value:
        return value
    try:
        return " ".join(str(make_header(decode_header(value))).split())
    except (email.errors.HeaderParseError, LookupError, UnicodeError, ValueError):
        return value


def _sender(value: str) -> str | None:
    found = re.search(r"<([^<>\s]+@[^<>\s]+)>", value) or re.search(
        r"([^\s<>\"]+@[^\s<>\"]+)", value
    )
    return found.group(1).lower() if found else None


def classify(msg: EmailMessage) -> Classified:
    """The message's class, from its headers and structure (the caller, who has the
    journal, turns one carrying a Message-ID we sent into a ``loop``)."""
    headers = dsn.raw_headers(msg)
    own_id = _ids(headers.get("message-id", ""))
    result = Classified(
        kind="unknown",
        message_id=own_id[0] if own_id else None,
        sender=_sender(headers.get("from", "")),
        subject=decoded(headers.get("subject", "")),
        refers_to=_ids(headers.get("in-reply-to", "")) + _ids(headers.get("references", "")),
    )
    if dsn.looks_like_bounce(msg, headers):
        report = dsn.read_report(msg)
        result.report = report
        result.kind = "delay" if report.delayed else "bounce"
    elif is_auto_reply(headers, result.subject):
        result.kind = "auto-reply"
    elif found := _UNSUBSCRIBE_SUBJECT.match(result.subject):
        result.kind = "unsubscribe"
        rest = found.group("rest").strip().split()
        result.token = rest[0] if rest and _TOKEN.fullmatch(rest[0]) else None
    elif result.refers_to or _REPLY_SUBJECT.match(result.subject):
        result.kind = "reply"
        result.first_lines = first_lines(msg)
    return result


def is_auto_reply(headers: dict[str, str], subject: str) -> bool:
    """RFC 3834's Auto-Submitted, the de facto X- headers, or an out-of-office subject."""
    submitted = headers.get("auto-submitted", "").lower()
    if submitted and not submitted.startswith("no"):
        return True
    if headers.get("x-autoreply") or headers.get("x-autorespond"):
        return True
    if headers.get("x-auto-response-suppress") and _AUTO_SUBJECT.match(subject):
        return True
    if headers.get("precedence", "").lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.match(subject))


def first_lines(msg: EmailMessage, count: int = 3) -> str:
    """A reply's first lines of its own words (quoted lines and the quote's heading left out)."""
    try:
        body = msg.get_body(preferencelist=("plain",))
        text = str(body.get_content()) if body is not None else ""
    except (LookupError, ValueError, AssertionError, KeyError):
        return ""
    kept: list[str] = []
    for line in text[:20_000].splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or _QUOTE_HEAD.match(stripped):
            if kept:
                break
            continue
        if stripped:
            kept.append(stripped[:200])
        if len(kept) == count:
            break
    return " / ".join(kept)


def _ids(value: str) -> list[str]:
    return _MESSAGE_IDS.findall(value)[:50]
