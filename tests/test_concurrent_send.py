"""Two sends of one mailing at once, and the opt-out list changing while a send runs.

Real ``mailer`` processes against a real aiosmtpd on 127.0.0.1. The server holds the first
message until the test lets it go, so "while the first send runs" is an exact moment and
no test sleeps.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mailer.bundle.signing import generate_key
from mailer.journal import FILENAME
from tests.helpers import REPO, Member, big_msb_list, export_bundle, use_smtp
from tests.helpers import run_mailer as run_cli
from tests.smtp_server import RecordingHandler

SEND = ("send", "invitation", "2", "--org", "msb", "--yes", "--quiet")


class Holding(RecordingHandler):
    """Holds the first message's DATA until ``release`` is set; ``held`` says it is held."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()
        self.release = threading.Event()
        self.held_for = ""  # the recipient of the message held

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        if not self.held.is_set():
            self.held_for = envelope.rcpt_tos[0]
            self.held.set()
            # Off the server's loop: other connections are still served meanwhile.
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return await super().handle_DATA(server, session, envelope)


def mailer(workspace: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MAILER_NETWORK": str(workspace / "network.toml")}
    return subprocess.Popen(
        [sys.executable, "-m", "mailer", *args],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = mailer(workspace, *args)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def held(workspace, smtp_servers):
    """A Holding server; the msb list has 40 people."""
    emails = big_msb_list(workspace)
    server = smtp_servers(Holding())
    return server, emails


@pytest.mark.slow
@pytest.mark.parametrize("rehearse", [False, True], ids=["send", "rehearsal"])
def test_a_second_send_of_the_same_mailing_stops_at_once(workspace, held, rehearse):
    server, emails = held
    extra: tuple[str, ...] = ("--via", server.url) if rehearse else ()
    if not rehearse:
        use_smtp(workspace, "msb", server.port, max_connections=1)
    first = mailer(workspace, *SEND, *extra)
    try:
        assert server.handler.held.wait(30)
        second = run(workspace, *SEND, *extra)
    finally:
        server.handler.release.set()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert second.returncode == 75, second.stdout + second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert line.startswith(f"Error: mailing invitation-2 is being sent by process {first.pid} ")
    assert f"on {socket.gethostname()} since 20" in line
    assert Counter(server.handler.recipients()) == Counter(emails), "one copy each"


@pytest.mark.slow
def test_a_waiting_send_sends_only_what_the_first_left(workspace, held):
    server, emails = held
    use_smtp(workspace, "msb", server.port, max_connections=1)
    first = mailer(workspace, *SEND)
    assert server.handler.held.wait(30)
    # Planned now, while nothing is recorded as sent yet: its plan names everybody.
    second = mailer(workspace, *SEND, "--wait")
    assert second.stderr is not None
    waiting = second.stderr.readline()
    assert waiting.startswith(f"Waiting: mailing invitation-2 is being sent by process {first.pid}")
    server.handler.release.set()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, out + err
    assert Counter(server.handler.recipients()) == Counter(emails), "one copy each"


def journal_state(workspace: Path, email: str) -> str | None:
    db = sqlite3.connect(workspace / ".mailer" / FILENAME)
    try:
        row = db.execute("SELECT state FROM deliveries WHERE email=?", (email,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


@pytest.mark.slow
@pytest.mark.parametrize("how", ["unsubscribe", "forget"])
def test_who_opts_out_while_a_send_runs_is_not_mailed(workspace, held, how):
    server, emails = held
    use_smtp(workspace, "msb", server.port, max_connections=1)  # the list's order
    last = emails[-1]
    first = mailer(workspace, *SEND)
    try:
        assert server.handler.held.wait(30)
        command = (
            ("unsubscribe", last) if how == "unsubscribe" else ("person", "forget", last, "--yes")
        )
        done = run(workspace, *command)
        # forget exits 1 here: the member's list still names them (it says so).
        assert done.returncode == (0 if how == "unsubscribe" else 1), done.stdout + done.stderr
    finally:
        server.handler.release.set()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    got = Counter(server.handler.recipients())
    assert last not in got
    assert got == Counter(emails[:-1])
    log = (workspace / ".mailer" / "delivery.log").read_text(encoding="utf-8")
    assert last not in log
    # Forgotten: the journal has no row for them; unsubscribed: recorded as suppressed.
    assert journal_state(workspace, last) == (None if how == "forget" else "suppressed")


class Hostile(RecordingHandler):
    """Replies with terminal control sequences: one refusal, one acceptance."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("person001@"):
            return "550 5.1.1 \x1b[2J\x1b]0;owned\x07 gone\x00"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)
        return "250 2.0.0 \x1b[31mqueued\x1b[0m\x07"


def test_a_reply_with_control_characters_reaches_no_terminal_or_log(workspace, smtp_servers, cli):
    big_msb_list(workspace)
    server = smtp_servers(Hostile())
    use_smtp(workspace, "msb", server.port)
    result = cli(*SEND)
    assert result.exit_code == 1  # the refusal
    log = (workspace / ".mailer" / "delivery.log").read_text(encoding="utf-8")
    for shown in (result.stdout, result.stderr, log):
        assert "\x1b" not in shown and "\x07" not in shown and "\x00" not in shown
    assert "person001@msb.example: 550 5.1.1" in result.stdout
    assert "owned" in result.stdout  # the text is kept, only its control characters go
    assert all(len(line.split("\t")) == 7 for line in log.splitlines())


@pytest.mark.slow
def test_a_second_bundle_send_of_the_same_bundle_stops_at_once(workspace, smtp_servers, tmp_path):
    emails = big_msb_list(workspace)
    server = smtp_servers(Holding())
    private, public = generate_key("ed25519")
    (tmp_path / "net.key").write_text(private)
    (tmp_path / "net.pub").write_text(public or "")

    def coordinator(*args: str) -> Any:
        network = ("--network", str(workspace / "network.toml"))
        return run_cli(*network, *args, env={"MAILER_BUNDLE_KEY_FILE": str(tmp_path / "net.key")})

    msb = Member(tmp_path / "msb", "msb", server, tmp_path / "net.pub")
    export_bundle(coordinator, msb)
    args = ("bundle", "send", str(msb.bundle), "--channel", str(msb.channel), "--yes", "-q")
    env = {**os.environ, "PYTHONPATH": str(REPO), "MAILER_BUNDLE_KEY_FILE": str(msb.key)}
    env.pop("MAILER_NETWORK", None)

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "mailer", *args],
            cwd=msb.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = start()
    try:
        assert server.handler.held.wait(30)
        second = start()
        out, err = second.communicate(timeout=60)
    finally:
        server.handler.release.set()
    first_out, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_out + first_err
    assert second.returncode == 75, out + err
    assert f"is being sent by process {first.pid} " in err
    assert Counter(server.handler.recipients()) == Counter(emails), "one copy each"


@pytest.mark.slow
def test_forget_while_a_send_runs_loses_no_one_elses_log_line(workspace, held):
    """forget rewrites delivery.log; the running send must not go on writing to the old file
    (every later outcome would be lost), nor lose a line written while forget rewrites."""
    from mailer.campaign.log import DeliveryLog
    from mailer.journal import Journal

    server, emails = held
    use_smtp(workspace, "msb", server.port, max_connections=1)
    forgotten = emails[-1]
    # An earlier mailing named them: it had a journal too (a log with no store beside it
    # is a folder whose stores were lost, and refused).
    Journal.in_state_dir(workspace / ".mailer").close()
    with DeliveryLog(workspace / ".mailer") as log:
        log.write("invitation-1", "msb", forgotten, "sent", 1, "250 OK")
    first = mailer(workspace, *SEND)
    try:
        assert server.handler.held.wait(30)
        done = run(workspace, "person", "forget", forgotten, "--yes")
        assert "1 log line removed" in done.stdout, done.stdout + done.stderr
    finally:
        server.handler.release.set()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    log_text = (workspace / ".mailer" / "delivery.log").read_text(encoding="utf-8")
    assert forgotten not in log_text
    logged = {line.split("\t")[3] for line in log_text.splitlines() if "\tinvitation-2\t" in line}
    assert logged >= set(emails[:-1]), f"{len(set(emails[:-1]) - logged)} outcomes not logged"


@pytest.mark.slow
def test_forget_of_the_person_in_flight_writes_no_line_or_row_back(workspace, held):
    """Forgotten while the server holds their message: the outcome that comes after
    forget returned must not bring their address back into the log or the journal."""
    server, _ = held
    use_smtp(workspace, "msb", server.port, max_connections=1)
    first = mailer(workspace, *SEND)
    try:
        assert server.handler.held.wait(30)
        in_flight = server.handler.held_for
        done = run(workspace, "person", "forget", in_flight, "--yes")
        assert done.returncode == 1, done.stdout + done.stderr  # still on the member's list
    finally:
        server.handler.release.set()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert in_flight not in (workspace / ".mailer" / "delivery.log").read_text(encoding="utf-8")
    assert journal_state(workspace, in_flight) is None


@pytest.mark.slow
def test_a_bundle_export_while_a_send_of_its_mailing_runs_is_refused(workspace, held, tmp_path):
    """The send planned the member's people; a bundle of them made now would mail the
    ones it has not reached yet twice (once from here, once by the member)."""
    server, emails = held
    use_smtp(workspace, "msb", server.port, max_connections=1)
    private, _ = generate_key("hmac")
    (tmp_path / "net.key").write_text(private)
    bundle = tmp_path / "msb.zip"
    first = mailer(workspace, *SEND)
    try:
        assert server.handler.held.wait(30)
        export = run_cli(
            "--network",
            str(workspace / "network.toml"),
            *("bundle", "export", "invitation", "2", "--org", "msb", "-o", str(bundle)),
            env={"MAILER_BUNDLE_KEY_FILE": str(tmp_path / "net.key")},
        )
    finally:
        server.handler.release.set()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert export.exit_code == 75, export.output + export.stderr
    (line,) = export.stderr.strip().splitlines()
    assert f"mailing invitation-2 is being sent by process {first.pid}" in line
    assert "no bundle was made" in line
    assert not bundle.exists()
    assert Counter(server.handler.recipients()) == Counter(emails), "one copy each"


def test_a_share_bundled_after_the_plan_was_made_is_not_sent(workspace, smtp_servers, tmp_path):
    """A send that planned, then waited for the lock (--wait) while a bundle of a member's
    share was exported: it leaves that share to the member."""
    from mailer.bundle import export_bundles
    from mailer.bundle.signing import load_key
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.campaign.plan import make_plan
    from mailer.campaign.run import send_plan
    from mailer.config import load_network
    from mailer.journal import Journal

    big_msb_list(workspace)
    server = smtp_servers(RecordingHandler())
    use_smtp(workspace, "msb", server.port)
    private, _ = generate_key("hmac")
    (tmp_path / "net.key").write_text(private)
    network = load_network(workspace / "network.toml")
    mailing = mailing_for(network, "invitation", 2)
    with Journal.in_state_dir(network.state_dir) as journal:
        plan = make_plan(network, mailing, journal, orgs=["msb"])
        assert plan.sending and not plan.bundled
        key = load_key(tmp_path / "net.key")
        (exported,) = export_bundles(network, mailing, ["msb"], key, tmp_path / "msb.zip")
        assert exported.people == 40
        report = asyncio.run(send_plan(plan, MessageFactory(network, mailing), journal))
    assert server.handler.recipients() == []
    assert [m.id for m in report.bundled] == ["msb"]
