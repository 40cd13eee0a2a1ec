"""Each kind as a person sees it: rendered by headless Chromium (Debian's chromium package).

CI installs Chromium (.ci/run); on a developer's machine without it these tests skip.
All kinds of one language are laid out in one browser run (a cold start costs seconds).
"""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.config import load_network
from mailer.recipients import merge
from mailer.screenshot import find_browser, measure, measure_pages, screenshot_pages
from tests.helpers import add_cancellation, copy_workspace

pytestmark = [
    pytest.mark.skipif(find_browser() is None, reason="chromium is not installed"),
    pytest.mark.slow,  # a headless browser start costs seconds on a shared 2-core machine
]

PEOPLE = {"sv": "asa.bjork@lansstyrelsen-varmland.example", "en": "tom.walker@msb.example"}
# (kind, number, title, date) per language
KINDS = {
    "sv": [
        ("invitation", 2, "Öppna data – innovationer", "tisdag 16 mars 2027"),
        ("reminder", 2, "Öppna data – innovationer", "tisdag 16 mars 2027"),
        ("change", 3, "Öppna data – säkerhetsaspekter", "tisdag 18 maj 2027"),
        ("cancellation", 3, "Öppna data – säkerhetsaspekter", "tisdag 18 maj 2027"),
        ("summary", 1, "Öppna data – grundläggande kunskap och förståelse", "tisdag 17 mars 2026"),
        ("newsletter", 1, "Öppna data – innovationer", "tisdag 16 mars 2027"),
    ],
    "en": [
        ("invitation", 2, "Open data – innovation", "Tuesday 16 March 2027"),
        ("reminder", 2, "Open data – innovation", "Tuesday 16 March 2027"),
        ("change", 3, "Open data – security", "Tuesday 18 May 2027"),
        ("cancellation", 3, "Open data – security", "Tuesday 18 May 2027"),
        ("summary", 1, "Open data – the basics", "Tuesday 17 March 2026"),
        ("newsletter", 1, "Open data – innovation", "Tuesday 16 March 2027"),
    ],
}
HEIGHT = 2000


def rendered(workspace: Path, cancelled: Path, language: str) -> list[str]:
    pages = []
    for kind, number, _, _ in KINDS[language]:
        root = cancelled if kind == "cancellation" else workspace
        network = load_network(root / "network.toml")
        person = next(p for p in merge(network).people if p.email == PEOPLE[language])
        member = network.member(person.sender)
        factory = MessageFactory(network, mailing_for(network, kind, number))
        msg = message_from_bytes(factory.build(person, member).data, policy=policy.default)
        pages.append(msg.get_body(("html",)).get_content())
    return pages


@pytest.fixture
def cancelled_3(tmp_path: Path) -> Path:
    """A second workspace where seminar 3 is cancelled (a cancelled seminar gets no change)."""
    root = copy_workspace(tmp_path / "cancelled")
    add_cancellation(root, 3)
    return root


@pytest.mark.parametrize("language", ["sv", "en"])
def test_each_kind_fits_600px_and_shows_title_and_date(workspace, cancelled_3, tmp_path, language):
    from PIL import Image

    pages = rendered(workspace, cancelled_3, language)
    desktop = measure_pages(pages, width=600, height=HEIGHT)
    phone = measure_pages(pages, width=390, height=HEIGHT)
    for (kind, _, title, date), wide, narrow in zip(KINDS[language], desktop, phone, strict=True):
        assert wide.page_width <= 600 and wide.content_width <= 600, kind
        assert narrow.page_width <= 390, (kind, narrow.page_width)
        assert title in wide.text and date in wide.text, kind
        assert len(wide.text) > 500, kind
        assert wide.page_height > 800, kind
    # Not blank: every page's picture has text and colour, not one flat background.
    png = screenshot_pages(pages, tmp_path / "kinds.png", width=600, height=HEIGHT)
    with Image.open(png) as picture:
        image = picture.convert("RGB")
    assert image.width == 600
    for i, (kind, *_rest) in enumerate(KINDS[language]):
        band = image.crop((0, i * HEIGHT, 600, i * HEIGHT + 1200))
        colours = band.getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, kind
        dark = sum(n for n, (r, g, b) in (colours or []) if r + g + b < 200)
        assert colours is None or dark > 2000, kind  # text is drawn


def test_preview_png_writes_desktop_and_phone_pictures(cli, tmp_path):
    from PIL import Image

    png = tmp_path / "invitation.png"
    result = cli("preview", "invitation", "2", "--png", str(png))
    assert result.exit_code == 0, result.output + result.stderr
    mobile = tmp_path / "invitation-mobile.png"
    assert png.is_file() and mobile.is_file()
    with Image.open(png) as desktop, Image.open(mobile) as phone:
        assert desktop.width == 800 and phone.width == 390
        assert desktop.height > 1000 and phone.height > desktop.height


def drawn_pixels(image, box: tuple[int, int, int, int]) -> int:
    """How many pixels in ``box`` are darker than the background: text drawn there."""
    region = image.crop(box).convert("L")
    return sum(n for n, value in region.getcolors(maxcolors=1 << 16) or [] if value < 160)


@pytest.mark.parametrize("kind", ["summary", "invitation"])
def test_preview_png_shows_the_whole_mail_down_to_the_footer(cli, tmp_path, kind):
    """The footer's last line (the unsubscribe link) is in both pictures: Chromium lays a
    window narrower than 500 px out at 500, which cut the phone picture's footer off."""
    from PIL import Image

    png, page = tmp_path / f"{kind}.png", tmp_path / f"{kind}.html"
    number = "1" if kind == "summary" else "2"
    result = cli("preview", kind, number, "--png", str(png), "--html", str(page))
    assert result.exit_code == 0, result.output + result.stderr
    html = page.read_text(encoding="utf-8")
    assert "Avsluta prenumerationen</a>" in html or "Unsubscribe</a>" in html
    for picture, width in ((png, 800), (tmp_path / f"{kind}-mobile.png", 390)):
        layout = measure(html, width=width)
        assert layout.last_link is not None
        left, top, right, bottom = layout.last_link
        with Image.open(picture) as shot:
            image = shot.convert("RGB")
        assert image.width == width
        # The whole page, no more: the picture ends where the page ends.
        assert image.height == layout.page_height, (picture.name, layout.page_height)
        assert bottom < image.height
        # The unsubscribe link is drawn where the page lays it out: text, not background.
        assert drawn_pixels(image, (left, top, right, bottom)) > 100, picture.name
        # The picture ends in the page's margin, not in the middle of a line of text.
        margin = image.crop((0, image.height - 10, width, image.height)).getcolors(maxcolors=64)
        assert margin is not None and len(margin) <= 2, (picture.name, margin)
