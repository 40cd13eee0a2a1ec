"""Reading each member's mailbox over IMAP (``mailer inbox fetch``).

IMAP over TLS only (port 993, certificate and host name verified; ``ca_file`` or
``MAILER_CAFILE`` adds a CA), with the channel's username and password, or for an
``auth = "oauth2"`` channel SASL XOAUTH2 with its Entra ID app's token (client
credentials; Exchange Online grants it with IMAP.AccessAsApp). Only what is new
since the last fetch is read: the journal keeps each folder's UIDVALIDITY and the last UID
handled, written after each message, so an interrupted fetch goes on where it stopped.
Messages are read with ``BODY.PEEK[]`` (they stay unread for the person who reads the
mailbox) and never deleted; ``--move-to`` files each one handled into a folder with
``UID MOVE`` when the server has it, else ``UID COPY`` (which leaves the original).
"""

from __future__ import annotations

import imaplib
import os
import re
import ssl
from pathlib import Path
from typing import Any

from mailer.config import Member, SmtpChannel
from mailer.i18n import _
from mailer.inbox.handling import Handled, InboxRun, Reader
from mailer.inbox.sources import MAX_MESSAGE_BYTES, Raw, too_big
from mailer.journal import Journal

FOLDER = "INBOX"
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


def read_imap(
    member: Member, reader: Reader, journal: Journal, run: InboxRun, move_to: str | None
) -> None:
    """Read what is new in the member's IMAP inbox into ``run``."""

    channel = member.channel
    assert isinstance(channel, SmtpChannel) and channel.imap_host
    with imaplib.IMAP4_SSL(
        channel.imap_host,
        channel.imap_port,
        ssl_context=tls_context(channel.ca_file or os.environ.get("MAILER_CAFILE")),
        timeout=channel.timeout,
    ) as imap:
        log_in(imap, channel, member.id)
        _ok(imap.select(FOLDER, readonly=move_to is None), "SELECT")
        validity = int(imap.response("UIDVALIDITY")[1][0] or b"0")
        known = journal.imap_position(member.id, FOLDER)
        start = known[1] + 1 if known and known[0] == validity else 1
        data = _ok(imap.uid("SEARCH", "UID", f"{start}:*"), "SEARCH")
        # "N:*" always names the last message, even when it is older than N.
        uids = [u for u in (int(x) for x in (data[0] or b"").split()) if u >= start]
        # Asked after the login: the greeting's list leaves out what a session can do.
        can_move = b"MOVE" in b" ".join(_ok(imap.capability(), "CAPABILITY")).upper().split()
        for uid in uids:
            handled = _one(imap, reader, member.id, uid)
            run.messages.append(handled)
            if move_to and handled.kind != "skipped":
                verb = "MOVE" if can_move else "COPY"
                _ok(imap.uid(verb, str(uid), _quoted(move_to)), verb)
            journal.set_imap_position(member.id, FOLDER, validity, uid)


def log_in(imap: imaplib.IMAP4_SSL, channel: SmtpChannel, label: str) -> None:
    """The channel's own login: its password, or (``auth = "oauth2"``) SASL XOAUTH2 with a
    token of its Entra ID app, which Exchange Online grants with IMAP.AccessAsApp."""
    from mailer.channels.credentials import channel_password

    user = channel.username or _address(channel.from_)
    if channel.auth != "oauth2":
        imap.login(user, channel_password(channel) or "")
        return
    from mailer.channels.oauth import TokenSource

    source = TokenSource.for_channel(channel, label=label)
    source.permission = "IMAP.AccessAsApp"  # named if the authority refuses a token
    answer = f"user={user}\x01auth=Bearer {source.token()}\x01\x01".encode()
    said: list[bytes] = []

    def respond(challenge: bytes) -> bytes:
        # The first answer is the token; a refusal comes as a challenge holding an error,
        # which the client must answer with an empty line (then the server says NO).
        said.append(challenge)
        return answer if len(said) == 1 else b""

    imap.authenticate("XOAUTH2", respond)


def _one(imap: imaplib.IMAP4_SSL, reader: Reader, member: str, uid: int) -> Handled:
    where = f"{member}:{FOLDER}#{uid}"
    sized = _ok(imap.uid("FETCH", str(uid), "(RFC822.SIZE)"), "FETCH")
    found = _SIZE.search(sized[0] if isinstance(sized[0], bytes) else b"")
    size = int(found.group(1)) if found else 0
    if size > MAX_MESSAGE_BYTES:
        return Handled(where, "skipped", too_big(size))
    body = _ok(imap.uid("FETCH", str(uid), "(BODY.PEEK[])"), "FETCH")
    data = next((part[1] for part in body if isinstance(part, tuple)), None)
    if not isinstance(data, bytes):
        return Handled(where, "skipped", _("the server sent no message"))
    return reader.handle(Raw(where, data))


def _ok(answer: tuple[str, list[Any]], command: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise imaplib.IMAP4.error(
            _("{command} refused: {answer}").format(command=command, answer=text)
        )
    return data


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """The system's CAs, and ``cafile``'s (a private CA, or a test CA) as well."""
    context = ssl.create_default_context()
    if cafile:
        context.load_verify_locations(cafile=str(Path(cafile)))
    return context


def _address(mailbox: str) -> str:
    from email.utils import parseaddr

    return parseaddr(mailbox)[1]


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
