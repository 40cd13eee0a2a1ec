"""Bounces: RFC 3464 delivery status notifications and the common non-standard ones.

A standard report is ``multipart/report; report-type=delivery-status`` with a
``message/delivery-status`` part (one block per recipient: Final-Recipient, Action,
Status, Diagnostic-Code) and the original as ``message/rfc822`` or its headers as
``text/rfc822-headers`` (Postfix, Exim with DSN, Gmail, Exchange Online). Without the
report part (Exchange Online NDRs relayed by some gateways, Exim's plain bounce with
``X-Failed-Recipients``, old qmail) the status code and the address are read from the
text and the original's Message-ID from the returned headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import HeaderParser

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_MESSAGE_ID = re.compile(r"^Message-ID:[ \t]*(<[^<>\s]{1,500}>)", re.IGNORECASE | re.MULTILINE)
_ADDRESS = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
# Senders and subjects that the non-standard bounces use (Swedish Exchange Online too).
_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|microsoftexchange\w*)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"^(undeliverable|undelivered mail|mail delivery failed|delivery status notification"
    r"|returned mail|failure notice|delivery failure|olevererbar|det gick inte att leverera"
    r"|leveransfel|non remis|unzustellbar)",
    re.I,
)
TEXT_LIMIT = 64 * 1024  # of a bounce's text searched for codes and addresses
MAX_FAILURES = 100  # recipients one report may name: ours are one per message


@dataclass(frozen=True, slots=True)
class Failure:
    """One recipient a report says failed."""

    recipient: str | None  # None: the report did not say (then the original's Message-ID does)
    status: str  # "5.1.1", or "5.0.0" when only the class is known
    diagnostic: str


@dataclass(frozen=True, slots=True)
class Report:
    """What a bounce says: the failures, and the Message-ID of the message it returns."""

    failures: list[Failure]
    original_id: str | None
    delayed: bool = False  # a warning that delivery is late: nothing failed (yet)


def permanent(status: str) -> bool:
    """A failure that the address will keep giving: no such user or domain, disabled."""
    cls, subject, detail = status.split(".")
    return cls == "5" and (subject in ("1", "4") or (subject, detail) == ("2", "1"))


def soft(status: str) -> bool:
    """A failure that may pass: 4.x.x, or a full mailbox (5.2.2)."""
    return status.startswith("4.") or status == "5.2.2"


def raw_headers(msg: Message) -> dict[str, str]:
    """Lower-cased name -> its first value as written, unfolded.

    Read raw on purpose: the header registry of ``policy.default`` parses each header it
    hands out (Message-ID and address headers through a full RFC 5322 parser), which cost
    more than everything else the classifier does together.
    """
    found: dict[str, str] = {}
    for name, value in msg.raw_items():
        found.setdefault(name.lower(), " ".join(str(value).split()))
    return found


def looks_like_bounce(msg: EmailMessage, headers: dict[str, str]) -> bool:
    if is_dsn(msg):
        return True
    sender = headers.get("from", "")
    address = re.search(r"<([^<>]*)>", sender)
    sender = address.group(1) if address else sender.strip()
    subject = headers.get("subject", "")
    return bool(
        headers.get("x-failed-recipients")
        or (_DAEMON.match(sender) and (_BOUNCE_SUBJECT.match(subject) or _has_original(msg)))
        or (_BOUNCE_SUBJECT.match(subject) and _has_original(msg))
    )


def content_type(part: Message) -> str:
    """The part's MIME type, lower-cased, from its raw header.

    Not ``get_content_type()``: under ``policy.default`` each call parses the whole
    Content-Type header again, and the classifier asks for every part several times.
    """
    for name, value in part.raw_items():
        if name.lower() == "content-type":
            kind = str(value).split(";", 1)[0].strip().lower()
            return kind if kind.count("/") == 1 else "text/plain"
    return "text/plain"


def is_dsn(msg: Message) -> bool:
    return (
        content_type(msg) == "multipart/report"
        and str(msg.get_param("report-type", "")).lower() == "delivery-status"
    )


def read_report(msg: EmailMessage) -> Report:
    """The failures and the original's Message-ID, from a DSN or a plain bounce."""
    original = original_id(msg)
    if is_dsn(msg):
        failures, delayed = _dsn_failures(msg)
        if failures or delayed:
            return Report(failures, original, delayed=delayed and not failures)
    return Report(_text_failures(msg), original)


def _dsn_failures(msg: Message) -> tuple[list[Failure], bool]:
    failures: list[Failure] = []
    delayed = False
    for part in msg.walk():
        if content_type(part) != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        # The first block is per message, the rest per recipient.
        for block in blocks[1 : MAX_FAILURES + 1]:
            if not isinstance(block, Message):
                continue
            action = str(block.get("Action", "")).strip().lower()
            if action == "delayed":
                delayed = True
            if action != "failed":
                continue
            recipient = _address_field(str(block.get("Final-Recipient", "")))
            recipient = recipient or _address_field(str(block.get("Original-Recipient", "")))
            found = _STATUS.search(str(block.get("Status", "")))
            status = ".".join(found.groups()) if found else "5.0.0"
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
            failures.append(Failure(recipient, status, diagnostic.partition(";")[2].strip()))
    return failures, delayed


def _address_field(value: str) -> str | None:
    # "rfc822; someone@example.org" (RFC 3464 §2.3.2); anything else is not an address.
    kind, _, address = value.partition(";")
    address = address.strip().strip("<>")
    return address if kind.strip().lower() == "rfc822" and "@" in address else None


def _text_failures(msg: EmailMessage) -> list[Failure]:
    text = _text(msg)
    codes = [".".join(m.groups()) for m in _STATUS.finditer(text)]
    codes = [c for c in codes if c[0] in "45"]
    if not codes:
        # An SMTP reply code alone ("550 Requested action not taken"): its class only.
        reply = re.search(r"\b([45])\d\d[ -]", text)
        if not reply:
            return []
        codes = [f"{reply.group(1)}.0.0"]
    status = codes[0]
    diagnostic = _diagnostic(text, status)
    failed = raw_headers(msg).get("x-failed-recipients", "")
    recipients = [a for a in (x.strip() for x in failed.split(",")) if "@" in a][:MAX_FAILURES]
    if not recipients:
        return [Failure(None, status, diagnostic)]
    return [Failure(r, status, diagnostic) for r in recipients]


def _diagnostic(text: str, status: str) -> str:
    for line in text.splitlines():
        if status in line:
            return " ".join(line.split())[:300]
    return ""


def _text(msg: EmailMessage) -> str:
    """The bounce's own text (not the returned original's), bounded."""
    chunks: list[str] = []
    for part in _own_parts(msg):
        kind = content_type(part)
        if kind.startswith("text/") and kind != "text/rfc822-headers":
            if not isinstance(part, EmailMessage):
                continue
            try:
                content = part.get_content()
            except (LookupError, ValueError, AssertionError):
                continue
            if kind == "text/html":
                content = re.sub(r"<[^>]{0,2000}>", " ", content)
            chunks.append(str(content)[:TEXT_LIMIT])
    return "\n".join(chunks)[:TEXT_LIMIT]


def _own_parts(msg: Message) -> list[Message]:
    """The parts of a message, not descending into an attached message/rfc822."""
    if content_type(msg) == "message/rfc822":
        return []
    if not msg.is_multipart():
        return [msg]
    parts: list[Message] = []
    payload = msg.get_payload()
    for sub in payload if isinstance(payload, list) else []:
        if isinstance(sub, Message):
            parts.extend(_own_parts(sub))
    return parts


def _has_original(msg: Message) -> bool:
    return any(content_type(p) in ("message/rfc822", "text/rfc822-headers") for p in msg.walk())


def original_id(msg: EmailMessage) -> str | None:
    """The Message-ID of the returned original: its attached message or headers, else the
    first Message-ID line quoted in the text (Exim's copy, a relayed NDR)."""
    for part in msg.walk():
        kind = content_type(part)
        if kind == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(first, Message) and first.get("Message-ID"):
                return _clean_id(str(first["Message-ID"]))
        elif kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                headers = HeaderParser().parsestr(raw.decode("utf-8", "replace"))
                if headers.get("Message-ID"):
                    return _clean_id(str(headers["Message-ID"]))
    found = _MESSAGE_ID.search(_text(msg))
    return found.group(1) if found else None


def _clean_id(value: str) -> str | None:
    found = re.search(r"<[^<>\s]{1,500}>", value)
    return found.group(0) if found else None
