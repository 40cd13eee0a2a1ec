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
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mailer import signups, tokens
from mailer.addresses import AddressError, normalise_address
from mailer.config import Network, Seminar
from mailer.errors import MailerError
from mailer.journal import Journal, Signup
from mailer.web import pages
from mailer.web.app import Site, open_for_registration, read_form, text
from mailer.web.pages import Form

HONEYPOT = "website"
CONFIRM_DAYS = 7  # how long a confirmation link works
SIGNUP_TEXTS = {
    "sv": {
        "title": "Anmäl dig: {seminar}",
        "name": "Namn",
        "organisation": "Organisation",
        "email": "E-postadress",
        "honeypot": "Lämna tomt",
        "button": "Anmäl mig",
        "sent_title": "Titta i din inkorg",
        "sent_text": "Vi har skickat ett mejl med en länk. Anmälan gäller när du har "
        "bekräftat den.",
        "invalid": "Fyll i namn och en giltig e-postadress.",
        "slow_down": "För många anmälningar på kort tid. Försök igen om en stund.",
        "confirm_title": "Bekräfta din anmälan",
        "confirm_button": "Bekräfta",
        "confirmed_title": "Tack, du är anmäld",
        "unknown": "Anmälan hittades inte eller länken är för gammal (den gäller en "
        "vecka). Anmäl dig igen från seminariets sida.",
        "mail_failed": "Mejlet kunde inte skickas just nu. Försök igen senare.",
    },
    "en": {
        "title": "Sign up: {seminar}",
        "name": "Name",
        "organisation": "Organisation",
        "email": "E-mail address",
        "honeypot": "Leave empty",
        "button": "Sign me up",
        "sent_title": "Check your inbox",
        "sent_text": "We have sent you a mail with a link. Your registration counts once "
        "you have confirmed it.",
        "invalid": "Please give your name and a valid e-mail address.",
        "slow_down": "Too many sign-ups in a short time. Please try again later.",
        "confirm_title": "Confirm your registration",
        "confirm_button": "Confirm",
        "confirmed_title": "Thank you, you are registered",
        "unknown": "This sign-up was not found, or the link is too old (it works for a "
        "week). Please sign up again from the seminar's page.",
        "mail_failed": "The mail could not be sent just now. Please try again later.",
    },
}


class RateLimit:
    """At most ``limit`` events per key in a sliding ``window`` of seconds, in memory
    (one server process; a restart forgets, which only lets a few more through)."""

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
    t = SIGNUP_TEXTS[language]
    consent = escape(signups.consent_text(network, language))
    inputs = "".join(
        f'<label for="{n}">{escape(t[n])}</label>'
        f'<input type="{kind}" id="{n}" name="{n}" maxlength="200"{req}>'
        for n, kind, req in (
            ("name", "text", " required"),
            ("organisation", "text", ""),
            ("email", "email", " required"),
        )
    )
    # The honeypot: hidden by the stylesheet (no inline style under the CSP).
    trap = (
        f'<div class="trap" aria-hidden="true"><label for="{HONEYPOT}">{escape(t["honeypot"])}'
        f'</label><input type="text" id="{HONEYPOT}" name="{HONEYPOT}" tabindex="-1" '
        'autocomplete="off"></div>'
    )
    box = (
        '<p><input type="checkbox" id="consent" name="consent" value="yes">'
        f' <label class="inline" for="consent">{consent}</label></p>'
    )
    return inputs + trap + box


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
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=CONFIRM_DAYS)
    with Journal.in_state_dir(network.state_dir) as journal:
        return journal.confirm_signup(
            seminar, email, requested_since=since.isoformat(timespec="seconds")
        )


def signup_endpoint(
    site: Site, seminar: Seminar, confirm_path: str, limits: tuple[RateLimit, RateLimit]
) -> Callable[[Request], Awaitable[Response]]:
    network = site.network
    per_client, per_address = limits

    async def endpoint(request: Request) -> Response:
        language = site.language(request)
        t = SIGNUP_TEXTS[language]
        title = t["title"].format(seminar=pages.seminar_title(seminar, language))
        about = [pages.when(network, seminar, language)]
        if not open_for_registration(network, seminar):
            p = pages.texts(language)
            return site.page(request, language, p["closed_title"], [p["closed_text"]], status=409)
        form = Form(request.url.path, "", t["button"], fields=signup_fields(network, language))
        if request.method == "GET":
            return site.page(request, language, title, about, forms=[form])
        posted = await read_form(request)
        if posted is None:
            return PlainTextResponse("request too large", 413)
        if not site.csrf_ok(request, posted):
            return site.stale_form(request, language)
        sent = site.page(request, language, t["sent_title"], [t["sent_text"]])
        if text(posted, HONEYPOT, 200):
            return sent  # a bot: it learns nothing, nothing is stored or sent
        try:
            email = normalise_address(text(posted, "email", 254))
        except AddressError:
            email = ""
        name = text(posted, "name", 200)
        if not email or not name:
            return site.page(request, language, title, [t["invalid"]], forms=[form], status=400)
        client = request.client.host if request.client else "unknown"
        if not (per_client.allow(client) and per_address.allow(email)):
            return site.page(request, language, title, [t["slow_down"]], status=429)
        consent = signups.consent_text(network, language) if posted.get("consent") else None
        signup = Signup(
            seminar.number,
            email,
            name,
            text(posted, "organisation", 200),
            language,
            consent,
            "",
            None,
        )
        if await run_in_threadpool(remember, network, seminar.number, signup):
            url = signups.confirm_url(network, site.signer, confirm_path, signup)
            message = signups.confirmation_message(network, seminar, signup, url)
            try:
                await signups.send_confirmation(network, message)
            except MailerError:
                return site.page(request, language, title, [t["mail_failed"]], status=503)
        return sent

    return endpoint


def confirm_endpoint(site: Site, seminar: Seminar) -> Callable[[Request], Awaitable[Response]]:
    purpose = tokens.signup_purpose(site.network, seminar.number)
    network = site.network

    async def endpoint(request: Request) -> Response:
        try:
            claim = site.claim(request, purpose, refused="nobody was registered")
        except tokens.TokenError as exc:
            return site.refused(request, exc)
        language = site.language(request, claim)
        t = SIGNUP_TEXTS[language]
        about = [pages.when(network, seminar, language)]
        here = request.url.path + "?" + request.url.query
        if request.method == "GET":
            ask = Form(here, "", t["confirm_button"])
            return site.page(request, language, t["confirm_title"], about, forms=[ask])
        posted = await read_form(request)
        if posted is None:
            return PlainTextResponse("request too large", 413)
        if not site.csrf_ok(request, posted):
            return site.stale_form(request, language)
        done = await run_in_threadpool(confirm, network, seminar.number, claim.email)
        if done is None:
            return site.page(request, language, t["confirm_title"], [t["unknown"]], status=404)
        see_you = pages.texts(language)["registered_text"].format(
            date=seminar.date.isoformat(), start=seminar.start.strftime("%H:%M")
        )
        return site.page(request, language, t["confirmed_title"], [*about, see_you])

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
