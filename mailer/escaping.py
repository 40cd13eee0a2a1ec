"""Values from lists, registration imports and the config, made safe for where they go.

Two places need more than the email package and Jinja's autoescape give:

* Header text. ``email.headerregistry`` refuses CR and LF, but it *decodes* RFC 2047
  encoded words in the values it is given and writes the decoded text back unquoted, so a
  name like ``=?utf-8?q?a=0D=0ABcc=3A_x=40y.example?=`` becomes a Bcc header, and
  ``=?utf-8?q?Eve_=3Ceve=40evil.example=3E=2C?=`` an extra address in To. :func:`header_text`
  decodes such words itself, folds control characters to spaces and breaks any ``=?`` left,
  so what the recipient sees is what the data said, on one line.
* URLs. Jinja escapes a ``javascript:`` URL correctly, and it still runs when clicked, so a
  URL from data must pass :func:`safe_url` (http, https or mailto) before it reaches a link.
"""

from __future__ import annotations

import re
import unicodedata
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from urllib.parse import urlsplit

from mailer.i18n import _

URL_SCHEMES = ("http", "https", "mailto")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_SPACE = re.compile(r"\s")  # where str.isspace() is true, at C speed (URLs, every message)


class UnsafeURLError(ValueError):
    """A URL that must not become a link; the message says why."""


def header_text(value: str, *, limit: int = 200) -> str:
    """One printable line for a header (a display name, a subject), at most ``limit`` long."""
    value = _decode_words(value)
    value = unicodedata.normalize("NFC", value)
    value = _CONTROL.sub(" ", value)
    value = " ".join(value.split())[:limit]
    # A "=?" that survived could still start an encoded word once the header is folded.
    return value.replace("=?", "= ?")


def _decode_words(value: str) -> str:
    # Twice at most: a decoded word may itself hold another one; what is left is broken
    # up by header_text.
    for _attempt in range(2):
        if not _ENCODED_WORD.search(value):
            break
        try:
            value = str(make_header(decode_header(value)))
        except (HeaderParseError, LookupError, UnicodeError, ValueError):
            break
    return value


def safe_url(value: str, *, schemes: tuple[str, ...] = URL_SCHEMES) -> str:
    """``value`` when it is a URL with an allowed scheme, else UnsafeURLError."""
    if not value or value != value.strip():
        raise UnsafeURLError(_("an empty address, or spaces around it"))
    if _CONTROL.search(value) or _SPACE.search(value):
        raise UnsafeURLError(_("spaces or control characters inside the address"))
    if any(c in value for c in '<>"\\'):
        raise UnsafeURLError(_('<, >, " or \\ inside the address'))
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise UnsafeURLError(_("not a URL: {reason}").format(reason=exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(schemes)
        if not scheme:
            raise UnsafeURLError(_("no scheme (only {allowed})").format(allowed=allowed))
        raise UnsafeURLError(
            _("{scheme}: is not allowed (only {allowed})").format(scheme=scheme, allowed=allowed)
        )
    if scheme in ("http", "https") and not parts.hostname:
        raise UnsafeURLError(_("no host name"))
    if scheme == "mailto" and not parts.path:
        raise UnsafeURLError(_("mailto: without an address"))
    return value


def printable(value: str, *, keep: str = "") -> str:
    """``value`` with control characters (ESC, BEL, NUL, CR, ...) turned into spaces, except
    those in ``keep`` (``"\\n"`` for text of several lines).

    For text from outside (a server's reply, a file name, a list cell) on its way to a
    terminal or a log: an escape sequence there could rewrite the screen or forge a line.
    """
    if not _CONTROL.search(value):
        return value
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else " ", value)
