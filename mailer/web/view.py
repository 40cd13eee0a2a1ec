"""Each mail's web version, the target of its "Visa i webbläsare / View in browser" link.

``GET /view/<mailing>/<language>[/<member>]`` renders that mailing (``invitation-2``,
``change-2.1``, ``newsletter-1``...) from the workspace's own templates, exactly as
``mailer send`` renders it for the sending member in that language, and fills the personal
fields with nobody's values: no name (the greeting without one), no address, no token;
the registration link goes to the seminar's public sign-up page and the unsubscribe link
to a page that says how to unsubscribe. So the page is the same for everyone who sees it.

The mail's HTML carries inline styles and the images network.toml names (logos, video
thumbnails), so this page's Content-Security-Policy allows inline styles and images from
exactly those origins, and still nothing else: no script, no frame, no form.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from mailer import i18n
from mailer.config import Member, Network, Seminar
from mailer.errors import MailerError
from mailer.web import VIEW_PREFIX
from mailer.web.app import Site

if TYPE_CHECKING:
    from mailer.render import Renderer

_MAILING = re.compile(
    r"^(?:(?P<kind>invitation|reminder|cancellation|summary)-(?P<seminar>\d{1,4})"
    r"|change-(?P<changed>\d{1,4})\.(?P<revision>[1-9]\d{0,2})"
    r"|newsletter-(?P<newsletter>\d{1,4}))$"
)


def mailing_of(network: Network, mailing: str) -> tuple[str, Seminar, int] | None:
    """(kind, seminar, revision) of a mailing's identity, or None when the network has
    no such mailing (an unknown seminar, a change that was not made, a summary not due).

    Only what the template needs is asked, not what a send would: an invitation sent
    before its seminar was cancelled keeps its web version."""
    from mailer.campaign.mailing import mailing_for

    match = _MAILING.match(mailing)
    if match is None:
        return None
    try:
        if match["newsletter"]:
            found = mailing_for(network, "newsletter", int(match["newsletter"]))
            return found.kind, found.seminar, found.revision
        if match["changed"]:
            seminar = network.seminar(int(match["changed"]))
            revision = int(match["revision"])
            return ("change", seminar, revision) if revision <= len(seminar.changes) else None
        kind, seminar = match["kind"], network.seminar(int(match["seminar"]))
    except MailerError:
        return None
    if (kind == "summary" and not seminar.held) or (
        kind == "cancellation" and not seminar.cancelled
    ):
        return None
    return kind, seminar, 0


def image_origins(network: Network) -> list[str]:
    """The origins of the images a mail may show (network.toml names them all)."""
    urls = [network.network.logo, *(m.logo for m in network.members)]
    urls += [v.thumbnail for s in network.seminars for v in s.videos]
    origins = set()
    for url in urls:
        if url:
            parts = urllib.parse.urlsplit(url)
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


def policy(network: Network) -> str:
    images = " ".join(["'self'", *image_origins(network)])
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )


class Views:
    """Renders web versions through one :class:`mailer.render.Renderer` (it caches the
    inlined variants) and keeps each page made: a mailing's web version does not change
    while the server runs with the same network.toml."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self._lock = threading.Lock()  # the Renderer's caches are not made for threads
        self._renderer: Renderer | None = None
        self._made: dict[tuple[str, str, str], str] = {}

    def page(self, mailing: str, language: str, member: Member) -> str | None:
        """The web version's HTML, or None when there is no such mailing."""
        key = (mailing, language, member.id)
        with self._lock:
            if key not in self._made:
                found = mailing_of(self.network, mailing)
                if found is None:
                    return None
                self._made[key] = self._render(*found, language, member)
            return self._made[key]

    def _render(
        self, kind: str, seminar: Seminar, revision: int, language: str, member: Member
    ) -> str:
        from mailer.inlining import inline_cache
        from mailer.render import PERSON_FIELDS, Renderer

        if self._renderer is None:
            self._renderer = Renderer(self.network, inline_cache=inline_cache(self.network))
        renderer = self._renderer
        with i18n.speaking(language):
            variant = renderer.variant(kind, seminar, language, member, revision=revision)
        values = dict.fromkeys(PERSON_FIELDS, "")
        values |= {
            "greeting": str(renderer.strings(language).get("greeting", "")),
            "unsubscribe_url": self.network.network.unsubscribe_url or "",
            "registration_url": signup_url(self.network, seminar),
            "listed_by": member.name,
        }
        return variant.fill_html(values)


def signup_url(network: Network, seminar: Seminar) -> str:
    """The seminar's public sign-up page (mailer.web.archive), for everyone."""
    if network.web is None:
        return ""
    return f"{network.web.base_url.rstrip('/')}/seminarium/{seminar.number}/anmal"


def view_endpoint(site: Site, views: Views) -> Callable[[Request], Awaitable[Response]]:
    network = site.network
    members = {m.id: m for m in network.members}
    csp = policy(network)

    async def endpoint(request: Request) -> Response:
        params = request.path_params
        language = i18n.supported(params["language"])
        member = members.get(params.get("member") or network.coordinator.member)
        if language is None or language != params["language"] or member is None:
            raise HTTPException(404)
        html = await run_in_threadpool(views.page, params["mailing"], language, member)
        if html is None:
            raise HTTPException(404)
        return HTMLResponse(html, headers={"content-security-policy": csp})

    return endpoint


def view_routes(site: Site) -> list[Route]:
    """``/view/<mailing>/<language>[/<member>]`` under ``[web] base_url``."""
    base = site.network.web.base_url if site.network.web else ""
    prefix = urllib.parse.urlsplit(base).path.rstrip("/") + VIEW_PREFIX
    endpoint = view_endpoint(site, Views(site.network))
    return [
        Route(prefix + "/{mailing}/{language}", endpoint, methods=["GET", "HEAD"]),
        Route(prefix + "/{mailing}/{language}/{member}", endpoint, methods=["GET", "HEAD"]),
    ]
