"""The shape every transport shares, and what an SMTP reply code means for a delivery."""

from __future__ import annotations

import errno
import re
import socket
from abc import ABC, abstractmethod

from mailer.errors import (
    ChannelError,
    DeliveryError,
    RecipientRefusedError,
    TooManyConnectionsError,
    TransientError,
)
from mailer.i18n import _
from mailer.message import Outgoing


class Transport(ABC):
    """One connection's worth of sending for one channel."""

    description: str

    @property
    def is_open(self) -> bool:
        """Whether send() can go ahead without open()."""
        return True

    async def open(self) -> None:  # noqa: B027 - optional for transports with no session
        """Connect (and log in); raise ChannelError when that is impossible."""

    @abstractmethod
    async def send(self, message: Outgoing) -> str:
        """Deliver one message; return the server's reply text."""

    async def close(self) -> None:  # noqa: B027
        """Say goodbye; never raises."""

    async def __aenter__(self) -> Transport:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def reply_text(text: str) -> str:
    """A server's reply on one line, at most 300 characters, printable characters only.

    The text comes from the server: an escape sequence in it must not reach the coordinator's
    terminal, and a tab must not shift the delivery log's columns.
    """
    text = str(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(text.split())[:300]


def classify(code: int, message: str) -> DeliveryError:
    """Which of the three failure classes an SMTP reply belongs to."""
    text = f"{code} {reply_text(message)}"
    if "5.7.30" in text or "5.7.139" in text:
        return ChannelError(
            _("basic authentication is switched off for this mailbox ({reply})").format(reply=text),
            smtp_code=code,
            hint=_(
                "switch the channel to OAuth2: auth = 'oauth2' with tenant_id, client_id "
                "and client_secret_env"
            ),
        )
    if code == 432 or "4.3.2" in text:
        return TooManyConnectionsError(text, smtp_code=code)
    if 400 <= code < 500:
        return TransientError(text, smtp_code=code)
    if code in (530, 534, 535, 538):  # authentication required or refused
        return ChannelError(text, smtp_code=code)
    return RecipientRefusedError(text, smtp_code=code)


# A refusal of MAIL FROM that is about the message or one of its parameters (SMTPUTF8,
# SIZE, BODY) rather than the sender concerns this message only. The enhanced status code
# (RFC 3463; at the start of the text, RFC 2034) decides when there is one: 5.5.x syntax
# and parameters, 5.3.4 too big, 5.6.x content (5.6.7: an address that needs SMTPUTF8);
# 5.1.x and 5.7.x blame the sender or its rights. Whole words only: a reply that merely
# has "size" or "option" inside another word must not make a refused sender fail every
# person one by one.
_ENHANCED = re.compile(r"\s*5\.(\d{1,3})\.(\d{1,3})\b")
_PARAMETER_WORDS = re.compile(
    r"\b(?:SMTPUTF8|SIZE|BODY|8BITMIME|parameters?|options?|syntax)\b", re.IGNORECASE
)


def names_a_parameter(code: int, message: str) -> bool:
    """Whether a refused MAIL FROM blames a parameter or the message, not the sender."""
    if code in (552, 555):  # 552: too big for the server; 555: parameters not recognised
        return True
    enhanced = _ENHANCED.match(message)
    if enhanced is not None:
        subject, detail = enhanced.groups()
        return subject in ("5", "6") or (subject, detail) == ("3", "4")
    return _PARAMETER_WORDS.search(message) is not None


def connection_problem(exc: BaseException) -> str:
    """Why a connection could not be made, in a few words in the person's language.

    Libraries wrap the system's error in their own (aiosmtplib, httpx): the system's,
    found down the chain, says it best.
    """
    exc = _system_error(exc)
    if isinstance(exc, socket.gaierror):
        return _("unknown host")
    reasons = {
        errno.ECONNREFUSED: _("connection refused"),
        errno.ECONNRESET: _("connection reset"),
        errno.ETIMEDOUT: _("timed out"),
        errno.EHOSTUNREACH: _("host unreachable"),
        errno.ENETUNREACH: _("network unreachable"),
        errno.EADDRNOTAVAIL: _("address not available"),
    }
    code = getattr(exc, "errno", None)
    if code in reasons:
        return reasons[code]
    if isinstance(exc, TimeoutError):
        return _("timed out")
    if isinstance(exc, OSError) and exc.strerror:
        return reply_text(exc.strerror)
    return reply_text(str(exc))


def _system_error(exc: BaseException) -> BaseException:
    """The first error down ``exc``'s chain (and in exception groups) that carries the
    system's error number; ``exc`` itself when none does."""
    queue, seen = [exc], set()
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        queue += [e for e in (current.__cause__, current.__context__) if e is not None]
        queue += list(getattr(current, "exceptions", ()))
    return exc
