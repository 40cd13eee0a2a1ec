"""The Microsoft Graph channel against a local stand-in for Graph and Entra ID over HTTPS
(tests/graph_server.py): what arrived, decoded and parsed, must agree with the journal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mailer.bundle.member import load_channel_file
from mailer.channels.graph import retry_after
from mailer.config import GraphChannel
from tests.graph_server import CLIENT, SECRET, TENANT, EntraGraph
from tests.helpers import MSB_PEOPLE, REPO, big_msb_list, edit_channel, journal_rows, use_graph

MAILBOX = "seminarier@msb.example"
MSB = frozenset(MSB_PEOPLE)


@pytest.fixture
def graph(workspace: Path, entra_graph: EntraGraph, monkeypatch: pytest.MonkeyPatch) -> EntraGraph:
    """MSB's channel is Graph, through the stand-in; the client secret is in the env."""
    monkeypatch.setenv("MSB_CLIENT_SECRET", SECRET)
    use_graph(workspace, "msb", entra_graph.base)
    return entra_graph


def states(workspace: Path) -> dict[str, str]:
    return {e: s for e, (_, s) in journal_rows(workspace / ".mailer").items()}


def assert_agree(workspace: Path, graph: EntraGraph, *, killed: bool = False) -> None:
    """The journal says what the stand-in saw: 202 sent, 400 failed, no answer uncertain.
    After a SIGKILL, a 202 the sender did not live to read leaves its row uncertain."""
    rows = states(workspace)
    last = {a.recipient: a.status for a in graph.arrivals}
    expected = {"202": "sent", "400": "failed", "drop": "sending", "kill": "sending"}
    for person, status in last.items():
        if status in expected:
            allowed = {expected[status]} | ({"sending"} if killed else set())
            assert rows[person] in allowed, (person, status, rows[person])
    sent = {e for e, s in rows.items() if s == "sent"}
    assert sent <= {a.recipient for a in graph.delivered()}


def test_sends_the_mime_message_through_graph(cli, workspace, graph):
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    delivered = graph.delivered()
    assert {a.recipient for a in delivered} == MSB
    assert len(delivered) == len(MSB)
    assert {a.mailbox for a in delivered} == {MAILBOX}
    # One token for the channel, for Graph's scope, reused by every request.
    assert graph.issued == ["token-1"]
    assert graph.scopes == ["https://graph.microsoft.com/.default"]
    assert {a.token for a in delivered} == {"token-1"}
    assert 1 <= graph.most_in_flight <= 4
    for arrival in delivered:
        message = arrival.message
        assert message["From"] == "MSB <seminarier@msb.example>"
        assert message.get_body(("html",)) is not None
        assert b"\r\n" in arrival.raw  # the bytes the mailer builds, CRLF and all
    journal = journal_rows(workspace / ".mailer")
    assert {e for e, (_, s) in journal.items() if s == "sent"} == MSB
    assert_agree(workspace, graph)
    assert SECRET not in result.output + result.stderr
    assert "token-1" not in result.output + result.stderr


def test_the_message_ids_in_the_journal_are_the_ones_that_arrived(cli, workspace, graph):
    import sqlite3

    assert cli("send", "invitation", "2", "--org", "msb", "--yes").exit_code == 0
    db = sqlite3.connect(workspace / ".mailer" / "journal.sqlite3")
    try:
        ids = dict(db.execute("SELECT email, message_id FROM deliveries"))
    finally:
        db.close()
    assert {a.recipient: a.message["Message-ID"] for a in graph.delivered()} == {
        e: ids[e] for e in MSB
    }


def test_a_400_fails_that_person_and_the_others_go(cli, workspace, graph):
    graph.script["maja.lund@msb.example"] = ["400"]
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 1
    assert "ErrorInvalidRecipients" in result.output
    assert {a.recipient for a in graph.delivered()} == MSB - {"maja.lund@msb.example"}
    assert states(workspace)["maja.lund@msb.example"] == "failed"
    assert_agree(workspace, graph)
    # Not a hard bounce: the address stays off the opt-out list.
    assert cli("suppress", "list").output.count("maja.lund") == 0


def test_a_revoked_token_is_renewed_once(cli, workspace, graph):
    edit_channel(workspace, "msb", max_connections=1)
    graph.script["johan.berg@msb.example"] = ["401"]  # revokes token-1
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert graph.issued == ["token-1", "token-2"]
    assert {a.recipient for a in graph.delivered()} == MSB
    johan = [a for a in graph.arrivals if a.recipient == "johan.berg@msb.example"]
    assert [(a.status, a.token) for a in johan] == [("401", "token-1"), ("202", "token-2")]
    assert_agree(workspace, graph)


def test_a_401_after_a_new_token_stops_the_channel_with_one_line(cli, workspace, graph):
    edit_channel(workspace, "msb", max_connections=1)
    graph.script["erik.sandberg@msb.example"] = ["401", "401"]  # revoked, and again
    result = cli("send", "invitation", "2", "--org", "msb", "--org", "kronofogden", "--yes")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith("channel"))
    assert "MSB: Microsoft Graph refused a new token too (401 InvalidAuthenticationToken" in line
    assert len(graph.issued) == 2  # the first, and one renewal
    assert graph.delivered() == []
    assert set(states(workspace).values()) <= {"queued", "sent"}
    assert all(s == "queued" for e, s in states(workspace).items() if e in MSB)
    assert len(list((workspace / "outbox" / "kronofogden" / "new").iterdir())) == 3


def test_a_403_names_the_missing_permission(cli, workspace, graph):
    graph.script["erik.sandberg@msb.example"] = ["403"]
    edit_channel(workspace, "msb", max_connections=1)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith("channel"))
    assert f"does not let the app send as {MAILBOX} (403 ErrorAccessDenied" in line
    assert "Mail.Send application permission" in line
    assert "application access policy" in line
    assert states(workspace)["erik.sandberg@msb.example"] == "queued"


def test_429_waits_exactly_retry_after_then_sends(cli, workspace, graph):
    edit_channel(workspace, "msb", max_connections=1, retries=1)
    graph.script["johan.berg@msb.example"] = ["429:1", "202"]
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    tries = [a for a in graph.arrivals if a.recipient == "johan.berg@msb.example"]
    assert [a.status for a in tries] == ["429", "202"]
    waited = tries[1].at - tries[0].at
    assert 1.0 <= waited < 1.5  # Retry-After, not the 0.01 s backoff with its jitter
    assert {a.recipient for a in graph.delivered()} == MSB
    log = (workspace / ".mailer" / "delivery.log").read_text(encoding="utf-8")
    assert "it asks us to wait 1 s" in log
    assert_agree(workspace, graph)


def test_throttling_does_not_use_up_the_retries(cli, workspace, graph):
    edit_channel(workspace, "msb", max_connections=1, retries=1)
    graph.script["johan.berg@msb.example"] = ["429:0.1", "503:0.1", "429:0.1", "202"]
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert {a.recipient for a in graph.delivered()} == MSB
    assert_agree(workspace, graph)


def test_503_holds_every_request_in_flight(cli, workspace, graph):
    big_msb_list(workspace, 16)
    edit_channel(workspace, "msb", max_connections=4)
    graph.script["person003@msb.example"] = ["503:1"]
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    throttled = next(a for a in graph.arrivals if a.status == "503")
    retried = next(a for a in graph.delivered() if a.recipient == throttled.recipient)
    # The throttled message itself went again after exactly the second Graph asked for.
    assert retried.at >= throttled.at + 1.0
    # The hold began when the sender read the 503 (after throttled.at, by how much depends
    # on the machine's load) and lasted a second, so it covered (retried.at - 1,
    # throttled.at + 1). What arrived then was already on its way when the 503 was read: at
    # most one request from each of the other three connections. A channel that did not hold
    # would have sent the dozen people still queued in that time.
    during = [a for a in graph.arrivals if retried.at - 1.0 < a.at < throttled.at + 1.0]
    assert len(during) <= 3, [(a.recipient, a.at - throttled.at) for a in during]
    # ... and the hold held back people still queued until it ended (how many were sent
    # before the 503 was read depends on the load; the dozen are not all gone by then).
    assert any(a.at >= throttled.at + 1.0 for a in graph.delivered() if a is not retried)
    assert len(graph.delivered()) == 16


def test_a_dropped_connection_after_the_body_is_uncertain(cli, workspace, graph):
    graph.script["tom.walker@msb.example"] = ["drop"]
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 1
    assert "--resend-uncertain" in result.stderr
    assert states(workspace)["tom.walker@msb.example"] == "sending"
    assert [a.status for a in graph.arrivals if a.recipient == "tom.walker@msb.example"] == ["drop"]
    assert_agree(workspace, graph)


def test_limits_default_to_exchange_online_and_show_in_a_dry_run(cli, workspace, graph):
    edit_channel(workspace, "msb", rate_per_second=None)
    result = cli("send", "invitation", "2", "--org", "msb", "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    row = next(x for x in result.output.splitlines() if x.strip("│ ").startswith("MSB"))
    assert "graph" in row
    pace = next(x for x in result.output.splitlines() if "/min" in x and "MSB" in x)
    assert "30/min" in pace and "10000 of 10000" in pace
    assert graph.arrivals == [] and graph.issued == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"max_connections": 5}, "max_connections"),
        ({"graph_url": "http://127.0.0.1:1"}, "must be an https:// address"),
        ({"mailbox": "a/b@msb.example"}, "mailbox must be"),
        ({"client_secret_env": None}, "client_secret_env"),
        ({"client_certificate": "app.pem"}, "not both and not neither"),
        (
            {"client_secret_env": None, "client_certificate": "app.pem"},
            "client_certificate needs client_certificate_key_env",
        ),
    ],
)
def test_graph_settings_are_checked(cli, workspace, change, says):
    use_graph(workspace, "msb", "https://127.0.0.1:1", **change)
    result = cli("check")
    assert result.exit_code == 2
    assert says in result.stderr


def test_a_members_channel_file_may_say_graph(tmp_path):
    path = tmp_path / "CHANNEL.toml"
    path.write_text(
        'network = "n"\nmember = "msb"\n[channel]\ntype = "graph"\n'
        'from = "MSB <seminarier@msb.example>"\ntenant_id = "t1"\nclient_id = "c1"\n'
        'client_secret_env = "MSB_CLIENT_SECRET"\nmailbox = "seminarier@msb.example"\n',
        encoding="utf-8",
    )
    channel = load_channel_file(path).channel
    assert isinstance(channel, GraphChannel)
    assert (channel.rate_per_minute, channel.recipients_per_day) == (30, 10_000)
    assert channel.max_connections == 4
    assert channel.graph_url == "https://graph.microsoft.com"


def test_retry_after_reads_seconds_and_dates():
    assert retry_after("7") == 7
    assert retry_after(None) is None
    assert retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past: now
    assert retry_after("99999") == 3600


def _send(workspace: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MAILER_NETWORK": str(workspace / "network.toml")}
    command = ["send", "invitation", "2", "--org", "msb", "--yes", "--quiet", *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "mailer", *command],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_with_a_message_in_flight_then_resume(workspace, graph):
    emails = big_msb_list(workspace, 30)
    graph.script["person017@msb.example"] = ["kill"]
    proc = _send(workspace)
    graph.kill_pid = proc.pid
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    after = states(workspace)
    uncertain = {e for e, s in after.items() if s == "sending"}
    assert "person017@msb.example" in uncertain
    assert len(uncertain) <= 4  # at most one per request in flight
    assert_agree(workspace, graph, killed=True)

    again = _send(workspace)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 1 and "--resend-uncertain" in err, out + err
    got = Counter(a.recipient for a in graph.delivered())
    assert max(got.values()) == 1, "somebody got two copies"
    assert set(got) | uncertain == set(emails), "somebody was lost"
    assert_agree(workspace, graph, killed=True)

    final = _send(workspace, "--resend-uncertain")
    out, err = final.communicate(timeout=60)
    assert final.returncode == 0, out + err
    got = Counter(a.recipient for a in graph.delivered())
    assert set(got) == set(emails)
    assert {e for e, n in got.items() if n > 1} <= uncertain
    ids: dict[str, set[str]] = {}
    for a in graph.delivered():
        ids.setdefault(a.recipient, set()).add(a.message["Message-ID"])
    assert all(len(v) == 1 for v in ids.values())  # a duplicate is recognisable as one
    assert set(states(workspace).values()) == {"sent"}


def test_a_member_sends_its_bundled_share_through_graph(
    coordinator, workspace, members, entra_graph, monkeypatch
):
    monkeypatch.setenv("MSB_CLIENT_SECRET", SECRET)
    msb = members["msb"]
    msb.channel.write_text(
        msb.channel.read_text(encoding="utf-8").split("[channel]")[0]
        + "[channel]\n"
        + "".join(
            f'{k} = "{v}"\n'
            for k, v in {
                "type": "graph",
                "from": "MSB <seminarier@msb.example>",
                "tenant_id": TENANT,
                "client_id": CLIENT,
                "client_secret_env": "MSB_CLIENT_SECRET",
                "mailbox": MAILBOX,
                "graph_url": entra_graph.base,
                "authority": entra_graph.base,
            }.items()
        )
        + "rate_per_second = 1000\n",
        encoding="utf-8",
    )
    exported = coordinator(
        "bundle", "export", "invitation", "2", "--org", "msb", "-o", str(msb.bundle)
    )
    assert exported.exit_code == 0, exported.output
    monkeypatch.chdir(msb.root)
    sent = msb.send()
    assert sent.exit_code == 0, sent.output
    assert {a.recipient for a in entra_graph.delivered()} == MSB
    assert entra_graph.scopes == ["https://graph.microsoft.com/.default"]


def test_check_online_asks_graph_and_sends_nothing(cli, workspace, graph):
    result = cli("check", "--online")
    assert result.exit_code == 0, result.output + result.stderr
    assert f"OK  MSB: Microsoft Graph lets the app send as {MAILBOX}" in result.output
    assert graph.delivered() == []
    assert graph.issued == ["token-1"]


def test_check_online_says_which_permission_is_missing(cli, workspace, graph):
    graph.denied.add(MAILBOX)
    result = cli("check", "--online")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith("NOT OK"))
    assert f"MSB: Microsoft Graph does not let the app send as {MAILBOX} (403" in line
    assert "application access policy must include this mailbox" in line


def test_check_online_with_a_wrong_secret(cli, workspace, graph, monkeypatch):
    monkeypatch.setenv("MSB_CLIENT_SECRET", "not-the-secret")
    result = cli("check", "--online")
    assert result.exit_code == 1
    assert "MSB: the OAuth2 authority refused the token request: invalid_client" in result.output
    assert "Mail.Send permission" in result.output
    assert "not-the-secret" not in result.output + result.stderr


def test_no_answer_within_the_timeout_after_the_body_is_uncertain(cli, workspace, graph):
    # A timeout a loaded machine's TLS handshake and token request keep within, and an
    # answer far later than it.
    edit_channel(workspace, "msb", max_connections=1, timeout=1)
    graph.delay = 3.0
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 1
    assert "no answer from Microsoft Graph within 1 s" in result.output
    assert set(states(workspace).values()) == {"sending"}
    assert len(graph.arrivals) == len(MSB)  # each went out once: never retried on its own


def test_at_most_four_requests_in_flight(cli, workspace, graph):
    big_msb_list(workspace, 16)
    edit_channel(workspace, "msb", max_connections=4)
    graph.delay = 0.05
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert graph.most_in_flight == 4
    assert len(graph.delivered()) == 16


def _app_certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for the app registration and its private key, in PEM."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailer.msb.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


@pytest.mark.parametrize("right_key", [True, False], ids=["its-key", "another-key"])
def test_a_certificate_instead_of_a_client_secret(
    cli, workspace, graph, tmp_path, monkeypatch, right_key
):
    cert_pem, key_pem = _app_certificate(tmp_path)
    graph.certificate = cert_pem
    if not right_key:
        _, key_pem = _app_certificate(tmp_path)
    (workspace / "msb-app.pem").write_text(cert_pem, encoding="ascii")
    monkeypatch.setenv("MSB_APP_KEY", key_pem)
    edit_channel(
        workspace,
        "msb",
        client_secret_env=None,
        client_certificate="msb-app.pem",
        client_certificate_key_env="MSB_APP_KEY",
    )
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    if right_key:
        assert result.exit_code == 0, result.output + result.stderr
        assert {a.recipient for a in graph.delivered()} == MSB
    else:
        assert result.exit_code == 1
        assert "refused the token request: invalid_client" in result.output
        assert graph.arrivals == []
    assert "PRIVATE KEY" not in result.output + result.stderr
