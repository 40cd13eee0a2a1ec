"""OAuth2 for SMTP: a token from a local Entra-like token endpoint (HTTPS) through MSAL,
used for AUTH XOAUTH2 against a local SMTP server that checks it, over STARTTLS."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.helpers import edit_channel, use_smtp
from tests.smtp_server import XOAuth2Handler, free_port

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "s3cret-value-never-printed"
MAILBOX = "seminarier@msb.example"
MSB = {
    "erik.sandberg@msb.example",
    "johan.berg@msb.example",
    "maja.lund@msb.example",
    "tom.walker@msb.example",
}


@dataclass
class TokenEndpoint:
    """The two things MSAL asks of an authority: its OpenID configuration and a token."""

    base: str
    expires_in: int = 3600
    issued: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)


@pytest.fixture
def token_endpoint(tls: Any) -> Iterator[TokenEndpoint]:
    port = free_port()
    endpoint = TokenEndpoint(f"https://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.startswith(f"/{TENANT}/v2.0/.well-known/openid-configuration"):
                root = f"{endpoint.base}/{TENANT}"
                self._json(
                    200,
                    {
                        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{root}/oauth2/v2.0/token",
                        "issuer": f"{root}/v2.0",
                    },
                )
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if self.path != f"/{TENANT}/oauth2/v2.0/token":
                self._json(404, {"error": "not_found"})
            elif form.get("client_id") != CLIENT or form.get("client_secret") != SECRET:
                self._json(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                    },
                )
            else:
                token = f"token-{len(endpoint.issued) + 1}"
                endpoint.issued.append(token)
                endpoint.scopes.append(form.get("scope", ""))
                self._json(
                    200,
                    {
                        "token_type": "Bearer",
                        "expires_in": endpoint.expires_in,
                        "access_token": token,
                    },
                )

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    # The same test CA signs the SMTP server's and the token endpoint's certificates.
    server.socket = tls.server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


def oauth_channel(workspace, port: int, endpoint: TokenEndpoint, **extra: object) -> None:
    use_smtp(
        workspace,
        "msb",
        port,
        security="starttls",
        auth="oauth2",
        username=MAILBOX,
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret_env="MSB_CLIENT_SECRET",
        authority=endpoint.base,
        **extra,
    )


def test_xoauth2_with_a_token_from_the_client_credentials_flow(
    cli, workspace, smtp_servers, tls, token_endpoint, monkeypatch
):
    monkeypatch.setenv("MSB_CLIENT_SECRET", SECRET)
    handler = XOAuth2Handler(MAILBOX, "token-1")
    server = smtp_servers(handler, tls=tls.server_context, require_starttls=True)
    oauth_channel(workspace, server.port, token_endpoint, max_connections=3)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert set(server.handler.recipients()) == MSB
    # One token, cached and shared by the channel's connections.
    assert token_endpoint.issued == ["token-1"]
    assert token_endpoint.scopes == ["https://outlook.office365.com/.default"]
    assert handler.logins and set(handler.logins) == {"Bearer token-1"}
    assert len(handler.logins) >= 2
    assert SECRET not in result.output + result.stderr


def test_a_token_close_to_expiry_is_replaced_before_use(
    cli, workspace, smtp_servers, tls, token_endpoint, monkeypatch
):
    monkeypatch.setenv("MSB_CLIENT_SECRET", SECRET)
    token_endpoint.expires_in = 120  # inside MSAL's five-minute margin: never reused

    class AnyIssuedToken(XOAuth2Handler):
        async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
            self.token = token_endpoint.issued[-1]
            return await super().auth_XOAUTH2(server, args)

    handler = AnyIssuedToken(MAILBOX, "")
    server = smtp_servers(handler, tls=tls.server_context, require_starttls=True)
    oauth_channel(workspace, server.port, token_endpoint, max_connections=2)
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert len(token_endpoint.issued) == len(handler.logins) == 2
    assert Counter(handler.logins) == Counter(f"Bearer {t}" for t in token_endpoint.issued)


def test_a_wrong_client_secret_stops_the_channel_with_one_line(
    cli, workspace, smtp_servers, tls, token_endpoint, monkeypatch
):
    monkeypatch.setenv("MSB_CLIENT_SECRET", "not-the-secret")
    handler = XOAuth2Handler(MAILBOX, "token-1")
    server = smtp_servers(handler, tls=tls.server_context, require_starttls=True)
    oauth_channel(workspace, server.port, token_endpoint)
    result = cli("send", "invitation", "2", "--org", "msb", "--org", "kronofogden", "--yes")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith("channel"))
    assert "MSB: the OAuth2 authority refused the token request: invalid_client" in line
    assert "not-the-secret" not in result.output + result.stderr
    assert server.received == []
    assert len(list((workspace / "outbox" / "kronofogden" / "new").iterdir())) == 3


def test_oauth2_settings_are_checked(cli, workspace):
    edit_channel(
        workspace,
        "msb",
        type="smtp",
        path=None,
        preset="microsoft365",
        auth="oauth2",
        username="a@msb.example",
    )
    result = cli("check")
    assert result.exit_code == 2
    assert "auth = 'oauth2' needs tenant_id, client_id, client_secret_env" in result.stderr
