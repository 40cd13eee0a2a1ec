"""The real ``mailer serve`` app under uvicorn on 127.0.0.1, in a thread, for the tests."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import uvicorn

from mailer.config import load_network
from mailer.web import create_app

# Where the example network's links point; the tests send them to the server instead.
PUBLIC_BASE = "https://oppnadata-varmland.example"


@dataclass(frozen=True)
class WebServer:
    url: str  # http://127.0.0.1:PORT

    def local(self, link: str) -> str:
        """A link from a mail, pointed at this server (as the reverse proxy would)."""
        assert link.startswith(PUBLIC_BASE + "/"), link
        return self.url + link[len(PUBLIC_BASE) :]


@contextmanager
def serving(workspace: Path) -> Iterator[WebServer]:
    """uvicorn serving the workspace's app on a port of 127.0.0.1 it has bound itself."""
    app = create_app(load_network(workspace / "network.toml"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            thread.join(0.01)
        assert server.started, "uvicorn did not start"
        yield WebServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def sent_mails(workspace: Path, cli: Callable[..., Any]) -> dict[str, EmailMessage]:
    """The invitation to seminar 2 as sent into the outbox, by recipient."""
    result = cli("send", "invitation", "2", "--yes", "--quiet")
    assert result.exit_code == 0, result.output
    found = {}
    for path in (workspace / "outbox").glob("*/new/*"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        found[str(msg["To"]).rsplit("<", 1)[-1].strip(">")] = msg
    return found


def one_click_url(msg: EmailMessage) -> str:
    """The List-Unsubscribe URL (RFC 8058's one-click target) of a sent message."""
    return str(msg["List-Unsubscribe"]).split(",")[0].strip(" <>")


def registration_url(msg: EmailMessage) -> str:
    """The registration link in a sent message's plain-text part."""
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return next(w for w in text.split() if "/anmalan/" in w)
