"""``mailer serve`` in a real browser: Debian's headless Chromium, driven by Selenium
through Debian's chromedriver (no driver download), following the links in real sent mail.

The invitation to seminar 2 goes into the example network's Maildir outbox; the test
takes a person's registration and unsubscribe links from the message as it was sent,
points them at the server on 127.0.0.1 (as the reverse proxy would) and lets the browser
fill the forms and press the buttons: no JavaScript, the pages' own CSP and cookies.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailer import registrations
from mailer.journal import Journal
from mailer.suppression import Suppression
from tests.helpers import use_smtp
from tests.web_server import WebServer, one_click_url, registration_url, sent_mails, serving

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None, reason="chromium or chromedriver is missing"
    ),
    pytest.mark.slow,  # a browser start costs seconds on a shared 2-core machine
]

SWEDE = "asa.bjork@lansstyrelsen-varmland.example"
ENGLISH = "tom.walker@msb.example"


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    # The console, where Chromium reports what a Content-Security-Policy blocked.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def web(workspace: Path) -> Iterator[WebServer]:
    with serving(workspace) as server:
        yield server


def registered(workspace: Path, seminar: int = 2) -> frozenset[str]:
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        return registrations.status(journal, seminar).registered


def answers(workspace: Path, email: str) -> list[dict[str, Any]]:
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        return journal.person_records(email).get("registrations", [])


def suppressed(workspace: Path) -> list[str]:
    with Suppression.in_state_dir(workspace / ".mailer") as opt_out:
        return [e.email or "" for e in opt_out.entries()]


def press(driver: Any, label: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    buttons = driver.find_elements(By.CSS_SELECTOR, "button[type=submit]")
    button = next(b for b in buttons if b.text == label)
    button.click()
    # The click submits the form; the next page has arrived once the old button is gone.
    WebDriverWait(driver, 20).until(expected_conditions.staleness_of(button))


def heading(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "h1").text)


def test_a_browser_registers_cancels_and_unsubscribes_from_the_mails_links(
    workspace, cli, web, browser
):
    from selenium.webdriver.common.by import By

    mails = sent_mails(workspace, cli)
    # Registration, in English (the person's language, carried by the token).
    browser.get(web.local(registration_url(mails[ENGLISH])))
    assert heading(browser).startswith("Registration:")
    assert ENGLISH not in browser.page_source
    assert registered(workspace) == frozenset()  # the GET changed nothing
    browser.find_element(By.ID, "diet").send_keys("vegan")
    browser.find_element(By.ID, "message").send_keys("Looking forward to it")
    press(browser, "Register")
    assert heading(browser) == "Thank you, you are registered"
    assert registered(workspace) == {ENGLISH}
    [answer] = answers(workspace, ENGLISH)
    assert answer["diet"] == "vegan" and answer["message"] == "Looking forward to it"
    # Back to the link (as from the reminder): it knows, and offers to cancel.
    browser.get(web.local(registration_url(mails[ENGLISH])))
    assert "You are registered for the seminar." in browser.page_source
    press(browser, "Cancel my place")
    assert heading(browser) == "Your place is cancelled"
    assert registered(workspace) == frozenset()

    # Unsubscribe, in Swedish: the GET shows a button, the button unsubscribes.
    browser.get(web.local(one_click_url(mails[SWEDE])))
    assert heading(browser) == "Avregistrera"
    assert suppressed(workspace) == []
    press(browser, "Ja, avregistrera mig")
    assert heading(browser) == "Du är avregistrerad"
    assert suppressed(workspace) == [SWEDE]
    press(browser, "Ångra avregistreringen")
    assert heading(browser) == "Välkommen tillbaka"
    assert suppressed(workspace) == []
    # And for good this time: the mail after this one would skip her.
    browser.get(web.local(one_click_url(mails[SWEDE])))
    press(browser, "Ja, avregistrera mig")
    assert suppressed(workspace) == [SWEDE]


def test_a_stranger_signs_up_in_the_browser_and_confirms_from_the_mail(
    workspace, smtp_servers, browser, cli
):
    from selenium.webdriver.common.by import By

    smtp = smtp_servers()
    use_smtp(workspace, "lansstyrelsen-varmland", smtp.port)  # the coordinator's member
    stranger = "kim.nyberg@smaforetag.example"
    with serving(workspace) as web:
        browser.get(web.url + "/seminarium/2")  # headless Chromium asks for English
        browser.find_element(By.LINK_TEXT, "Sign up for the seminar").click()
        browser.find_element(By.ID, "name").send_keys("Kim Nyberg")
        browser.find_element(By.ID, "organisation").send_keys("Småföretag AB")
        browser.find_element(By.ID, "email").send_keys(stranger)
        browser.find_element(By.ID, "consent").click()
        assert not browser.find_element(By.ID, "website").is_displayed()  # the honeypot
        press(browser, "Sign me up")
        assert heading(browser) == "Check your inbox"
        assert smtp.handler.wait_for(1)
        text = smtp.handler.received[0].message.get_body(("plain",)).get_content()
        link = next(w for w in text.split() if "/bekrafta?token=" in w)
        browser.get(web.local(link))
        assert registered(workspace) == frozenset()  # the GET changed nothing
        press(browser, "Confirm")
        assert heading(browser) == "Thank you, you are registered"
    assert registered(workspace) == {stranger}
    plan = cli("send", "reminder", "2", "--audience", "registered", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "Audience registered: 1 person;" in plan.output


def test_view_in_browser_shows_that_mail_styled_and_nobodys(workspace, cli, web, browser):
    import re

    from selenium.webdriver.common.by import By

    mails = sent_mails(workspace, cli)
    html = mails[SWEDE].get_body(("html",)).get_content()  # type: ignore[union-attr]
    link = re.search(r'<a href="([^"]+/view/invitation-2/sv/[^"]+)"', html)
    assert link, html
    browser.get(web.local(link.group(1)))
    assert browser.title == str(mails[SWEDE]["Subject"])
    # The mail's inline styles apply (the page's CSP lets them), and nothing was blocked.
    body = browser.find_element(By.TAG_NAME, "body")
    assert body.value_of_css_property("background-color") == "rgba(244, 244, 242, 1)"
    blocked = [
        e["message"] for e in browser.get_log("browser") if "Content Security" in e["message"]
    ]
    assert blocked == []
    text = body.text
    assert "Hej," in text and "Åsa" not in text and SWEDE not in browser.page_source
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
    assert not any("token=" in h for h in hrefs)
    assert any(h.endswith("/seminarium/2/anmal") for h in hrefs)
