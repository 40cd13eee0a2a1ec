"""TLS by default: certificates are verified, STARTTLS is never skipped, no AUTH in clear.

Every server here is a real aiosmtpd on 127.0.0.1 with a certificate made in the test
(trustme for a CA and its leaf certificates, cryptography for a self-signed one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from mailer.channels.smtp import SmtpSettings, SmtpTransport
from mailer.errors import ChannelError
from mailer.message import Outgoing
from tests.helpers import edit_channel
from tests.smtp_server import SmtpServer

# Real SMTP servers (their own, with TLS): CI runs these again with the lowest aiosmtplib.
pytestmark = pytest.mark.smtp

PASSWORD = "Tls-lösen0rd!9"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Öppna data Värmland test CA")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "member-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A certificate for 127.0.0.1 that signs itself, as a misconfigured server has."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "self.pem", tmp_path / "self.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def tls_server(smtp_servers: Any) -> Any:
    """Start a server: mode 'tls' (implicit), 'starttls' (required) or 'plain' (none)."""

    def start(mode: str, context: ssl.SSLContext | None = None) -> SmtpServer:
        options: dict[str, Any] = {}
        if mode == "tls":
            options.update(implicit_tls=context)
        elif mode == "starttls":
            options.update(tls=context, require_starttls=True)
        return smtp_servers(
            accounts={"msb-utskick": PASSWORD}, server_hostname="smtp.member.example", **options
        )

    return start


MESSAGE = Outgoing(
    sender="seminarier@msb.example",
    recipient="anna.berg@example.org",
    message_id="<t.1@msb.example>",
    data=(
        b"From: seminarier@msb.example\r\nTo: anna.berg@example.org\r\nSubject: Hej\r\n\r\nHej!\r\n"
    ),
)


def send(settings: SmtpSettings) -> str:
    async def run() -> str:
        transport = SmtpTransport(settings, label="MSB")
        try:
            await transport.open()
            return await transport.send(MESSAGE)
        finally:
            await transport.close()  # waits until the TLS connection is really closed

    try:
        return asyncio.run(run())
    finally:
        gc.collect()  # a leaked socket warns here, in the test that leaked it


def settings(port: int, security: str, **kwargs: Any) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=port,
        security=security,  # type: ignore[arg-type]
        username="msb-utskick",
        password=PASSWORD,
        connect_timeout=5,
        timeout=5,
        **kwargs,
    )


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_a_valid_certificate_from_a_trusted_ca_works(tls_server, ca, ca_file, mode):
    server = tls_server(mode, server_context(ca, "127.0.0.1"))
    send(settings(server.port, mode, cafile=str(ca_file)))
    assert server.logins == ["msb-utskick"]  # AUTH happened, inside TLS
    assert [m.rcpt_tos for m in server.handler.received] == [["anna.berg@example.org"]]


def test_the_ca_file_can_come_from_the_environment(tls_server, ca, ca_file, monkeypatch):
    monkeypatch.setenv("MAILER_CAFILE", str(ca_file))
    server = tls_server("tls", server_context(ca, "127.0.0.1"))
    send(settings(server.port, "tls"))
    assert len(server.handler.received) == 1


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_a_certificate_for_another_host_fails_clearly(tls_server, ca, ca_file, mode):
    server = tls_server(mode, server_context(ca, "mail.example.org"))
    with pytest.raises(ChannelError) as caught:
        send(settings(server.port, mode, cafile=str(ca_file)))
    line = str(caught.value)
    assert f"MSB: the TLS certificate of 127.0.0.1:{server.port} cannot be trusted" in line
    assert "mismatch, certificate is not valid for '127.0.0.1'" in line
    assert "ca_file" in line and "\n" not in line
    assert server.logins == [] and server.handler.received == []


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_a_self_signed_certificate_fails_clearly(tls_server, ca_file, tmp_path, mode):
    server = tls_server(mode, self_signed(tmp_path))
    with pytest.raises(ChannelError, match=r"cannot be trusted: self.signed certificate"):
        send(settings(server.port, mode, cafile=str(ca_file)))
    assert server.logins == [] and server.handler.received == []


def test_a_certificate_from_an_unknown_ca_fails_clearly(tls_server, ca):
    server = tls_server("tls", server_context(ca, "127.0.0.1"))
    with pytest.raises(ChannelError, match="cannot be trusted: unable to get local issuer"):
        send(settings(server.port, "tls"))  # the member's CA is not trusted here
    assert server.handler.received == []


def test_no_starttls_on_offer_stops_the_channel_without_a_downgrade(tls_server):
    server = tls_server("plain")
    with pytest.raises(ChannelError) as caught:
        send(settings(server.port, "starttls"))
    assert f"127.0.0.1:{server.port} does not offer STARTTLS" in str(caught.value)
    # Neither the password nor the mail crossed the connection in clear.
    assert server.logins == [] and server.handler.received == []


def test_no_login_in_clear_to_another_host():
    plain = SmtpSettings(
        host="mail.example.org", port=25, security="none", username="u", password=PASSWORD
    )
    with pytest.raises(ChannelError, match="refusing to log in over an unencrypted connection"):
        send(plain)  # refused before any connection is tried


def test_a_missing_ca_file_is_one_line(tls_server, ca, tmp_path):
    server = tls_server("tls", server_context(ca, "127.0.0.1"))
    with pytest.raises(ChannelError, match=r"cannot use the CA file .*nope\.pem: No such file"):
        send(settings(server.port, "tls", cafile=str(tmp_path / "nope.pem")))


def test_plain_smtp_is_refused_for_another_host_in_the_config(cli, workspace):
    edit_channel(workspace, "msb", type="smtp", path=None, host="mail.msb.example", security="none")
    result = cli("check")
    assert result.exit_code == 2
    assert "security = 'none' is only allowed for localhost" in result.stderr


def test_ca_file_in_the_channel_end_to_end(cli, workspace, tls_server, ca, monkeypatch):
    ca.cert_pem.write_to_path(str(workspace / "msb-ca.pem"))
    server = tls_server("tls", server_context(ca, "127.0.0.1"))
    monkeypatch.setenv("MSB_SMTP_PASSWORD", PASSWORD)
    edit_channel(
        workspace,
        "msb",
        type="smtp",
        path=None,
        host="127.0.0.1",
        port=server.port,
        security="tls",
        username="msb-utskick",
        password_env="MSB_SMTP_PASSWORD",
        ca_file="msb-ca.pem",
    )
    result = cli("send", "invitation", "2", "--yes", "--org", "msb")
    assert result.exit_code == 0, result.output + result.stderr
    assert len(server.handler.received) == 4
    assert set(server.logins) == {"msb-utskick"}
