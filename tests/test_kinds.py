"""Every mail kind, in Swedish and English: what a person gets, and what a mistake says."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailer import tokens
from mailer.audience import parse_audience
from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.cli.sending import KIND
from mailer.config import load_network
from mailer.recipients import merge
from mailer.render import KINDS, MAX_HTML_BYTES, Renderer
from tests.helpers import KIND_CASES, add_cancellation, edit_table

SWEDE = "asa.bjork@lansstyrelsen-varmland.example"
ENGLISH = "tom.walker@msb.example"
CASES_EN = {
    "invitation": ("Open data – innovation", "Tuesday 16 March 2027"),
    "reminder": ("Open data – innovation", "Tuesday 16 March 2027"),
    "change": ("Open data – security", "Tuesday 18 May 2027"),
    "summary": ("Open data – the basics", "Tuesday 17 March 2026"),
    "newsletter": ("Open data – innovation", "Tuesday 16 March 2027"),
}


def build(workspace: Path, kind: str, number: int, email: str, audience: str | None = None):
    network = load_network(workspace / "network.toml")
    person = next(p for p in merge(network).people if p.email == email)
    chosen = parse_audience([audience]) if audience else None
    factory = MessageFactory(network, mailing_for(network, kind, number, chosen))
    out = factory.build(person, network.member(person.sender))
    return message_from_bytes(out.data, policy=policy.default)


def test_the_cli_knows_every_kind():
    assert tuple(KIND.choices) == KINDS


@pytest.mark.parametrize(("kind", "number", "title", "date"), KIND_CASES)
def test_each_kind_in_both_languages(workspace, kind, number, title, date):
    sv = build(workspace, kind, number, SWEDE)
    en = build(workspace, kind, number, ENGLISH)
    for msg, (want_title, want_date), greeting, lang in (
        (sv, (title, date), "Hej Åsa,", "sv"),
        (en, CASES_EN[kind], "Dear Tom,", "en"),
    ):
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert greeting in text
        assert want_title in html and want_date in html, kind
        assert want_date in text
        assert f'<html lang="{lang}"' in html
        assert 'class="preheader"' in html
        assert len(html.encode()) < MAX_HTML_BYTES
        assert "%%person." not in html + text
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_change_says_what_changed_first(workspace):
    msg = build(workspace, "change", 3, SWEDE)
    text = msg.get_body(("plain",)).get_content()
    assert text.splitlines()[0] == (
        "ÄNDRING: Ny lokal: sal Vänern (samma hus, plan 2) i stället för Revinge-salen."
    )
    html = msg.get_body(("html",)).get_content()
    body = html[html.index("<body") :]
    assert body.index("Ny lokal: sal Vänern") < body.index("<h1")
    assert msg["Subject"].startswith("Ändrat: Öppna data – säkerhetsaspekter")
    en = build(workspace, "change", 3, ENGLISH).get_body(("plain",)).get_content()
    assert en.startswith("CHANGE: New room: sal Vänern")


def test_reminder_speaks_to_the_audience(workspace):
    registered = build(workspace, "reminder", 2, SWEDE).get_body(("plain",)).get_content()
    assert "Tack för din anmälan" in registered and "Anmäl dig:" not in registered
    open_ = build(workspace, "reminder", 2, SWEDE, "not-registered")
    text = open_.get_body(("plain",)).get_content()
    assert "platser kvar" in text and "Anmäl dig: https://" in text


def test_registration_link_carries_the_persons_token(workspace, token_key):
    msg = build(workspace, "invitation", 2, SWEDE)
    text = msg.get_body(("plain",)).get_content()
    link = next(w for w in text.split() if w.startswith("https://oppnadata-varmland.example/anm"))
    token = link.split("token=", 1)[1]
    network = load_network(workspace / "network.toml")
    signer = tokens.Signer(token_key.encode())
    assert signer.verify(tokens.registration_purpose(network, 2), token) == SWEDE
    html = msg.get_body(("html",)).get_content()
    assert f'href="{link}"' in html
    # A registration token cannot unsubscribe anybody, nor register for another seminar.
    with pytest.raises(tokens.TokenError):
        signer.verify(tokens.unsubscribe_purpose(network), token)
    with pytest.raises(tokens.TokenError):
        signer.verify(tokens.registration_purpose(network, 3), token)


REGISTER_2 = "https://oppnadata-varmland.example/anmalan/seminarium-2"


@pytest.mark.parametrize("email", [SWEDE, ENGLISH])
@pytest.mark.parametrize("kind", ["summary", "newsletter"])
def test_summary_and_newsletter_register_with_the_persons_token(workspace, token_key, kind, email):
    """The next seminar's registration link is personal, as the invitation's is."""
    msg = build(workspace, kind, 1, email)
    text = msg.get_body(("plain",)).get_content()
    link = next(w for w in text.split() if w.startswith(REGISTER_2))
    assert link.startswith(f"{REGISTER_2}?token=")
    signer = tokens.Signer(token_key.encode())
    network = load_network(workspace / "network.toml")
    assert signer.verify(tokens.registration_purpose(network, 2), link.split("=", 1)[1]) == email
    assert f'href="{link}"' in msg.get_body(("html",)).get_content()


@pytest.mark.parametrize("kind", ["summary", "newsletter"])
def test_the_version_for_everybody_has_no_token(workspace, kind):
    network = load_network(workspace / "network.toml")
    mailing = mailing_for(network, kind, 1)
    variant = Renderer(network).variant(
        kind, mailing.seminar, "sv", network.member("msb"), revision=mailing.revision
    )
    assert "registration_url" in variant.text[1::2] and "registration_url" in variant.html[1::2]
    assert "token=" not in "".join(variant.text[::2] + variant.html[::2])
    # A share signed before these kinds carried a personal link: the public link, no token.
    person = next(p for p in merge(network).people if p.email == SWEDE)
    factory = MessageFactory(network, mailing, signed_links={})
    parsed = message_from_bytes(
        factory.build(person, network.member(person.sender)).data, policy=policy.default
    )
    text = parsed.get_body(("plain",)).get_content()
    assert f"{REGISTER_2}\n" in text.replace("\r\n", "\n") and "token=" not in text


def test_summary_has_no_registration_for_a_cancelled_next_seminar(workspace):
    add_cancellation(workspace, 2)
    text = build(workspace, "summary", 1, SWEDE).get_body(("plain",)).get_content()
    assert "Nästa seminarium" in text and REGISTER_2 not in text


def test_summary_names_the_next_seminar_that_takes_place(workspace):
    # Seminar 2 is cancelled: "Nästa seminarium" is seminar 3, not the one nobody attends.
    add_cancellation(workspace, 2)
    for email, next_title, cancelled in (
        (SWEDE, "Öppna data – säkerhetsaspekter", "Öppna data – innovationer"),
        (ENGLISH, "Open data – security", "Open data – innovation"),
    ):
        message = build(workspace, "summary", 1, email)
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        line = next(x for x in text.splitlines() if x.startswith(("Nästa", "Next")))
        assert next_title in line and cancelled not in line, line
        assert next_title in html and cancelled not in html


def test_one_click_unsubscribe_headers_and_footer(workspace, token_key):
    msg = build(workspace, "invitation", 2, ENGLISH)
    header = msg["List-Unsubscribe"]
    url, mailto = (part.strip(" <>") for part in header.split(","))
    assert url.startswith("https://oppnadata-varmland.example/avregistrera?token=")
    network = load_network(workspace / "network.toml")
    token = url.split("token=", 1)[1]
    # The mailto's subject carries the same signed token: 'mailer inbox' honours it.
    assert mailto == f"mailto:seminarier@msb.example?subject=unsubscribe%20{token}"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    signer = tokens.Signer(token_key.encode())
    assert signer.verify(tokens.unsubscribe_purpose(network), token) == ENGLISH
    text = msg.get_body(("plain",)).get_content()
    assert url in text
    assert "because you are on MSB's list" in text


def test_footer_names_the_list_in_the_genitive(workspace):
    """ "MSB:s lista", not "MSBs lista": Swedish puts a colon before the s of an
    abbreviation (the Swedish Language Council's rule; mailer.i18n.genitive)."""
    msg = build(workspace, "summary", 1, "erik.sandberg@msb.example")
    text = " ".join(msg.get_body(("plain",)).get_content().split())
    assert "eftersom du finns på MSB:s lista för nätverket" in text
    assert "finns på MSB:s lista" in msg.get_body(("html",)).get_content()
    other = build(workspace, "summary", 1, SWEDE).get_body(("plain",)).get_content()
    assert "Länsstyrelsen Värmlands lista" in " ".join(other.split())


def test_templates_have_a_genitive_filter(workspace):
    template = workspace / "templates" / "invitation.txt"
    source = template.read_text(encoding="utf-8")
    template.write_text(
        source + '{{ ["Lars", "KAU", "Karlstads universitet"] | map("genitive") | join("/") }}\n',
        encoding="utf-8",
    )
    network = load_network(workspace / "network.toml")
    renderer = Renderer(network)
    member = network.member("msb")
    sv = "".join(renderer.variant("invitation", network.seminar(2), "sv", member).text)
    en = "".join(renderer.variant("invitation", network.seminar(2), "en", member).text)
    assert "Lars/KAU:s/Karlstads universitets" in sv
    assert "Lars'/KAU's/Karlstads universitet's" in en


def test_without_https_endpoint_only_mailto(workspace):
    edit_table(workspace, "network", unsubscribe_url=None)
    msg = build(workspace, "summary", 1, ENGLISH)
    assert msg["List-Unsubscribe"] == "<mailto:seminarier@msb.example?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None


def test_http_unsubscribe_endpoint_is_refused(workspace, cli):
    edit_table(workspace, "network", unsubscribe_url="http://x.example/u")
    result = cli("check")
    assert result.exit_code == 2
    assert "network.unsubscribe_url" in result.stderr and "https" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_missing_signing_key_is_one_clear_line(cli, monkeypatch):
    monkeypatch.delenv("MAILER_TOKEN_KEY")
    result = cli("send", "invitation", "2", "--dry-run")
    assert result.exit_code == 2
    assert "MAILER_TOKEN_KEY is not set" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_summary_video_is_a_big_link_with_a_text_fallback(workspace):
    html = build(workspace, "summary", 1, SWEDE).get_body(("html",)).get_content()
    url = "https://video.oppnadata-varmland.example/seminarium-1"
    assert re.search(f'<a href="{url}"[^>]*><img [^>]*width="536" height="302"', html)
    assert 'alt="▶ Se filmen: Filmat från seminariet"' in html
    assert f">{url}</a>" in html  # the address itself, for images off and no buttons
    assert "Drygt 40 personer från 13 organisationer deltog." in html
    assert "Nästa seminarium" in html and "Öppna data – innovationer" in html
    en = build(workspace, "summary", 1, ENGLISH).get_body(("html",)).get_content()
    assert "over 40 people from 13 organisations" in en  # the English summary file
    assert "40 people from 13 organisations took part." in en


def test_newsletter_article_front_matter_and_images(workspace):
    msg = build(workspace, "newsletter", 1, SWEDE)
    assert msg["Subject"] == "Nytt från Öppna data Värmland – våren 2027"
    html = msg.get_body(("html",)).get_content()
    assert "<h2" in html and "tolv nya dataset" in html
    assert 'width="536" height="300" alt="Deltagare lyssnar' in html
    assert "Nya dataset från kommunen" in html  # the preheader


def test_newsletter_without_front_matter_is_one_line(workspace, cli):
    (workspace / "newsletters" / "1-varen-2027.md").write_text("# Hej\n", encoding="utf-8")
    result = cli("preview", "newsletter", "1")
    assert result.exit_code == 2
    assert "1-varen-2027.md:1: the article has no front matter" in result.stderr


def test_html_over_the_limit_fails_the_build_with_a_clear_line(workspace, cli):
    summary = workspace / "seminars" / "1-summary.md"
    summary.write_text("Lorem ipsum dolor sit amet. " * 4000, encoding="utf-8")
    result = cli("preview", "summary", "1")
    assert result.exit_code == 2
    assert "summary.html: the HTML is" in result.stderr and "Gmail clips" in result.stderr


def test_strings_exist_in_both_languages(workspace):
    renderer = Renderer(load_network(workspace / "network.toml"))
    assert set(renderer.strings("sv")) == set(renderer.strings("en"))


def test_preview_names_the_calendar_parts(cli):
    result = cli("preview", "invitation", "2", "--to", ENGLISH)
    assert result.exit_code == 0, result.stderr
    assert "calendar part (method=REQUEST), seminarium.ics (text/calendar" in result.output
