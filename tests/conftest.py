"""Fixtures: a copy of the example workspace, the CLI over it, a test CA, real SMTP servers
on 127.0.0.1 and a stand-in for Entra ID and Microsoft Graph. Shared helpers and data are in
tests/helpers.py; the SMTP server itself (handler, misbehaviour) is in tests/smtp_server.py,
the Graph stand-in in tests/graph_server.py.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mailer import i18n
from mailer.bundle.signing import generate_key
from mailer.cli import main
from tests.graph_server import EntraGraph, serve
from tests.helpers import KAU, TOKEN_KEY, Member, copy_workspace, run_mailer
from tests.smtp_server import SmtpServer, start_smtp_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that talks to a real SMTP server: CI runs those once more against
    the lowest aiosmtplib that pyproject.toml allows (``pytest -m smtp``)."""
    for item in items:
        if "smtp_servers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.smtp)


@pytest.fixture(autouse=True)
def mailer_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This user's mailer folder (where a member's shares were sent from), per test."""
    home = tmp_path / "mailer-home"
    monkeypatch.setenv("MAILER_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def language(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Tests read English unless they choose Swedish (MAILER_LANGUAGE=sv) to test it.

    LANGUAGE is the variable Click's own words follow; the mailer sets it, so it is put
    back after each test."""
    monkeypatch.setenv("MAILER_LANGUAGE", "en")
    monkeypatch.setenv("LANGUAGE", "en")
    # Library code called straight from a test speaks the same (the CLI sets its own).
    with i18n.speaking("en"):
        yield "en"


@pytest.fixture(autouse=True)
def token_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """The key that signs registration and unsubscribe links (an environment variable)."""
    monkeypatch.setenv("MAILER_TOKEN_KEY", TOKEN_KEY)
    return TOKEN_KEY


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the bundled example network; its state folder starts empty."""
    return copy_workspace(tmp_path / "network")


@pytest.fixture
def cli(workspace: Path) -> Any:
    """Run the CLI against the workspace: ``cli('send', 'invitation', '2')``."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(
            main,
            ["--network", str(workspace / "network.toml"), *args],
            input=input,
            catch_exceptions=False,
        )

    return run


@dataclass
class Tls:
    """A test CA (trusted through MAILER_CAFILE) and a server context for 127.0.0.1."""

    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tls:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("MAILER_CAFILE", str(ca_file))  # SMTP
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))  # the OAuth2 token endpoint
    return Tls(ca_file, context)


@pytest.fixture
def entra_graph(tls: Tls) -> Iterator[EntraGraph]:
    """The stand-in for Entra ID's token endpoint and Graph's sendMail (tests/graph_server.py),
    over HTTPS on 127.0.0.1 with a certificate from the test CA."""
    with serve(tls.server_context) as state:
        yield state


@pytest.fixture
def smtp_servers() -> Iterator[Callable[..., SmtpServer]]:
    """Start real SMTP servers, as many as a test needs, each on its own port of 127.0.0.1.

    ``smtp_servers(handler=None, *, accounts=, tls=, require_starttls=, implicit_tls=,
    smtputf8=, refuse=, script=, mail_reply=, max_sessions=, ...)``: see
    ``tests.smtp_server.start_smtp_server``. Every server stops when the test ends.
    """
    started: list[SmtpServer] = []

    def start(handler: Any = None, **options: Any) -> SmtpServer:
        server = start_smtp_server(handler, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(
    request: pytest.FixtureRequest, smtp_servers: Callable[..., SmtpServer]
) -> SmtpServer:
    """One server from ``smtp_servers``, set up by the test's ``smtp_server`` marker:
    ``@pytest.mark.smtp_server(smtputf8=False, refuse={...})``; a plain one without it."""
    marker = request.node.get_closest_marker("smtp_server")
    return smtp_servers(*marker.args, **marker.kwargs) if marker else smtp_servers()


# -- mailing bundles: the network's keys, the coordinator, the members' machines ----------


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """The network's Ed25519 key pair, and an HMAC secret for the tests that need one."""
    folder = tmp_path / "keys"
    folder.mkdir()
    private, public = generate_key("ed25519")
    secret, _ = generate_key("hmac-sha256")
    paths = {"private": folder / "net.key", "public": folder / "net.pub", "hmac": folder / "h"}
    paths["private"].write_text(private)
    paths["public"].write_text(public or "")
    paths["hmac"].write_text(secret)
    return paths


@pytest.fixture
def coordinator(workspace: Path, keys: dict[str, Path]) -> Any:
    def call(*args: str, key: Path | None = None) -> Result:
        return run_mailer(
            "--network",
            str(workspace / "network.toml"),
            *args,
            env={"MAILER_BUNDLE_KEY_FILE": str(key or keys["private"])},
        )

    return call


@pytest.fixture
def members(tmp_path: Path, keys: dict[str, Path], smtp_servers: Any) -> dict[str, Member]:
    return {m: Member(tmp_path / m, m, smtp_servers(), keys["public"]) for m in ("msb", KAU)}
