"""Shared fixtures: a copy of the example workspace, and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result

from mailer.cli import main

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def copy_workspace(root: Path) -> Path:
    """A copy of the example network at ``root`` (for tests that need a second one)."""
    root.mkdir(parents=True)
    shutil.copy2(REPO / "network.toml", root / "network.toml")
    for folder in ("templates", "recipients", "seminars"):
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
    """Accepts and records every message; tests set ``refuse`` to make it misbehave."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or envelope.content),
            )
        )
        return "250 2.0.0 Message accepted"

    def recipients(self) -> list[str]:
        return [r for m in self.received for r in m.rcpt_tos]


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


def _controller(handler: RecordingHandler, port: int) -> Controller:
    return Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="smtp.test-server.example",
        enable_SMTPUTF8=True,
    )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    port = free_port()
    controller = _controller(handler, port)
    controller.start()
    try:
        yield SmtpServer(handler, port)
    finally:
        controller.stop()


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[[], SmtpServer]]:
    """More real SMTP servers, one per call: each member's own, say."""
    controllers: list[Controller] = []

    def make() -> SmtpServer:
        handler = RecordingHandler()
        port = free_port()
        controller = _controller(handler, port)
        controller.start()
        controllers.append(controller)
        return SmtpServer(handler, port)

    try:
        yield make
    finally:
        for controller in controllers:
            controller.stop()


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
