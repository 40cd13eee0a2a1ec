"""mailer inbox fetch against a real IMAP server (dovecot on 127.0.0.1, TLS from a test CA),
reading replies to messages that really went out through a real SMTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import edit_channel, use_smtp
from tests.imap_server import PASSWORD, ImapServer, dovecot, start_imap_server
from tests.inbox_corpus import Sent, send

pytestmark = pytest.mark.skipif(
    dovecot() is None, reason="dovecot is not installed (.ci/run installs dovecot-imapd)"
)
MAILBOX = "seminarier@msb.example"


@pytest.fixture
def imap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImapServer]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    root = tmp_path / "dovecot"
    root.mkdir()
    cert_file, key_file, ca_file = root / "cert.pem", root / "key.pem", root / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("MAILER_CAFILE", str(ca_file))
    server = start_imap_server(root, cert_file, key_file, ca_file)
    yield server
    server.stop()


@pytest.fixture
def sent(cli: Any, workspace: Path, smtp_servers: Any, imap: ImapServer, monkeypatch: Any) -> Sent:
    smtp = smtp_servers()
    use_smtp(workspace, "msb", smtp.port)
    done = send(cli, workspace, smtp, "invitation", "2", "--org", "msb")
    # Then the channel reads its mailbox back (after sending: the test SMTP server takes
    # no login).
    edit_channel(
        workspace,
        "msb",
        imap_host="127.0.0.1",
        imap_port=imap.port,
        username=MAILBOX,
        password_env="MSB_MAIL_PASSWORD",
    )
    monkeypatch.setenv("MSB_MAIL_PASSWORD", PASSWORD)
    return done


def records(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.output.splitlines()]


def test_fetch_reads_only_what_is_new_and_never_deletes(cli, sent, imap):
    a, b, c, d = sent.people()
    imap.deliver(
        MAILBOX,
        sent.fill("postfix.eml", a),
        sent.fill("out-of-office-sv.eml", b),
        sent.fill("reply-quoting.eml", c),
    )
    result = cli("inbox", "fetch", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    got = records(result)
    assert [(r["kind"], r["person"], r["member"]) for r in got] == [
        ("bounce", a, "msb"),
        ("auto-reply", b, "msb"),
        ("reply", c, "msb"),
    ]
    assert got[0]["where"] == "msb:INBOX#1"
    assert a in cli("suppressed").output

    # Nothing new: nothing read.
    again = cli("inbox", "fetch", "--json")
    assert again.exit_code == 0 and again.output == ""

    # One more, filed away as it is handled; the others stay where they were.
    imap.create(MAILBOX, "Hanterat")
    imap.deliver(MAILBOX, sent.fill("gmail.eml", d))
    moved = cli("inbox", "fetch", "--member", "msb", "--move-to", "Hanterat")
    assert moved.exit_code == 0, moved.output + moved.stderr
    assert f"msb:INBOX#4: bounce {d} (invitation-2): opted out" in moved.output
    assert imap.count(MAILBOX) == 3
    assert imap.count(MAILBOX, "Hanterat") == 1


def test_a_refused_login_is_one_line_for_that_member(cli, sent, imap, monkeypatch):
    monkeypatch.setenv("MSB_MAIL_PASSWORD", "wrong-password-4711")
    imap.deliver(MAILBOX, sent.fill("postfix.eml", sent.people()[0]))
    # dovecot's static passdb takes any user with its one password: a wrong one fails.
    result = cli("inbox", "fetch")
    assert result.exit_code == 1, result.output + result.stderr
    assert "msb: skipped: IMAP:" in result.output
    assert "wrong-password-4711" not in result.output + result.stderr


def test_no_mailbox_to_read_is_exit_2(cli):
    result = cli("inbox", "fetch")
    assert result.exit_code == 2
    assert "no IMAP mailbox to read" in result.stderr


def test_a_member_reads_its_own_mailbox_for_its_bundle(
    coordinator, members, imap, tmp_path, monkeypatch
):
    """'mailer bundle inbox --channel': the mailbox of the member's CHANNEL.toml, over IMAP."""
    from tests.inbox_corpus import bundle_sent

    msb = members["msb"]
    sent = bundle_sent(coordinator, msb, monkeypatch)
    to = sent.people()[0]
    with msb.channel.open("a", encoding="utf-8") as channel:
        channel.write(
            f'imap_host = "127.0.0.1"\nimap_port = {imap.port}\nusername = "{MAILBOX}"\n'
            'password_env = "MSB_MAIL_PASSWORD"\n'
        )
    monkeypatch.setenv("MSB_MAIL_PASSWORD", PASSWORD)
    imap.deliver(MAILBOX, sent.fill("gmail.eml", to))

    read = msb("bundle", "inbox", str(msb.bundle), "--channel", str(msb.channel), "--json")
    assert read.exit_code == 0, read.output
    assert [(r["kind"], r["person"], r["outcome"]) for r in records(read)] == [
        ("bounce", to, "opted-out")
    ]
    assert imap.count(MAILBOX) == 1  # never deleted
    again = msb("bundle", "inbox", str(msb.bundle), "--channel", str(msb.channel), "--json")
    assert again.exit_code == 0 and again.output == ""  # only what is new
    assert json.loads(msb.report().read_text())["bounced"] == [to]


@pytest.fixture
def oauth_imap(
    tmp_path: Path, entra_graph: Any, tls: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ImapServer]:
    """dovecot taking XOAUTH2, checking each token at the Entra stand-in's introspection
    endpoint (RFC 7662) over HTTPS; the app may read MSB's mailbox."""
    import trustme

    ca = trustme.CA()  # the IMAP server's own; the stand-in's is the tls fixture's
    cert = ca.issue_cert("127.0.0.1", "localhost")
    root = tmp_path / "dovecot-oauth"
    root.mkdir()
    cert_file, key_file, ca_file = root / "cert.pem", root / "key.pem", root / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("MAILER_CAFILE", str(ca_file))  # IMAP; Entra ID: REQUESTS_CA_BUNDLE
    server = start_imap_server(
        root,
        cert_file,
        key_file,
        ca_file,
        introspection=f"{entra_graph.base}/introspect",
        introspection_ca=tls.ca_file,
    )
    entra_graph.imap_mailbox = MAILBOX
    yield server
    server.stop()


def test_xoauth2_with_the_channels_app_token(
    cli, workspace, smtp_servers, oauth_imap, entra_graph, monkeypatch
):
    """An oauth2 channel reads its mailbox with SASL XOAUTH2 (Exchange: IMAP.AccessAsApp):
    the token comes from Entra ID's client-credentials flow, and the IMAP server checks it."""
    from tests.graph_server import CLIENT, SECRET, TENANT

    smtp = smtp_servers()
    use_smtp(workspace, "msb", smtp.port)
    done = send(cli, workspace, smtp, "invitation", "2", "--org", "msb")
    edit_channel(
        workspace,
        "msb",
        imap_host="127.0.0.1",
        imap_port=oauth_imap.port,
        auth="oauth2",
        username=MAILBOX,
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret_env="MSB_CLIENT_SECRET",
        authority=entra_graph.base,
    )
    monkeypatch.setenv("MSB_CLIENT_SECRET", SECRET)
    to = done.people()[0]
    oauth_imap.deliver(MAILBOX, done.fill("postfix.eml", to))

    result = cli("inbox", "fetch", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert [(r["kind"], r["person"]) for r in records(result)] == [("bounce", to)]
    assert entra_graph.scopes == ["https://outlook.office365.com/.default"]
    assert entra_graph.introspected == entra_graph.issued  # the server checked the token

    # The app may not read another mailbox: the server refuses the token, in one line.
    entra_graph.imap_mailbox = "someone.else@msb.example"
    oauth_imap.deliver(MAILBOX, done.fill("gmail.eml", done.people()[1]))
    refused = cli("inbox", "fetch")
    assert refused.exit_code == 1
    assert "msb: skipped: IMAP:" in refused.output
    assert SECRET not in refused.output + refused.stderr
    assert not any(t in refused.output for t in entra_graph.issued)
