"""Microsoft 365 through Microsoft Graph: ``POST /users/{mailbox}/sendMail`` with the MIME
message, for tenants where Exchange Online's SMTP AUTH is switched off.

The body is the very message every other channel sends (``Outgoing.data``), base64-encoded
with ``Content-Type: text/plain``, as Graph documents for MIME. Graph takes its recipients
from the message's own headers; the mailer writes exactly one person into To.

One httpx client per channel (:class:`GraphSession`), its connections reused (HTTP/2 where
the service offers it); each of the channel's workers is a :class:`GraphTransport` with at
most one request in flight, so ``max_connections`` (at most 4, Graph's own limit per
mailbox) is the number of requests in flight.

How Graph's answers map onto the journal's outcomes:

    202                      sent
    400, 413                 failed for this person (the message or its recipient)
    401                      a new token, once; then the channel stops
    403, 404                 the channel stops: a missing permission or mailbox
    429, 503                 ThrottledError: wait exactly Retry-After, then again
    500, 502, 504, timeout   after the body went out: uncertain (Graph may have sent it)
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email.utils
import json
import os
import ssl
from collections.abc import Awaitable
from typing import Protocol

import httpx

from mailer.channels.base import Transport, connection_problem, reply_text
from mailer.errors import (
    ChannelError,
    DeliveryError,
    RecipientRefusedError,
    ThrottledError,
    TransientError,
    UncertainError,
)
from mailer.i18n import _
from mailer.message import Outgoing

MAX_RETRY_AFTER = 3600.0  # seconds: a longer wait is a broken header, not advice
MAX_IN_FLIGHT = 4  # Graph's limit of concurrent requests per mailbox


class Tokens(Protocol):
    """What the channel needs of a token source (mailer.channels.oauth.TokenSource)."""

    def __call__(self, *, fresh: bool = False) -> Awaitable[str]: ...


class GraphSession:
    """What a channel's transports share: the HTTP client, its pool and the token."""

    def __init__(
        self,
        *,
        mailbox: str,
        graph_url: str,
        tokens: Tokens,
        label: str,
        in_flight: int = MAX_IN_FLIGHT,
        timeout: float = 60.0,
        cafile: str | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.url = f"{graph_url.rstrip('/')}/v1.0/users/{mailbox}/sendMail"
        self.tokens = tokens
        self.label = label
        self.in_flight = max(1, min(in_flight, MAX_IN_FLIGHT))
        self.timeout = timeout
        self.cafile = cafile
        self.users = 0  # transports not yet closed; the last one closes the client
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # nothing secret here, but keep it so
        return f"GraphSession(url={self.url!r})"

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=self.in_flight, max_keepalive_connections=self.in_flight
            )
            self._client = httpx.AsyncClient(
                verify=_tls_context(self.cafile or os.environ.get("MAILER_CAFILE"), self.label),
                http2=True,
                limits=limits,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)),
                follow_redirects=False,  # a redirect must not carry the token elsewhere
            )
        return self._client

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.aclose()


class GraphTransport(Transport):
    """One worker of a Graph channel: one request in flight at a time."""

    def __init__(self, session: GraphSession) -> None:
        self.session = session
        self.label = session.label
        self.description = f"graph {session.mailbox}"
        session.users += 1
        self._closed = False

    async def send(self, message: Outgoing) -> str:
        body = base64.b64encode(message.data)
        renewed = False
        while True:
            token = await self.session.tokens(fresh=renewed)
            response = await self._post(body, token)
            if response.status_code != 401 or renewed:
                return self._outcome(response)
            renewed = True  # a token revoked or expired early: one new one, then no more

    async def _post(self, body: bytes, token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
        try:
            return await self.session.client().post(self.session.url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            if _tls_failure(exc):
                raise self._untrusted(exc) from None
            raise TransientError(
                _("{channel}: cannot reach Microsoft Graph: {reason}").format(
                    channel=self.label, reason=connection_problem(exc)
                )
            ) from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            # Graph acts on a whole request only: a body cut short was not sent.
            raise TransientError(
                _("{channel}: the connection broke while sending the message: {reason}").format(
                    channel=self.label, reason=exc
                )
            ) from None
        except httpx.TimeoutException:
            raise UncertainError(
                _(
                    "no answer from Microsoft Graph within {seconds} s after the whole message "
                    "was handed over: it may have been sent"
                ).format(seconds=f"{self.session.timeout:g}")
            ) from None
        except (httpx.TransportError, ssl.SSLError) as exc:
            if _tls_failure(exc):
                raise self._untrusted(exc) from None
            raise UncertainError(
                _(
                    "the connection to Microsoft Graph was lost after the whole message was "
                    "handed over ({reason}): it may have been sent"
                ).format(reason=exc.__class__.__name__)
            ) from None

    def _outcome(self, response: httpx.Response) -> str:
        status = response.status_code
        said = graph_error(response)
        if status == 202:
            request = response.headers.get("request-id", "")
            return f"202 Accepted{f' request-id {request}' if request else ''}"
        if status in (400, 413):
            return _raise(RecipientRefusedError(f"{status} {said}", smtp_code=status))
        if status == 401:
            return _raise(
                ChannelError(
                    _("{channel}: Microsoft Graph refused a new token too ({reply})").format(
                        channel=self.label, reply=f"401 {said}"
                    ),
                    smtp_code=status,
                    hint=_("check the app registration's tenant_id and client_id"),
                )
            )
        if status == 403:
            return _raise(self._forbidden(said))
        if status == 404:
            return _raise(
                ChannelError(
                    _("{channel}: Microsoft Graph knows no mailbox {mailbox} ({reply})").format(
                        channel=self.label,
                        mailbox=repr(self.session.mailbox),
                        reply=f"404 {said}",
                    ),
                    smtp_code=status,
                    hint=_("mailbox must be the sending user's address in this tenant"),
                )
            )
        if status in (429, 503):
            return _raise(_throttled(status, response, said))
        if status >= 500:
            return _raise(
                UncertainError(
                    _(
                        "{status} from Microsoft Graph after the whole message was handed "
                        "over ({reply}): it may have been sent"
                    ).format(status=status, reply=said),
                    smtp_code=status,
                )
            )
        return _raise(
            ChannelError(
                _("{channel}: unexpected answer {status} from Graph ({reply})").format(
                    channel=self.label, status=status, reply=said
                )
            )
        )

    def _untrusted(self, exc: BaseException) -> ChannelError:
        return ChannelError(
            _("{channel}: the TLS certificate of {server} cannot be trusted: {reason}").format(
                channel=self.label, server=self.session.url, reason=reply_text(str(exc))
            ),
            hint=_("check graph_url; set ca_file (or MAILER_CAFILE) for a private CA"),
        )

    def _forbidden(self, said: str) -> ChannelError:
        return ChannelError(
            _("{channel}: Microsoft Graph does not let the app send as {mailbox} ({reply})").format(
                channel=self.label, mailbox=self.session.mailbox, reply=f"403 {said}"
            ),
            smtp_code=403,
            hint=_(
                "the app needs the Mail.Send application permission with admin consent, "
                "and the Exchange application access policy must include this mailbox"
            ),
        )

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.session.release()


async def check_access(session: GraphSession) -> str:
    """Ask Graph whether the app may send as the mailbox, sending nothing: a token, then a
    sendMail request with an empty body, which cannot be a message. 401, 403 and 404 raise
    the ChannelError a send would; ``400`` (malformed) counts as allowed. That Graph checks
    the permission and the application access policy before the body is an assumption
    (the test stand-in does; not yet tried against Microsoft's service)."""
    transport = GraphTransport(session)
    try:
        response = await transport._post(b"", await session.tokens())
        if response.status_code in (400, 202):
            return _("{channel}: Microsoft Graph lets the app send as {mailbox}").format(
                channel=session.label, mailbox=session.mailbox
            )
        transport._outcome(response)
        raise ChannelError(
            _("{channel}: unexpected answer {status} from Graph").format(
                channel=session.label, status=response.status_code
            )
        )
    except (RecipientRefusedError, TransientError, UncertainError) as exc:
        raise ChannelError(
            _("{channel}: cannot ask Microsoft Graph: {reason}").format(
                channel=session.label, reason=exc
            )
        ) from None
    finally:
        await transport.close()


def _throttled(status: int, response: httpx.Response, said: str) -> ThrottledError:
    wait = retry_after(response.headers.get("Retry-After"))
    if wait is None:
        throttled = _("{status} Microsoft Graph is throttling this mailbox ({reply})")
    else:
        throttled = _(
            "{status} Microsoft Graph is throttling this mailbox; it asks us to wait "
            "{seconds} s ({reply})"
        )
    return ThrottledError(
        throttled.format(status=status, seconds=f"{wait or 0:g}", reply=said),
        smtp_code=status,
        retry_after=wait,
    )


def _raise(error: DeliveryError) -> str:
    raise error


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if seconds != seconds:  # nan
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def graph_error(response: httpx.Response) -> str:
    """Graph's ``{"error": {"code", "message"}}`` on one short line (sending and reading
    a mailbox both show it)."""
    try:
        error = json.loads(response.content or b"{}").get("error") or {}
        text = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        text = ""
    return reply_text(text or response.reason_phrase or "no explanation")


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _tls_context(cafile: str | None, label: str) -> ssl.SSLContext:
    """The system's CAs, and ``cafile``'s (a private CA, or a test CA) as well."""
    context = ssl.create_default_context()
    if cafile:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(
                _("{channel}: cannot use the CA file {file}: {reason}").format(
                    channel=label, file=cafile, reason=exc
                ),
                hint=_("ca_file (or MAILER_CAFILE) must name a PEM file of CA certificates"),
            ) from None
    return context
