"""identity.json lost with a store: the folder still shows it was not new.

The identity names the stores a state folder has had, so a missing store is refused. If
the identity goes with the store, the other traces of earlier runs (the delivery log, the
other store, a rehearsal journal, send locks) still say the folder was used: the run stops
with one line (exit 2) instead of starting empty and mailing everyone again, or the people
who said no. Real sends through a real aiosmtpd and real files throughout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailer.errors import StateError
from mailer.journal import FILENAME as JOURNAL_FILE
from mailer.journal import Journal
from mailer.state import IDENTITY
from mailer.suppression import FILENAME as SUPPRESSION_FILE
from mailer.suppression import Suppression
from tests.helpers import use_smtp_everywhere
from tests.smtp_server import SmtpServer

MAJA = "maja.lund@msb.example"


@pytest.fixture
def sent(cli, workspace: Path, smtp_server: SmtpServer) -> SmtpServer:
    use_smtp_everywhere(workspace, smtp_server.port)
    assert cli("unsubscribe", MAJA).exit_code == 0
    result = cli("send", "invitation", "2", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    smtp_server.handler.received.clear()
    return smtp_server


def one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    return line


def test_journal_and_identity_gone_the_log_and_opt_out_list_remain(cli, workspace, sent):
    state = workspace / ".mailer"
    (state / JOURNAL_FILE).unlink()
    (state / IDENTITY).unlink()

    line = one_line(cli("send", "invitation", "2", "--yes"), 2)
    assert str(state / JOURNAL_FILE) in line
    assert "is missing, and so is the state folder's identity.json" in line
    assert "delivery.log" in line and SUPPRESSION_FILE in line
    assert "cp -a" in line and f"mailer state reset {state / JOURNAL_FILE}" in line
    assert sent.handler.received == []
    assert one_line(cli("status"), 2) == line
    assert not (state / JOURNAL_FILE).exists()  # nothing was created in its place

    # The explicit way out: the identity is rebuilt from the opt-out list that is left,
    # which keeps its entries; then (the documented price) the mailing goes out again.
    reset = cli("state", "reset", str(state / JOURNAL_FILE), "--yes")
    assert reset.exit_code == 0, reset.output + reset.stderr
    result = cli("send", "invitation", "2", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert sent.handler.received and MAJA not in sent.handler.recipients()


def test_opt_out_list_and_identity_gone_the_journal_remains(cli, workspace, sent):
    """The worst case: an empty opt-out list mails the people who said no."""
    state = workspace / ".mailer"
    (state / SUPPRESSION_FILE).unlink()
    (state / IDENTITY).unlink()

    # Whichever store a command opens first, it stops: the opt-out list, missing in a
    # folder that was not new, or the journal, made under the identity that is gone.
    lines = [
        one_line(cli(*command), 2)
        for command in (("send", "invitation", "3", "--yes"), ("suppressed",), ("status",))
    ]
    assert all("identity.json" in line for line in lines)
    line = lines[2]
    assert "identity.json is missing, although this store was made with one" in line
    assert f"mailer state reset {state / IDENTITY}" in line
    assert sent.handler.received == []
    assert not (state / IDENTITY).exists()

    # Only a person can say the opt-out list is gone for good: rebuilding the identity
    # from what is left takes the journal back, and the list starts anew.
    reset = cli("state", "reset", str(state / IDENTITY), "--yes")
    assert reset.exit_code == 0, reset.output + reset.stderr
    assert "the stores it names: journal.sqlite3" in reset.output
    assert cli("status").exit_code == 0


def test_only_the_delivery_log_is_left(cli, workspace, sent):
    state = workspace / ".mailer"
    for name in (JOURNAL_FILE, SUPPRESSION_FILE, IDENTITY):
        (state / name).unlink()
    line = one_line(cli("send", "invitation", "2", "--yes"), 2)
    assert "(delivery.log" in line
    assert sent.handler.received == []


def test_in_a_child_process_too(workspace, sent):
    """The real command as a person runs it: exit code 2 and one line."""
    state = workspace / ".mailer"
    (state / JOURNAL_FILE).unlink()
    (state / IDENTITY).unlink()
    result = subprocess.run(
        [sys.executable, "-m", "mailer", "send", "invitation", "2", "--yes"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "so is the state folder's identity.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert sent.handler.received == []


def test_a_new_folder_and_one_from_before_identities_still_start(tmp_path):
    # A preview's CSS cache is no trace of a store: a folder holding only it is new.
    (tmp_path / "new" / "inlined").mkdir(parents=True)
    with Journal(tmp_path / "new" / JOURNAL_FILE) as journal:
        assert journal.mailings() == []
    # A folder from before identities: its stores carry none, so a missing one is new.
    old = tmp_path / "old"
    with Journal(old / JOURNAL_FILE) as journal:
        journal.db.execute("DELETE FROM meta WHERE key='state_id'")
    (old / IDENTITY).unlink()
    (old / "delivery.log").write_text("a line\n")
    with Suppression.in_state_dir(old) as opt_out:
        assert opt_out.entries() == []
    with Journal(old / JOURNAL_FILE):
        pass  # adopted under the identity the opt-out list made


def test_a_lost_identity_in_a_folder_of_stores_alone(tmp_path):
    with Journal(tmp_path / JOURNAL_FILE):
        pass
    with Suppression.in_state_dir(tmp_path):
        pass
    (tmp_path / SUPPRESSION_FILE).unlink()
    (tmp_path / IDENTITY).unlink()
    with pytest.raises(StateError, match="is missing, and so is"):
        Suppression.in_state_dir(tmp_path)
    with pytest.raises(StateError, match="although this store was made with one"):
        Journal(tmp_path / JOURNAL_FILE)
