"""End to end through a real SMTP server: what arrives, from whom, and only once.

The content tests rehearse (``--via``); the tests about the journal point every member's
channel at the server and send for real (a rehearsal keeps its own journal).
"""

from __future__ import annotations

import re
from pathlib import Path

from mailer.config import load_network
from mailer.recipients import merge
from tests.helpers import edit_channel, use_smtp_everywhere


def expected_people(workspace: Path) -> dict[str, str]:
    merged = merge(load_network(workspace / "network.toml"))
    return {p.email: p.sender for p in merged.people}


def test_invitation_arrives_once_per_person_from_their_member(cli, workspace, smtp_server):
    result = cli("send", "invitation", "2", "--via", smtp_server.url, "--yes")
    assert result.exit_code == 0, result.output + result.stderr

    people = expected_people(workspace)
    network = load_network(workspace / "network.toml")
    received = smtp_server.received
    assert sorted(smtp_server.handler.recipients()) == sorted(people)
    assert len(received) == len(people)
    for item in received:
        msg = item.message
        (to,) = item.rcpt_tos
        member = network.member(people[to])
        assert msg["From"] == member.channel.from_
        assert item.mail_from == re.search(r"<(.+)>", member.channel.from_).group(1)
        assert msg["Message-ID"].endswith(member.domains[0] + ">")
        assert msg["List-Id"].endswith("<oppna-data-varmland.oppnadata-varmland.example>")
        assert "<mailto:" in msg["List-Unsubscribe"]
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["X-Auto-Response-Suppress"] == "All"
        # text, HTML and the calendar part, plus the .ics attached
        assert msg.get_content_type() == "multipart/mixed"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        # English readers get the seminar's English title (title_en)
        assert "ÖPPNA DATA – INNOVATIONER" in text or "OPEN DATA – INNOVATION" in text
        assert "Aula Magna" in text
        assert 'style="' in html and "<h1" in html


def test_swedish_text_and_greeting_decode(cli, smtp_server):
    cli("send", "invitation", "2", "--via", smtp_server.url, "--yes")
    by_rcpt = {m.rcpt_tos[0]: m.message for m in smtp_server.received}
    asa = by_rcpt["asa.bjork@lansstyrelsen-varmland.example"]
    assert asa["Subject"] == (
        "Inbjudan: Öppna data – innovationer – frukostseminarium tisdag 16 mars 2027"
    )
    assert str(asa["To"]) == "Åsa Björk <asa.bjork@lansstyrelsen-varmland.example>"
    text = asa.get_body(("plain",)).get_content()
    assert text.startswith("Hej Åsa,")
    assert "tisdag 16 mars 2027 kl. 08.00–10.00" in text
    # A contact with no name gets the plain greeting.
    firm = by_rcpt["kontakt@klaralvsdata.example"]
    assert firm.get_body(("plain",)).get_content().startswith("Hej,\r\n")
    # English speakers get English.
    tom = by_rcpt["tom.walker@msb.example"]
    assert tom.get_body(("plain",)).get_content().startswith("Dear Tom,")
    assert "Tuesday 16 March 2027, 8:00–10:00 AM CET" in tom.get_body(("plain",)).get_content()


def test_second_send_sends_nothing(cli, workspace, smtp_server):
    use_smtp_everywhere(workspace, smtp_server.port)
    first = cli("send", "invitation", "2", "--yes")
    count = len(smtp_server.received)
    second = cli("send", "invitation", "2", "--yes")
    assert first.exit_code == second.exit_code == 0
    assert len(smtp_server.received) == count
    assert "Nothing to send" in second.output


def test_refused_recipient_is_reported_and_the_rest_go_on(cli, workspace, smtp_server):
    use_smtp_everywhere(workspace, smtp_server.port)
    smtp_server.handler.refuse["tom.walker@msb.example"] = "550 5.1.1 User unknown"
    result = cli("send", "invitation", "2", "--yes")
    assert result.exit_code == 1
    assert "tom.walker@msb.example: 550 5.1.1 User unknown" in result.output
    assert len(smtp_server.received) == len(expected_people(workspace)) - 1
    status = cli("status", "invitation-2")
    assert "failed" in status.output and "tom.walker@msb.example" in status.output


def test_resend_sends_again_on_purpose(cli, workspace, smtp_server):
    use_smtp_everywhere(workspace, smtp_server.port)
    cli("send", "invitation", "2", "--yes", "--org", "msb")
    cli("send", "invitation", "2", "--yes", "--org", "msb", "--resend")
    assert len(smtp_server.received) == 8


def test_unreachable_channel_is_reported_and_others_go_on(cli, workspace, smtp_server):
    # MSB's channel points at a port where nobody listens; the others stay Maildir.
    edit_channel(
        workspace,
        "msb",
        type="smtp",
        path=None,
        host="127.0.0.1",
        port=9,
        security="none",
        timeout=2,
        retries=1,
        retry_backoff=0.01,
    )
    result = cli("send", "invitation", "2", "--yes")
    assert result.exit_code == 1
    assert "cannot connect to 127.0.0.1:9" in result.output
    boxes = {p.name: len(list((p / "new").iterdir())) for p in (workspace / "outbox").iterdir()}
    assert "msb" not in boxes
    assert boxes["kronofogden"] == 3
    status = cli("status", "invitation-2", "--json")
    assert '"sent"' in status.output
