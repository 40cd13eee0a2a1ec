"""Links that expire and limits that last, against the real ``mailer serve`` (uvicorn on
127.0.0.1): an expired confirmation or undo token gets a 4xx page in the person's language
and changes nothing; sign-up limits hold across a restart and between two servers; the
coordinator lists the sign-ups and what each person agreed to.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailer import registrations, tokens
from mailer.config import load_network
from mailer.journal import Journal
from mailer.suppression import Suppression
from tests.helpers import TOKEN_KEY, use_smtp
from tests.web_server import one_click_url, sent_mails, serving

STRANGER = "kim.nyberg@smaforetag.example"
SWEDE = "asa.bjork@lansstyrelsen-varmland.example"
COORDINATOR_MEMBER = "lansstyrelsen-varmland"
SIGNER = tokens.Signer(TOKEN_KEY.encode())
PAST = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert match, page
    return unescape(match.group(1))


def registered(workspace: Path, seminar: int = 2) -> frozenset[str]:
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        return registrations.status(journal, seminar).registered


def suppressed(workspace: Path) -> list[str]:
    with Suppression.in_state_dir(workspace / ".mailer") as opt_out:
        return [e.email or "" for e in opt_out.entries()]


def sign_up(browser: httpx.Client, url: str, **answers: str) -> httpx.Response:
    page = browser.get(url)
    assert page.status_code == 200, page.text
    return browser.post(url, data={"csrf": hidden(page.text, "csrf"), **answers})


def test_tokens_carry_an_expiry_sealed_and_old_tokens_read_the_same():
    purpose = "signup:net:2"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
    claim = SIGNER.claim(purpose, SIGNER.sign(purpose, STRANGER, language="sv", expires=later))
    assert claim.email == STRANGER and claim.language == "sv"
    assert claim.expires == later.replace(microsecond=0)
    expired = SIGNER.sign(purpose, STRANGER, language="en", expires=PAST)
    with pytest.raises(tokens.ExpiredTokenError) as caught:
        SIGNER.claim(purpose, expired)
    assert caught.value.claim.language == "en" and caught.value.claim.email == STRANGER
    assert STRANGER not in expired and "." not in expired
    # A token without an expiry (every unsubscribe link) acts as long as the key lives.
    forever = SIGNER.claim(purpose, SIGNER.sign(purpose, STRANGER, language="en"))
    assert forever.expires is None and forever.language == "en"
    # An expired token is still only good for its purpose.
    with pytest.raises(tokens.TokenError) as wrong:
        SIGNER.claim("unsubscribe:net", expired)
    assert not isinstance(wrong.value, tokens.ExpiredTokenError)


@pytest.fixture
def smtp(workspace: Path, smtp_servers: Any) -> Any:
    server = smtp_servers()
    use_smtp(workspace, COORDINATOR_MEMBER, server.port)
    return server


@pytest.mark.parametrize(("language", "says"), [("sv", "Länken har gått ut"), ("en", "expired")])
def test_an_expired_confirmation_link_is_refused_in_its_language(workspace, smtp, language, says):
    network = load_network(workspace / "network.toml")
    # The browser's language becomes the sign-up's, and so the token's.
    with serving(workspace) as web, httpx.Client(headers={"accept-language": language}) as browser:
        sent = sign_up(browser, web.url + "/seminarium/2/anmal", name="Kim", email=STRANGER)
        assert sent.status_code == 200
        assert smtp.handler.wait_for(1)
        # The link in the mail carries its expiry, a week from now, sealed in the token.
        text = smtp.handler.received[0].message.get_body(("plain",)).get_content()
        sent_link = next(w for w in text.split() if "/bekrafta?token=" in w)
        claim = SIGNER.claim(tokens.signup_purpose(network, 2), sent_link.split("token=")[1])
        assert claim.expires is not None and claim.language == language
        week = claim.expires - dt.datetime.now(dt.UTC)
        assert dt.timedelta(days=6, hours=23) < week <= dt.timedelta(days=7)
        # The same link a week later: the token's own expiry has passed.
        late = SIGNER.sign(
            tokens.signup_purpose(network, 2), STRANGER, language=language, expires=PAST
        )
        link = f"{web.url}/seminarium/2/bekrafta?token={late}"
        # The reader's browser prefers the other language: the token's language wins.
        other = {"accept-language": "en" if language == "sv" else "sv"}
        for method in ("GET", "POST"):
            reply = browser.request(method, link, headers=other, data={"csrf": "x"})
            assert reply.status_code == 403, reply.text
            assert says in reply.text and f'<html lang="{language}"' in reply.text
    assert registered(workspace) == frozenset()
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        [signup] = journal.all_signups()
    assert signup.confirmed_at is None


def test_the_undo_button_expires_and_is_only_for_its_person(workspace, cli):
    mails = sent_mails(workspace, cli)
    network = load_network(workspace / "network.toml")
    with serving(workspace) as web, httpx.Client() as browser:
        url = web.local(one_click_url(mails[SWEDE]))
        page = browser.get(url)
        done = browser.post(url, data={"action": "unsubscribe", "csrf": hidden(page.text, "csrf")})
        assert done.status_code == 200 and suppressed(workspace) == [SWEDE]
        assert "7 dagar" in done.text
        csrf = hidden(done.text, "csrf")
        undo_purpose = tokens.undo_purpose(network)
        expired = SIGNER.sign(undo_purpose, SWEDE, language="sv", expires=PAST)
        someone_else = SIGNER.sign(
            undo_purpose, "tom.walker@msb.example", expires=tokens.expires_in(7)
        )
        for token, says in (
            (expired, "Länken har gått ut"),
            (someone_else, "Länken fungerar inte"),
        ):
            # The person's language (the link's), whatever the browser prefers.
            undo = {"action": "undo", "csrf": csrf, "undo": token}
            reply = browser.post(url, data=undo, headers={"accept-language": "en"})
            assert reply.status_code == 403 and says in reply.text
        assert suppressed(workspace) == [SWEDE]  # nothing undone
        # The button's own token, a moment later, still undoes it.
        real = hidden(done.text, "undo")
        assert SIGNER.claim(undo_purpose, real).expires is not None
        back = browser.post(url, data={"action": "undo", "csrf": csrf, "undo": real})
        assert back.status_code == 200 and "Välkommen tillbaka" in back.text
    assert suppressed(workspace) == []


def test_sign_up_limits_hold_across_a_restart_and_between_two_servers(workspace, smtp):
    url = "/seminarium/2/anmal"
    form = {"name": "Kim", "email": STRANGER}
    with serving(workspace) as first, httpx.Client() as browser:
        assert [sign_up(browser, first.url + url, **form).status_code for _ in range(3)] == [
            200
        ] * 3
    # A restarted server remembers: the fourth sign-up for the address within the hour.
    with serving(workspace) as second, serving(workspace) as third, httpx.Client() as browser:
        assert sign_up(browser, second.url + url, **form).status_code == 429
        # The client has had four attempts (the refused one counts): one more, on
        # another server process, and then none on either.
        other = {"name": "Kim", "email": "kim2@smaforetag.example"}
        assert sign_up(browser, third.url + url, **other).status_code == 200
        other = {"name": "Kim", "email": "kim3@smaforetag.example"}
        assert sign_up(browser, second.url + url, **other).status_code == 429
    assert smtp.handler.wait_for(4)
    # The journal keeps neither the address nor the client, only salted hashes.
    raw = (workspace / ".mailer" / "journal.sqlite3").read_bytes()
    assert b"127.0.0.1" not in raw


def test_the_coordinator_lists_sign_ups_and_what_they_agreed_to(workspace, cli, monkeypatch):
    from mailer.signups import consent_text

    network = load_network(workspace / "network.toml")
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        journal.request_signup(
            2,
            STRANGER,
            name="Kim Nyberg",
            organisation="Småföretag AB",
            language="sv",
            consent_text=consent_text(network, "sv"),
        )
        journal.confirm_signup(2, STRANGER)
        journal.request_signup(
            2, "lo@smaforetag.example", name="Lo", organisation="", language="en", consent_text=None
        )
    listed = cli("signups", "list")
    assert listed.exit_code == 0, listed.output
    assert "Seminar 2: Kim Nyberg <kim.nyberg@smaforetag.example>, Småföretag AB" in listed.output
    assert "Agreed to: “Ja, Öppna data Värmland får skicka mig inbjudningar" in listed.output
    assert "Not confirmed" in listed.output and "Agreed to no later invitations" in listed.output
    assert "2 sign-ups; confirmed: 1." in listed.output
    assert max(len(line) for line in listed.output.splitlines()) <= 80  # no mid-word wrap
    assert re.search(r"Confirmed \w+day \d+ \w+ \d{4} at \d\d:\d\d", listed.output)
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    swedish = cli("signups", "list", "--seminar", "2")
    assert "2 anmälningar; bekräftade: 1." in swedish.output
    assert re.search(r"Bekräftad \w+dag \d+ \w+ \d{4} kl\. \d\d\.\d\d", swedish.output)
    as_json = json.loads(cli("signups", "list", "--json").output)
    assert [s["email"] for s in as_json] == [STRANGER, "lo@smaforetag.example"]
    assert as_json[0]["confirmed_at"].endswith("+00:00") and as_json[1]["confirmed_at"] is None
    assert as_json[0]["consent_text"].startswith("Ja, ")
    assert cli("signups", "list", "--seminar", "3").output.strip() == "Inga anmälningar än."
