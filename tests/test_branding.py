"""Readable colours and email-client-safe HTML, checked on what the templates produce."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailer.branding import MIN_CONTRAST, colour_problems, contrast
from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.config import load_network
from mailer.recipients import merge
from tests.helpers import edit_member

REPO = Path(__file__).resolve().parent.parent


def test_contrast_formula_matches_wcag():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_every_configured_colour_is_readable():
    network = load_network(REPO / "network.toml")
    assert colour_problems(network) == []
    colours = network.network.colours
    assert contrast(colours.text, "#ffffff") >= MIN_CONTRAST
    assert contrast("#ffffff", colours.primary) >= MIN_CONTRAST
    for member in network.members:
        assert contrast("#ffffff", member.colour or colours.primary) >= MIN_CONTRAST, member.id


def test_the_templates_fixed_colours_are_readable_light_and_dark():
    layout = (REPO / "templates" / "layout.html").read_text(encoding="utf-8")
    light = {
        "muted text": ("#4a4a4a", "#ffffff"),
        "notice": ("#1a1a1a", "#fdf3e1"),
        "cancel notice": ("#1a1a1a", "#fbe9e9"),
    }
    dark = {
        "text": ("#eeeeee", "#1e1e1e"),
        "headings and links": ("#8cc4ea", "#1e1e1e"),
        "footer": ("#c8c8c8", "#1e1e1e"),
        "notice": ("#eeeeee", "#3a3220"),
        "cancel notice": ("#eeeeee", "#3d2020"),
    }
    for name, (fg, bg) in {**light, **dark}.items():
        assert fg in layout and bg in layout, name  # the pair is really the template's
        assert contrast(fg, bg) >= MIN_CONTRAST, name
    assert "prefers-color-scheme: dark" in layout


def test_a_pale_member_colour_fails_check_with_its_line(workspace, cli):
    path = workspace / "network.toml"
    edit_member(workspace, "kronofogden", colour="#7fd1c7")
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "#7fd1c7" in row)
    result = cli("check")
    assert result.exit_code == 2
    assert f"network.toml:{line}: kronofogden: white button text" in result.stderr
    assert "below 4.5:1" in result.stderr


@pytest.mark.parametrize("kind,number", [("invitation", 2), ("summary", 1), ("newsletter", 1)])
def test_html_is_email_client_safe(workspace, kind, number):
    network = load_network(workspace / "network.toml")
    person = next(
        p for p in merge(network).people if p.email == "karl.aslund@elsakerhetsverket.example"
    )
    factory = MessageFactory(network, mailing_for(network, kind, number))
    msg = message_from_bytes(
        factory.build(person, network.member(person.sender)).data, policy=policy.default
    )
    html = msg.get_body(("html",)).get_content()
    assert len(html.encode()) < 100_000
    assert '<html lang="sv"' in html
    assert "display:flex" not in html.replace(" ", "") and "display:grid" not in html.replace(
        " ", ""
    )
    for img in re.findall(r"<img [^>]*>", html):
        assert re.search(r'\balt="[^"]+"', img), img
        assert re.search(r'\bwidth="\d+"', img) and re.search(r'\bheight="\d+"', img), img
    widths = [int(w) for w in re.findall(r'<table[^>]*\bwidth="(\d+)"', html)]
    assert widths and max(widths) <= 600
    assert "<v:roundrect" in html  # the button Outlook desktop draws
    # A member without a logo still has its name in the header, in its colour.
    assert "Elsäkerhetsverket</span>" in html
