"""What a coordinator sees before anything leaves: one message, as the recipient gets it."""

from __future__ import annotations

import email
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message

from mailer.addresses import AddressError, normalise_address
from mailer.config import Member
from mailer.errors import MailerError
from mailer.i18n import _, current_language
from mailer.message import Outgoing
from mailer.recipients import Person


@dataclass(frozen=True, slots=True)
class View:
    text: str
    html: str


def find_person(
    people: Sequence[Person],
    address: str | None,
    *,
    suppressed: Callable[[str], bool] | None = None,
) -> Person:
    """The person to preview: the one with this address, else the first of the list."""
    if not people:
        raise MailerError(_("nobody is on the lists"), hint=_("add people to recipients/"))
    if address is None:
        return people[0]
    try:
        wanted = normalise_address(address)
    except AddressError as exc:
        raise MailerError(
            _("--to {address}: {problem}").format(address=repr(address), problem=exc)
        ) from None
    if suppressed is not None and suppressed(wanted):
        raise MailerError(
            _("{address} is on the network's opt-out list: nothing is sent to them").format(
                address=address
            ),
            hint=_("see 'mailer suppressed'"),
        )
    for person in people:
        if person.email == wanted:
            return person
    raise MailerError(
        _("{address} is not on any member's list").format(address=address),
        hint=_("see 'mailer recipients merge --out merged.csv'"),
    )


def describe(message: Outgoing, member: Member) -> View:
    """The message as text for the terminal, and its HTML part.

    Made from the very bytes a send hands to the server (the same factory builds both): every
    header field in the order sent, encoded words read as text, then each MIME part's own
    fields, the text part, and the sizes.
    """
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    lines = [
        _("Channel:  {member} ({type})").format(member=member.name, type=member.channel.type),
        _("Envelope: MAIL FROM:<{sender}> RCPT TO:<{recipient}>").format(
            sender=message.sender, recipient=message.recipient
        ),
        "",
        *header_lines(parsed),
        "",
        _("MIME parts:"),
        *part_lines(parsed),
    ]
    html_text, text_part, attachments = _contents(parsed)
    language = current_language()
    lines += [
        "",
        f"-- {_('text part')} ".ljust(73, "-"),
        # The part's own CRLFs: each CR would reach the terminal as a space at a line's end.
        *(line.rstrip() for line in text_part.rstrip().splitlines()),
        "-" * 73,
        _("HTML part: {size} bytes (CSS inlined)").format(
            size=_number(len(html_text.encode()), language)
        ),
        _("Attachments: {attachments}").format(
            attachments=", ".join(attachments) if attachments else _("none")
        ),
        _("Message size: {size} bytes").format(size=_number(len(message.data), language)),
    ]
    return View(text="\n".join(lines), html=html_text)


def header_lines(message: Message) -> list[str]:
    """Every header field of ``message`` in the order it has them, one line each."""
    return [f"{name}: {' '.join(str(value).split())}" for name, value in message.items()]


def part_lines(message: EmailMessage, number: str = "") -> list[str]:
    """Each MIME part's header fields, numbered as IMAP numbers parts ([1], [1.2])."""
    lines = []
    for index, part in enumerate(message.iter_parts(), start=1):
        label = f"{number}.{index}" if number else str(index)
        fields = header_lines(part)
        lead = "  " * (label.count(".") + 1) + f"[{label}] "
        lines += [lead + fields[0], *(" " * len(lead) + field for field in fields[1:])]
        if part.is_multipart():
            assert isinstance(part, EmailMessage)
            lines += part_lines(part, label)
    return lines


def _contents(parsed: EmailMessage) -> tuple[str, str, list[str]]:
    """(the HTML part, the text part, a description of each other part)."""
    html_text = ""
    text_part = ""
    attachments = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype == "text/calendar" and part.get_content_disposition() != "attachment":
            attachments.append(
                _("calendar part (method={method})").format(method=part.get_param("method"))
            )
        elif part.get_content_disposition() == "attachment" or ctype not in (
            "text/plain",
            "text/html",
        ):
            size = len(part.get_payload(decode=True) or b"")
            attachments.append(
                _("{name} ({type}, {size} bytes)").format(
                    name=part.get_filename() or _("(unnamed)"),
                    type=ctype,
                    size=_number(size, current_language()),
                )
            )
        elif ctype == "text/plain" and not text_part:
            text_part = str(part.get_content())
        elif ctype == "text/html" and not html_text:
            html_text = str(part.get_content())
    return html_text, text_part, attachments


def _number(n: int, language: str) -> str:
    """A count of bytes as the language writes it: '12,871', '12 871'."""
    from babel.numbers import format_decimal

    return str(format_decimal(n, locale=language))
