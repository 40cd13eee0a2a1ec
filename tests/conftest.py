"""Shared fixtures: a copy of the example workspace, and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import socket
import ssl
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from click.testing import CliRunner, Result

from mailer.cli import main

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


TOKEN_KEY = "test-signing-key-0123456789abcdef"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that talks to a real SMTP server: CI runs those once more against
    the lowest aiosmtplib that pyproject.toml allows (``pytest -m smtp``)."""
    for item in items:
        if "smtp_servers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.smtp)


@pytest.fixture(autouse=True)
def token_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """The key that signs registration and unsubscribe links (an environment variable)."""
    monkeypatch.setenv("MAILER_TOKEN_KEY", TOKEN_KEY)
    return TOKEN_KEY


def copy_workspace(root: Path) -> Path:
    """A copy of the example network at ``root`` (for tests that need a second one)."""
    root.mkdir(parents=True)
    shutil.copy2(REPO / "network.toml", root / "network.toml")
    for folder in ("templates", "recipients", "seminars", "newsletters"):
        shutil.copytree(REPO / folder, root / folder)
    return root


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the bundled example network; its state folder starts empty."""
    return copy_workspace(tmp_path / "network")


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
    handler: RecordingHandler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def _password_check(accounts: dict[str, str]) -> Callable[..., AuthResult]:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        login = getattr(data, "login", b"").decode()
        password = getattr(data, "password", b"").decode()
        ok = accounts.get(login) == password
        # handled=False: the server itself answers 535 on failure.
        return AuthResult(success=ok, handled=False, auth_data=login)

    return authenticate


@dataclass
class Tls:
    """A test CA (trusted through MAILER_CAFILE) and a server context for 127.0.0.1."""

    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tls:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("MAILER_CAFILE", str(ca_file))  # SMTP
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))  # the OAuth2 token endpoint
    return Tls(ca_file, context)


@pytest.fixture
def smtp_servers() -> Iterator[Callable[..., SmtpServer]]:
    """Start real SMTP servers on 127.0.0.1: ``start(handler, accounts=..., tls=...)``.

    ``accounts`` (login -> password) turns on AUTH; ``tls`` (an ssl context) offers
    STARTTLS, and ``require_starttls`` insists on it; ``smtputf8=False`` does not offer
    SMTPUTF8 (as Postfix with ``smtputf8_enable=no``).
    """
    controllers: list[Controller] = []

    def start(
        handler: RecordingHandler | None = None,
        *,
        accounts: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        smtputf8: bool = True,
    ) -> SmtpServer:
        handler = handler or RecordingHandler()
        port = free_port()
        kwargs: dict[str, Any] = {}
        if accounts is not None or isinstance(handler, XOAuth2Handler):
            kwargs["authenticator"] = _password_check(accounts or {})
            kwargs["auth_require_tls"] = tls is not None
        if tls is not None:
            kwargs["tls_context"] = tls
            kwargs["require_starttls"] = require_starttls
        controller = _Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            server_hostname="smtp.test-server.example",
            enable_SMTPUTF8=smtputf8,
            **kwargs,
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer(handler, port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def make_smtp_server(smtp_servers: Callable[..., SmtpServer]) -> Callable[[], SmtpServer]:
    """More real SMTP servers, one per call: each member's own, say."""
    return lambda: smtp_servers()


@pytest.fixture
def smtp_server(smtp_servers: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_servers()


def use_smtp(workspace: Path, member: str, port: int, **settings: object) -> None:
    """Point a member's channel (Maildir in the example) at a local SMTP server.

    Quick retries unless a test says otherwise: the misbehaviour tests must not wait.
    """
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "retry_backoff": 0.01,
        "timeout": 5,
    }
    values.update(settings)
    lines = ['type = "smtp"'] + [f"{k} = {_toml(v)}" for k, v in values.items()]
    config = workspace / "network.toml"
    text = config.read_text(encoding="utf-8")
    old = f'type = "maildir"\npath = "outbox/{member}"'
    assert old in text, member
    config.write_text(text.replace(old, "\n".join(lines)), encoding="utf-8")


def use_smtp_everywhere(workspace: Path, port: int, **settings: object) -> None:
    """Point every member's channel at one local SMTP server: a real send (not a
    ``--via`` rehearsal, which keeps its own journal) whose messages a test can count."""
    text = (workspace / "network.toml").read_text(encoding="utf-8")
    for member in re.findall(r'^type = "maildir"\npath = "outbox/([^"]+)"$', text, re.M):
        use_smtp(workspace, member, port, **settings)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


@pytest.fixture
def cli(workspace: Path) -> Any:
    """Run the CLI against the workspace: ``cli('send', 'invitation', '2')``."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(
            main,
            ["--network", str(workspace / "network.toml"), *args],
            input=input,
            catch_exceptions=False,
        )

    return run
