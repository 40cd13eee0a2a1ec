"""Build the MIME message for one person with the standard library's ``email`` package.

Every header value from data goes through ``email.headerregistry``, so a CR or LF in a
name cannot add a header, and non-ASCII names are RFC 2047 encoded by the library. Text
from data first passes ``escaping.header_text``: the library decodes encoded words it is
given and writes them back raw, which would let a name add a header or an address.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import idna

from mailer.addresses import AddressError, normalise_address
from mailer.config import Member, Network
from mailer.errors import ConfigError, MailerError
from mailer.escaping import header_text
from mailer.i18n import _
from mailer.recipients import Person
from mailer.render import Variant

# 998 is the SMTP line limit; at 78 the library rewrites long List-Unsubscribe URLs into
# encoded words (invalid for that header) and spends most of its time folding names.
POLICY = email_policy.SMTP.clone(max_line_length=998)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_.-]{16,}")  # a signed token (tokens.Signer.sign)
POLICY_UTF8 = email_policy.SMTPUTF8.clone(max_line_length=998)
# Bodies are encoded when set, with the message's policy: RFC 2045 wants encoded lines of
# at most 76 characters, so parts are made with these and written out with the above.
_BODY = {False: POLICY.clone(max_line_length=76), True: POLICY_UTF8.clone(max_line_length=76)}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A finished message and its envelope: what a channel hands to the server."""

    sender: str  # envelope MAIL FROM
    recipient: str  # envelope RCPT TO
    message_id: str
    data: bytes
    smtputf8: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried with the message, such as the seminar's ``.ics``.

    ``alternative`` also puts it inside multipart/alternative beside the text and HTML:
    that copy (``text/calendar; method=REQUEST``) is what Outlook and Gmail turn into an
    invitation with "add to calendar"; the attached file is what every other client offers.
    """

    filename: str
    subtype: str  # of text/*: the only attachments the mailer makes are text (the .ics)
    text: str
    params: Mapping[str, str] = field(default_factory=dict)
    alternative: bool = False


def parse_mailbox(value: str, *, where: str) -> Address:
    """'Name <local@domain>' from the config as an Address; ConfigError when unusable."""
    name, addr = parseaddr(value)
    if "@" not in addr or any(not c.isprintable() for c in value):
        raise ConfigError(
            _("{where}: {value} is not an address like 'Name <a@b.example>'").format(
                where=where, value=repr(value)
            )
        )
    local, _at, domain = addr.rpartition("@")
    return Address(display_name=header_text(name), username=local, domain=domain)


def ascii_address(email: str) -> tuple[str, bool]:
    """The address with its domain in IDNA form; True when the local part needs SMTPUTF8."""
    local, _at, domain = email.rpartition("@")
    try:
        ascii_domain = domain if domain.isascii() else idna.encode(domain, uts46=True).decode()
    except idna.IDNAError:
        ascii_domain = domain.encode("idna").decode()
    return f"{local}@{ascii_domain}", not local.isascii()


def new_message_id(mailing: str, domain: str) -> str:
    """A unique Message-ID at the sender's domain; the mailing name helps people debug."""
    return f"<{mailing}.{secrets.token_hex(10)}@{domain}>"


def unsubscribe_mailto(member: Member) -> str:
    return _mailto(member.channel.reply_to or member.channel.from_)


@functools.lru_cache(maxsize=256)
def _mailto(mailbox: str) -> str:
    # Cached: parsing the channel's address costs more than building the whole message.
    return f"mailto:{parseaddr(mailbox)[1]}?subject={urllib.parse.quote('unsubscribe')}"


@functools.lru_cache(maxsize=256)
def sender_domain(mailbox: str) -> str:
    """The domain of a channel's From, for Message-IDs."""
    return parseaddr(mailbox)[1].rpartition("@")[2] or "localhost"


def to_mailbox(person: Person) -> tuple[Address, str, bool]:
    """The To mailbox (name made safe), the envelope address (domain in IDNA form), and
    whether it needs SMTPUTF8. Shared with the fast path (``mailer.assembly``)."""
    to_addr, needs_utf8 = ascii_address(person.email)
    local, _at, domain = to_addr.rpartition("@")
    to = Address(display_name=header_text(person.name), username=local, domain=domain)
    return to, to_addr, needs_utf8


def list_unsubscribe(member: Member, unsubscribe_url: str | None) -> str:
    """The List-Unsubscribe value: the one-click URL (when there is one) and the mailto.

    The mailto's subject carries the one-click URL's signed token ("unsubscribe TOKEN"),
    so the mail it writes is honoured by ``mailer inbox`` whoever sends it (a forwarding
    or a shared mailbox); without a URL there is no token, and the inbox honours the mail
    only from the address itself, when its mail system vouches for it.
    """
    mailto = unsubscribe_mailto(member)
    if not unsubscribe_url:
        return f"<{mailto}>"
    token = _url_token(unsubscribe_url)
    if token:
        mailto += "%20" + token  # base64url and ".": nothing in it needs quoting
    return f"<{unsubscribe_url}>, <{mailto}>"


def _url_token(url: str) -> str | None:
    # The factory appends the token last (``tokens.with_token``); rpartition, not a URL
    # parse: this runs for every message of a send.
    value = url.rpartition("token=")[2]
    return value if value and _TOKEN_CHARS.fullmatch(value) else None


def check_recipient(email: str) -> None:
    """MailerError unless ``email`` is a valid address: nothing unvalidated reaches RCPT TO.

    Lists are validated when merged; this guards every other way a Person is made
    (registration imports, bundles, tests).
    """
    try:
        normalise_address(email)
    except AddressError as exc:
        raise MailerError(
            _("{address} cannot be mailed: {problem}").format(address=repr(email), problem=exc)
        ) from None


def _list_headers(
    msg: EmailMessage, member: Member, network: Network, unsubscribe_url: str | None
) -> None:
    """The headers of bulk mail from a list: its id, how to leave it, and no auto-replies."""
    msg["List-Id"] = (
        f"{header_text(network.network.name)} <{network.network.id}.{network.network.list_domain}>"
    )
    msg["List-Unsubscribe"] = list_unsubscribe(member, unsubscribe_url)
    if unsubscribe_url:
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Keep out-of-office replies from flooding the member's mailbox.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "bulk"


def _add_parts(
    msg: EmailMessage,
    variant: Variant,
    values: dict[str, str],
    attachments: Sequence[Attachment],
) -> None:
    """Text, HTML, a calendar beside them where it belongs, then the attachments."""
    msg.set_content(
        variant.fill_text(values), subtype="plain", charset="utf-8", cte="quoted-printable"
    )
    msg.add_alternative(
        variant.fill_html(values), subtype="html", charset="utf-8", cte="quoted-printable"
    )
    for item in attachments:
        if item.alternative:
            msg.add_alternative(
                item.text,
                subtype=item.subtype,
                charset="utf-8",
                cte="quoted-printable",
                params=dict(item.params),
            )
    for item in attachments:
        msg.add_attachment(
            item.text,
            subtype=item.subtype,
            charset="utf-8",
            cte="base64",
            filename=item.filename,
            params=dict(item.params),
        )


def build_message(
    variant: Variant,
    values: dict[str, str],
    *,
    person: Person,
    member: Member,
    network: Network,
    message_id: str,
    date: dt.datetime | None = None,
    unsubscribe_url: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> Outgoing:
    """The complete message for one person, ready for SMTP.

    The shape: multipart/alternative (text, HTML[, calendar]) alone, or wrapped in
    multipart/mixed when there are attachments.
    """
    channel = member.channel
    check_recipient(person.email)
    sender = parse_mailbox(channel.from_, where=f"members.{member.id}.channel.from")
    to, to_addr, needs_utf8 = to_mailbox(person)

    msg = EmailMessage(policy=_BODY[needs_utf8])
    msg["From"] = sender
    if channel.reply_to:
        msg["Reply-To"] = parse_mailbox(
            channel.reply_to, where=f"members.{member.id}.channel.reply_to"
        )
    msg["To"] = to
    msg["Subject"] = header_text(variant.subject, limit=250)
    msg["Date"] = format_datetime(date or dt.datetime.now(network.tz))
    msg["Message-ID"] = message_id
    _list_headers(msg, member, network, unsubscribe_url)
    _add_parts(msg, variant, values, attachments)
    envelope_from = f"{sender.username}@{sender.domain}"
    return Outgoing(
        sender=envelope_from,
        recipient=to_addr,
        message_id=message_id,
        data=msg.as_bytes(policy=POLICY_UTF8 if needs_utf8 else POLICY),
        smtputf8=needs_utf8,
    )
