"""Public sign-up with double opt-in, end to end: a stranger fills the form on a seminar's
public page of the real ``mailer serve`` (uvicorn on 127.0.0.1), the confirmation mail
goes out through the coordinator's channel to a real aiosmtpd, the link in that mail is
followed, and the person then counts as registered, in the journal and for ``mailer send
--audience registered``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailer import registrations
from mailer.journal import Journal
from tests.helpers import use_smtp
from tests.web_server import WebServer, serving

STRANGER = "kim.nyberg@smaforetag.example"
COORDINATOR_MEMBER = "lansstyrelsen-varmland"


@pytest.fixture
def smtp(workspace: Path, smtp_servers: Any) -> Any:
    server = smtp_servers()
    use_smtp(workspace, COORDINATOR_MEMBER, server.port)
    return server


@pytest.fixture
def web(workspace: Path, smtp: Any) -> Iterator[WebServer]:
    with serving(workspace) as server:
        yield server


def csrf_field(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return unescape(match.group(1))


def records(workspace: Path, email: str) -> dict[str, list[dict[str, Any]]]:
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        return journal.person_records(email)


def registered(workspace: Path, seminar: int = 2) -> frozenset[str]:
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        return registrations.status(journal, seminar).registered


def sign_up(browser: httpx.Client, url: str, **answers: str) -> httpx.Response:
    page = browser.get(url)
    assert page.status_code == 200, page.text
    return browser.post(url, data={"csrf": csrf_field(page.text), **answers})


def confirmation_link(received: Any) -> str:
    text = received.message.get_body(("plain",)).get_content()
    return next(w for w in text.split() if "/bekrafta?token=" in w)


def test_a_stranger_signs_up_confirms_through_the_mail_and_is_registered(workspace, web, smtp, cli):
    public = httpx.get(web.url + "/seminarium/2", headers={"accept-language": "en"})
    assert 'href="/seminarium/2/anmal"' in public.text
    with httpx.Client(headers={"accept-language": "en"}) as browser:
        sent = sign_up(
            browser,
            web.url + "/seminarium/2/anmal",
            name="Kim Nyberg",
            organisation="Småföretag AB",
            email=STRANGER,
            consent="yes",
        )
        assert sent.status_code == 200 and "Check your inbox" in sent.text
        assert smtp.handler.wait_for(1)
        [mail] = smtp.handler.received
        assert mail.rcpt_tos == [STRANGER]
        assert mail.mail_from.endswith("@lansstyrelsen-varmland.example")  # its channel
        assert "Confirm your registration" in str(mail.message["Subject"])
        assert "Hello Kim" in mail.message.get_body(("plain",)).get_content()
        link = web.local(confirmation_link(mail))
        assert STRANGER not in link and "kim" not in link.split("token=")[1].lower()
        # Not registered before the link's button is pressed; a GET changes nothing.
        assert registered(workspace) == frozenset()
        ask = browser.get(link)
        assert ask.status_code == 200 and "<form" in ask.text
        assert registered(workspace) == frozenset()
        done = browser.post(link, data={"csrf": csrf_field(ask.text)})
        assert done.status_code == 200 and "you are registered" in done.text
    assert registered(workspace) == {STRANGER}
    [signup] = records(workspace, STRANGER)["signups"]
    assert signup["confirmed_at"] and signup["name"] == "Kim Nyberg"
    assert signup["consent_text"].startswith("Yes, ")  # the words agreed to, in English
    plan = cli("send", "reminder", "2", "--audience", "registered", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "Audience registered: 1 person;" in plan.output


def test_a_bot_filling_the_honeypot_is_told_nothing_and_nothing_is_sent(workspace, web, smtp):
    with httpx.Client() as browser:
        reply = sign_up(
            browser,
            web.url + "/seminarium/2/anmal",
            name="Bot",
            email=STRANGER,
            website="https://spam.example",
        )
    assert reply.status_code == 200 and "Titta i din inkorg" in reply.text
    assert not smtp.handler.wait_for(1, timeout=0.5)
    assert records(workspace, STRANGER) == {}


def test_sign_ups_are_rate_limited_and_forms_need_csrf(workspace, web, smtp):
    url = web.url + "/seminarium/2/anmal"
    form = {"name": "Kim", "email": STRANGER}
    assert httpx.post(url, data={**form, "csrf": "x.y"}).status_code == 403
    with httpx.Client() as browser:
        replies = [sign_up(browser, url, **form).status_code for _ in range(4)]
    assert replies == [200, 200, 200, 429]  # three an hour for one address
    assert smtp.handler.wait_for(3)
    with httpx.Client() as browser:
        others = [
            sign_up(browser, url, name="Kim", email=f"kim{i}@smaforetag.example").status_code
            for i in range(2)
        ]
    # Five attempts an hour for one client; the refused one above counted too.
    assert others == [200, 429]
    bad = httpx.get(web.url + "/seminarium/2/bekrafta?token=forged")
    assert bad.status_code == 403
    assert registered(workspace) == frozenset()


def test_both_forms_refuse_an_expired_form_and_a_huge_body(workspace, web, smtp):
    url = web.url + "/seminarium/2/anmal"
    with httpx.Client(headers={"accept-language": "en"}) as browser:
        assert sign_up(browser, url, name="Kim", email=STRANGER).status_code == 200
        assert smtp.handler.wait_for(1)
        link = web.local(confirmation_link(smtp.handler.received[0]))
        for page in (url, link):
            assert browser.get(page).status_code == 200  # sets the CSRF cookie
            stale = browser.post(page, data={"csrf": "x.y", "name": "Kim", "email": STRANGER})
            assert stale.status_code == 403 and "The form expired" in stale.text
            huge = browser.post(page, data={"csrf": "x.y", "name": "x" * 20_000})
            assert huge.status_code == 413
    assert registered(workspace) == frozenset()


def test_the_rate_limit_forgets_quiet_keys_and_holds_under_a_flood():
    from mailer.web.signup import RateLimit

    limit = RateLimit(1, window=3600)
    limit.MAX_KEYS = 3
    assert [limit.allow(k) for k in "abcd"] == [True] * 4
    assert not limit.allow("e")  # four keys, all within the hour: a flood
    assert not limit.allow("a")
    quiet = RateLimit(1, window=0.0)  # nothing stays in the window
    quiet.MAX_KEYS = 3
    assert all(quiet.allow(k) for k in "abcdefgh")
    assert len(quiet.events) <= 4


def test_a_confirmation_link_older_than_a_week_registers_nobody(workspace, web, smtp):
    import sqlite3

    with httpx.Client() as browser:
        sign_up(browser, web.url + "/seminarium/2/anmal", name="Kim", email=STRANGER)
        assert smtp.handler.wait_for(1)
        link = web.local(confirmation_link(smtp.handler.received[0]))
        # Eight days pass (the journal's own clock is the request's timestamp).
        with sqlite3.connect(workspace / ".mailer" / "journal.sqlite3") as db:
            db.execute("UPDATE signups SET requested_at='2000-01-01T00:00:00.000+00:00'")
        db.close()
        ask = browser.get(link)
        late = browser.post(link, data={"csrf": csrf_field(ask.text)})
    assert late.status_code == 404 and "en vecka" in late.text
    assert registered(workspace) == frozenset()
