"""Public sign-up on a seminar's web page, with double opt-in.

``GET .../seminarium/N/anmal`` shows the form (name, organisation, e-mail, a consent box
for later invitations, and a honeypot field that people never see and bots fill in);
its ``POST`` remembers the request in the journal and mails a sealed link through the
coordinator's channel. ``GET .../seminarium/N/bekrafta?token=`` only shows a button (link
scanners fetch every link); its ``POST`` registers the person and dates their consent.

The answer to a sign-up is the same whether the address was new, already confirmed or a
bot's: the page never tells a stranger who is registered. A client (by its address, as
uvicorn's proxy headers give it) and an e-mail address each get a few sign-ups an hour.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable
from html import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer import i18n, signups, tokens
from mailer.addresses import AddressError, normalise_address
from mailer.config import Network, Seminar
from mailer.errors import MailerError
from mailer.i18n import _
from mailer.journal import Journal, Signup
from mailer.web import pages
from mailer.web.app import Site, open_for_registration, text
from mailer.web.pages import Form

HONEYPOT = "website"
# Sign-ups an hour, per client and per address: held in memory (a flood is refused before
# it reaches the disk) and in the journal (so a restart or a second process forgets none).
LIMITS = {"client": 5, "address": 3}
WINDOW = dt.timedelta(hours=1)


class RateLimit:
    """At most ``limit`` events per key in a sliding ``window`` of seconds, in memory:
    the first, cheap gate of one process (:func:`allowed` then asks the journal)."""

    def __init__(self, limit: int, window: float = 3600.0) -> None:
        self.limit, self.window = limit, window
        self.events: dict[str, deque[float]] = {}

    MAX_KEYS = 10_000

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        if len(self.events) > self.MAX_KEYS:
            # Many addresses or clients: forget those with nothing left in the window, so
            # a bot trying fresh addresses cannot grow this without bound.
            old = now - self.window
            self.events = {k: v for k, v in self.events.items() if v and v[-1] > old}
            if len(self.events) > self.MAX_KEYS:
                return False  # a flood within the hour: refuse until it has passed
        seen = self.events.setdefault(key, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True


def signup_fields(network: Network, language: str) -> str:
    """The sign-up form's fields, in the current language, escaped."""
    consent = escape(signups.consent_text(network, language))
    labels = {"name": _("Name"), "organisation": _("Organisation"), "email": _("E-mail address")}
    inputs = "".join(
        f'<label for="{n}">{escape(labels[n])}</label>'
        f'<input type="{kind}" id="{n}" name="{n}" maxlength="200"{req}>'
        for n, kind, req in (
            ("name", "text", " required"),
            ("organisation", "text", ""),
            ("email", "email", " required"),
        )
    )
    # The honeypot: hidden by the stylesheet (no inline style under the CSP).
    trap = (
        f'<div class="trap" aria-hidden="true"><label for="{HONEYPOT}">'
        f"{escape(_('Leave empty'))}</label>"
        f'<input type="text" id="{HONEYPOT}" name="{HONEYPOT}" tabindex="-1" '
        'autocomplete="off"></div>'
    )
    box = (
        '<p><input type="checkbox" id="consent" name="consent" value="yes">'
        f' <label class="inline" for="consent">{consent}</label></p>'
    )
    return inputs + trap + box


def allowed(network: Network, client: str, email: str) -> bool:
    """Whether the journal lets this client and this address sign up once more (the
    client's attempt counts even when the address has had enough)."""
    with Journal.in_state_dir(network.state_dir) as journal:
        return journal.attempt(
            "signup-client", client, limit=LIMITS["client"], window=WINDOW
        ) and journal.attempt("signup-address", email, limit=LIMITS["address"], window=WINDOW)


def remember(network: Network, seminar: int, signup: Signup) -> bool:
    with Journal.in_state_dir(network.state_dir) as journal:
        return journal.request_signup(
            seminar,
            signup.email,
            name=signup.name,
            organisation=signup.organisation,
            language=signup.language,
            consent_text=signup.consent_text,
        )


def confirm(network: Network, seminar: int, email: str) -> Signup | None:
    """The sign-up confirmed, or None: unknown, or its link older than CONFIRM_DAYS."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=tokens.CONFIRM_DAYS)
    with Journal.in_state_dir(network.state_dir) as journal:
        return journal.confirm_signup(
            seminar, email, requested_since=since.isoformat(timespec="seconds")
        )


def signup_endpoint(
    site: Site, seminar: Seminar, confirm_path: str, limits: tuple[RateLimit, RateLimit]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        language = site.language(request)
        with i18n.speaking(language):
            return await sign_up(site, seminar, confirm_path, limits, request, language)

    return endpoint


async def sign_up(
    site: Site,
    seminar: Seminar,
    confirm_path: str,
    limits: tuple[RateLimit, RateLimit],
    request: Request,
    language: str,
) -> Response:
    """The public form (GET) and a sign-up (POST), in the browser's language."""
    network = site.network
    title = _("Sign up: {seminar}").format(seminar=seminar.title_in(language))
    about = [pages.when(network, seminar)]
    if not open_for_registration(network, seminar):
        return site.closed(request, language)
    fields = signup_fields(network, language)
    form = Form(request.url.path, "", _("Sign me up"), fields=fields)
    if request.method == "GET":
        return site.page(request, language, title, about, forms=[form])
    posted = await site.posted(request, language)
    if isinstance(posted, Response):
        return posted
    check = _(
        "We have sent you a mail with a link. Your registration counts once you have confirmed it."
    )
    sent = site.page(request, language, _("Check your inbox"), [check])
    if text(posted, HONEYPOT, 200):
        return sent  # a bot: it learns nothing, nothing is stored or sent
    try:
        email = normalise_address(text(posted, "email", 254))
    except AddressError:
        email = ""
    name = text(posted, "name", 200)
    if not email or not name:
        invalid = _("Please give your name and a valid e-mail address.")
        return site.page(request, language, title, [invalid], forms=[form], status=400)
    client = request.client.host if request.client else "unknown"
    per_client, per_address = limits
    if not (
        per_client.allow(client)
        and per_address.allow(email)
        and await run_in_threadpool(allowed, network, client, email)
    ):
        slow = _("Too many sign-ups in a short time. Please try again later.")
        return site.page(request, language, title, [slow], status=429)
    consent = signups.consent_text(network, language) if posted.get("consent") else None
    organisation = text(posted, "organisation", 200)
    signup = Signup(seminar.number, email, name, organisation, language, consent, "", None)
    if await run_in_threadpool(remember, network, seminar.number, signup):
        url = signups.confirm_url(network, site.signer, confirm_path, signup)
        message = signups.confirmation_message(network, seminar, signup, url)
        try:
            await signups.send_confirmation(network, message)
        except MailerError:
            failed = _("The mail could not be sent just now. Please try again later.")
            return site.page(request, language, title, [failed], status=503)
    return sent


def confirm_endpoint(site: Site, seminar: Seminar) -> Callable[[Request], Awaitable[Response]]:
    purpose = tokens.signup_purpose(site.network, seminar.number)
    network = site.network

    async def endpoint(request: Request) -> Response:
        try:
            claim = site.claim(request, purpose, refused="nobody was registered")
        except tokens.TokenError as exc:
            return site.refused(request, exc)
        language = site.language(request, claim)
        with i18n.speaking(language):
            about = [pages.when(network, seminar)]
            here = request.url.path + "?" + request.url.query
            title = _("Confirm your registration")
            if request.method == "GET":
                ask = Form(here, "", _("Confirm"))
                return site.page(request, language, title, about, forms=[ask])
            posted = await site.posted(request, language)
            if isinstance(posted, Response):
                return posted
            done = await run_in_threadpool(confirm, network, seminar.number, claim.email)
            if done is None:
                unknown = _(
                    "This sign-up was not found, or the link is too old (it works for a "
                    "week). Please sign up again from the seminar's page."
                )
                return site.page(request, language, title, [unknown], status=404)
            see_you = pages.see_you(network, seminar)
            thanks = _("Thank you, you are registered")
            return site.page(request, language, thanks, [*about, see_you])

    return endpoint


def signup_routes(site: Site, seminar_path: Callable[[Seminar], str]) -> list[Route]:
    """The sign-up form and its confirmation, under each seminar's public page."""
    limits = (RateLimit(5), RateLimit(3))
    found = []
    for seminar in site.network.seminars:
        base = seminar_path(seminar)
        confirm_path = f"{base}/bekrafta"
        endpoint = signup_endpoint(site, seminar, confirm_path, limits)
        found.append(Route(f"{base}/anmal", endpoint, methods=["GET", "POST"]))
        found.append(Route(confirm_path, confirm_endpoint(site, seminar), methods=["GET", "POST"]))
    return found
