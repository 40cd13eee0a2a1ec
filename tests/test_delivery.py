"""Delivery against real SMTP servers that misbehave: retries, failure classes, limits.

Every test points one or more members' channels at local aiosmtpd servers (the other
members keep their Maildir) and asserts what the servers received.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from pathlib import Path

from mailer.journal import FILENAME
from mailer.suppression import Suppression
from tests.helpers import MSB_PEOPLE, edit_channel, use_smtp
from tests.smtp_server import RecordingHandler

MSB = MSB_PEOPLE
KRONOFOGDEN = [
    "bjorn.hedlund@kronofogden.example",
    "lena.ek@kronofogden.example",
    "sofia.lind@kronofogden.example",
]


def journal_rows(workspace: Path) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(workspace / ".mailer" / FILENAME)
    db.row_factory = sqlite3.Row
    return {r["email"]: r for r in db.execute("SELECT * FROM deliveries")}


def counts(server) -> Counter[str]:
    return Counter(server.handler.recipients())


def test_transient_replies_are_retried_and_arrive_once(cli, workspace, smtp_servers):
    server = smtp_servers()
    server.handler.script = {
        "johan.berg@msb.example": ["451 4.3.0 try later", "452 4.2.2 mailbox full"],
        "maja.lund@msb.example": ["421 4.7.0 closing, try later"],
        "tom.walker@msb.example": ["data:451 4.7.1 greylisted"],
    }
    use_smtp(workspace, "msb", server.port)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert counts(server) == Counter(MSB)
    rows = journal_rows(workspace)
    assert rows["johan.berg@msb.example"]["attempts"] == 3
    assert rows["tom.walker@msb.example"]["attempts"] == 2
    assert {r["state"] for r in rows.values()} == {"sent"}
    # A retry keeps the Message-ID that the first attempt used.
    (item,) = [m for m in server.received if m.rcpt_tos == ["johan.berg@msb.example"]]
    assert item.message["Message-ID"] == rows["johan.berg@msb.example"]["message_id"]


def test_no_answer_after_the_whole_message_is_uncertain_not_retried(cli, workspace, smtp_servers):
    # Hung up, or silent past the timeout, after the final dot: the server may have taken
    # it. A retry could deliver it twice, so it is left for the coordinator to decide.
    server = smtp_servers()
    # Margins a loaded machine keeps: a healthy DATA answers well within 2 s, the stalled
    # one never does (0.5 s left a healthy message little room on a busy CPU).
    server.handler.stall_seconds = 8
    server.handler.script = {
        "erik.sandberg@msb.example": ["drop"],
        "tom.walker@msb.example": ["stall"],
    }
    use_smtp(workspace, "msb", server.port, data_timeout=2)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 1, result.output + result.stderr
    unanswered = {"erik.sandberg@msb.example", "tom.walker@msb.example"}
    assert counts(server) == Counter(set(MSB) - unanswered)
    assert server.handler.rcpt_attempts["erik.sandberg@msb.example"] == 1
    rows = journal_rows(workspace)
    for email in unanswered:
        assert rows[email]["state"] == "sending" and rows[email]["attempts"] == 1
        assert "it may have arrived" in rows[email]["last_reply"]
    assert "uncertain erik.sandberg@msb.example: the connection was lost after" in result.output
    assert "2 messages are uncertain (handed over, then no answer)" in result.stderr
    log = (workspace / ".mailer" / "delivery.log").read_text(encoding="utf-8")
    assert "tom.walker@msb.example\tuncertain\t1\tno answer within the DATA timeout" in log

    # Running again sends nobody twice; the coordinator decides to resend, same Message-ID.
    again = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert again.exit_code == 1 and counts(server) == Counter(set(MSB) - unanswered)
    resent = cli("send", "invitation", "2", "--org", "msb", "--yes", "--resend-uncertain")
    assert resent.exit_code == 0, resent.output + resent.stderr
    assert counts(server) == Counter(MSB)
    (item,) = [m for m in server.received if m.rcpt_tos == ["erik.sandberg@msb.example"]]
    assert item.message["Message-ID"] == rows["erik.sandberg@msb.example"]["message_id"]


class StallsAtRcpt(RecordingHandler):
    """Says nothing at RCPT, once per address in ``once``, past the client's timeout."""

    def __init__(self, once: set[str]) -> None:
        super().__init__()
        self.once = once

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.once:
            self.once.discard(address)
            await asyncio.sleep(self.stall_seconds)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_a_timeout_before_the_message_is_handed_over_is_retried(cli, workspace, smtp_servers):
    server = smtp_servers(StallsAtRcpt({"tom.walker@msb.example"}))
    server.handler.stall_seconds = 6  # past the timeout, which a healthy step keeps under load
    use_smtp(workspace, "msb", server.port, timeout=2)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert counts(server) == Counter(MSB)
    assert journal_rows(workspace)["tom.walker@msb.example"]["attempts"] == 2


def test_still_failing_after_the_retries_is_deferred_with_exit_75(cli, workspace, smtp_servers):
    server = smtp_servers()
    server.handler.script = {"tom.walker@msb.example": ["451 4.3.0 try later"] * 3}
    use_smtp(workspace, "msb", server.port, retries=2)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 75, result.output + result.stderr
    assert "deferred tom.walker@msb.example: 451 4.3.0 try later" in result.output
    assert "run the same command again" in result.stderr
    status = json.loads(cli("status", "invitation-2", "--json").output)
    (problem,) = status["invitation-2"]["problems"]
    assert problem["state"] == "deferred" and problem["attempts"] == 3
    # The server recovers; the next run sends only what is left.
    again = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert again.exit_code == 0, again.output + again.stderr
    assert counts(server) == Counter(MSB)


def test_permanent_refusals_fail_that_person_and_hard_bounces_are_suppressed(
    cli, workspace, smtp_servers
):
    server = smtp_servers()
    server.handler.refuse["tom.walker@msb.example"] = "550 5.1.1 User unknown"
    server.handler.script = {"maja.lund@msb.example": ["data:554 5.7.1 Message rejected"]}
    use_smtp(workspace, "msb", server.port)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 1
    assert "failed   tom.walker@msb.example: 550 5.1.1 User unknown" in result.output
    assert "failed   maja.lund@msb.example: 554 5.7.1 Message rejected" in result.output
    assert counts(server) == Counter(["erik.sandberg@msb.example", "johan.berg@msb.example"])
    with Suppression.in_state_dir(workspace / ".mailer") as suppression:
        assert "tom.walker@msb.example" in suppression
        assert "maja.lund@msb.example" not in suppression  # a policy refusal, not a bounce
    # Failed people are not retried unless asked; the bounced one is now on the opt-out list.
    again = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert again.exit_code == 0 and "Nothing to send" in again.output
    retry = cli("send", "invitation", "2", "--org", "msb", "--yes", "--retry-failed")
    assert retry.exit_code == 0, retry.output + retry.stderr
    assert counts(server)["maja.lund@msb.example"] == 1
    assert counts(server)["tom.walker@msb.example"] == 0


def test_refused_login_stops_that_channel_only(cli, workspace, smtp_servers, monkeypatch):
    server = smtp_servers(accounts={"seminarier@msb.example": "right"})
    monkeypatch.setenv("MSB_SMTP_PASSWORD", "wrong")
    use_smtp(
        workspace,
        "msb",
        server.port,
        username="seminarier@msb.example",
        password_env="MSB_SMTP_PASSWORD",
    )
    result = cli("send", "invitation", "2", "--yes")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith("channel"))
    assert "MSB: the server refused the login for 'seminarier@msb.example'" in line
    assert "535" in line and "wrong" not in result.output
    assert server.received == []
    boxes = {p.name for p in (workspace / "outbox").iterdir()}
    assert "kronofogden" in boxes and "msb" not in boxes
    # With the right password, the next run sends MSB's share and nothing else again.
    monkeypatch.setenv("MSB_SMTP_PASSWORD", "right")
    again = cli("send", "invitation", "2", "--yes")
    assert again.exit_code == 0, again.output + again.stderr
    assert counts(server) == Counter(MSB)
    assert "wrong" not in (workspace / ".mailer" / "delivery.log").read_text(encoding="utf-8")


def test_no_starttls_when_required_stops_the_channel(cli, workspace, smtp_servers):
    server = smtp_servers()  # plain, no STARTTLS on offer
    use_smtp(workspace, "msb", server.port, security="starttls", host="localhost")
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 1
    assert "STARTTLS" in result.output and "MSB" in result.output
    assert server.received == []


def test_basic_auth_switched_off_says_to_use_oauth2(cli, workspace, smtp_servers):
    server = smtp_servers()
    server.handler.mail_reply = (
        "550 5.7.30 Basic authentication is not supported for Client Submission"
    )
    use_smtp(workspace, "msb", server.port)
    result = cli("send", "invitation", "2", "--org", "msb", "--org", "kronofogden", "--yes")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith("channel"))
    assert "5.7.30" in line and "switch the channel to OAuth2" in line
    rows = journal_rows(workspace)
    assert {rows[e]["state"] for e in MSB if e in rows} <= {"queued"}
    assert {rows[e]["state"] for e in KRONOFOGDEN} == {"sent"}


def test_sender_thread_limit_means_fewer_connections(cli, workspace, smtp_servers):
    handler = RecordingHandler(max_sessions=1)
    server = smtp_servers(handler)
    use_smtp(workspace, "msb", server.port, max_connections=3)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert counts(server) == Counter(MSB)
    log = (workspace / ".mailer" / "delivery.log").read_text(encoding="utf-8")
    assert "fewer-connections" in log and "432 4.3.2" in log


def test_several_connections_are_used_and_reused(cli, workspace, smtp_servers):
    server = smtp_servers()
    use_smtp(workspace, "lansstyrelsen-varmland", server.port, max_connections=3)
    result = cli("send", "invitation", "2", "--org", "lansstyrelsen-varmland", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert len(server.received) == 6
    assert 2 <= server.handler.peak_sessions <= 3


def test_daily_quota_defers_the_rest_and_the_next_day_goes_on(cli, workspace, smtp_servers):
    server = smtp_servers()
    use_smtp(workspace, "msb", server.port, recipients_per_day=3)
    plan = cli("send", "invitation", "2", "--org", "msb", "--dry-run")
    assert "3 of 3" in plan.output
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 75, result.output + result.stderr
    assert "daily quota of 3 recipients reached" in result.output
    assert len(server.received) == 3
    # Same day: nothing more goes.
    again = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert again.exit_code == 75 and len(server.received) == 3
    # A day later the quota has room again.
    db = sqlite3.connect(workspace / ".mailer" / FILENAME)
    db.execute("UPDATE deliveries SET sent_at='2000-01-01T00:00:00.000+00:00'")
    db.commit()
    db.close()
    last = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert last.exit_code == 0, last.output + last.stderr
    assert counts(server) == Counter(MSB)


def test_dry_run_shows_rate_quota_and_completion_day(cli, workspace):
    edit_channel(
        workspace,
        "msb",
        type="smtp",
        path=None,
        preset="microsoft365",
        username="seminarier@msb.example",
        password_env="MSB_SMTP_PASSWORD",
        recipients_per_day=2,
    )
    result = cli("send", "invitation", "2", "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    pace = result.output[result.output.index("Pace") :]
    row = next(x for x in pace.splitlines() if x.startswith("│ MSB"))
    cells = [c.strip() for c in row.split("│")]
    # Microsoft 365's rate and connections; 4 people at 2 a day: done the day after next.
    assert cells[2:5] == ["30/min", "2 of 2", "3"]
    assert len(cells[6]) == 10 and cells[6][:2] == "20"


def test_status_lists_uncertain_with_reply(cli, workspace, smtp_server):
    use_smtp(workspace, "msb", smtp_server.port)
    cli("send", "invitation", "2", "--yes", "--org", "msb")
    db = sqlite3.connect(workspace / ".mailer" / FILENAME)
    db.execute("UPDATE deliveries SET state='sending' WHERE email='tom.walker@msb.example'")
    db.commit()
    db.close()
    status = cli("status", "invitation-2")
    assert "uncertain tom.walker@msb.example (MSB)" in status.output
    data = json.loads(cli("status", "invitation-2", "--json").output)
    (problem,) = data["invitation-2"]["problems"]
    assert problem["state"] == "uncertain" and problem["message_id"]
    # Not resent by default, resent with the same Message-ID on request.
    again = cli("send", "invitation", "2", "--yes", "--org", "msb")
    assert again.exit_code == 1 and "--resend-uncertain" in again.stderr
    assert len(smtp_server.received) == 4
    cli("send", "invitation", "2", "--yes", "--org", "msb", "--resend-uncertain")
    toms = [m.message for m in smtp_server.received if m.rcpt_tos == ["tom.walker@msb.example"]]
    assert len(toms) == 2 and toms[0]["Message-ID"] == toms[1]["Message-ID"]


def test_help_documents_exit_codes(cli):
    text = cli("send", "--help").output
    for code in ("0", "1", "2", "75"):
        assert f"  {code}  " in text


class HangsUp(RecordingHandler):
    """A server that drops every connection at MAIL FROM while ``broken``."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.broken:
            server.transport.abort()
            return "421 4.3.2 going away"
        return await super().handle_MAIL(server, session, envelope, address, mail_options)


def test_acceptance_wrong_password_and_dropping_server_beside_five_healthy(
    cli, workspace, smtp_servers, monkeypatch
):
    from mailer.config import load_network
    from mailer.recipients import merge

    people = {p.email: p.sender for p in merge(load_network(workspace / "network.toml")).people}
    healthy = smtp_servers()
    locked = smtp_servers(accounts={"seminarier@msb.example": "right"})
    dropping = smtp_servers(HangsUp())
    monkeypatch.setenv("MSB_SMTP_PASSWORD", "wrong")
    use_smtp(
        workspace,
        "msb",
        locked.port,
        username="seminarier@msb.example",
        password_env="MSB_SMTP_PASSWORD",
    )
    use_smtp(workspace, "kronofogden", dropping.port, retries=2)
    five = [
        "lansstyrelsen-varmland",
        "konsumentverket",
        "karlstads-universitet",
        "elsakerhetsverket",
        "karlstads-kommun",
    ]
    for member in five:
        use_smtp(workspace, member, healthy.port, max_connections=2)

    first = cli("send", "invitation", "2", "--yes")
    assert first.exit_code == 1, first.output + first.stderr
    assert Counter(healthy.handler.recipients()) == Counter(
        e for e, m in people.items() if m in five
    )
    assert "channel  MSB: the server refused the login" in first.output
    assert first.output.count("deferred bjorn.hedlund") == 1
    assert locked.received == [] and dropping.received == []

    # Both problems fixed: the next run finishes the rest and sends nothing twice.
    monkeypatch.setenv("MSB_SMTP_PASSWORD", "right")
    dropping.handler.broken = False
    second = cli("send", "invitation", "2", "--yes")
    assert second.exit_code == 0, second.output + second.stderr
    assert Counter(locked.handler.recipients()) == Counter(MSB)
    assert Counter(dropping.handler.recipients()) == Counter(KRONOFOGDEN)
    assert max(Counter(healthy.handler.recipients()).values()) == 1
    assert len(healthy.received) == sum(1 for m in people.values() if m in five)


def _send_directly(workspace: Path, *, via: str | None = None):
    """make_plan + send_plan, as a caller without the CLI (a web server) would."""
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.campaign.plan import make_plan
    from mailer.campaign.run import send_plan
    from mailer.channels.factory import parse_via
    from mailer.config import load_network
    from mailer.journal import Journal

    network = load_network(workspace / "network.toml")
    mailing = mailing_for(network, "invitation", 2)
    state = network.state_dir
    with Journal.in_state_dir(state) as journal, Journal.for_rehearsal(state) as rehearsal:
        journal.add_bundle_export("digest-1", mailing.id, "kronofogden", KRONOFOGDEN)
        record = rehearsal if via else None
        plan = make_plan(network, mailing, journal, orgs=["msb", "kronofogden"], rehearsal=record)
        factory = MessageFactory(network, mailing, rehearsal=via is not None)
        settings = parse_via(via) if via else None
        return asyncio.run(send_plan(plan, factory, record or journal, via=settings))


def test_the_library_leaves_bundled_shares_and_suppresses_hard_bounces(workspace, smtp_servers):
    server = smtp_servers(RecordingHandler(refuse={MSB[0]: "550 5.1.1 no such user"}))
    use_smtp(workspace, "msb", server.port)
    use_smtp(workspace, "kronofogden", server.port)
    report = _send_directly(workspace)
    assert [m.id for m in report.bundled] == ["kronofogden"]
    assert counts(server) == Counter(MSB[1:])  # nobody of the bundled share
    assert report.exit_code == 1  # the refusal
    with Suppression.in_state_dir(workspace / ".mailer") as opt_out:
        assert MSB[0] in opt_out


def test_a_rehearsal_through_the_library_suppresses_nobody(workspace, smtp_servers):
    server = smtp_servers(RecordingHandler(refuse={MSB[0]: "550 5.1.1 no such user"}))
    report = _send_directly(workspace, via=server.url)
    assert counts(server) == Counter(MSB[1:])
    assert report.exit_code == 1
    with Suppression.in_state_dir(workspace / ".mailer") as opt_out:
        assert MSB[0] not in opt_out
