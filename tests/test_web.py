"""``mailer serve`` against the real server: uvicorn on 127.0.0.1, requests with httpx.

The links come from real sent mail (the example network's Maildir outbox), pointed at
the server as the reverse proxy would. No GET may change anything; a forged, wrong-purpose
or rehearsal token gets a 4xx page and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator
from email.message import EmailMessage
from html import unescape
from pathlib import Path

import httpx
import pytest

from mailer import registrations, tokens
from mailer.config import load_network
from mailer.journal import Journal
from mailer.suppression import Suppression
from tests.helpers import TOKEN_KEY, edit_seminar, editing_network
from tests.web_server import WebServer, one_click_url, registration_url, sent_mails, serving

SWEDE = "asa.bjork@lansstyrelsen-varmland.example"
ENGLISH = "tom.walker@msb.example"
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def web(workspace: Path) -> Iterator[WebServer]:
    with serving(workspace) as server:
        yield server


@pytest.fixture
def mails(workspace: Path, cli) -> dict[str, EmailMessage]:
    return sent_mails(workspace, cli)


def suppressed(workspace: Path) -> list[str]:
    with Suppression.in_state_dir(workspace / ".mailer") as opt_out:
        return [e.email or "" for e in opt_out.entries()]


def registered(workspace: Path, seminar: int = 2) -> frozenset[str]:
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        return registrations.status(journal, seminar).registered


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert match, page
    return unescape(match.group(1))


def csrf_field(page: str) -> str:
    return hidden(page, "csrf")


def test_one_click_post_as_gmail_sends_it(workspace, web, mails):
    url = web.local(one_click_url(mails[ENGLISH]))
    assert mails[ENGLISH]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    reply = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert reply.status_code == 200
    assert suppressed(workspace) == [ENGLISH]
    # Again, and as multipart/form-data (RFC 8058 allows either): still one entry, 2xx.
    again = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert again.status_code == 200
    assert suppressed(workspace) == [ENGLISH]


def test_a_get_changes_nothing(workspace, web, mails):
    for link in (one_click_url(mails[SWEDE]), registration_url(mails[SWEDE])):
        page = httpx.get(web.local(link))
        assert page.status_code == 200
        assert '<form method="post"' in page.text and "<script" not in page.text
        assert SWEDE not in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.headers["referrer-policy"] == "no-referrer"
        # A link scanner's HEAD or a second GET changes nothing either.
        httpx.head(web.local(link))
    assert suppressed(workspace) == []
    assert registered(workspace) == frozenset()


def test_forged_wrong_purpose_and_rehearsal_tokens_get_4xx_and_change_nothing(
    workspace, web, mails
):
    network = load_network(workspace / "network.toml")
    real = tokens.Signer(TOKEN_KEY.encode())
    forged = tokens.Signer(b"another-key-0123456789")
    unsubscribe = web.url + "/avregistrera?token="
    register = web.url + "/anmalan/seminarium-2?token="
    bad = {
        "forged": forged.sign(tokens.unsubscribe_purpose(network), SWEDE),
        "registration token": real.sign(tokens.registration_purpose(network, 2), SWEDE),
        "rehearsal": real.sign(
            tokens.rehearsal_purpose(tokens.unsubscribe_purpose(network)), SWEDE
        ),
        "cut short": one_click_url(mails[SWEDE]).split("token=")[1][:-3],
        "garbage": "%00<script>",
    }
    for why, token in bad.items():
        for method in ("GET", "POST"):
            reply = httpx.request(
                method,
                unsubscribe + token,
                content=b"List-Unsubscribe=One-Click",
                headers=ONE_CLICK,
            )
            assert reply.status_code == 403, why
            assert (
                "Länken" in reply.text or "rehearsal" in reply.text or "provutskick" in reply.text
            )
    other_seminar = real.sign(tokens.registration_purpose(network, 3), SWEDE)
    assert httpx.get(register + other_seminar).status_code == 403
    assert suppressed(workspace) == []
    assert registered(workspace) == frozenset()


def test_tokens_do_not_show_the_address_and_old_ones_still_work(workspace, web, mails):
    token = one_click_url(mails[SWEDE]).split("token=")[1]
    encoded = base64.urlsafe_b64encode(SWEDE.encode()).decode().rstrip("=")
    assert "." not in token and encoded[:12] not in token and "asa" not in token
    # A link sent before tokens were sealed: <address>.<mac>.
    network = load_network(workspace / "network.toml")
    msg = f"{tokens.unsubscribe_purpose(network)}\n{ENGLISH}".encode()
    mac = hmac.new(TOKEN_KEY.encode(), msg, hashlib.sha256).digest()[:16]
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    old = f"{b64(ENGLISH.encode())}.{b64(mac)}"
    reply = httpx.post(
        web.url + "/avregistrera?token=" + old,
        content=b"List-Unsubscribe=One-Click",
        headers=ONE_CLICK,
    )
    assert reply.status_code == 200
    assert suppressed(workspace) == [ENGLISH]


def test_unsubscribe_page_needs_its_csrf_token_and_can_be_undone(workspace, web, mails):
    url = web.local(one_click_url(mails[SWEDE]))
    with httpx.Client() as browser:
        page = browser.get(url)
        assert "Avregistrera" in page.text  # Swedish: the token's language
        field = csrf_field(page.text)
        # Without the cookie's twin, or with a made-up field: refused, nothing changes.
        stranger = httpx.post(url, data={"action": "unsubscribe", "csrf": field})
        assert stranger.status_code == 403
        assert browser.post(url, data={"action": "unsubscribe", "csrf": "x.y"}).status_code == 403
        assert suppressed(workspace) == []
        done = browser.post(url, data={"action": "unsubscribe", "csrf": field})
        assert done.status_code == 200 and "Du är avregistrerad" in done.text
        assert suppressed(workspace) == [SWEDE]
        # The undo button carries a token of its own (it expires), as a browser sends it.
        undo = {"action": "undo", "csrf": csrf_field(done.text), "undo": hidden(done.text, "undo")}
        undone = browser.post(url, data=undo)
        assert undone.status_code == 200 and "Välkommen tillbaka" in undone.text
    assert suppressed(workspace) == []


def test_register_then_cancel_through_the_form(workspace, web, mails, cli):
    url = web.local(registration_url(mails[ENGLISH]))
    with httpx.Client() as browser:
        page = browser.get(url)
        assert page.status_code == 200 and "Will you attend?" in page.text  # English
        answer = {
            "action": "register",
            "attend": "yes",
            "diet": "vegan",
            "csrf": csrf_field(page.text),
        }
        done = browser.post(url, data=answer)
        assert done.status_code == 200 and "you are registered" in done.text
        assert registered(workspace) == {ENGLISH}
        # The confirmation offers the seminar's .ics (a GET: a download, changing nothing).
        href = unescape(re.findall(r'<a href="([^"]+)"', done.text)[0])
        ics = browser.get(web.url + href)
        assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
        assert "BEGIN:VCALENDAR" in ics.text and "oppna-data-varmland-seminar-2@" in ics.text
        assert browser.get(web.url + href.split("?")[0] + "?token=x").status_code == 403
        # The registration counts like an imported one: the reminder's audience.
        plan = cli("send", "reminder", "2", "--audience", "registered", "--dry-run")
        assert plan.exit_code == 0, plan.output
        assert "Audience registered: 1 person;" in plan.output
        again = browser.get(url)
        assert "Cancel my place" in again.text
        cancel = browser.post(url, data={"action": "cancel", "csrf": csrf_field(again.text)})
        assert cancel.status_code == 200 and "cancelled" in cancel.text
    assert registered(workspace) == frozenset()


def test_registration_closed_after_the_deadline(workspace, mails):
    edit_seminar(workspace, 2, registration_deadline="2020-01-01", date="2020-01-08")
    with serving(workspace) as web:
        reply = httpx.get(web.local(registration_url(mails[SWEDE])))
    assert reply.status_code == 409 and "stängd" in reply.text


def test_accept_language_chooses_for_a_page_without_a_person(web):
    assert (
        "This link does not work"
        in httpx.get(
            web.url + "/avregistrera?token=x",
            headers={"accept-language": "en-GB,en;q=0.9,sv;q=0.5"},
        ).text
    )
    assert httpx.get(web.url + "/healthz").text == "ok"
    missing = httpx.get(web.url + "/nowhere", headers={"accept-language": "en"})
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert missing.headers["content-security-policy"].startswith("default-src 'none'")
    assert httpx.delete(web.url + "/avregistrera").status_code == 405


def test_serve_without_web_section_is_one_line(workspace, cli):
    with editing_network(workspace) as config:
        del config["web"]
    result = cli("serve", "--port", "1")
    assert result.exit_code == 2
    assert "[web] base_url" in result.stderr and "Traceback" not in result.output


def test_check_says_which_links_are_not_under_base_url(workspace, cli):
    clean = cli("check")
    assert clean.exit_code == 0 and "Warning" not in clean.stderr
    edit_seminar(workspace, 2, registration_url="https://forms.example/anmalan")
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert (
        "Warning: not under [web] base_url, so mailer serve does not answer it: "
        "seminars[2].registration_url = https://forms.example/anmalan"
    ) in result.stderr


def test_the_series_and_each_seminar_are_public_pages(web):
    series = httpx.get(web.url + "/", headers={"accept-language": "en"})
    assert series.status_code == 200
    assert "Breakfast seminars on open data" in series.text
    assert "Coming seminars" in series.text and "Past seminars" in series.text
    assert '<a href="/seminarium/2">' in series.text
    network = load_network(Path(__file__).resolve().parent.parent / "network.toml")
    held = next(s for s in network.seminars if s.held)
    for video in held.videos:
        assert f'href="{video.url}"' in series.text
    page = httpx.get(web.url + "/seminarium/2")  # no Accept-Language: the network's Swedish
    assert page.status_code == 200 and "Öppna data – innovationer" in page.text
    assert "Program" in page.text and "<form" not in page.text
    assert httpx.get(web.url + "/seminarium/99").status_code == 404


def test_mailer_serve_runs_as_a_command(workspace):
    import os
    import socket
    import subprocess
    import sys
    import time

    from tests.helpers import REPO

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MAILER_NETWORK": str(workspace / "network.toml")}
    server = subprocess.Popen(
        [sys.executable, "-m", "mailer", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Until it answers, however long a loaded machine takes to start it: a count of
        # tries was a deadline in disguise (10 s). It may only not die meanwhile.
        deadline = time.monotonic() + 120
        while True:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1].decode()
                assert time.monotonic() < deadline, "mailer serve did not answer in 120 s"
                time.sleep(0.05)
        assert reply.status_code == 200 and reply.text == "ok"
        assert "server" not in reply.headers  # uvicorn does not announce itself
        assert httpx.get(f"http://127.0.0.1:{port}/avregistrera?token=Zm9vYmFy").status_code == 403
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert b"Zm9vYmFy" not in err  # no access log: links carry personal tokens


def test_every_mail_links_to_the_web_version_of_that_mail(workspace, web, mails):
    """ "View in browser" opens this very mailing, rendered from the same templates in the
    person's language with the sending member's branding, and nobody's name or links."""
    for person, label, language in (
        (SWEDE, "Visa i webbläsare", "sv"),
        (ENGLISH, "View in browser", "en"),
    ):
        msg = mails[person]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        link = f"https://oppnadata-varmland.example/view/invitation-2/{language}/"
        found = re.search(rf'<a href="({re.escape(link)}[a-z0-9-]+)"[^>]*>{label}</a>', html)
        assert found, html
        url = found.group(1)
        assert f"{label}: {url}" in text
        page = httpx.get(web.local(url))  # not personal: no token, the same for everyone
        assert page.status_code == 200
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert "script-src" not in page.headers["content-security-policy"]
        # The same mail: its subject and its paragraphs, in its language...
        assert unescape(str(msg["Subject"])) in unescape(page.text)
        words = lambda h: " ".join(re.sub(r"<[^>]+>", " ", unescape(h)).split())  # noqa: E731
        body = words(html)
        start = body.index("Program")
        assert body[start : start + 200] in words(page.text)
        # ...but nobody's: no address, no name, no token; the registration link is the
        # public sign-up and the unsubscribe link names nobody.
        first_name = str(msg["To"]).split()[0]
        assert person not in page.text and first_name not in page.text
        assert "token=" not in page.text
        assert "/seminarium/2/anmal" in page.text
    nobody = httpx.get(web.url + "/avregistrera")  # the web version's unsubscribe link
    assert nobody.status_code == 200 and "Avregistrera" in nobody.text
    for missing in (
        "/view/invitation-99/sv",
        "/view/invitation-2/de",
        "/view/x/sv",
        "/view/change-2.9/en",
    ):
        assert httpx.get(web.url + missing).status_code == 404, missing


def test_the_series_page_lists_summaries_videos_and_newsletters(web):
    series = httpx.get(web.url + "/", headers={"accept-language": "en"})
    assert "Newsletters" in series.text and "Summary" in series.text
    assert '<a href="/view/summary-1/en">Summary</a>' in series.text
    assert "Video: " in series.text
    # The newsletter by its English subject and date, its preheader as a summary.
    found = re.search(
        r'<a href="(/view/newsletter-1/en)">([^<]+)</a>, (\w+day \d+ \w+ 2027)', series.text
    )
    assert found, series.text
    for link in ("/view/summary-1/en", found.group(1)):
        page = httpx.get(web.url + link)
        assert page.status_code == 200 and "token=" not in page.text
    newsletter = httpx.get(web.url + found.group(1))
    assert unescape(found.group(2)) in unescape(newsletter.text)
    swedish = httpx.get(web.url + "/")
    assert (
        "Nyhetsbrev" in swedish.text
        and '<a href="/view/summary-1/sv">Sammanfattning</a>' in swedish.text
    )


def test_a_web_version_outlives_a_cancellation(workspace, mails):
    """An invitation sent before its seminar was cancelled keeps its web version; the
    cancellation gets one of its own, and a mailing never made has none."""
    from tests.helpers import add_cancellation

    add_cancellation(workspace, 2)
    with serving(workspace) as web:
        invitation = httpx.get(web.url + "/view/invitation-2/en")
        cancellation = httpx.get(web.url + "/view/cancellation-2/en")
        never = httpx.get(web.url + "/view/cancellation-3/en")
    assert invitation.status_code == 200 and "Öppna data" in invitation.text
    assert cancellation.status_code == 200 and "The speakers are ill." in cancellation.text
    assert never.status_code == 404
