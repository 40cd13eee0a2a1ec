"""What the SMTP conversation says and how its refusals are read, against real aiosmtpd."""

from __future__ import annotations

import asyncio
import gc

import pytest

from mailer.channels.factory import parse_via
from mailer.channels.smtp import SmtpSettings, SmtpTransport, local_hostname
from mailer.errors import ChannelError, ConfigError, RecipientRefusedError
from mailer.message import Outgoing
from tests.helpers import use_smtp
from tests.smtp_server import RecordingHandler

BODY = b"From: seminarier@msb.example\r\nTo: x@example.org\r\nSubject: Hej\r\n\r\nHej!\r\n"


def message(recipient: str, *, smtputf8: bool = False) -> Outgoing:
    return Outgoing(
        sender="seminarier@msb.example",
        recipient=recipient,
        message_id=f"<{abs(hash(recipient))}@msb.example>",
        data=BODY,
        smtputf8=smtputf8,
    )


def send_each(settings: SmtpSettings, messages: list[Outgoing]) -> list[str | Exception]:
    """Send over one connection; each message's reply or the error it raised."""

    async def run() -> list[str | Exception]:
        transport = SmtpTransport(settings, label="MSB")
        outcomes: list[str | Exception] = []
        try:
            for m in messages:
                try:
                    outcomes.append(await transport.send(m))
                except (RecipientRefusedError, ChannelError) as exc:
                    outcomes.append(exc)
        finally:
            await transport.close()
        return outcomes

    try:
        return asyncio.run(run())
    finally:
        gc.collect()  # a leaked socket warns here


def plain(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)


def test_an_address_that_needs_smtputf8_fails_alone_where_it_is_not_offered(smtp_servers):
    server = smtp_servers(smtputf8=False)
    outcomes = send_each(
        plain(server.port),
        [message("åsa.öberg@msb.example", smtputf8=True), message("anna@example.org")],
    )
    refused, accepted = outcomes
    assert isinstance(refused, RecipientRefusedError)
    assert "SMTPUTF8" in str(refused)
    assert isinstance(accepted, str) and accepted.startswith("250")
    assert server.handler.recipients() == ["anna@example.org"]


def test_smtputf8_is_used_where_it_is_offered(smtp_server):
    (reply,) = send_each(plain(smtp_server.port), [message("åsa.öberg@msb.example", smtputf8=True)])
    assert isinstance(reply, str) and reply.startswith("250")
    assert smtp_server.handler.recipients() == ["åsa.öberg@msb.example"]


def test_the_channel_goes_on_past_a_person_whose_address_needs_smtputf8(
    cli, workspace, smtp_servers
):
    server = smtp_servers(smtputf8=False)
    use_smtp(workspace, "msb", server.port)
    with (workspace / "recipients" / "msb.csv").open("a", encoding="utf-8") as f:
        f.write("åsa.öberg@msb.example,Åsa Öberg,MSB,Analytiker,sv\n")
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 1, result.output
    assert "failed   åsa.öberg@msb.example" in result.output
    assert "channel stopped" not in result.output and "send-as" not in result.output
    assert "johan.berg@msb.example" in server.handler.recipients()


def test_a_refused_mail_from_parameter_does_not_blame_the_sender(smtp_servers):
    server = smtp_servers(RecordingHandler(mail_reply="555 5.5.4 Unsupported option: SMTPUTF8"))
    (outcome,) = send_each(plain(server.port), [message("anna@example.org")])
    assert isinstance(outcome, RecipientRefusedError)
    assert not isinstance(outcome, ChannelError)
    assert "send-as" not in str(outcome)


@pytest.mark.parametrize(
    ("reply", "blames_sender"),
    [
        ("555 5.5.4 Unsupported option: SMTPUTF8", False),
        ("552 5.3.4 Message size exceeds fixed limit", False),
        ("501 5.5.2 Syntax: MAIL FROM:<address>", False),
        ("550 Requested action not taken: parameter BODY not supported", False),
        ("553 5.7.1 <seminarier@msb.example>: Sender address rejected: not owned by user", True),
        ("550 5.7.1 Client does not have permissions to send as this sender (see options)", True),
        ("550 5.1.8 Sender domain does not exist", True),
        # Words inside other words are not parameter names.
        ("550 Sender rejected: oversized reputation penalty, optional review", True),
        # An enhanced code counts only at the start of the text, not inside an IP address.
        ("550 5.7.1 blocked: [10.5.5.4] listed", True),
    ],
)
def test_which_mail_from_refusals_blame_the_sender(smtp_servers, reply, blames_sender):
    server = smtp_servers(RecordingHandler(mail_reply=reply))
    (outcome,) = send_each(plain(server.port), [message("anna@example.org")])
    if blames_sender:
        assert isinstance(outcome, ChannelError) and "send-as" in str(outcome)
    else:
        assert isinstance(outcome, RecipientRefusedError), outcome
        assert reply.split()[0] in str(outcome) and "send-as" not in str(outcome)


def test_a_from_address_that_needs_smtputf8_stops_the_channel_where_it_is_not_offered(
    smtp_servers,
):
    international = Outgoing(
        sender="ärende@msb.example",
        recipient="anna@example.org",
        message_id="<u.1@msb.example>",
        data=BODY,
    )
    without = smtp_servers(smtputf8=False)
    (outcome,) = send_each(plain(without.port), [international])
    assert isinstance(outcome, ChannelError)
    assert "from address ärende@msb.example needs SMTPUTF8" in str(outcome)
    assert without.handler.received == []
    offered = smtp_servers()
    (reply,) = send_each(plain(offered.port), [international])
    assert isinstance(reply, str) and reply.startswith("250")
    assert offered.received[0].mail_from == "ärende@msb.example"


def test_no_login_in_clear_when_starttls_is_only_opportunistic():
    settings = SmtpSettings(
        host="mail.example.org", port=587, security="auto", username="u", password="p"
    )
    (outcome,) = send_each(settings, [message("anna@example.org")])  # no connection is tried
    assert isinstance(outcome, ChannelError)
    assert "refusing to log in over an unencrypted connection" in str(outcome)


def test_a_refused_sender_stops_the_channel_with_the_send_as_hint(smtp_servers):
    server = smtp_servers(
        RecordingHandler(
            mail_reply="550 5.7.60 SMTP; Client does not have permissions to send as this sender"
        )
    )
    (outcome,) = send_each(plain(server.port), [message("anna@example.org")])
    assert isinstance(outcome, ChannelError)
    assert "send-as" in str(outcome)


def test_ehlo_says_this_machines_name_or_the_configured_one(smtp_server):
    send_each(plain(smtp_server.port), [message("anna@example.org")])
    named = SmtpSettings(
        host="127.0.0.1", port=smtp_server.port, security="none", helo_name="mail.lst.example"
    )
    send_each(named, [message("bo@example.org")])
    assert smtp_server.handler.helo_names == [local_hostname(), "mail.lst.example"]
    assert "mailer.localhost" not in smtp_server.handler.helo_names
    assert "." in local_hostname()


def test_helo_name_is_a_channel_setting(cli, workspace, smtp_server):
    use_smtp(workspace, "msb", smtp_server.port, helo_name="seminarier.msb.example")
    assert cli("send", "invitation", "2", "--org", "msb", "--yes").exit_code == 0
    assert set(smtp_server.handler.helo_names) == {"seminarier.msb.example"}
    use_smtp(workspace, "kronofogden", smtp_server.port, helo_name="bad name\r\nRCPT TO:<x@y>")
    bad = cli("check")
    assert bad.exit_code == 2 and "helo_name" in bad.stderr


def test_via_uses_starttls_when_offered_and_checks_the_certificate(smtp_servers, tls, tmp_path):
    server = smtp_servers(tls=tls.server_context, require_starttls=True)
    via = parse_via(f"smtp://127.0.0.1:{server.port}?cafile={tls.ca_file}")
    assert via.security == "auto" and via.cafile == str(tls.ca_file)
    (reply,) = send_each(via, [message("anna@example.org")])
    assert isinstance(reply, str) and reply.startswith("250")
    # A server whose certificate nobody vouches for is refused, not used in clear.
    stranger = tmp_path / "other-ca.pem"
    import trustme

    trustme.CA().cert_pem.write_to_path(str(stranger))
    untrusted = parse_via(f"smtp://127.0.0.1:{server.port}?cafile={stranger}")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MAILER_CAFILE")
        (refused,) = send_each(untrusted, [message("bo@example.org")])
    assert isinstance(refused, ChannelError) and "cannot be trusted" in str(refused)
    assert server.handler.recipients() == ["anna@example.org"]


def test_via_security_none_keeps_plain_smtp(smtp_server):
    via = parse_via(f"{smtp_server.url}?security=none")
    assert via.security == "none"
    (reply,) = send_each(via, [message("anna@example.org")])
    assert isinstance(reply, str) and reply.startswith("250")


@pytest.mark.parametrize(
    "url",
    [
        "smtp://192.0.2.1:25",
        "smtp://127.0.0.1:25?security=maybe",
        "smtp://127.0.0.1:25?password=x",
    ],
)
def test_via_refuses_what_it_cannot_do_safely(url):
    with pytest.raises(ConfigError):
        parse_via(url)


def test_a_reply_reaches_the_terminal_without_control_characters(smtp_server):
    smtp_server.handler.refuse["anna@example.org"] = "550 5.1.1 \x1b[2J\x1b]0;owned\x07\tgone"
    (outcome,) = send_each(plain(smtp_server.port), [message("anna@example.org")])
    assert isinstance(outcome, RecipientRefusedError)
    assert str(outcome) == "550 5.1.1 [2J ]0;owned gone"


@pytest.mark.parametrize(
    "port", ["99999", "abc", "-1"], ids=["out-of-range", "not-a-number", "negative"]
)
def test_via_with_a_port_that_is_not_one_is_one_line_and_exit_2(cli, port):
    """urlsplit raises ValueError for these ports: it must not end as a traceback."""
    with pytest.raises(ConfigError, match="expected smtp://HOST:PORT"):
        parse_via(f"smtp://127.0.0.1:{port}?security=none")
    result = cli("send", "invitation", "2", "--via", f"smtp://127.0.0.1:{port}", "--yes")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0
    assert "expected smtp://HOST:PORT" in result.stderr
