"""Signed per-person tokens for registration links and one-click unsubscribe URLs.

A token is ``<address>.<mac>``, both base64url: it names the person, so a web form or a
mailbox rule can hand it back without a look-up table, and the HMAC-SHA256 (key from an
environment variable, never from network.toml) means nobody can make one for another
address. The *purpose* is part of what is signed, so a registration token cannot be used
to unsubscribe somebody, nor one seminar's registration token for another seminar.

A rehearsal (``send --via``) signs its links for ``rehearsal:<purpose>``: its messages
look exactly like the real ones, but whatever honours a token turns a rehearsal's down
with a ``RehearsalTokenError``, so a tester clicking a link changes nothing for the real
person.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import urllib.parse
from dataclasses import dataclass

from mailer import redaction
from mailer.config import Network
from mailer.errors import ConfigError, MailerError

MIN_KEY_BYTES = 16
REHEARSAL = "rehearsal"  # prefixed to a rehearsal's purposes
_MAC_BYTES = 16  # 128 bits: plenty against forgery, short enough for a URL


class TokenError(MailerError):
    """A token that is malformed or was not signed with this network's key."""


class RehearsalTokenError(TokenError):
    """A genuine token from a rehearsal's message: it must not act for the real person."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_purpose(network: Network) -> str:
    return f"unsubscribe:{network.network.id}"


def registration_purpose(network: Network, seminar: int) -> str:
    return f"register:{network.network.id}:{seminar}"


def rehearsal_purpose(purpose: str) -> str:
    """``purpose`` for a rehearsal's links; a prefix, so no real purpose can equal it."""
    return f"{REHEARSAL}:{purpose}"


@dataclass(frozen=True, slots=True)
class Signer:
    key: bytes

    @classmethod
    def from_env(cls, network: Network, *, why: str) -> Signer:
        """The signer keyed from the network's environment variable; ConfigError if unset."""
        name = network.network.token_key_env
        value = os.environ.get(name, "")
        if len(value.encode()) < MIN_KEY_BYTES:
            problem = "is not set" if not value else f"is shorter than {MIN_KEY_BYTES} bytes"
            raise ConfigError(
                f"{why} needs a signing key, but {name} {problem}",
                hint=f"export {name}=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
                " and keep it: links already sent stop working when it changes",
            )
        redaction.remember(value)  # whoever has the key can forge anyone's links
        return cls(value.encode())

    def _mac(self, purpose: str, email: str) -> bytes:
        msg = f"{purpose}\n{email}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).digest()[:_MAC_BYTES]

    def sign(self, purpose: str, email: str) -> str:
        return f"{_b64(email.encode())}.{_b64(self._mac(purpose, email))}"

    def verify(self, purpose: str, token: str, *, refused: str = "nothing was done") -> str:
        """The address the token was made for; TokenError when it is not genuine, and
        RehearsalTokenError (saying ``refused``) when a rehearsal's message carried it."""
        head, dot, tail = token.strip().partition(".")
        try:
            email = _unb64(head).decode("utf-8")
            mac = _unb64(tail)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise TokenError("the token is malformed", hint="copy the whole link") from None
        if dot and "@" in email:
            if hmac.compare_digest(mac, self._mac(purpose, email)):
                return email
            if hmac.compare_digest(mac, self._mac(rehearsal_purpose(purpose), email)):
                raise RehearsalTokenError(f"this link comes from a rehearsal: {refused}")
        raise TokenError(
            "the token is not valid for this network",
            hint="it was changed, cut short, or signed with another key",
        )


def with_token(url: str, token: str, *, name: str = "token") -> str:
    """``url`` with ``?token=...`` added (or ``&token=...`` when it has a query already)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.append((name, token))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
