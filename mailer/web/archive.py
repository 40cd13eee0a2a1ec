"""The public pages: the series (coming seminars; past ones with their summaries, videos
and links; the newsletters) and each seminar as a web page. Nothing personal: no token,
no form, the same for everyone, in the browser's language (``Accept-Language``). A
summary and a newsletter are shown as their mail's web version (:mod:`mailer.web.view`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from html import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer import dates, i18n
from mailer.config import Network, Seminar
from mailer.errors import MailerError
from mailer.i18n import _
from mailer.web import mailing_id, pages, view_url
from mailer.web.app import Site, open_for_registration


def seminar_path(prefix: str, seminar: Seminar) -> str:
    return f"{prefix}/seminarium/{seminar.number}"


def _local(network: Network, url: str) -> str:
    """A link on this site as a path, so it works behind any proxy host."""
    return urllib.parse.urlsplit(url).path


def _line(network: Network, prefix: str, seminar: Seminar, language: str) -> str:
    when = pages.when(network, seminar)
    state = f" ({_('Cancelled')})" if seminar.cancelled else ""
    link = escape(seminar_path(prefix, seminar))
    title = escape(seminar.title_in(language))
    return f'<a href="{link}">{title}</a>, {escape(when)}{escape(state)}'


def _after(network: Network, seminar: Seminar, language: str) -> str:
    """What a held seminar left behind: its summary (the mail's web version), videos and
    links, as a list (escaped)."""
    items: list[tuple[str, str]] = []
    if seminar.held and (seminar.summary_file or seminar.videos):
        summary = view_url(network, mailing_id("summary", seminar.number), language)
        items.append((_("Summary"), _local(network, summary)))
    items += [(_("Video: {title}").format(title=v.title), v.url) for v in seminar.videos]
    items += [(_("Read more: {title}").format(title=x.title), x.url) for x in seminar.links]
    if not items:
        return ""
    rows = "".join(f'<li><a href="{escape(url)}">{escape(label)}</a></li>' for label, url in items)
    return f"<ul>{rows}</ul>"


def newsletters(network: Network, language: str) -> str:
    """The newsletters, newest first: subject, date, its preheader as a summary, and a link
    to its web version (escaped). An article that cannot be read is left out."""
    from mailer.article import read_article

    rows = []
    for item in sorted(network.newsletters, key=lambda n: n.number, reverse=True):
        name = item.file_en if language == "en" and item.file_en else item.file
        try:
            article = read_article(network.resolve(name))
        except MailerError:
            continue
        url = _local(network, view_url(network, mailing_id("newsletter", 0, item.number), language))
        day = dates.long_date(article.meta.date, language)
        about = f"<br>{escape(article.meta.preheader)}" if article.meta.preheader else ""
        rows.append(
            f'<li><a href="{escape(url)}">{escape(article.meta.subject)}</a>, '
            f"{escape(day)}{about}</li>"
        )
    return f"<h2>{escape(_('Newsletters'))}</h2><ul>{''.join(rows)}</ul>" if rows else ""


def series_endpoint(site: Site, prefix: str) -> Callable[[Request], Awaitable[Response]]:
    network = site.network

    async def endpoint(request: Request) -> Response:
        language = site.language(request)
        with i18n.speaking(language):
            series = network.series
            title = series.title_in(language)
            ordered = sorted(network.seminars, key=lambda s: s.date)
            coming = [s for s in ordered if not s.held]
            past = [s for s in reversed(ordered) if s.held]
            body = ""
            if coming:
                items = "".join(f"<li>{_line(network, prefix, s, language)}</li>" for s in coming)
                body += f"<h2>{escape(_('Coming seminars'))}</h2><ul>{items}</ul>"
            if past:
                items = "".join(
                    f"<li>{_line(network, prefix, s, language)}{_after(network, s, language)}</li>"
                    for s in past
                )
                body += f"<h2>{escape(_('Past seminars'))}</h2><ul>{items}</ul>"
            body += newsletters(network, language)
        return site.page(request, language, title, [], extra=body)

    return endpoint


def _programme(seminar: Seminar, language: str) -> str:
    if not seminar.programme:
        return ""
    english = language == "en"
    rows = "".join(
        "<li>"
        + escape(", ".join(x for x in (s.name, s.organisation) if x))
        + (f": {escape((s.topic_en if english else None) or s.topic)}" if s.topic else "")
        + "</li>"
        for s in seminar.programme
    )
    return f"<h2>{escape(_('Programme'))}</h2><ul>{rows}</ul>"


def seminar_endpoint(
    site: Site, prefix: str, seminar: Seminar
) -> Callable[[Request], Awaitable[Response]]:
    network = site.network

    async def endpoint(request: Request) -> Response:
        language = site.language(request)
        with i18n.speaking(language):
            english = language == "en"
            theme = (seminar.theme_en if english else None) or seminar.theme
            description = (seminar.description_en if english else None) or seminar.description
            paragraphs = [theme, pages.when(network, seminar), seminar.address, description]
            if seminar.cancelled:
                paragraphs.insert(0, _("Cancelled"))
            body = _programme(seminar, language) + _after(network, seminar, language)
            if open_for_registration(network, seminar):
                signup = escape(seminar_path(prefix, seminar) + "/anmal")
                body += f'<p><a href="{signup}">{escape(_("Sign up for the seminar"))}</a></p>'
            body += f'<p><a href="{escape(prefix or "/")}">{escape(_("All seminars"))}</a></p>'
        title = seminar.title_in(language)
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
