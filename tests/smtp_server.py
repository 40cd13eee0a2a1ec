"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives and misbehaves
on request. Tests get it through the ``smtp_servers`` and ``smtp_server`` fixtures in
conftest.py; this module is the server itself, so a test can subclass the handler.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

# What the server calls itself in its greeting and EHLO reply. Given, so that aiosmtpd
# never asks the resolver for this machine's name.
SERVER_NAME = "smtp.test-server.example"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    """Accepts and records every message; tests make it misbehave.

    ``refuse`` refuses an address at RCPT for good. ``script`` gives an address one step of
    misbehaviour per attempt, then normal service: any reply (``"451 4.3.0 later"``) is
    given at RCPT; ``"data:554 ..."`` is the reply to DATA; ``"drop"`` hangs up after the
    data instead of replying; ``"stall"`` says nothing for ``stall_seconds`` (past the
    client's timeout) and then refuses. ``mail_reply`` answers every MAIL FROM;
    ``max_sessions`` makes connections beyond that many get ``432 4.3.2`` (Exchange
    Online's sender thread limit); ``on_data`` runs before a message is accepted.
    """

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    script: dict[str, list[str]] = field(default_factory=dict)
    mail_reply: str | None = None
    max_sessions: int | None = None
    stall_seconds: float = 3.0
    on_data: Callable[[Received], None] | None = None
    sessions: int = 0
    peak_sessions: int = 0
    helo_names: list[str] = field(default_factory=list)  # what each transaction's EHLO said
    rcpt_attempts: Counter[str] = field(default_factory=Counter)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        self.helo_names.append(session.host_name)
        if self.mail_reply:
            return self.mail_reply
        if getattr(server, "over_limit", False):
            return "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        key = address.lower()
        self.rcpt_attempts[key] += 1
        if key in self.refuse:
            return self.refuse[key]
        steps = self.script.get(key)
        if steps and not steps[0].startswith(("data:", "drop", "stall")):
            return steps.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        key = envelope.rcpt_tos[0].lower()
        steps = self.script.get(key)
        step = steps.pop(0) if steps else ""
        if step.startswith("data:"):
            return step.removeprefix("data:")
        if step == "drop":
            server.transport.abort()
            return "451 4.4.2 hung up"
        if step == "stall":
            await asyncio.sleep(self.stall_seconds)
            return "451 4.4.2 too slow"
        item = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            bytes(envelope.original_content or envelope.content),
        )
        if self.on_data is not None:
            self.on_data(item)
        with self.arrived:
            self.received.append(item)
            self.arrived.notify_all()
        return "250 2.0.0 Message accepted"

    def recipients(self) -> list[str]:
        return [r for m in self.received for r in m.rcpt_tos]

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= count, timeout)


# What a test may set on the handler through the fixture: its misbehaviour, not its records.
BEHAVIOUR = ("refuse", "script", "mail_reply", "max_sessions", "stall_seconds", "on_data")


class XOAuth2Handler(RecordingHandler):
    """Also offers AUTH XOAUTH2 and accepts only ``user`` with the bearer ``token``."""

    def __init__(self, user: str, token: str) -> None:
        super().__init__()
        self.user = user
        self.token = token
        self.logins: list[str] = []

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        try:
            decoded = base64.b64decode(args[1]).decode()
        except (IndexError, ValueError):
            return AuthResult(success=False, handled=False)
        fields = dict(part.split("=", 1) for part in decoded.split("\x01") if "=" in part)
        self.logins.append(fields.get("auth", ""))
        if fields.get("user") == self.user and fields.get("auth") == f"Bearer {self.token}":
            return AuthResult(success=True, auth_data=self.user)
        return AuthResult(
            success=False, handled=False, message="535 5.7.3 Authentication unsuccessful"
        )


class _CountingSMTP(SMTP):
    """Counts concurrent connections, for max_sessions."""

    def connection_made(self, transport: Any) -> None:
        handler = self.event_handler
        handler.sessions += 1
        handler.peak_sessions = max(handler.peak_sessions, handler.sessions)
        self.over_limit = handler.max_sessions is not None and (
            handler.sessions > handler.max_sessions
        )
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.sessions -= 1
        super().connection_lost(error)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    """A running server: its handler (what arrived, what to do wrong), port and logins."""

    handler: RecordingHandler
    port: int
    logins: list[str] = field(default_factory=list)  # every AUTH PLAIN/LOGIN attempt's user
    controller: Controller | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def _password_check(accounts: dict[str, str], logins: list[str]) -> Callable[..., AuthResult]:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        login = getattr(data, "login", b"").decode()
        password = getattr(data, "password", b"").decode()
        logins.append(login)
        ok = accounts.get(login) == password
        # handled=False: the server itself answers 535 on failure.
        return AuthResult(success=ok, handled=False, auth_data=login)

    return authenticate


def start_smtp_server(
    handler: RecordingHandler | None = None,
    *,
    accounts: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    implicit_tls: ssl.SSLContext | None = None,
    smtputf8: bool = True,
    server_hostname: str = SERVER_NAME,
    **behaviour: Any,
) -> SmtpServer:
    """Start a server on a free port of 127.0.0.1; the caller stops it (``server.stop()``).

    ``accounts`` (login -> password) turns on AUTH PLAIN/LOGIN; ``tls`` (a server context)
    offers STARTTLS, and ``require_starttls`` insists on it; ``implicit_tls`` speaks TLS
    from the first byte (port 465 style); ``smtputf8=False`` does not offer SMTPUTF8 (as
    Postfix with ``smtputf8_enable=no``). ``behaviour`` sets the handler's misbehaviour
    (``refuse=``, ``script=``, ``mail_reply=``, ``max_sessions=``, ...; see RecordingHandler).
    """
    handler = handler or RecordingHandler()
    unknown = set(behaviour) - set(BEHAVIOUR)
    if unknown:
        raise TypeError(f"unknown SMTP server setting(s): {', '.join(sorted(unknown))}")
    for name, value in behaviour.items():
        setattr(handler, name, value)
    assert {f.name for f in dataclasses.fields(handler)} >= set(BEHAVIOUR)
    server = SmtpServer(handler, free_port())
    kwargs: dict[str, Any] = {}
    if accounts is not None or isinstance(handler, XOAuth2Handler):
        kwargs["authenticator"] = _password_check(accounts or {}, server.logins)
        # aiosmtpd counts only STARTTLS as TLS: an implicit-TLS server must allow AUTH.
        kwargs["auth_require_tls"] = tls is not None
    if tls is not None:
        kwargs["tls_context"] = tls
        kwargs["require_starttls"] = require_starttls
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    controller = _Controller(
        handler,
        hostname="127.0.0.1",  # an address, not a name: no lookup, never another interface
        port=server.port,
        server_hostname=server_hostname,
        enable_SMTPUTF8=smtputf8,
        **kwargs,
    )
    controller.start()
    server.controller = controller
    return server
