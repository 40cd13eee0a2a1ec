"""The shape every transport shares, and what an SMTP reply code means for a delivery."""

from __future__ import annotations

from abc import ABC, abstractmethod

from mailer.errors import (
    ChannelError,
    DeliveryError,
    RecipientRefusedError,
    TooManyConnectionsError,
    TransientError,
)
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
    """A server's reply on one line, at most 300 characters."""
    return " ".join(str(text).split())[:300]


def classify(code: int, message: str) -> DeliveryError:
    """Which of the three failure classes an SMTP reply belongs to."""
    text = f"{code} {reply_text(message)}"
    if "5.7.30" in text or "5.7.139" in text:
        return ChannelError(
            f"basic authentication is switched off for this mailbox ({text})",
            smtp_code=code,
            hint="switch the channel to OAuth2: auth = 'oauth2' with tenant_id, client_id "
            "and client_secret_env",
        )
    if code == 432 or "4.3.2" in text:
        return TooManyConnectionsError(text, smtp_code=code)
    if 400 <= code < 500:
        return TransientError(text, smtp_code=code)
    if code in (530, 534, 535, 538):  # authentication required or refused
        return ChannelError(text, smtp_code=code)
    return RecipientRefusedError(text, smtp_code=code)


# A refusal of MAIL FROM that is about one of its parameters (SMTPUTF8, SIZE, BODY) or its
# syntax, not about the sender: it concerns this message only (RFC 5321 555, RFC 3463 5.5.x).
_PARAMETER_MARKS = ("5.5.4", "5.5.2", "5.3.4", "smtputf8", "parameter", "option", "size", "body=")


def names_a_parameter(code: int, message: str) -> bool:
    """Whether a refused MAIL FROM blames a parameter or the message, not the sender."""
    if code == 555:
        return True
    text = message.lower()
    return any(mark in text for mark in _PARAMETER_MARKS)
