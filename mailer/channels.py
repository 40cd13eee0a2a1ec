"""Mail channels: how one member's mail leaves. SMTP (aiosmtplib) or a local Maildir.

Each transport has the same small shape (open, send, close) and turns whatever went wrong
into one of three errors: TransientError (try again later), RecipientRefusedError (this
person, for good) or ChannelError (this channel cannot send at all).
"""

from __future__ import annotations

import contextlib
import mailbox
import os
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiosmtplib

from mailer.config import MaildirChannel, Member, Network, SmtpChannel, _is_loopback
from mailer.errors import ChannelError, ConfigError, RecipientRefusedError, TransientError
from mailer.message import Outgoing

LOCAL_HOSTNAME = "mailer.localhost"  # saves a host-name look-up on every connection


class Transport(ABC):
    """One connection's worth of sending for one channel."""

    description: str

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


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    validate_certs: bool = True
    cafile: str | None = None

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

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        context = None
        if s.security != "none":
            context = ssl.create_default_context(cafile=s.cafile or os.environ.get("MAILER_CAFILE"))
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
        s = self.settings
        client = self._client()
        try:
            await client.connect()
            if s.username:
                if s.security == "none" and not _is_loopback(s.host):
                    raise ChannelError(
                        f"{self.label}: refusing to log in over an unencrypted connection"
                    )
                await client.login(s.username, s.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            await _quietly_close(client)
            raise ChannelError(
                f"{self.label}: the server refused the login for {s.username!r} "
                f"({exc.code} {_reply(exc.message)})",
                smtp_code=exc.code,
                hint="check the username and the password variable",
            ) from None
        except aiosmtplib.SMTPConnectTimeoutError:
            raise ChannelError(
                f"{self.label}: no answer from {s.host}:{s.port} within {s.timeout:g} s"
            ) from None
        except aiosmtplib.SMTPConnectError as exc:
            raise ChannelError(
                f"{self.label}: cannot connect to {s.host}:{s.port}: {_reply(str(exc))}"
            ) from None
        except aiosmtplib.SMTPException as exc:
            await _quietly_close(client)
            raise ChannelError(f"{self.label}: {_reply(str(exc))}") from None
        except (OSError, ssl.SSLError) as exc:
            await _quietly_close(client)
            raise ChannelError(f"{self.label}: {s.host}:{s.port}: {exc}") from None
        self._smtp = client

    async def send(self, message: Outgoing) -> str:
        if self._smtp is None or not self._smtp.is_connected:
            await self.open()
        assert self._smtp is not None
        try:
            _, reply = await self._smtp.sendmail(
                message.sender,
                [message.recipient],
                message.data,
                mail_options=["SMTPUTF8"] if message.smtputf8 else None,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            raise _classify(refusal.code, refusal.message) from None
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_after_error(exc.code)
            raise _classify(exc.code, exc.message) from None
        except aiosmtplib.SMTPServerDisconnected as exc:
            self._smtp = None
            raise TransientError(f"the server closed the connection: {exc}") from None
        except aiosmtplib.SMTPTimeoutError as exc:
            await _quietly_close(self._smtp)
            self._smtp = None
            raise TransientError(f"timed out: {exc}") from None
        except (OSError, aiosmtplib.SMTPException) as exc:
            await _quietly_close(self._smtp)
            self._smtp = None
            raise TransientError(f"{exc.__class__.__name__}: {exc}") from None
        return _reply(reply)

    async def _reset_after_error(self, code: int) -> None:
        if self._smtp is None:
            return
        if code == 421 or not self._smtp.is_connected:
            await _quietly_close(self._smtp)
            self._smtp = None
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError):
            await _quietly_close(self._smtp)
            self._smtp = None

    async def close(self) -> None:
        if self._smtp is not None:
            client, self._smtp = self._smtp, None
            try:
                await client.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                client.close()


async def _quietly_close(client: aiosmtplib.SMTP) -> None:
    # Closing a broken connection must never raise.
    with contextlib.suppress(Exception):
        client.close()


def _reply(text: str) -> str:
    return " ".join(str(text).split())[:300]


def _classify(code: int, message: str) -> TransientError | RecipientRefusedError:
    text = f"{code} {_reply(message)}"
    if 400 <= code < 500:
        return TransientError(text, smtp_code=code)
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


def transport_for(
    member: Member, network: Network, *, via: SmtpSettings | None = None
) -> Transport:
    """The transport for a member's channel (or the --via server, keeping the member's From)."""
    label = member.short_name or member.name
    if via is not None:
        return SmtpTransport(via, label=label)
    channel = member.channel
    if isinstance(channel, MaildirChannel):
        return MaildirTransport(network.resolve(channel.path))
    assert isinstance(channel, SmtpChannel)
    return SmtpTransport(
        SmtpSettings(
            host=channel.host,
            port=channel.port,
            security=channel.security,
            username=channel.username,
            password=channel.password(),
            timeout=channel.timeout,
        ),
        label=label,
    )
