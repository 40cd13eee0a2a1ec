"""A rehearsal (``mailer send --via``) keeps its own journal and leaves the real mailing alone.

The rehearsal's test server and, where the real send must go through SMTP too, a second
server for the members' real channels are both real aiosmtpd servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.campaign.plan import make_plan
from mailer.campaign.run import send_plan
from mailer.channels.factory import parse_via
from mailer.config import load_network
from mailer.journal import FILENAME, REHEARSAL_DIR, Journal
from mailer.recipients import merge
from mailer.suppression import Suppression
from tests.helpers import use_smtp

TOM = "tom.walker@msb.example"


def everybody(workspace: Path) -> Counter[str]:
    """Each person on the lists, once."""
    return Counter(p.email for p in merge(load_network(workspace / "network.toml")).people)


def shares(workspace: Path) -> Counter[str]:
    return Counter(p.sender for p in merge(load_network(workspace / "network.toml")).people)


def rows(path: Path) -> list[tuple[str, ...]]:
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT mailing, email, member, state FROM deliveries").fetchall()
    finally:
        db.close()


def maildir_files(workspace: Path) -> list[Path]:
    return list((workspace / "outbox").glob("*/new/*"))


def rehearse(cli, server, *args: str):
    return cli("send", "invitation", "2", "--via", server.url, "--yes", *args)


def test_rehearse_then_send_for_real_reaches_everybody_within_the_quota(
    cli, workspace, smtp_servers
):
    rehearsal, real = smtp_servers(), smtp_servers()
    # Each member's real mailbox may take exactly its share today: a rehearsal that
    # counted against the quota would leave nothing for the real send.
    for member, count in shares(workspace).items():
        use_smtp(workspace, member, real.port, recipients_per_day=count)
    people = everybody(workspace)

    first = rehearse(cli, rehearsal)
    assert first.exit_code == 0, first.output + first.stderr
    assert Counter(rehearsal.handler.recipients()) == people
    assert real.received == []
    host = f"127.0.0.1:{rehearsal.port}"
    assert f"Rehearsal of mailing invitation-2 through {host}" in first.output
    assert "the real journal, daily quotas and opt-out list are left alone" in first.output
    assert (
        f"That was a rehearsal through {host}: nobody on the lists got anything. "
        "To send for real: mailer send invitation 2" in first.stderr
    )
    assert cli("status").output.strip() == "No mailings yet."

    sent = cli("send", "invitation", "2", "--yes")
    assert sent.exit_code == 0, sent.output + sent.stderr
    assert "rehearsal" not in (sent.output + sent.stderr).lower()
    assert Counter(real.handler.recipients()) == people
    assert len(rehearsal.received) == len(people)

    data = json.loads(cli("status", "--json").output)
    assert sum(c["sent"] for c in data["invitation-2"]["members"].values()) == len(people)
    practised = json.loads(cli("status", "--rehearsal", "--json").output)
    assert sum(c["sent"] for c in practised["invitation-2"]["members"].values()) == len(people)
    assert "Rehearsal of mailing invitation-2" in cli("status", "--rehearsal").output


def test_rehearsal_then_real_send_through_the_maildir_channels(cli, workspace, smtp_server):
    assert rehearse(cli, smtp_server).exit_code == 0
    assert maildir_files(workspace) == []
    sent = cli("send", "invitation", "2", "--yes")
    assert sent.exit_code == 0, sent.output + sent.stderr
    assert "Nothing to send" not in sent.output
    assert len(maildir_files(workspace)) == len(everybody(workspace))


def test_a_rehearsal_resumes_and_resend_starts_it_again(cli, workspace, smtp_server):
    people = everybody(workspace)
    some = rehearse(cli, smtp_server, "--org", "msb")
    assert some.exit_code == 0, some.output + some.stderr
    msb = set(smtp_server.handler.recipients())
    assert msb and all(e.endswith("@msb.example") for e in msb)

    rest = rehearse(cli, smtp_server)
    assert rest.exit_code == 0, rest.output + rest.stderr
    assert Counter(smtp_server.handler.recipients()) == people  # nobody twice

    again = rehearse(cli, smtp_server)
    assert again.exit_code == 0
    assert "Nothing to rehearse" in again.output and "--resend" in again.output
    assert len(smtp_server.received) == len(people)

    over = rehearse(cli, smtp_server, "--resend")
    assert over.exit_code == 0, over.output + over.stderr
    assert Counter(smtp_server.handler.recipients()) == people + people


def test_a_refusal_at_the_rehearsal_server_puts_nobody_on_the_opt_out_list(
    cli, workspace, smtp_server
):
    assert cli("unsubscribe", "maja.lund@msb.example").exit_code == 0
    smtp_server.handler.refuse[TOM] = "550 5.1.1 User unknown"
    result = rehearse(cli, smtp_server)
    assert result.exit_code == 1
    assert f"failed   {TOM}: 550 5.1.1 User unknown" in result.output
    # The opt-out list is respected but never added to.
    assert "maja.lund@msb.example" not in smtp_server.handler.recipients()
    with Suppression.in_state_dir(workspace / ".mailer") as suppression:
        assert [e.email for e in suppression.entries()] == ["maja.lund@msb.example"]
        assert TOM not in suppression
    assert "failed" in cli("status", "--rehearsal", "invitation-2").output

    # The real send still reaches Tom, and does not count the failure as its own.
    sent = cli("send", "invitation", "2", "--yes", "--org", "msb")
    assert sent.exit_code == 0, sent.output + sent.stderr
    assert any(TOM in f.read_text(encoding="utf-8") for f in maildir_files(workspace))


def test_a_rehearsal_leaves_the_real_journal_as_it_was(cli, workspace, smtp_server):
    state = workspace / ".mailer"
    assert cli("send", "summary", "1", "--yes").exit_code == 0  # a real mailing before
    before = rows(state / FILENAME)
    assert before and {r[0] for r in before} == {"summary-1"}

    assert rehearse(cli, smtp_server).exit_code == 0
    assert cli("send", "summary", "1", "--via", smtp_server.url, "--yes").exit_code == 0
    assert rows(state / FILENAME) == before
    practised = rows(state / REHEARSAL_DIR / FILENAME)
    assert {r[0] for r in practised} == {"invitation-2", "summary-1"}
    assert {r[3] for r in practised} == {"sent"}

    status = cli("status").output
    assert "summary-1" in status and "invitation-2" not in status

    # Its delivery log lines say so; the real mailing's do not.
    lines = (state / "delivery.log").read_text(encoding="utf-8").splitlines()
    mailings = Counter(line.split("\t")[1] for line in lines)
    people = len(everybody(workspace))
    assert mailings == {
        "summary-1": people,
        "rehearsal:invitation-2": people,
        "rehearsal:summary-1": people,
    }


def test_a_rehearsal_dry_run_and_a_fresh_state_folder(cli, workspace, smtp_server):
    dry = cli("send", "invitation", "2", "--via", smtp_server.url, "--dry-run")
    assert dry.exit_code == 0, dry.output + dry.stderr
    assert f"through 127.0.0.1:{smtp_server.port}" in dry.output
    assert f"To rehearse: mailer send invitation 2 --via {smtp_server.url}" in dry.output
    assert cli("status", "--rehearsal").output.strip() == "No rehearsals yet."

    assert rehearse(cli, smtp_server).exit_code == 0
    assert rows(workspace / ".mailer" / FILENAME) == []


def test_rehearsal_without_a_terminal_asks_for_yes(cli, smtp_server):
    result = cli("send", "invitation", "2", "--via", smtp_server.url)
    assert result.exit_code == 2
    assert f"this rehearses through 127.0.0.1:{smtp_server.port}" in result.stderr
    assert "add --yes" in result.stderr
    assert smtp_server.received == []


def link_tokens(message: EmailMessage) -> tuple[str, str]:
    """(List-Unsubscribe token, registration link token) of a message as it arrived."""
    one_click = re.search(r"token=([A-Za-z0-9_.-]+)", str(message["List-Unsubscribe"]))
    text = message.get_body(("plain",)).get_content()
    registration = re.search(r"/anmalan/\S*[?&]token=([A-Za-z0-9_.-]+)", text)
    assert one_click and registration
    return one_click.group(1), registration.group(1)


def registration_export(workspace: Path, token: str) -> Path:
    path = workspace / "anmalningar.csv"
    path.write_text(f"E-postadress;Token\n;{token}\n", encoding="utf-8")
    return path


def test_a_rehearsals_links_look_real_but_change_nothing_for_the_real_person(
    cli, workspace, smtp_servers
):
    rehearsal, real = smtp_servers(), smtp_servers()
    use_smtp(workspace, "msb", real.port)
    assert rehearse(cli, rehearsal, "--org", "msb").exit_code == 0
    practised = next(r.message for r in rehearsal.received if r.rcpt_tos == [TOM])
    sent = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert sent.exit_code == 0, sent.output + sent.stderr
    genuine = next(r.message for r in real.received if r.rcpt_tos == [TOM])

    # What a tester sees is what Tom gets, down to the URLs; only the tokens differ.
    def without_tokens(message: EmailMessage) -> str:
        # The link's token, and the same token in the mailto's subject ("unsubscribe TOKEN").
        header = str(message["List-Unsubscribe"])
        return re.sub(r"(token=|subject=unsubscribe%20)[A-Za-z0-9_.-]+", r"\1T", header)

    assert without_tokens(practised) == without_tokens(genuine)
    assert practised["List-Unsubscribe-Post"] == genuine["List-Unsubscribe-Post"]
    unsubscribe, register = link_tokens(practised)
    assert (unsubscribe, register) != link_tokens(genuine)

    refused = cli("unsubscribe", "--token", unsubscribe)
    assert refused.exit_code == 2
    assert refused.stderr == "Error: this link comes from a rehearsal: nobody was unsubscribed\n"
    imported = cli(
        "registrations", "import", str(registration_export(workspace, register)), "--seminar", "2"
    )
    assert "this link comes from a rehearsal: nobody was registered" in imported.output
    with Suppression.in_state_dir(workspace / ".mailer") as suppressed:
        assert TOM not in suppressed

    # The real message's links still work.
    unsubscribe, register = link_tokens(genuine)
    imported = cli(
        "registrations", "import", str(registration_export(workspace, register)), "--seminar", "2"
    )
    assert imported.exit_code == 0, imported.output + imported.stderr
    assert "1 by token" in imported.output
    assert cli("unsubscribe", "--token", unsubscribe).exit_code == 0
    with Suppression.in_state_dir(workspace / ".mailer") as suppressed:
        assert TOM in suppressed


def test_a_rehearsal_cannot_record_in_the_real_journal(workspace, smtp_server):
    network = load_network(workspace / "network.toml")
    mailing = mailing_for(network, "invitation", 2)
    state = network.state_dir
    with Journal.in_state_dir(state) as journal, Journal.for_rehearsal(state) as rehearsal:
        plan = make_plan(network, mailing, journal, orgs=["msb"], rehearsal=rehearsal)
        factory = MessageFactory(network, mailing, rehearsal=True)
        with pytest.raises(ValueError, match="its own journal"):
            asyncio.run(send_plan(plan, factory, journal, via=parse_via(smtp_server.url)))
    assert smtp_server.received == []
    assert rows(state / FILENAME) == []
