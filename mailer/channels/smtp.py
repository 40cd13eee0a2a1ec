"""SMTP through aiosmtplib's public API: connect, TLS, log in, one transaction a message.

One aiosmtplib connection carries one transaction at a time, so a channel that sends over
several connections makes several transports. Only documented methods of ``aiosmtplib.SMTP``
are used (connect, ehlo, login, mail, rcpt, data, rset, quit, supports_extension,
get_transport_info), so every release the pin in pyproject.toml allows behaves the same;
CI runs the SMTP tests against the lowest and the newest of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

from mailer.channels.base import (
    Transport,
    classify,
    connection_problem,
    names_a_parameter,
    reply_text,
)
from mailer.config.channels import is_loopback
from mailer.errors import (
    ChannelError,
    DeliveryError,
    RecipientRefusedError,
    TransientError,
    UncertainError,
)
from mailer.i18n import _
from mailer.message import Outgoing

Security = Literal["tls", "starttls", "auto", "none"]  # auto: STARTTLS when offered
TokenSource = Callable[[], Awaitable[str]]
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


@functools.cache
def local_hostname() -> str:
    """This machine's fully qualified name, for EHLO (and the Received header a server
    writes). Looked up once per process: aiosmtplib would otherwise look it up on every
    connection. A name that is not a usable FQDN falls back to a literal the RFCs allow."""
    name = socket.getfqdn()
    if _HOSTNAME.fullmatch(name):
        return name
    return "localhost.localdomain"


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = None
    token_source: TokenSource | None = None  # OAuth2 (XOAUTH2) instead of a password
    timeout: float = 30.0  # each command
    connect_timeout: float = 15.0
    data_timeout: float = 120.0
    validate_certs: bool = True
    cafile: str | None = None
    helo_name: str | None = None  # None: this machine's fully qualified name

    def __repr__(self) -> str:  # never show the password, not even in a traceback
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, "
            f"security={self.security!r}, username={self.username!r}, password='***')"
        )


class SmtpTransport(Transport):
    """One aiosmtplib connection, reused for many messages."""

    def __init__(self, settings: SmtpSettings, *, label: str) -> None:
        self.settings = settings
        self.label = label
        self.description = f"smtp {settings.host}:{settings.port} ({settings.security})"
        self._smtp: aiosmtplib.SMTP | None = None

    @property
    def is_open(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        context = None
        if s.security != "none":
            context = _tls_context(s.cafile or os.environ.get("MAILER_CAFILE"), self.label)
        start_tls: bool | None = {"starttls": True, "auto": None}.get(s.security, False)
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=start_tls,
            tls_context=context,
            validate_certs=s.validate_certs,
            timeout=s.timeout,
            local_hostname=s.helo_name or local_hostname(),
        )

    async def open(self) -> None:
        """Connect and log in. TransientError when the server is away or busy (worth
        another try); ChannelError when this channel cannot work as configured."""
        s = self.settings
        if s.username and s.security in ("none", "auto") and not is_loopback(s.host):
            # Checked before connecting: the password must never cross a network in clear
            # ("auto" goes on in clear when the server offers no STARTTLS).
            raise ChannelError(
                _("{channel}: refusing to log in over an unencrypted connection").format(
                    channel=self.label
                )
            )
        if s.helo_name is None and not local_hostname.cache_info().currsize:
            # getfqdn() may wait for DNS: once per process, and not on the event loop.
            await asyncio.to_thread(local_hostname)
        client = self._client()
        try:
            await self._connect(client)
            await self._login(client)
            await self._greet(client)
        except BaseException:
            await _quietly_close(client)
            raise
        self._smtp = client

    async def _connect(self, client: aiosmtplib.SMTP) -> None:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            await client.connect(timeout=s.connect_timeout)
        except aiosmtplib.SMTPConnectTimeoutError:
            raise TransientError(
                _("{channel}: no answer from {server} within {seconds} s").format(
                    channel=self.label, server=where, seconds=f"{s.connect_timeout:g}"
                )
            ) from None
        except aiosmtplib.SMTPConnectResponseError as exc:
            raise self._refusal(exc.code, exc.message, "greeting") from None
        except aiosmtplib.SMTPConnectError as exc:
            if isinstance(exc.__cause__, ssl.SSLError):  # implicit TLS: a handshake failure
                raise _tls_error(self.label, where, exc.__cause__) from None
            raise _unreachable(self.label, where, exc.__cause__ or exc) from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise TransientError(
                _("{channel}: {server} hung up while greeting: {reason}").format(
                    channel=self.label, server=where, reason=exc
                )
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise self._refusal(exc.code, exc.message, "greeting") from None
        except ssl.SSLError as exc:
            raise _tls_error(self.label, where, exc) from None
        except aiosmtplib.SMTPException as exc:
            if "STARTTLS" in str(exc):
                # No silent downgrade: without STARTTLS the password and the mail would
                # cross the network in clear.
                raise ChannelError(
                    _(
                        "{channel}: {server} does not offer STARTTLS, so nothing is sent "
                        "unencrypted"
                    ).format(channel=self.label, server=where),
                    hint=_(
                        "use security = 'tls' (port 465) if the server speaks TLS from "
                        "the start; ask the member's mail admins otherwise"
                    ),
                ) from None
            raise ChannelError(f"{self.label}: {where}: {reply_text(str(exc))}") from None
        except OSError as exc:
            raise _unreachable(self.label, where, exc) from None

    async def _greet(self, client: aiosmtplib.SMTP) -> None:
        """EHLO (HELO where refused) unless login did it already."""
        if not client.is_ehlo_or_helo_needed:
            return
        try:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise TransientError(
                _("{channel}: {server} hung up: {reason}").format(
                    channel=self.label, server=self.settings.host, reason=exc
                )
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise self._refusal(exc.code, exc.message, "greeting") from None

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        s = self.settings
        if not s.username:
            return
        try:
            if s.token_source is not None:
                await client.ehlo()
                if "xoauth2" not in client.server_auth_methods:
                    raise ChannelError(
                        _("{channel}: {server} does not offer XOAUTH2 login").format(
                            channel=self.label, server=s.host
                        ),
                        hint=_("use auth = 'password' for this server"),
                    )
                await client.auth_xoauth2(s.username, await s.token_source())
            else:
                await client.login(s.username, s.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise self._refusal(exc.code, exc.message, "login") from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise TransientError(
                _("{channel}: {server} hung up during login: {reason}").format(
                    channel=self.label, server=s.host, reason=exc
                )
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise self._refusal(exc.code, exc.message, "login") from None
        except aiosmtplib.SMTPException as exc:
            raise ChannelError(
                _("{channel}: cannot log in: {reason}").format(
                    channel=self.label, reason=reply_text(str(exc))
                )
            ) from None

    def _refusal(self, code: int, message: str, phase: str) -> DeliveryError:
        """A refusal at greeting or login: busy (try later) or wrong for this channel."""
        error = classify(code, message)
        if isinstance(error, TransientError) or (
            isinstance(error, ChannelError) and error.hint  # 5.7.30: says what to do
        ):
            error.message = f"{self.label}: {error.message}"
            return error
        if phase == "login":
            return ChannelError(
                _("{channel}: the server refused the login for {username} ({reply})").format(
                    channel=self.label,
                    username=repr(self.settings.username),
                    reply=f"{code} {reply_text(message)}",
                ),
                smtp_code=code,
                hint=_("check the username and the password variable"),
            )
        return ChannelError(
            _("{channel}: the server refused us ({reply})").format(
                channel=self.label, reply=f"{code} {reply_text(message)}"
            )
        )

    async def send(self, message: Outgoing) -> str:
        """One transaction: MAIL, RCPT, DATA; the server's final reply.

        aiosmtplib's data() turns any bare CR or LF into CRLF (servers disagree on where
        such a line ends, which is how SMTP smuggling works) and stuffs dots.
        """
        if not self.is_open:
            await self.open()
        smtp = self._smtp
        assert smtp is not None
        utf8 = self._needs_smtputf8(smtp, message)
        s = self.settings
        encoding = "utf-8" if utf8 else "ascii"
        options = ["SMTPUTF8"] if utf8 else []
        phase = "mail"
        try:
            await smtp.mail(message.sender, options=options, encoding=encoding, timeout=s.timeout)
            phase = "rcpt"
            await smtp.rcpt(message.recipient, encoding=encoding, timeout=s.timeout)
            phase = "data"
            response = await smtp.data(message.data, timeout=s.data_timeout)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_after_error(exc.code)
            raise self._refused(exc, phase, message) from None
        except (TimeoutError, OSError, aiosmtplib.SMTPException) as exc:
            # The reply may still come: a later command could take it for its own.
            await self._drop()
            raise _lost(exc, phase) from None
        return f"{response.code} {reply_text(response.message)}"

    def _needs_smtputf8(self, smtp: aiosmtplib.SMTP, message: Outgoing) -> bool:
        """Whether this transaction needs SMTPUTF8; refused here when the server lacks it.

        The sender is checked too: a non-ASCII from address would otherwise fail to encode
        (a crash, not a delivery error), and it concerns every message of the channel.
        """
        sender_utf8 = not message.sender.isascii()
        if not (message.smtputf8 or sender_utf8) or smtp.supports_extension("smtputf8"):
            return message.smtputf8 or sender_utf8
        if sender_utf8:
            raise ChannelError(
                _(
                    "{channel}: the from address {sender} needs SMTPUTF8, which {server} does "
                    "not offer"
                ).format(channel=self.label, sender=message.sender, server=self.settings.host),
                hint=_("use an ASCII from address for this channel (a domain in its xn-- form)"),
            )
        raise RecipientRefusedError(
            _("the server does not accept internationalised addresses (SMTPUTF8)")
        )

    def _refused(
        self, exc: aiosmtplib.SMTPResponseException, phase: str, message: Outgoing
    ) -> DeliveryError:
        error = classify(exc.code, exc.message)
        if (
            phase == "mail"
            and isinstance(error, RecipientRefusedError)
            and not names_a_parameter(exc.code, exc.message)
        ):
            # A refused sender refuses everybody: the channel is misconfigured.
            return ChannelError(
                _("{channel}: the server refused the sender {sender} ({reply})").format(
                    channel=self.label, sender=message.sender, reply=error.message
                ),
                smtp_code=exc.code,
                hint=_("check the channel's from address and the mailbox's send-as rights"),
            )
        return error

    async def _drop(self) -> None:
        if self._smtp is not None:
            await _quietly_close(self._smtp)
            self._smtp = None

    async def _reset_after_error(self, code: int) -> None:
        if self._smtp is None:
            return
        if code in (421, 432) or not self._smtp.is_connected:
            await self._drop()
            return
        try:
            await self._smtp.rset(timeout=self.settings.timeout)
        except (aiosmtplib.SMTPException, OSError):
            await self._drop()

    async def close(self) -> None:
        if self._smtp is not None:
            client, self._smtp = self._smtp, None
            sock = _socket_of(client)
            try:
                await client.quit(timeout=min(self.settings.timeout, 5))
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                client.close()
            await wait_closed(sock)


def _lost(exc: BaseException, phase: str) -> DeliveryError:
    """A timeout or a dropped connection. Once DATA was under way the whole message may have
    reached the server, which may have taken it: uncertain, never retried on its own.
    (aiosmtplib's data() sends DATA and the message in one call, so a drop between DATA
    and its 354 counts as uncertain too: the safe side of "never twice".)"""
    timed_out = isinstance(exc, TimeoutError)
    if phase == "data":
        if timed_out:
            return UncertainError(
                _(
                    "no answer within the DATA timeout after the whole message was handed "
                    "over: it may have arrived"
                )
            )
        return UncertainError(
            _(
                "the connection was lost after the whole message was handed over: it may "
                "have arrived"
            )
        )
    if timed_out:
        return TransientError(
            _("timed out waiting for the server ({command})").format(command=phase.upper())
        )
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return TransientError(
            _("the server closed the connection during {command}").format(command=phase.upper())
        )
    return TransientError(f"{exc.__class__.__name__}: {reply_text(str(exc))}")


def _socket_of(client: aiosmtplib.SMTP) -> object | None:
    sock: object | None = None
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        sock = client.get_transport_info("socket")
    return sock


async def wait_closed(sock: object | None, *, limit: float = 1.0) -> None:
    """Wait (briefly) until a closed connection's socket is really closed.

    A TLS connection finishes closing only after a round trip with the server; a run that
    ends right after close() would otherwise leave its socket open (a ResourceWarning).
    aiosmtplib has no waiter for this; the socket it reports says when it is gone.
    """
    fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    # The socket gives no event for its closing: polling it is the point.
    while fileno() != -1 and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)


def _tls_context(cafile: str | None, label: str) -> ssl.SSLContext:
    """Verify certificates and host names (the default); trust ``cafile`` as well as the
    system's CAs, for a member whose server has a certificate from its own CA."""
    context = ssl.create_default_context()
    if cafile:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ChannelError(
                _("{channel}: cannot use the CA file {file}: {reason}").format(
                    channel=label, file=cafile, reason=reason
                ),
                hint=_("ca_file (or MAILER_CAFILE) must name a PEM file of CA certificates"),
            ) from None
    return context


def _tls_error(label: str, where: str, exc: ssl.SSLError) -> ChannelError:
    """A failed TLS handshake, said plainly; fatal for the channel, never retried."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        problem = str(exc.verify_message or exc.reason)
        return ChannelError(
            _("{channel}: the TLS certificate of {server} cannot be trusted: {reason}").format(
                channel=label, server=where, reason=problem
            ),
            hint=_(
                "check the host name; if the server uses its own CA, set ca_file in the "
                "channel (or MAILER_CAFILE) to that CA's certificate"
            ),
        )
    return ChannelError(
        _("{channel}: TLS with {server} failed: {reason}").format(
            channel=label, server=where, reason=exc.reason or exc
        ),
        hint=_("check the host, port and security setting"),
    )


def _unreachable(label: str, where: str, exc: BaseException) -> TransientError:
    """A connection that could not be made, said once: 'cannot connect to HOST:PORT:
    connection refused', not aiosmtplib's sentence around the system's."""
    return TransientError(
        _("{channel}: cannot connect to {server}: {reason}").format(
            channel=label, server=where, reason=connection_problem(exc)
        )
    )


async def _quietly_close(client: aiosmtplib.SMTP) -> None:
    # Closing a broken connection must never raise, and must finish before the run ends
    # (a TLS connection left half-closed is a socket left open: see wait_closed).
    sock = _socket_of(client)
    with contextlib.suppress(Exception):
        client.close()
    await wait_closed(sock)
