"""Mail channels: how one member's mail leaves. SMTP (aiosmtplib) or a local Maildir.

Each transport has the same small shape (open, send, close) and turns whatever went wrong
into one of three errors: TransientError (try again later), RecipientRefusedError (this
person, for good) or ChannelError (this channel cannot send at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import mailbox
import os
import ssl
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiosmtplib

from mailer.config import MaildirChannel, Member, Network, SmtpChannel, _is_loopback
from mailer.errors import (
    ChannelError,
    ConfigError,
    DeliveryError,
    RecipientRefusedError,
    TooManyConnectionsError,
    TransientError,
    UncertainError,
)
from mailer.message import Outgoing

LOCAL_HOSTNAME = "mailer.localhost"  # saves a host-name look-up on every connection


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


class MaildirTransport(Transport):
    """Writes each message as a file in a Maildir folder, readable by any mail client."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"maildir {path}"
        self._box: mailbox.Maildir | None = None

    @property
    def is_open(self) -> bool:
        return self._box is not None

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._box = mailbox.Maildir(self.path, create=True)
        except OSError as exc:
            raise ChannelError(f"cannot use the Maildir: {exc.strerror}", path=self.path) from None

    async def send(self, message: Outgoing) -> str:
        assert self._box is not None, "open() first"
        try:
            key = self._box.add(message.data)
        except OSError as exc:
            raise ChannelError(
                f"cannot write to the Maildir: {exc.strerror}", path=self.path
            ) from None
        return f"stored as {key}"


TokenSource = Callable[[], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    username: str | None = None
    password: str | None = None
    token_source: TokenSource | None = None  # OAuth2 (XOAUTH2) instead of a password
    timeout: float = 30.0  # each command
    connect_timeout: float = 15.0
    data_timeout: float = 120.0
    validate_certs: bool = True
    cafile: str | None = None

    def __repr__(self) -> str:  # never show the password, not even in a traceback
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, "
            f"security={self.security!r}, username={self.username!r}, password='***')"
        )


class SmtpTransport(Transport):
    """One aiosmtplib connection, reused for many messages.

    One connection carries one transaction at a time; a channel that sends over several
    connections makes several transports.
    """

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
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=context,
            validate_certs=s.validate_certs,
            timeout=s.timeout,
            local_hostname=LOCAL_HOSTNAME,
        )

    async def open(self) -> None:
        """Connect and log in. TransientError when the server is away or busy (worth
        another try); ChannelError when this channel cannot work as configured."""
        s = self.settings
        where = f"{s.host}:{s.port}"
        if s.username and s.security == "none" and not _is_loopback(s.host):
            # Checked before connecting: the password must never cross a network in clear.
            raise ChannelError(f"{self.label}: refusing to log in over an unencrypted connection")
        client = self._client()
        try:
            await client.connect(timeout=s.connect_timeout)
        except aiosmtplib.SMTPConnectTimeoutError:
            raise TransientError(
                f"{self.label}: no answer from {where} within {s.connect_timeout:g} s"
            ) from None
        except aiosmtplib.SMTPConnectResponseError as exc:
            await _quietly_close(client)
            raise self._refusal(exc.code, exc.message, "greeting") from None
        except aiosmtplib.SMTPConnectError as exc:
            await _quietly_close(client)
            if isinstance(exc.__cause__, ssl.SSLError):  # implicit TLS: a handshake failure
                raise _tls_error(self.label, where, exc.__cause__) from None
            raise TransientError(
                f"{self.label}: cannot connect to {where}: {_reply(str(exc))}"
            ) from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            await _quietly_close(client)
            raise TransientError(f"{self.label}: {where} hung up while greeting: {exc}") from None
        except aiosmtplib.SMTPResponseException as exc:
            await _quietly_close(client)
            raise self._refusal(exc.code, exc.message, "greeting") from None
        except ssl.SSLError as exc:
            await _quietly_close(client)
            raise _tls_error(self.label, where, exc) from None
        except aiosmtplib.SMTPException as exc:
            await _quietly_close(client)
            if "STARTTLS" in str(exc):
                # No silent downgrade: without STARTTLS the password and the mail would
                # cross the network in clear.
                raise ChannelError(
                    f"{self.label}: {where} does not offer STARTTLS, so nothing is sent "
                    "unencrypted",
                    hint="use security = 'tls' (port 465) if the server speaks TLS from "
                    "the start; ask the member's mail admins otherwise",
                ) from None
            raise ChannelError(f"{self.label}: {where}: {_reply(str(exc))}") from None
        except OSError as exc:
            await _quietly_close(client)
            raise TransientError(f"{self.label}: cannot connect to {where}: {exc}") from None
        try:
            await self._login(client)
            await self._greet(client)
        except BaseException:
            await _quietly_close(client)
            raise
        self._smtp = client

    async def _greet(self, client: aiosmtplib.SMTP) -> None:
        """EHLO (HELO where refused) unless login did it: send() issues MAIL directly."""
        if not client.is_ehlo_or_helo_needed:
            return
        try:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise TransientError(f"{self.label}: {self.settings.host} hung up: {exc}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise self._refusal(exc.code, exc.message, "greeting") from None

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        s = self.settings
        if not s.username:
            return
        if s.security == "none" and not _is_loopback(s.host):
            raise ChannelError(f"{self.label}: refusing to log in over an unencrypted connection")
        try:
            if s.token_source is not None:
                await client.ehlo()
                if "xoauth2" not in client.server_auth_methods:
                    raise ChannelError(
                        f"{self.label}: {s.host} does not offer XOAUTH2 login",
                        hint="use auth = 'password' for this server",
                    )
                await client.auth_xoauth2(s.username, await s.token_source())
            else:
                await client.login(s.username, s.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise self._refusal(exc.code, exc.message, "login") from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise TransientError(f"{self.label}: {s.host} hung up during login: {exc}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise self._refusal(exc.code, exc.message, "login") from None
        except aiosmtplib.SMTPException as exc:
            raise ChannelError(f"{self.label}: cannot log in: {_reply(str(exc))}") from None

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
                f"{self.label}: the server refused the login for "
                f"{self.settings.username!r} ({code} {_reply(message)})",
                smtp_code=code,
                hint="check the username and the password variable",
            )
        return ChannelError(f"{self.label}: the server refused us ({code} {_reply(message)})")

    async def send(self, message: Outgoing) -> str:
        """One transaction: MAIL, RCPT, DATA; the server's final reply.

        The commands go through aiosmtplib's protocol layer with the message's bytes as
        they are: they were built with CRLF line ends, so only dot-stuffing is left to do,
        where aiosmtplib's data() runs two regular expressions over every message (half a
        millisecond for 13 KB). One deadline per phase (asyncio.timeout) stands in for a
        wait_for per reply.
        """
        if not self.is_open:
            await self.open()
        smtp = self._smtp
        assert smtp is not None
        s = self.settings
        encoding = "utf-8" if message.smtputf8 else "ascii"
        loop = asyncio.get_running_loop()
        phase = "mail"
        try:
            async with asyncio.timeout(s.timeout) as deadline:
                options = (b"SMTPUTF8",) if message.smtputf8 else ()
                sender = b"FROM:<" + message.sender.encode(encoding) + b">"
                _expect(await smtp.execute_command(b"MAIL", sender, *options, timeout=None), 250)
                phase = "rcpt"
                deadline.reschedule(loop.time() + s.timeout)
                recipient = b"TO:<" + message.recipient.encode(encoding) + b">"
                _expect(await smtp.execute_command(b"RCPT", recipient, timeout=None), 250, 251)
                phase = "data"
                payload = data_payload(message.data)
                if payload is None:  # bare line ends (never from our builders): aiosmtplib's way
                    deadline.reschedule(loop.time() + s.data_timeout)
                    response = await smtp.data(message.data, timeout=None)
                else:
                    deadline.reschedule(loop.time() + s.timeout)
                    _expect(await smtp.execute_command(b"DATA", timeout=None), 354)
                    deadline.reschedule(loop.time() + s.data_timeout)
                    if smtp.protocol is None:
                        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
                    smtp.protocol.write(payload)
                    phase = "handed over"
                    response = _expect(await smtp.protocol.read_response(timeout=None), 250)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_after_error(exc.code)
            error = classify(exc.code, exc.message)
            if phase == "mail" and isinstance(error, RecipientRefusedError):
                # A refused sender refuses everybody: the channel is misconfigured.
                error = ChannelError(
                    f"{self.label}: the server refused the sender {message.sender} "
                    f"({error.message})",
                    smtp_code=exc.code,
                    hint="check the channel's from address and the mailbox's send-as rights",
                )
            raise error from None
        except TimeoutError:
            # The reply may still come: a later command could take it for its own.
            await self._drop()
            if phase == "handed over":
                raise UncertainError(
                    "no answer within the DATA timeout after the whole message was handed "
                    "over: it may have arrived"
                ) from None
            raise TransientError(f"timed out waiting for the server ({phase.upper()})") from None
        except (OSError, aiosmtplib.SMTPException) as exc:
            await self._drop()
            if phase == "handed over":
                raise UncertainError(
                    "the connection was lost after the whole message was handed over: "
                    "it may have arrived"
                ) from None
            if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                raise TransientError(
                    f"the server closed the connection during {phase.upper()}"
                ) from None
            raise TransientError(f"{exc.__class__.__name__}: {_reply(str(exc))}") from None
        return f"{response.code} {_reply(response.message)}"

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
            protocol = client.protocol
            try:
                await client.quit(timeout=min(self.settings.timeout, 5))
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                client.close()
            await wait_closed(protocol)


async def wait_closed(protocol: object, *, limit: float = 1.0) -> None:
    """Wait (briefly) until a closed connection is really gone.

    A TLS connection finishes closing only after a round trip with the server; a run that
    ends right after close() would otherwise leave its socket open (a ResourceWarning).
    aiosmtplib has no public waiter for this, so poll its protocol's flag.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while protocol is not None and not getattr(protocol, "_connection_lost", True):
        if loop.time() > deadline:
            return
        await asyncio.sleep(0.005)


def _expect(response: aiosmtplib.SMTPResponse, *codes: int) -> aiosmtplib.SMTPResponse:
    if response.code not in codes:
        raise aiosmtplib.SMTPResponseException(response.code, response.message)
    return response


def data_payload(data: bytes) -> bytes | None:
    """What follows DATA: the message with lines that start with '.' doubled (RFC 5321,
    4.5.2) and the final '.' line; None unless every line ends in CRLF.

    A bare CR or LF must never reach the server as it is: servers disagree on where such
    a line ends, which is how SMTP smuggling works; for those bytes, aiosmtplib's data()
    turns them into CRLF. bytes methods run at C speed: ~50 us for 13 KB, where
    aiosmtplib's regular expressions take ~500.
    """
    bare = data.replace(b"\r\n", b"")
    if b"\r" in bare or b"\n" in bare:
        return None
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + b".\r\n"


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
                f"{label}: cannot use the CA file {cafile}: {reason}",
                hint="ca_file (or MAILER_CAFILE) must name a PEM file of CA certificates",
            ) from None
    return context


def _tls_error(label: str, where: str, exc: ssl.SSLError) -> ChannelError:
    """A failed TLS handshake, said plainly; fatal for the channel, never retried."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        problem = str(exc.verify_message or exc.reason)
        return ChannelError(
            f"{label}: the TLS certificate of {where} cannot be trusted: {problem}",
            hint="check the host name; if the server uses its own CA, set ca_file in the "
            "channel (or MAILER_CAFILE) to that CA's certificate",
        )
    return ChannelError(
        f"{label}: TLS with {where} failed: {exc.reason or exc}",
        hint="check the host, port and security setting",
    )


async def _quietly_close(client: aiosmtplib.SMTP) -> None:
    # Closing a broken connection must never raise, and must finish before the run ends
    # (a TLS connection left half-closed is a socket left open: see wait_closed).
    protocol = client.protocol
    with contextlib.suppress(Exception):
        client.close()
    await wait_closed(protocol)


def _reply(text: str) -> str:
    return " ".join(str(text).split())[:300]


def classify(code: int, message: str) -> DeliveryError:
    """Which of the three failure classes an SMTP reply belongs to."""
    text = f"{code} {_reply(message)}"
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


def parse_via(url: str) -> SmtpSettings:
    """``--via smtp://127.0.0.1:2525``: one local test server for every channel."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or not parts.port:
        raise ConfigError(f"--via {url!r}: expected smtp://HOST:PORT")
    if parts.username or parts.password:
        raise ConfigError("--via takes no credentials: it is for a local test server")
    security: Literal["tls", "none"] = "tls" if parts.scheme == "smtps" else "none"
    if security == "none" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"--via {url!r}: plain SMTP is only allowed to localhost",
            hint="use smtps:// for another host",
        )
    return SmtpSettings(host=parts.hostname, port=parts.port, security=security)


def transport_factory(
    member: Member, network: Network, *, via: SmtpSettings | None = None
) -> Callable[[], Transport]:
    """Makes one transport per connection of a member's channel; secrets are read once,
    and the connections share one OAuth2 token cache."""
    label = member.short_name or member.name
    if via is not None:
        return lambda: SmtpTransport(via, label=label)
    channel = member.channel
    if isinstance(channel, MaildirChannel):
        path = network.resolve(channel.path)
        return lambda: MaildirTransport(path)
    assert isinstance(channel, SmtpChannel)
    settings = smtp_settings(channel, label=label)
    if channel.ca_file:
        settings = dataclasses.replace(settings, cafile=str(network.resolve(channel.ca_file)))
    return lambda: SmtpTransport(settings, label=label)


def smtp_settings(channel: SmtpChannel, *, label: str) -> SmtpSettings:
    """Settings for a channel's connections; reads its secret from the environment once."""
    token_source = None
    if channel.auth == "oauth2":
        from mailer.oauth import TokenSource

        token_source = TokenSource.for_channel(channel, label=label)
    return SmtpSettings(
        host=channel.host,
        port=channel.port,
        security=channel.security,
        username=channel.username,
        password=channel.password(),
        token_source=token_source,
        timeout=channel.timeout,
        connect_timeout=channel.connect_timeout,
        data_timeout=channel.data_timeout,
    )
