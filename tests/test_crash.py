"""Kill the sender at different moments, run it again, and count what the server got.

The CLI runs in a subprocess (``python -m mailer``) so that SIGKILL and SIGINT are real.
The server pulls the trigger itself, at a chosen point of the k-th transaction, so the
moment is exact and no test sleeps.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mailer.journal import FILENAME
from tests.helpers import REPO, big_msb_list, use_smtp
from tests.smtp_server import Received, RecordingHandler

PEOPLE = 40


class Trigger(RecordingHandler):
    """Sends a signal to the sender at the k-th RCPT or DATA (before replying)."""

    def __init__(self, moment: str, k: int, sig: int = signal.SIGKILL) -> None:
        super().__init__()
        self.moment, self.k, self.sig = moment, k, sig
        self.proc: subprocess.Popen[str] | None = None
        self.seen = 0
        self.fired = threading.Event()

    def _maybe_fire(self, moment: str) -> None:
        if moment != self.moment or self.fired.is_set():
            return
        self.seen += 1
        if self.seen == self.k and self.proc is not None:
            self.fired.set()
            os.kill(self.proc.pid, self.sig)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self._maybe_fire("rcpt")
        return await super().handle_RCPT(server, session, envelope, address, options)

    def on_data_hook(self, item: Received) -> None:
        self._maybe_fire("data")


def start_send(workspace: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MAILER_NETWORK": str(workspace / "network.toml")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailer",
            "send",
            "invitation",
            "2",
            "--org",
            "msb",
            "--yes",
            "--quiet",
            *extra,
        ],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def states(workspace: Path) -> dict[str, str]:
    db = sqlite3.connect(workspace / ".mailer" / FILENAME)
    try:
        return dict(db.execute("SELECT email, state FROM deliveries"))
    finally:
        db.close()


def message_ids(server) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item in server.received:
        out.setdefault(item.rcpt_tos[0], set()).add(item.message["Message-ID"])
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "k"),
    [("rcpt", 3), ("data", 17), ("between", 29)],
    ids=["before-data", "after-data-before-reply", "between-messages"],
)
def test_sigkill_then_resume_never_duplicates_or_loses(workspace, smtp_servers, moment, k):
    emails = big_msb_list(workspace)
    handler = Trigger(moment, k)
    handler.on_data = handler.on_data_hook
    server = smtp_servers(handler)
    use_smtp(workspace, "msb", server.port, max_connections=3)

    proc = handler.proc = start_send(workspace)
    if moment == "between":
        assert handler.wait_for(k)
        handler.fired.set()
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed_at = len(server.received)
    assert killed_at < PEOPLE

    # The same command again: everything not yet sent goes, nothing goes twice.
    again = start_send(workspace)
    out, err = again.communicate(timeout=60)
    after = states(workspace)
    uncertain = {e for e, s in after.items() if s == "sending"}
    got = Counter(server.handler.recipients())
    assert max(got.values()) == 1, "somebody got two copies"
    assert set(got) | uncertain == set(emails), "somebody was lost"
    assert len(uncertain) <= 3  # at most one per connection was in flight
    assert {s for e, s in after.items() if e not in uncertain} == {"sent"}
    if uncertain:
        assert again.returncode == 1 and "--resend-uncertain" in err
        assert (
            "uncertain"
            in subprocess.run(
                [sys.executable, "-m", "mailer", "status", "invitation-2"],
                cwd=workspace,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    else:
        assert again.returncode == 0, out + err
    if moment == "data":
        # The k-th message reached the server, but the sender died before the reply;
        # the other connections' messages may or may not have.
        assert uncertain & set(got)

    # On request the uncertain ones go again, with the Message-ID they had.
    final = start_send(workspace, "--resend-uncertain")
    out, err = final.communicate(timeout=60)
    assert final.returncode == 0, out + err
    got = Counter(server.handler.recipients())
    assert set(got) == set(emails)
    assert {e for e, n in got.items() if n > 1} <= uncertain
    ids = message_ids(server)
    assert all(len(ids[e]) == 1 for e in emails)  # a duplicate is recognisable as one
    assert set(states(workspace).values()) == {"sent"}


@pytest.mark.slow
def test_ctrl_c_finishes_what_is_in_flight_and_says_how_to_resume(workspace, smtp_servers):
    emails = big_msb_list(workspace)
    handler = Trigger("data", 10, signal.SIGINT)
    handler.on_data = handler.on_data_hook
    server = smtp_servers(handler)
    use_smtp(workspace, "msb", server.port, max_connections=3)
    proc = handler.proc = start_send(workspace)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, out + err
    assert "Stopping after the messages in flight" in err
    assert "To resume, run the same command again: mailer send invitation 2 --org msb" in err
    assert "Traceback" not in err
    # The message being sent when Ctrl-C came was finished and recorded: nothing uncertain.
    after = states(workspace)
    assert "sending" not in after.values()
    sent = {e for e, s in after.items() if s == "sent"}
    assert sent == set(server.handler.recipients())
    assert 10 <= len(sent) < PEOPLE

    again = start_send(workspace)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, out + err
    assert Counter(server.handler.recipients()) == Counter(emails)
