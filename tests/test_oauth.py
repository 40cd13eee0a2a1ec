"""OAuth2 for SMTP: a token from a local Entra-like token endpoint (HTTPS) through MSAL,
used for AUTH XOAUTH2 against a local SMTP server that checks it, over STARTTLS."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.graph_server import CLIENT, SECRET, TENANT, EntraGraph
from tests.helpers import MSB_PEOPLE, edit_channel, use_smtp
from tests.smtp_server import XOAuth2Handler

MAILBOX = "seminarier@msb.example"
MSB = frozenset(MSB_PEOPLE)


@pytest.fixture
def token_endpoint(entra_graph: EntraGraph) -> EntraGraph:
    """The Entra ID stand-in (tests/graph_server.py) as the authority."""
    return entra_graph


def oauth_channel(workspace, port: int, endpoint: EntraGraph, **extra: object) -> None:
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
