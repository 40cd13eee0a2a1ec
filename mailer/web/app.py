"""The routes of ``mailer serve``: one-click unsubscribe, registration, ``/healthz``.

The server answers exactly the paths the mails' links name: the path of
``network.unsubscribe_url`` and of each seminar's ``registration_url`` under ``[web]
base_url`` (the reverse proxy forwards them unchanged). No ``GET`` changes anything: link
scanners (Microsoft Defender Safe Links and the like) fetch every link in a mail, so a
``GET`` only shows a page whose button posts.

Every write goes through the library the CLI uses (:func:`mailer.suppression.unsubscribe`,
:meth:`mailer.journal.Journal.record_answer`), each request opening and closing the store:
a ``mailer send`` running at the same time sees an unsubscription as soon as the request
has returned, and does not mail that person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from mailer import dates, i18n, suppression, tokens
from mailer.config import Network, Seminar
from mailer.i18n import _, ngettext
from mailer.journal import Journal
from mailer.web import pages, under
from mailer.web.pages import Form
from mailer.web.security import CSRF_COOKIE, CSRF_FIELD, Csrf, choose_language

UNDO_DAYS = tokens.UNDO_DAYS
MAX_BODY = 16_384  # a form's answers fit in far less; anything bigger is refused unread
ONE_CLICK = ("List-Unsubscribe", "One-Click")
ICS_NAME = "seminarium.ics"


@dataclass(frozen=True, slots=True)
class Site:
    """What every handler needs: the network, the token signer and the CSRF keys."""

    network: Network
    signer: tokens.Signer
    csrf: Csrf

    def language(self, request: Request, claim: tokens.Claim | None = None) -> str:
        return choose_language(
            request.headers.get("accept-language"),
            token=claim.language if claim else None,
            default=self.network.network.language,
        )

    def page(
        self,
        request: Request,
        language: str,
        title: str,
        paragraphs: list[str],
        *,
        forms: Sequence[Form] = (),
        status: int = 200,
        links: Sequence[tuple[str, str]] = (),
        extra: str = "",
    ) -> HTMLResponse:
        """A page; when it has forms, their CSRF field matches the cookie it sets.
        ``extra``: HTML already escaped, after the paragraphs."""
        cookie = request.cookies.get(CSRF_COOKIE) or self.csrf.new_cookie()
        field = self.csrf.field_for(cookie)
        html = extra + "".join(
            Form(f.action, field, f.button, f.fields, f.secondary).html() for f in forms
        )
        with i18n.speaking(language):
            document = pages.page(
                self.network, language, title, paragraphs, forms=html, links=links
            )
        response = HTMLResponse(document, status)
        if forms:
            response.set_cookie(
                CSRF_COOKIE,
                cookie,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/",
            )
        return response

    def claim(
        self, request: Request, purpose: str, *, refused: str = "nothing was done"
    ) -> tokens.Claim:
        """Who the link's ``token`` names for ``purpose``; TokenError when nobody."""
        return self.signer.claim(purpose, request.query_params.get("token", ""), refused=refused)

    def refused(
        self, request: Request, exc: tokens.TokenError, claim: tokens.Claim | None = None
    ) -> HTMLResponse:
        """The 4xx page for a token that cannot act, in the language of the person it
        names (an expired token still says), else of the link's other token (``claim``),
        else of the browser."""
        language = self.language(
            request, exc.claim if isinstance(exc, tokens.ExpiredTokenError) else claim
        )
        with i18n.speaking(language):
            if isinstance(exc, tokens.RehearsalTokenError):
                why = _("This link comes from a rehearsal and does nothing.")
            elif isinstance(exc, tokens.ExpiredTokenError):
                why = _(
                    "This link has expired: it worked until {when}. Nothing was changed."
                ).format(when=dates.moment(exc.expired_at, self.network.tz))
            else:
                why = _(
                    "The link is incomplete, was changed or is meant for something else. "
                    "Copy the whole link from the mail, or contact the coordinator."
                )
            title = _("This link does not work")
        return self.page(request, language, title, [why], status=403)

    def without_token(self, request: Request) -> HTMLResponse:
        """The unsubscribe page reached from a mail's web version, which names nobody."""
        language = self.language(request)
        with i18n.speaking(language):
            title = _("Unsubscribe")
            how = _(
                "To unsubscribe, use the link at the end of the mail you received: it "
                "knows who you are. Or write to the coordinator."
            )
        return self.page(request, language, title, [how])

    def stale_form(self, request: Request, language: str) -> HTMLResponse:
        with i18n.speaking(language):
            title, why = _("The form expired"), _("Go back, reload the page and try again.")
        return self.page(request, language, title, [why], status=403)

    async def posted(self, request: Request, language: str) -> FormData | Response:
        """The posted form, its CSRF field checked against the cookie; else the answer to
        give instead (a form too large to be one of ours, or the expired-form page)."""
        form = await read_form(request)
        if form is None:
            return PlainTextResponse("request too large", 413)
        if not self.csrf_ok(request, form):
            return self.stale_form(request, language)
        return form

    def closed(self, request: Request, language: str) -> HTMLResponse:
        """The page for a seminar no longer open for registration (or sign-up)."""
        closed = _("It is no longer possible to register for this seminar.")
        return self.page(request, language, _("Registration is closed"), [closed], status=409)

    def csrf_ok(self, request: Request, form: FormData) -> bool:
        field = form.get(CSRF_FIELD)
        return self.csrf.valid(
            request.cookies.get(CSRF_COOKIE), field if isinstance(field, str) else None
        )


def own_url(request: Request) -> str:
    """The page's path and query, for a form that posts back to it."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def read_form(request: Request) -> FormData | None:
    """The posted form, or None when it is too big to be one of ours."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_BODY:
        return None
    return await request.form(max_files=0, max_fields=20, max_part_size=MAX_BODY)


def text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


# -- unsubscribe ----------------------------------------------------------------


def unsubscribe_endpoint(site: Site) -> Callable[[Request], Awaitable[Response]]:
    purpose = tokens.unsubscribe_purpose(site.network)
    state_dir = site.network.state_dir

    async def endpoint(request: Request) -> Response:
        if request.method == "GET" and "token" not in request.query_params:
            return site.without_token(request)  # a mail's web version links here
        try:
            claim = site.claim(request, purpose, refused="nobody unsubscribed")
        except tokens.TokenError as exc:
            return site.refused(request, exc)
        language = site.language(request, claim)
        with i18n.speaking(language):
            name = site.network.network.name
            if request.method == "GET":
                ask = Form(own_url(request), "", _("Yes, unsubscribe me"), action("unsubscribe"))
                question = _(
                    "Do you want to stop receiving invitations and newsletters from {network}?"
                ).format(network=name)
                return site.page(request, language, _("Unsubscribe"), [question], forms=[ask])
            form = await read_form(request)
            if form is None:
                return PlainTextResponse("request too large", 413)
            if form.get(ONE_CLICK[0]) == ONE_CLICK[1]:
                # RFC 8058: a mail provider's POST, no cookie, no page needed.
                await run_in_threadpool(
                    suppression.unsubscribe, state_dir, [claim.email], note="web"
                )
                return PlainTextResponse("unsubscribed")
            if not site.csrf_ok(request, form):
                return site.stale_form(request, language)
            if form.get("action") == "undo":
                return await undo(site, request, claim, form, language)
            await run_in_threadpool(suppression.unsubscribe, state_dir, [claim.email], note="web")
            return unsubscribed_page(site, request, claim, language)

    return endpoint


def unsubscribed_page(
    site: Site, request: Request, claim: tokens.Claim, language: str
) -> HTMLResponse:
    """Done, with a button to undo it: the button carries a token of its own that
    expires after UNDO_DAYS (the suppression list's own date bounds it too)."""
    undo_token = site.signer.sign(
        tokens.undo_purpose(site.network),
        claim.email,
        language=claim.language,
        expires=tokens.expires_in(UNDO_DAYS),
    )
    fields = action("undo") + f'<input type="hidden" name="undo" value="{undo_token}">'
    button = Form(own_url(request), "", _("Undo the unsubscription"), fields=fields, secondary=True)
    done = _(
        "You will get no more mail from {network}, from any of its member organisations."
    ).format(network=site.network.network.name)
    later = ngettext(
        "Changed your mind? You can undo this for {n} day.",
        "Changed your mind? You can undo this for {n} days.",
        UNDO_DAYS,
    ).format(n=UNDO_DAYS)
    return site.page(request, language, _("You are unsubscribed"), [done, later], forms=[button])


async def undo(
    site: Site, request: Request, claim: tokens.Claim, form: FormData, language: str
) -> Response:
    """Take an unsubscription back, if the undo button's token is genuine, names the
    same person and has not expired."""
    try:
        undoing = site.signer.claim(
            tokens.undo_purpose(site.network), text(form, "undo", 500), refused="nothing undone"
        )
        if undoing.email != claim.email:
            raise tokens.TokenError("the undo button belongs to somebody else")
    except tokens.TokenError as exc:
        return site.refused(request, exc, claim)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=UNDO_DAYS)
    undone = await run_in_threadpool(withdraw, site.network.state_dir, claim.email, since)
    if not undone:
        late = _("This can no longer be undone here. Please contact the coordinator.")
        return site.page(request, language, _("Unsubscribe"), [late])
    back = _("You will get mail from {network} again.").format(network=site.network.network.name)
    return site.page(request, language, _("Welcome back"), [back])


def action(name: str) -> str:
    return f'<input type="hidden" name="action" value="{name}">'


def withdraw(state_dir: Path, email: str, since: dt.datetime) -> bool:
    with suppression.Suppression.in_state_dir(state_dir) as opt_out:
        return opt_out.withdraw(email, since=since.isoformat(timespec="seconds"))


# -- registration ---------------------------------------------------------------


def registered(network: Network, seminar: int, email: str) -> bool:
    with Journal.in_state_dir(network.state_dir) as journal:
        return any(r.email == email and r.registered for r in journal.registrations(seminar))


def record(network: Network, seminar: int, email: str, **answer: Any) -> None:
    with Journal.in_state_dir(network.state_dir) as journal:
        journal.record_answer(seminar, email, **answer)


def forgotten(network: Network, email: str) -> bool:
    with suppression.Suppression.in_state_dir(network.state_dir) as opt_out:
        entry = opt_out.entry(email)
    return entry is not None and entry.reason == "forgotten"


def open_for_registration(network: Network, seminar: Seminar) -> bool:
    today = dt.datetime.now(network.tz).date()
    last = seminar.registration_deadline or seminar.date
    return seminar.cancelled is None and today <= last


def registration_endpoint(site: Site, seminar: Seminar) -> Callable[[Request], Awaitable[Response]]:
    purpose = tokens.registration_purpose(site.network, seminar.number)
    network = site.network

    async def endpoint(request: Request) -> Response:
        try:
            claim = site.claim(request, purpose, refused="nobody was registered")
            if await run_in_threadpool(forgotten, network, claim.email):
                raise tokens.TokenError("this person asked to be forgotten")
        except tokens.TokenError as exc:
            return site.refused(request, exc)
        language = site.language(request, claim)
        with i18n.speaking(language):
            return await registration(site, seminar, request, claim, language)

    return endpoint


async def registration(
    site: Site, seminar: Seminar, request: Request, claim: tokens.Claim, language: str
) -> Response:
    """The registration form (GET) and its answer (POST), in the person's language."""
    network = site.network
    title = _("Registration: {seminar}").format(seminar=seminar.title_in(language))
    about = [pages.when(network, seminar)]
    if not open_for_registration(network, seminar):
        return site.closed(request, language)
    here = own_url(request)
    cancel = Form(here, "", _("Cancel my place"), fields=action("cancel"), secondary=True)
    ics = [(calendar_url(request), _("Add to your calendar (.ics)"))]
    if request.method == "GET":
        if await run_in_threadpool(registered, network, seminar.number, claim.email):
            already = _("You are registered for the seminar.")
            return site.page(request, language, title, [*about, already], forms=[cancel], links=ics)
        fields = action("register") + pages.registration_fields()
        form = Form(here, "", _("Register"), fields=fields)
        return site.page(request, language, title, about, forms=[form])
    posted = await site.posted(request, language)
    if isinstance(posted, Response):
        return posted
    if posted.get("action") == "cancel" or posted.get("attend") == "no":
        await run_in_threadpool(record, network, seminar.number, claim.email, registered=False)
        if posted.get("action") == "cancel":
            done = (_("Your place is cancelled"), _("Welcome another time."))
        else:
            done = (_("Thank you for your answer"), _("You are not registered for the seminar."))
        return site.page(request, language, done[0], [done[1]])
    answer = {"diet": text(posted, "diet", 200), "message": text(posted, "message", 1000)}
    await run_in_threadpool(record, network, seminar.number, claim.email, registered=True, **answer)
    see_you = pages.see_you(network, seminar)
    thanks = _("Thank you, you are registered")
    return site.page(request, language, thanks, [*about, see_you], forms=[cancel], links=ics)


def calendar_url(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path.rstrip('/')}/{ICS_NAME}" + (f"?{query}" if query else "")


def calendar_endpoint(site: Site, seminar: Seminar) -> Callable[[Request], Awaitable[Response]]:
    """The seminar's .ics for a genuine token's holder: a download, changing nothing."""
    purpose = tokens.registration_purpose(site.network, seminar.number)
    made: dict[str, bytes] = {}  # language -> .ics; rendering the texts costs a Renderer

    def ics(language: str) -> bytes:
        if language not in made:
            from mailer import calendar
            from mailer.render import Renderer

            text = Renderer(site.network).event_text(seminar, language)
            coordinator = site.network.coordinator
            made[language] = calendar.build_ics(
                site.network,
                seminar,
                text,
                method=calendar.REQUEST,
                organiser=(coordinator.name, coordinator.email),
            )
        return made[language]

    async def endpoint(request: Request) -> Response:
        try:
            claim = site.claim(request, purpose)
        except tokens.TokenError as exc:
            return site.refused(request, exc)
        body = await run_in_threadpool(ics, site.language(request, claim))
        disposition = f'attachment; filename="{ICS_NAME}"'
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"content-disposition": disposition},
        )

    return endpoint


# -- the app --------------------------------------------------------------------


def routes(site: Site) -> list[Route]:
    network = site.network
    base = network.web.base_url if network.web else ""
    found = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/style.css", stylesheet(network), methods=["GET", "HEAD"]),
    ]
    if path := under(base, network.network.unsubscribe_url):
        found.append(Route(path, unsubscribe_endpoint(site), methods=["GET", "POST"]))
    for seminar in network.seminars:
        if path := under(base, seminar.registration_url):
            endpoint = registration_endpoint(site, seminar)
            found.append(Route(path, endpoint, methods=["GET", "POST"]))
            ics = calendar_endpoint(site, seminar)
            found.append(Route(f"{path.rstrip('/')}/{ICS_NAME}", ics, methods=["GET", "HEAD"]))
    return found


def not_found(site: Site) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Starlette's 404 and 405, as a page in the network's colours and the reader's language."""

    async def handler(request: Request, exc: Exception) -> Response:
        from starlette.exceptions import HTTPException

        status = exc.status_code if isinstance(exc, HTTPException) else 500
        language = site.language(request)
        with i18n.speaking(language):
            title = _("Page not found")
        return site.page(request, language, title, [], status=status)

    return handler


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def stylesheet(network: Network) -> Callable[[Request], Awaitable[Response]]:
    css = pages.stylesheet(network)

    async def endpoint(request: Request) -> Response:
        return Response(css, media_type="text/css; charset=utf-8")

    return endpoint
