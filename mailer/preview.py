"""What a coordinator sees before anything leaves: one message, as the recipient gets it."""

from __future__ import annotations

import email
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

from mailer.addresses import AddressError, normalise_address
from mailer.config import Member
from mailer.errors import MailerError
from mailer.i18n import _
from mailer.message import Outgoing
from mailer.recipients import Person

SHOWN_HEADERS = (
    "From",
    "Reply-To",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "Auto-Submitted",
)


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
            _("--to {address}: {reason}").format(address=repr(address), reason=exc)
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
    """The message as text for the terminal, and its HTML part."""
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    lines = [
        f"Channel:  {member.name} ({member.channel.type})",
        f"Envelope: MAIL FROM:<{message.sender}> RCPT TO:<{message.recipient}>",
        "",
    ]
    for name in SHOWN_HEADERS:
        value = parsed.get(name)
        if value is not None:
            lines.append(f"{name}: {value}")
    html_text = ""
    text_part = ""
    attachments = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype == "text/calendar" and part.get_content_disposition() != "attachment":
            attachments.append(f"calendar part (method={part.get_param('method')})")
        elif part.get_content_disposition() == "attachment" or ctype not in (
            "text/plain",
            "text/html",
        ):
            attachments.append(
                f"{part.get_filename() or '(unnamed)'} ({ctype}, "
                f"{len(part.get_payload(decode=True) or b'')} bytes)"
            )
        elif ctype == "text/plain" and not text_part:
            text_part = str(part.get_content())
        elif ctype == "text/html" and not html_text:
            html_text = str(part.get_content())
    lines += [
        "",
        "-- " + _("text part") + " " + "-" * 60,
        text_part.rstrip(),
        "-" * 73,
        _("HTML part: {size} bytes (CSS inlined)").format(size=f"{len(html_text.encode()):,}"),
        _("Attachments: {attachments}").format(
            attachments=", ".join(attachments) if attachments else _("none")
        ),
        _("Message size: {size} bytes").format(size=f"{len(message.data):,}"),
    ]
    return View(text="\n".join(lines), html=html_text)
