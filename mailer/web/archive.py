"""The public pages: the series (every seminar, the past ones with their videos and links)
and each seminar as a web page. Nothing personal: no token, no form, the same for everyone,
in the browser's language (``Accept-Language``)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from html import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer.config import Network, Seminar
from mailer.web import pages
from mailer.web.app import Site, open_for_registration

ARCHIVE_TEXTS = {
    "sv": {
        "coming": "Kommande seminarier",
        "past": "Tidigare seminarier",
        "videos": "Film",
        "links": "Läs mer",
        "programme": "Program",
        "cancelled": "Inställt",
        "back": "Alla seminarier",
        "signup": "Anmäl dig till seminariet",
    },
    "en": {
        "coming": "Coming seminars",
        "past": "Past seminars",
        "videos": "Video",
        "links": "Read more",
        "programme": "Programme",
        "cancelled": "Cancelled",
        "back": "All seminars",
        "signup": "Sign up for the seminar",
    },
}


def seminar_path(prefix: str, seminar: Seminar) -> str:
    return f"{prefix}/seminarium/{seminar.number}"


def _title(seminar: Seminar, language: str) -> str:
    return pages.seminar_title(seminar, language)


def _line(network: Network, prefix: str, seminar: Seminar, language: str) -> str:
    t = ARCHIVE_TEXTS[language]
    when = pages.when(network, seminar, language)
    state = f" ({t['cancelled']})" if seminar.cancelled else ""
    link = escape(seminar_path(prefix, seminar))
    return (
        f'<li><a href="{link}">{escape(_title(seminar, language))}</a>, {escape(when)}{state}</li>'
    )


def _after(seminar: Seminar, language: str) -> str:
    """The videos and links a held seminar left behind, as a list (escaped)."""
    t = ARCHIVE_TEXTS[language]
    items = [(f"{t['videos']}: {v.title}", v.url) for v in seminar.videos]
    items += [(f"{t['links']}: {link.title}", link.url) for link in seminar.links]
    if not items:
        return ""
    rows = "".join(f'<li><a href="{escape(url)}">{escape(label)}</a></li>' for label, url in items)
    return f"<ul>{rows}</ul>"


def series_endpoint(site: Site, prefix: str) -> Callable[[Request], Awaitable[Response]]:
    network = site.network

    async def endpoint(request: Request) -> Response:
        language = site.language(request)
        t = ARCHIVE_TEXTS[language]
        series = network.series
        title = (series.title_en if language == "en" else None) or series.title
        ordered = sorted(network.seminars, key=lambda s: s.date)
        coming = [s for s in ordered if not s.held]
        past = [s for s in reversed(ordered) if s.held]
        body = ""
        if coming:
            items = "".join(_line(network, prefix, s, language) for s in coming)
            body += f"<h2>{escape(t['coming'])}</h2><ul>{items}</ul>"
        if past:
            items = "".join(
                _line(network, prefix, s, language)[: -len("</li>")] + _after(s, language) + "</li>"
                for s in past
            )
            body += f"<h2>{escape(t['past'])}</h2><ul>{items}</ul>"
        return site.page(request, language, title, [], extra=body)

    return endpoint


def seminar_endpoint(
    site: Site, prefix: str, seminar: Seminar
) -> Callable[[Request], Awaitable[Response]]:
    network = site.network

    async def endpoint(request: Request) -> Response:
        language = site.language(request)
        t = ARCHIVE_TEXTS[language]
        english = language == "en"
        theme = (seminar.theme_en if english else None) or seminar.theme
        description = (seminar.description_en if english else None) or seminar.description
        paragraphs = [theme, pages.when(network, seminar, language), seminar.address, description]
        if seminar.cancelled:
            paragraphs.insert(0, t["cancelled"])
        body = ""
        if seminar.programme:
            rows = "".join(
                "<li>"
                + escape(", ".join(x for x in (s.name, s.organisation) if x))
                + (f": {escape((s.topic_en if english else None) or s.topic)}" if s.topic else "")
                + "</li>"
                for s in seminar.programme
            )
            body += f"<h2>{escape(t['programme'])}</h2><ul>{rows}</ul>"
        body += _after(seminar, language)
        if open_for_registration(network, seminar):
            signup = escape(seminar_path(prefix, seminar) + "/anmal")
            body += f'<p><a href="{signup}">{escape(t["signup"])}</a></p>'
        body += f'<p><a href="{escape(prefix or "/")}">{escape(t["back"])}</a></p>'
        title = _title(seminar, language)
        return site.page(request, language, title, paragraphs, extra=body)

    return endpoint


def archive_routes(site: Site) -> list[Route]:
    """The series page at ``[web] base_url`` itself, and a page per seminar under it."""
    base = site.network.web.base_url if site.network.web else ""
    prefix = urllib.parse.urlsplit(base).path.rstrip("/")
    found = [Route(prefix or "/", series_endpoint(site, prefix), methods=["GET", "HEAD"])]
    for seminar in site.network.seminars:
        endpoint = seminar_endpoint(site, prefix, seminar)
        found.append(Route(seminar_path(prefix, seminar), endpoint, methods=["GET", "HEAD"]))
    from mailer.web.signup import signup_routes

    return found + signup_routes(site, lambda seminar: seminar_path(prefix, seminar))
