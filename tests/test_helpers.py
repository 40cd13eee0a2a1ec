"""The test suite's own tools: the SMTP server fixture and the network.toml helpers."""

from __future__ import annotations

import ast
import smtplib
import tomllib
from pathlib import Path

import pytest

from mailer.config import load_network
from tests.helpers import (
    edit_channel,
    edit_member,
    edit_seminar,
    edit_table,
    editing_network,
    use_smtp,
    use_smtp_everywhere,
)
from tests.smtp_server import SmtpServer

TESTS = Path(__file__).parent


# -- network.toml as data ------------------------------------------------------------------


def test_a_rewrite_without_changes_keeps_every_value(workspace):
    path = workspace / "network.toml"
    before_data = tomllib.loads(path.read_text(encoding="utf-8"))
    before = load_network(path)
    with editing_network(workspace):
        pass
    assert tomllib.loads(path.read_text(encoding="utf-8")) == before_data
    assert load_network(path) == before


def test_edits_change_one_table_and_none_removes_a_key(workspace):
    edit_table(workspace, "network", language="en", unsubscribe_url=None)
    edit_member(workspace, "kronofogden", colour="#123456")
    edit_seminar(workspace, 2, place="Aula Magna")
    edit_channel(workspace, "msb", type="smtp", path=None, host="127.0.0.1", port=2525)
    network = load_network(workspace / "network.toml")
    assert network.network.language == "en"
    assert network.network.unsubscribe_url is None
    assert network.member("kronofogden").colour == "#123456"
    assert network.seminar(2).place == "Aula Magna"
    channel = network.member("msb").channel
    assert (channel.type, channel.host, channel.port) == ("smtp", "127.0.0.1", 2525)
    assert channel.from_ == "MSB <seminarier@msb.example>"  # kept: not named in the edit
    assert network.member("konsumentverket").channel.type == "maildir"


def test_an_unknown_member_or_seminar_is_a_clear_failure(workspace):
    with pytest.raises(AssertionError, match="no member 'skatteverket'"):
        edit_channel(workspace, "skatteverket", port=1)
    with pytest.raises(AssertionError, match="no seminar 9"):
        edit_seminar(workspace, 9, place="x")


def test_use_smtp_points_maildir_channels_at_the_server(workspace):
    use_smtp(workspace, "msb", 2525, helo_name="mail.msb.example")
    with pytest.raises(AssertionError, match="msb"):
        use_smtp(workspace, "msb", 2525)  # no longer a Maildir channel
    use_smtp_everywhere(workspace, 2626)
    network = load_network(workspace / "network.toml")
    ports = {m.id: m.channel.port for m in network.members}
    assert ports.pop("msb") == 2525 and set(ports.values()) == {2626}


# -- the SMTP server -----------------------------------------------------------------------


def ehlo_features(server: SmtpServer) -> dict[str, str]:
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.example") as client:
        client.ehlo()
        return dict(client.esmtp_features)


def send(server: SmtpServer, *recipients: str) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.example") as client:
        return client.sendmail("a@example.org", list(recipients), b"Subject: x\r\n\r\nHej\r\n")


def test_the_server_records_what_it_receives(smtp_server):
    assert send(smtp_server, "b@example.org", "c@example.org") == {}
    (item,) = smtp_server.received
    assert item.mail_from == "a@example.org"
    assert smtp_server.handler.recipients() == ["b@example.org", "c@example.org"]
    assert item.message["Subject"] == "x"
    assert smtp_server.handler.helo_names == ["client.example"]
    assert "smtputf8" in ehlo_features(smtp_server)


@pytest.mark.smtp_server(smtputf8=False, refuse={"b@example.org": "550 5.1.1 User unknown"})
def test_the_marker_sets_the_server_up(smtp_server):
    assert "smtputf8" not in ehlo_features(smtp_server)
    refused = send(smtp_server, "b@example.org", "c@example.org")
    assert refused == {"b@example.org": (550, b"5.1.1 User unknown")}
    assert smtp_server.handler.recipients() == ["c@example.org"]


def test_misbehaviour_and_accounts_as_arguments(smtp_servers):
    server = smtp_servers(max_sessions=1, accounts={"msb-utskick": "right"})
    with smtplib.SMTP("127.0.0.1", server.port) as first:
        first.login("msb-utskick", "right")
        with smtplib.SMTP("127.0.0.1", server.port) as second:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                second.login("msb-utskick", "wrong")
            code, _ = second.mail("a@example.org")
            assert code == 432  # a second connection is one too many
        first.sendmail("a@example.org", ["b@example.org"], b"\r\nHej\r\n")
    # smtplib tries the next mechanism after a refusal: every attempt is recorded.
    assert server.logins[0] == "msb-utskick" and len(server.logins) >= 2
    assert server.handler.peak_sessions == 2 and len(server.received) == 1


def test_an_unknown_server_setting_is_refused(smtp_servers):
    with pytest.raises(TypeError, match="unknown SMTP server setting"):
        smtp_servers(refuses={})


# -- how tests share code ------------------------------------------------------------------


def test_no_test_imports_conftest_or_another_test_module():
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                last = name.rsplit(".", 1)[-1]
                assert last != "conftest" and not last.startswith("test_"), (path.name, name)
