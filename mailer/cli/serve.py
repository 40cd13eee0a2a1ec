"""``mailer serve``: the web service that answers the links in the mails."""

from __future__ import annotations

import click

from mailer.cli._common import State, pass_state, reports_errors, say
from mailer.cli.translated import command, option
from mailer.i18n import _


@command()
@option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@pass_state
@reports_errors
def serve(state: State, host: str, port: int) -> None:
    """Answer the links in the mails: one-click unsubscribe, registration, cancelling.

    Meant to sit behind the organisation's HTTPS reverse proxy, which forwards the paths
    of [web] base_url unchanged. Needs the token key (MAILER_TOKEN_KEY). GET /healthz
    answers "ok" for the proxy.
    """
    import uvicorn

    from mailer.web import create_app, outside_links

    network = state.network
    app = create_app(network)
    for link in outside_links(network):
        say(
            _("Warning: not under [web] base_url, so not answered here: {link}").format(link=link),
            err=True,
        )
    # No access log: every personal link's URL carries a token. The proxy's own log
    # should leave out query strings too (see the guide).
    uvicorn.run(
        app, host=host, port=port, proxy_headers=True, server_header=False, access_log=False
    )
