"""Channel passwords: only from the environment or the keyring, and never shown or stored."""

from __future__ import annotations

import base64
import logging
import sys
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from mailer import redaction
from mailer.errors import ChannelError
from tests.helpers import TOKEN_KEY, edit_channel, edit_table
from tests.smtp_server import RecordingHandler, SmtpServer

SECRET = "Hemligt-lösen0rd!7"
WRONG = "fel-lösenord-42"
USERS = {"msb-utskick": SECRET, "kv-utskick": WRONG + "x"}  # kv's variable holds WRONG


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    redaction.forget_all()


@pytest.fixture
def auth_server(smtp_servers: Any) -> tuple[RecordingHandler, int, SmtpServer]:
    """A server with AUTH and the USERS accounts; its ``logins`` record every attempt.
    Plain AUTH (no TLS) is allowed to 127.0.0.1 only, by the mailer."""
    server = smtp_servers(accounts=USERS)
    return server.handler, server.port, server


def smtp_channel(port: int, user: str, env: str) -> dict[str, object]:
    return {
        "type": "smtp",
        "path": None,
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": user,
        "password_env": env,
        "timeout": 5,
    }


def forms(secret: str, user: str) -> list[bytes]:
    """The secret as it may appear in a file: raw, UTF-8, and as SMTP AUTH sends it."""
    return [
        secret.encode(),
        base64.b64encode(secret.encode()),
        base64.b64encode(f"\0{user}\0{secret}".encode()),
    ]


def test_a_full_smtp_run_leaves_no_trace_of_the_passwords(
    cli, workspace, auth_server, monkeypatch, caplog
):
    handler, port, authenticator = auth_server
    monkeypatch.setenv("MSB_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("KV_SMTP_PASSWORD", WRONG)
    edit_channel(workspace, "msb", **smtp_channel(port, "msb-utskick", "MSB_SMTP_PASSWORD"))
    edit_channel(
        workspace, "konsumentverket", **smtp_channel(port, "kv-utskick", "KV_SMTP_PASSWORD")
    )
    caplog.set_level(logging.DEBUG)  # everything any library logs, aiosmtplib included

    runs = [
        cli("check"),
        cli("send", "invitation", "2", "--dry-run"),
        cli("preview", "invitation", "2", "--to", "tom.walker@msb.example"),
        cli("send", "invitation", "2", "--yes"),
        cli("send", "invitation", "2", "--yes"),  # resume: the failed channel tries again
        cli("status"),
        cli("status", "invitation-2", "--json"),
    ]
    assert "msb-utskick" in authenticator.logins and "kv-utskick" in authenticator.logins
    assert any(m.rcpt_tos == ["tom.walker@msb.example"] for m in handler.received)
    send = runs[3]
    assert send.exit_code == 1
    # The failure is explained, with the server's reply.
    assert any("Konsumentverket" in line and "535" in line for line in send.output.splitlines())

    shown = "".join(r.output + r.stderr for r in runs) + caplog.text
    files = [p for p in workspace.rglob("*") if p.is_file()]
    assert any(p.name.startswith("journal") for p in files)
    # The key that signs registration and unsubscribe links is a secret too.
    for secret, user in ((SECRET, "msb-utskick"), (WRONG, "kv-utskick"), (TOKEN_KEY, "")):
        for form in forms(secret, user):
            assert form.decode() not in shown
            for path in files:
                assert form not in path.read_bytes(), path
            for message in handler.received:
                assert form not in message.data


def test_a_missing_password_variable_is_one_clear_line(cli, workspace, auth_server, monkeypatch):
    _, port, _ = auth_server
    monkeypatch.delenv("MSB_SMTP_PASSWORD", raising=False)
    edit_channel(workspace, "msb", **smtp_channel(port, "msb-utskick", "MSB_SMTP_PASSWORD"))
    result = cli("send", "invitation", "2", "--yes", "--org", "msb")
    assert result.exit_code == 1
    assert "the password for 127.0.0.1 is not set (export MSB_SMTP_PASSWORD=..." in result.output


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('password = "hunter2-hunter2"', "members[1].channel.password"),
        ('smtp_password = "hunter2-hunter2"', "members[1].channel.smtp_password"),
        ('oauth_token = "hunter2-hunter2"', "members[1].channel.oauth_token"),
    ],
)
def test_a_password_in_the_config_is_refused(cli, workspace, line, key):
    config = workspace / "network.toml"
    edit_channel(workspace, "msb", **tomllib.loads(line))
    text = config.read_text(encoding="utf-8")
    lineno = text.splitlines().index(line) + 1
    result = cli("check")
    assert result.exit_code == 2
    (message,) = result.stderr.strip().splitlines()
    assert f"network.toml:{lineno}: {key} holds a secret in clear text" in message
    assert "hunter2" not in result.output + result.stderr


def test_a_password_inside_a_url_is_refused(cli, workspace):
    edit_table(
        workspace, "network", website="https://eva:hunter2-hunter2@oppnadata-varmland.example"
    )
    result = cli("check")
    assert result.exit_code == 2
    assert "network.website holds a secret in clear text" in result.stderr
    assert "hunter2" not in result.output + result.stderr


# -- the system keyring ------------------------------------------------------------------


@pytest.fixture
def memory_keyring() -> Iterator[dict[tuple[str, str], str]]:
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    store: dict[tuple[str, str], str] = {}

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        yield store
    finally:
        keyring.set_keyring(previous)


def test_a_password_from_the_keyring(cli, workspace, auth_server, memory_keyring):
    handler, port, authenticator = auth_server
    channel = {
        "type": "smtp",
        "path": None,
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "msb-utskick",
        "password_keyring": "mailer-msb",
    }
    edit_channel(workspace, "msb", **channel)
    missing = cli("send", "invitation", "2", "--yes", "--org", "msb")
    assert "no password in the system keyring for 'msb-utskick' at 'mailer-msb'" in missing.output
    assert "keyring set mailer-msb msb-utskick" in missing.output

    memory_keyring[("mailer-msb", "msb-utskick")] = SECRET
    result = cli("send", "invitation", "2", "--yes", "--org", "msb")
    assert result.exit_code == 0, result.output
    assert set(authenticator.logins) == {"msb-utskick"}
    assert len(handler.received) == 4
    assert SECRET not in result.output + result.stderr


# -- redaction wherever text leaves the process ------------------------------------------


def test_a_secret_echoed_by_a_server_is_masked_everywhere(caplog, capsys):
    redaction.remember(SECRET, username="msb-utskick")
    plain = base64.b64encode(f"\0msb-utskick\0{SECRET}".encode()).decode()
    error = ChannelError(f"535 5.7.8 bad credentials {plain} ({SECRET})")
    assert SECRET not in str(error) and plain not in str(error)
    assert str(error) == "535 5.7.8 bad credentials *** (***)"

    with caplog.at_level(logging.DEBUG):
        logging.getLogger("aiosmtplib").debug("sent: AUTH PLAIN %s", plain)
        try:
            raise RuntimeError(f"unexpected: {SECRET}")
        except RuntimeError:
            logging.getLogger("mailer").exception("boom")
    assert plain not in caplog.text and SECRET not in caplog.text
    assert "AUTH PLAIN ***" in caplog.text

    try:
        raise RuntimeError(f"a bug that shows {SECRET}")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    err = capsys.readouterr().err
    assert "a bug that shows ***" in err and SECRET not in err
