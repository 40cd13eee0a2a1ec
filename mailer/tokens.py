"""Sealed per-person tokens for registration links and one-click unsubscribe URLs.

A token carries the person, so a web form or a mailbox rule can hand it back without a
look-up table, but it does not show them: it is the address (and the person's language)
encrypted with AES-256-GCM under a key derived from the network's token key (an
environment variable, never network.toml), one base64url string with no ".". Anyone who
sees a link (a proxy log, a forwarded mail) reads nothing, and nobody without the key can
make one for another address. The *purpose* is the cipher's associated data, so a
registration token cannot be used to unsubscribe somebody, nor one seminar's registration
token for another seminar.

Links sent before tokens were sealed are ``<address>.<mac>`` (both base64url, an
HMAC-SHA256 over purpose and address): :meth:`Signer.verify` still honours them.

A token may carry an expiry (:meth:`Signer.sign` with ``expires``), sealed with the rest:
past it, the token names its person but acts for nobody (:class:`ExpiredTokenError`). The
links that confirm a sign-up and undo an unsubscription expire; the one-click unsubscribe
and the registration links do not (see ``CONFIRM_DAYS``).

A rehearsal (``send --via``) signs its links for ``rehearsal:<purpose>``: its messages
look exactly like the real ones, but whatever honours a token turns a rehearsal's down
with a ``RehearsalTokenError``, so a tester clicking a link changes nothing for the real
person.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import os
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from mailer import redaction
from mailer.config import Network
from mailer.errors import ConfigError, MailerError
from mailer.i18n import N_, _

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MIN_KEY_BYTES = 16
REHEARSAL = "rehearsal"  # prefixed to a rehearsal's purposes
_MAC_BYTES = 16  # 128 bits: plenty against forgery, short enough for a URL
_NONCE_BYTES = 12  # AES-GCM's standard nonce
_LANGUAGES: dict[str | None, bytes] = {None: b"-", "sv": b"s", "en": b"e"}
_LANGUAGE_OF = {v: k for k, v in _LANGUAGES.items()}
# What needs the key (``why``) and what a rehearsal's link did not do (``refused``): the
# callers name these phrases; they are in the catalogue from here, and translated when the
# error is raised.
_PHRASES = (
    N_("the registration link or unsubscribe URL"),
    N_("mailer serve"),
    N_("matching by token"),
    N_("checking an unsubscribe token"),
    N_("an unsubscribe mail's token"),
    N_("every personal link in the mails"),
    N_("nothing was done"),
    N_("nobody unsubscribed"),
    N_("nobody was unsubscribed"),
    N_("nobody was registered"),
)
# A token with an expiry marks its language in upper case and carries the moment after
# the mark (seconds since 1970, 5 bytes): tokens made before expiries still read the same.
_EXPIRING: dict[str | None, bytes] = {None: b"_", "sv": b"S", "en": b"E"}
_EXPIRING_OF = {v: k for k, v in _EXPIRING.items()}
_EXPIRY_BYTES = 5


class TokenError(MailerError):
    """A token that is malformed or was not signed with this network's key."""


class RehearsalTokenError(TokenError):
    """A genuine token from a rehearsal's message: it must not act for the real person."""


class ExpiredTokenError(TokenError):
    """A genuine token past its expiry: it acts for nobody, but its language still
    chooses the page that says so."""

    def __init__(self, claim: Claim, expired_at: dt.datetime, refused: str) -> None:
        super().__init__(
            _("this link has expired: {refused}").format(refused=_(refused)),
            hint=_("ask for a new link"),
        )
        self.claim = claim
        self.expired_at = expired_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=4)
def _cipher_for(key: bytes) -> AESGCM:
    # A key of its own for sealing, derived from the token key: the HMAC of old tokens
    # and the cipher never share one. Cached: a send seals two tokens per person.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(hmac.new(key, b"mailer token sealing v2", hashlib.sha256).digest())


def unsubscribe_purpose(network: Network) -> str:
    return f"unsubscribe:{network.network.id}"


def registration_purpose(network: Network, seminar: int) -> str:
    return f"register:{network.network.id}:{seminar}"


def signup_purpose(network: Network, seminar: int) -> str:
    """A public sign-up's confirmation link (double opt-in)."""
    return f"signup:{network.network.id}:{seminar}"


def undo_purpose(network: Network) -> str:
    """The "undo" button after unsubscribing on the web: it expires (UNDO_DAYS)."""
    return f"undo:{network.network.id}"


# How long a link acts, by what it does. None: as long as the key lives. An unsubscribe
# link must keep working in old mail (RFC 8058 wants the one-click URL to work whenever
# the message is read, and a person may object to mail at any time), and a registration
# link is bounded by the seminar itself (its registration deadline closes the form).
# A confirmation or an undo is a step someone takes just now: a week is plenty, and an
# old one lying in a mailbox should not act.
CONFIRM_DAYS = 7
UNDO_DAYS = 7


def rehearsal_purpose(purpose: str) -> str:
    """``purpose`` for a rehearsal's links; a prefix, so no real purpose can equal it."""
    return f"{REHEARSAL}:{purpose}"


@dataclass(frozen=True, slots=True)
class Claim:
    """Who a genuine token was made for, and in which language they read their mail."""

    email: str
    language: Literal["sv", "en"] | None = None
    expires: dt.datetime | None = None


def missing_key(network: Network, *, why: str) -> ConfigError | None:
    """The error for a token key that is not set or too short; None when it is usable.

    ``mailer check`` says it as a warning; anything that signs or reads a link raises it.
    """
    name = network.network.token_key_env
    value = os.environ.get(name, "")
    if len(value.encode()) >= MIN_KEY_BYTES:
        return None
    if not value:
        message = _("{why} needs a signing key, but {variable} is not set")
    else:
        message = _("{why} needs a signing key, but {variable} is shorter than {count} bytes")
    return ConfigError(
        message.format(why=_(why), variable=name, count=MIN_KEY_BYTES),
        hint=_(
            "export {variable}=$(python3 -c 'import secrets; print(secrets.token_hex(32))') "
            "and keep it: links already sent stop working when it changes"
        ).format(variable=name),
    )


def _rehearsal(refused: str) -> RehearsalTokenError:
    return RehearsalTokenError(
        _("this link comes from a rehearsal: {refused}").format(refused=_(refused))
    )


@dataclass(frozen=True, slots=True)
class Signer:
    key: bytes

    @classmethod
    def from_env(cls, network: Network, *, why: str) -> Signer:
        """The signer keyed from the network's environment variable; ConfigError if unset.

        ``why`` says what needs the key, in English: the catalogue translates it.
        """
        problem = missing_key(network, why=why)
        if problem is not None:
            raise problem
        value = os.environ[network.network.token_key_env]
        redaction.remember(value)  # whoever has the key can forge anyone's links
        return cls(value.encode())

    def _mac(self, purpose: str, email: str) -> bytes:
        msg = f"{purpose}\n{email}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).digest()[:_MAC_BYTES]

    def _cipher(self) -> AESGCM:
        return _cipher_for(self.key)

    def sign(
        self,
        purpose: str,
        email: str,
        *,
        language: str | None = None,
        expires: dt.datetime | None = None,
    ) -> str:
        """A sealed token for ``email`` and ``purpose`` (``language``: "sv", "en" or None);
        with ``expires``, it acts until then only (to the second)."""
        if expires is None:
            plain = _LANGUAGES.get(language, b"-") + email.encode("utf-8")
        else:
            moment = max(0, int(expires.timestamp())).to_bytes(_EXPIRY_BYTES, "big")
            plain = _EXPIRING.get(language, b"_") + moment + email.encode("utf-8")
        # A synthetic nonce (an HMAC of everything sealed): the same person's link is the
        # same in every build of a message, and two different messages never share a nonce.
        nonce = hmac.new(self.key, b"nonce\n" + purpose.encode() + b"\n" + plain, "sha256").digest()
        nonce = nonce[:_NONCE_BYTES]
        return _b64(nonce + self._cipher().encrypt(nonce, plain, purpose.encode()))

    def verify(self, purpose: str, token: str, *, refused: str = "nothing was done") -> str:
        """The address the token was made for; TokenError when it is not genuine, and
        RehearsalTokenError (saying ``refused``) when a rehearsal's message carried it."""
        return self.claim(purpose, token, refused=refused).email

    def claim(self, purpose: str, token: str, *, refused: str = "nothing was done") -> Claim:
        """:meth:`verify`, with the language a sealed token carries."""
        token = token.strip()
        if "." not in token:
            return self._unseal(purpose, token, refused)
        return Claim(self._verify_mac(purpose, token, refused))

    def _unseal(self, purpose: str, token: str, refused: str) -> Claim:
        from cryptography.exceptions import InvalidTag

        try:
            raw = _unb64(token)
        except (binascii.Error, ValueError):
            raise TokenError(_("the token is malformed"), hint=_("copy the whole link")) from None
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        cipher = self._cipher()
        for aad, rehearsal in ((purpose, False), (rehearsal_purpose(purpose), True)):
            try:
                plain = cipher.decrypt(nonce, sealed, aad.encode())
            except (InvalidTag, ValueError):  # ValueError: too short to hold a tag
                continue
            if rehearsal:
                raise _rehearsal(refused)
            return _checked(_claim_of(plain), refused)
        raise TokenError(
            _("the token is not valid for this network"),
            hint=_("it was changed, cut short, or signed with another key"),
        )

    def _verify_mac(self, purpose: str, token: str, refused: str) -> str:
        head, dot, tail = token.partition(".")
        try:
            email = _unb64(head).decode("utf-8")
            mac = _unb64(tail)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise TokenError(_("the token is malformed"), hint=_("copy the whole link")) from None
        if dot and "@" in email:
            if hmac.compare_digest(mac, self._mac(purpose, email)):
                return email
            if hmac.compare_digest(mac, self._mac(rehearsal_purpose(purpose), email)):
                raise _rehearsal(refused)
        raise TokenError(
            _("the token is not valid for this network"),
            hint=_("it was changed, cut short, or signed with another key"),
        )


def _claim_of(plain: bytes) -> Claim:
    mark = plain[:1]
    if mark in _EXPIRING_OF:
        seconds = int.from_bytes(plain[1 : 1 + _EXPIRY_BYTES], "big")
        language = cast(Literal["sv", "en"] | None, _EXPIRING_OF[mark])
        email = plain[1 + _EXPIRY_BYTES :].decode("utf-8", "replace")
        return Claim(email, language, dt.datetime.fromtimestamp(seconds, dt.UTC))
    language = cast(Literal["sv", "en"] | None, _LANGUAGE_OF.get(mark))
    return Claim(plain[1:].decode("utf-8", "replace"), language)


def _checked(claim: Claim, refused: str) -> Claim:
    if claim.expires is not None and dt.datetime.now(dt.UTC) >= claim.expires:
        raise ExpiredTokenError(claim, claim.expires, refused)
    return claim


def expires_in(days: int) -> dt.datetime:
    """The moment a link made now stops acting, ``days`` from now."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


def with_token(url: str, token: str, *, name: str = "token") -> str:
    """``url`` with ``?token=...`` added (or ``&token=...`` when it has a query already)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.append((name, token))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
