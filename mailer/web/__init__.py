"""``mailer serve``: the small web service that answers the links in every mail.

app       the routes: one-click unsubscribe (RFC 8058), registration and cancelling,
          ``/healthz``, the stylesheet
archive   the public pages: the series (seminars, past summaries and videos, newsletters),
          each seminar
view      each mail's web version ("View in browser"): the mailing rendered from the same
          templates, with nobody's name, address or token in it
signup    public sign-up on a seminar's page, double opt-in (mailer.signups sends the mail)
pages     the HTML pages, in Swedish and English, in the network's colours
security  the headers on every response (a strict CSP), CSRF tokens, language choice

Starlette (with uvicorn to serve it) is a small, well-kept ASGI toolkit with no
dependencies beyond anyio: routing, requests and forms, nothing the service does not use.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from mailer import tokens
from mailer.config import Network
from mailer.errors import ConfigError

if TYPE_CHECKING:
    from starlette.applications import Starlette


def under(base_url: str, url: str | None) -> str | None:
    """The path ``url`` names when it lies under ``base_url``, else None."""
    if url is None or not (url == base_url or url.startswith(base_url + "/")):
        return None
    return urllib.parse.urlsplit(url).path or "/"


VIEW_PREFIX = "/view"


def mailing_id(kind: str, seminar: int, revision: int = 0) -> str:
    """A mailing's stable identity, as :attr:`mailer.campaign.Mailing.id` spells it."""
    if kind == "newsletter":
        return f"newsletter-{revision}"
    if kind == "change":
        return f"change-{seminar}.{revision}"
    return f"{kind}-{seminar}"


def view_url(network: Network, mailing: str, language: str, member: str = "") -> str:
    """Where ``mailer serve`` shows a mailing's web version: ``<base_url>/view/<mailing>/
    <language>[/<member>]`` (the member whose branding the mail wore); "" without [web]."""
    if network.web is None:
        return ""
    url = f"{network.web.base_url.rstrip('/')}{VIEW_PREFIX}/{mailing}/{language}"
    return f"{url}/{member}" if member else url


def outside_links(network: Network) -> list[str]:
    """The personal links (``key = url``) that do not point under ``[web] base_url``."""
    if network.web is None:
        return []
    base = network.web.base_url
    links = [("network.unsubscribe_url", network.network.unsubscribe_url)]
    links += [
        (f"seminars[{s.number}].registration_url", s.registration_url) for s in network.seminars
    ]
    return [f"{key} = {url}" for key, url in links if url and under(base, url) is None]


def create_app(network: Network, *, signer: tokens.Signer | None = None) -> Starlette:
    """The ASGI app for ``network``; ConfigError without ``[web]`` or the token key."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from mailer.web.app import Site, not_found, routes
    from mailer.web.archive import archive_routes
    from mailer.web.security import Csrf, SecurityHeaders
    from mailer.web.view import view_routes

    if network.web is None:
        raise ConfigError(
            "mailer serve needs [web] base_url in network.toml",
            path=network.path,
            hint='add [web] with base_url = "https://..." (where the reverse proxy answers)',
        )
    signer = signer or tokens.Signer.from_env(network, why="mailer serve")
    site = Site(network, signer, Csrf(signer.key))
    return Starlette(
        routes=[*routes(site), *archive_routes(site), *view_routes(site)],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={404: not_found(site), 405: not_found(site)},
    )


__all__ = ["VIEW_PREFIX", "create_app", "mailing_id", "outside_links", "under", "view_url"]
