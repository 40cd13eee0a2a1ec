"""Damaged or missing state: never taken for a new, empty one; one line, its exit code.

Every case here uses the real thing: a real SQLite file truncated or replaced, a lock held
by a second real process, and (where the machine allows a private mount namespace) a real
full disk and a real read-only folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailer.errors import StateError
from mailer.journal import FILENAME as JOURNAL_FILE
from mailer.journal import GroupCommit, Journal
from mailer.state import IDENTITY
from mailer.suppression import FILENAME as SUPPRESSION_FILE
from mailer.suppression import Suppression
from tests.helpers import REPO, use_smtp_everywhere
from tests.smtp_server import SmtpServer

MAJA = "maja.lund@msb.example"


@pytest.fixture
def smtp_network(workspace: Path, smtp_server: SmtpServer) -> SmtpServer:
    use_smtp_everywhere(workspace, smtp_server.port)
    return smtp_server


def send(cli, kind: str = "invitation", number: str = "2"):
    return cli("send", kind, number, "--yes")


def one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    return line


def mailer(workspace: Path, *args: str, wrap: str = "", **env: str) -> subprocess.CompletedProcess:
    """The real command in a child process; ``wrap`` is a shell prefix run before it."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    full_env["MAILER_NETWORK"] = str(workspace / "network.toml")
    command = [sys.executable, "-m", "mailer", *args]
    if wrap:
        quoted = " ".join(f"'{c}'" for c in command)
        command = ["unshare", "-m", "sh", "-ec", f"{wrap}\nexec {quoted}"]
    return subprocess.run(
        command, cwd=workspace, env=full_env, capture_output=True, text=True, timeout=60
    )


def can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not can_mount(), reason="no private mount namespace here")


# -- a store that vanished or was emptied ------------------------------------------------


def test_a_zero_byte_journal_is_refused_not_taken_for_new(cli, workspace, smtp_network):
    assert send(cli).exit_code == 0
    journal = workspace / ".mailer" / JOURNAL_FILE
    journal.write_bytes(b"")
    smtp_network.handler.received.clear()

    line = one_line(send(cli), 2)
    assert str(journal) in line and "is empty" in line
    assert "cp -a" in line and f"mailer state reset {journal}" in line
    assert smtp_network.handler.received == []

    # The explicit way out: started anew, and then (the documented price) mailed again.
    result = cli("state", "reset", str(journal), "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert "starts anew" in result.output
    (aside,) = journal.parent.glob(f"{JOURNAL_FILE}.set-aside-*")  # kept, not deleted
    assert aside.stat().st_size == 0
    assert send(cli).exit_code == 0
    assert smtp_network.handler.received


def test_state_reset_only_takes_a_store(cli, workspace):
    result = cli("state", "reset", str(workspace / "network.toml"), "--yes")
    assert result.exit_code == 2 and "not a store" in result.stderr  # a usage error
    assert (workspace / "network.toml").exists()


def test_a_missing_journal_is_refused(cli, workspace, smtp_network):
    assert send(cli).exit_code == 0
    (workspace / ".mailer" / JOURNAL_FILE).unlink()
    smtp_network.handler.received.clear()
    line = one_line(send(cli), 2)
    assert "is missing, although this state folder had it" in line
    assert one_line(cli("status"), 2) == line
    assert smtp_network.handler.received == []


@pytest.mark.parametrize("damage", ["emptied", "deleted", "cut short"])
def test_a_damaged_opt_out_list_never_lets_anyone_be_mailed(cli, workspace, smtp_network, damage):
    assert cli("unsubscribe", MAJA).exit_code == 0
    listed = workspace / ".mailer" / SUPPRESSION_FILE
    if damage == "emptied":
        listed.write_bytes(b"")
    elif damage == "deleted":
        listed.unlink()
    else:
        with Suppression(listed) as s:  # enough entries for more than one page
            s.add_many(f"p{n}@example.org" for n in range(300))
        data = listed.read_bytes()
        listed.write_bytes(data[: len(data) // 2])

    line = one_line(send(cli), 2)
    assert str(listed) in line and "mailer state reset" in line
    assert smtp_network.handler.received == []
    assert one_line(cli("recipients", "merge"), 2) == line


def test_a_store_from_another_state_folder_is_refused(tmp_path):
    Journal(tmp_path / "a" / JOURNAL_FILE).close()
    Journal(tmp_path / "b" / JOURNAL_FILE).close()
    shutil.copy(tmp_path / "b" / JOURNAL_FILE, tmp_path / "a" / JOURNAL_FILE)
    with pytest.raises(StateError, match="belongs to another state folder"):
        Journal(tmp_path / "a" / JOURNAL_FILE)


def test_a_state_folder_from_before_identities_is_adopted(tmp_path):
    path = tmp_path / JOURNAL_FILE
    with Journal(path) as journal:
        journal.enqueue("m", [("a@example.org", "msb")])
        journal.db.execute("DELETE FROM meta WHERE key='state_id'")
    (tmp_path / IDENTITY).unlink()
    with Journal(path) as journal:  # adopted: same rows, an identity from now on
        assert set(journal.deliveries("m")) == {"a@example.org"}
    assert (tmp_path / IDENTITY).exists()
    path.write_bytes(b"")
    with pytest.raises(StateError, match="is empty"):
        Journal(path)


def test_a_new_state_folder_just_starts(tmp_path):
    with Journal(tmp_path / "new" / JOURNAL_FILE) as journal:
        assert journal.mailings() == []
    assert (tmp_path / "new" / IDENTITY).stat().st_mode & 0o777 == 0o600


def test_a_journal_that_is_a_folder(cli, workspace, smtp_network):
    (workspace / ".mailer" / JOURNAL_FILE).mkdir(parents=True)
    line = one_line(send(cli), 2)
    assert "is a folder, not a database" in line
    assert smtp_network.handler.received == []


# -- a store locked by another process ---------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("store", [JOURNAL_FILE, SUPPRESSION_FILE])
def test_a_store_locked_by_another_process_waits_then_says_so(workspace, smtp_network, cli, store):
    assert send(cli, "summary", "1").exit_code == 0
    assert cli("unsubscribe", "tom.walker@msb.example").exit_code == 0
    smtp_network.handler.received.clear()
    path = workspace / ".mailer" / store
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        if store == JOURNAL_FILE:
            done = mailer(
                workspace, "send", "invitation", "2", "--yes", "--quiet", MAILER_BUSY_TIMEOUT="0.5"
            )
        else:
            done = mailer(workspace, "unsubscribe", MAJA, MAILER_BUSY_TIMEOUT="0.5")
    finally:
        holder.communicate("")
    assert done.returncode == 75, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert str(path) in line and "another mailer process is using it (waited 0.5 s)" in line
    assert smtp_network.handler.received == []


# -- a full disk, a read-only folder (real mounts in a private namespace) ---------------


@needs_mount
def test_a_full_disk_is_one_line_and_nothing_is_sent(workspace, smtp_network, cli):
    assert send(cli, "summary", "1").exit_code == 0
    smtp_network.handler.received.clear()
    backup = workspace / "backup"
    shutil.copytree(workspace / ".mailer", backup)
    fill = (
        "mount -t tmpfs -o size=1m tmpfs .mailer\ncp -a backup/. .mailer/\n"
        "dd if=/dev/zero of=.mailer/filler bs=4k 2>/dev/null || true"
    )
    done = mailer(workspace, "send", "invitation", "2", "--yes", "--quiet", wrap=fill)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "the disk is full" in line and JOURNAL_FILE in line
    assert smtp_network.handler.received == []


@needs_mount
def test_a_read_only_state_folder_is_one_line_and_nothing_is_sent(workspace, smtp_network, cli):
    assert send(cli, "summary", "1").exit_code == 0
    smtp_network.handler.received.clear()
    # Root ignores file modes, not a read-only mount.
    read_only = "mount --bind .mailer .mailer\nmount -o remount,ro,bind .mailer"
    done = mailer(workspace, "send", "invitation", "2", "--yes", "--quiet", wrap=read_only)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "read-only" in line
    assert smtp_network.handler.received == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_a_state_folder_without_write_permission(tmp_path):
    Journal(tmp_path / "s" / JOURNAL_FILE).close()
    (tmp_path / "s").chmod(0o500)
    try:
        with pytest.raises(StateError, match="read-only"):
            Journal(tmp_path / "s" / JOURNAL_FILE).enqueue("m", [("a@example.org", "msb")])
    finally:
        (tmp_path / "s").chmod(0o700)


# -- forget wins over a send still running -----------------------------------------------

FORGET = """
import sys
import time
from pathlib import Path
from mailer.journal import Journal
with Journal(Path(sys.argv[1])) as journal:
    journal.forget(sys.argv[2])
"""


def test_forget_wins_over_a_send_still_running(tmp_path):
    path = tmp_path / JOURNAL_FILE
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    async def run(journal: Journal) -> None:
        writes = GroupCommit(journal)
        assert await writes.start("m", MAJA, "msb", "<1@msb.example>") is True
        # While her message is with the server, another process forgets her.
        forget = [sys.executable, "-c", FORGET, str(path), MAJA]
        await asyncio.to_thread(subprocess.run, forget, env=env, check=True)
        writes.finish("m", MAJA, "sent", "250 OK")
        writes.flush()
        assert journal.get("m", MAJA) is None
        # A retry, or the next person in the same run of another mailing: not recorded.
        assert await writes.start("m", MAJA, "msb", "<2@msb.example>") is False
        assert await writes.start("m2", MAJA, "msb", "<3@msb.example>") is False
        assert await writes.start("m2", "tom.walker@msb.example", "msb", "<4@x>") is True
        writes.flush()

    with Journal(path) as journal:
        asyncio.run(run(journal))
        assert journal.deliveries("m") == {}
        assert set(journal.deliveries("m2")) == {"tom.walker@msb.example"}
        journal.enqueue("m3", [(MAJA, "msb")])  # a run planned before she was forgotten
        assert journal.deliveries("m3") == {}


# Each process waits for the start file, then opens the stores and writes, closes, opens
# again: first openings of a new store race each other, and a closing connection removes
# its WAL file while another process looks at it.
_OPENER = """
import os, sys, time
from pathlib import Path
from mailer.journal import Journal
from mailer.suppression import Suppression
state, start, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
while not start.exists():
    time.sleep(0.001)
for round in range(5):
    with Suppression.in_state_dir(state) as opt_out:
        opt_out.add(f"p{n}-{round}@example.org")
    with Journal.in_state_dir(state):
        pass
"""


def test_many_processes_opening_a_new_state_folder_at_once(tmp_path):
    for attempt in range(3):
        state = tmp_path / f"state-{attempt}"
        state.mkdir(mode=0o700)
        start = tmp_path / f"go-{attempt}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPENER, str(state), str(start), str(n)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(6)
        ]
        time.sleep(0.3)  # every process started and waiting
        start.touch()
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, "\n".join(errors)
        with Suppression.in_state_dir(state) as opt_out:
            assert all(f"p{n}-4@example.org" in opt_out for n in range(6))
