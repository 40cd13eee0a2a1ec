"""An unsubscribe through the real ``mailer serve`` while a real ``mailer send`` runs.

The SMTP server (aiosmtpd on 127.0.0.1) holds the first message until the test lets it
go, so "while the send runs" is an exact moment: the one-click POST returns during it,
and the person it names, later in the list, must not be mailed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections import Counter
from typing import Any

import httpx
import pytest

from mailer import tokens
from mailer.config import load_network
from tests.helpers import REPO, TOKEN_KEY, big_msb_list, use_smtp
from tests.smtp_server import RecordingHandler
from tests.web_server import serving


class Holding(RecordingHandler):
    """Holds the first message's DATA until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.held.is_set():
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.slow
def test_who_unsubscribes_on_the_web_while_a_send_runs_is_not_mailed(workspace, smtp_servers):
    emails = big_msb_list(workspace)
    server = smtp_servers(Holding())
    use_smtp(workspace, "msb", server.port, max_connections=1)  # the list's order
    network = load_network(workspace / "network.toml")
    last = emails[-1]
    token = tokens.Signer(TOKEN_KEY.encode()).sign(
        tokens.unsubscribe_purpose(network), last, language="sv"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "MAILER_NETWORK": str(workspace / "network.toml")}
    send = subprocess.Popen(
        [sys.executable, "-m", "mailer", "send", "invitation", "2", "--org", "msb", "--yes", "-q"],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with serving(workspace) as web:
            assert server.handler.held.wait(30)
            reply = httpx.post(
                f"{web.url}/avregistrera?token={token}",
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert reply.status_code == 200
    finally:
        server.handler.release.set()
    out, err = send.communicate(timeout=60)
    assert send.returncode == 0, out + err
    got = Counter(server.handler.recipients())
    assert last not in got
    assert got == Counter(emails[:-1])
