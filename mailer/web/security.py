"""What every response of ``mailer serve`` carries, and what every form must bring back.

- Headers: a strict Content-Security-Policy (nothing but the app's own stylesheet, forms
  only to itself, no framing), ``Referrer-Policy: no-referrer`` (a page's URL holds a
  personal token), ``Cache-Control: no-store``, ``X-Content-Type-Options: nosniff``.
- CSRF: a signed double submit. A form page sets a cookie with a random value and puts
  the same value, with an HMAC under the token key, in a hidden field; a POST counts only
  when the cookie and the field agree and the HMAC is genuine. The one exception is RFC
  8058's one-click POST, which a mail provider sends with no cookie: the personal token in
  its URL is what authorises it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

CSRF_COOKIE = "mailer_csrf"
CSRF_FIELD = "csrf"

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class Csrf:
    """Signed double-submit tokens, keyed from the network's token key."""

    def __init__(self, key: bytes) -> None:
        self._key = hmac.new(key, b"mailer csrf v1", hashlib.sha256).digest()

    def _mac(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def new_cookie(self) -> str:
        return secrets.token_urlsafe(24)

    def field_for(self, cookie: str) -> str:
        return f"{cookie}.{self._mac(cookie)}"

    def valid(self, cookie: str | None, field: str | None) -> bool:
        if not cookie or not field:
            return False
        value, _, mac = field.partition(".")
        return hmac.compare_digest(value, cookie) and hmac.compare_digest(mac, self._mac(value))


def choose_language(accept: str | None, *, token: str | None, default: str) -> str:
    """The token's language, else the browser's first of sv/en, else the network's."""
    if token in ("sv", "en"):
        return token
    best: tuple[float, str] | None = None
    for part in (accept or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("sv", "en"):
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if best is None or quality > best[0]:
            best = (quality, primary)
    return best[1] if best else default
