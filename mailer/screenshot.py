"""Look at a rendered mail the way a person would: headless Chromium (Debian's ``chromium``).

Two uses: ``mailer preview --png`` (a screenshot at desktop and at phone width) and the
layout check the tests run (how wide the page is, what text it shows). The page never
reaches the network: every host name resolves to nothing, so remote images show their alt
text, which is also how a mail client with images off shows it.
"""

from __future__ import annotations

import html as html_lib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailer.errors import MailerError
from mailer.i18n import _

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DESKTOP_WIDTH = 800
MOBILE_WIDTH = 390
_LOW = 100  # CSS pixels: a frame lower than any mail
TIMEOUT = 60  # seconds: a cold start on a busy 2-core machine takes a few
_MARKER = "mailer-layout"

# How a document's layout is read, by both scripts below.
_LAYOUT_OF = """function layoutOf(d) {
  var c = d.querySelector('table.container') || d.body;
  var links = d.querySelectorAll('a[href]');
  var last = links.length ? links[links.length - 1].getBoundingClientRect() : null;
  return {
    page_width: d.documentElement.scrollWidth,
    page_height: d.documentElement.scrollHeight,
    content_width: Math.round(c.getBoundingClientRect().width),
    text: d.body.innerText,
    last_link: last ? [Math.floor(last.left), Math.floor(last.top),
                       Math.ceil(last.right), Math.ceil(last.bottom)] : null
  };
}"""


def _report(expression: str) -> str:
    """Script that writes ``expression`` (JSON) into a <pre> the caller reads from the DOM."""
    return (
        f"var pre = document.createElement('pre'); pre.id = '{_MARKER}';"
        f" pre.textContent = JSON.stringify({expression}); document.body.appendChild(pre);"
    )


class BrowserError(MailerError):
    """Chromium is missing or could not render the page."""


@dataclass(frozen=True, slots=True)
class Layout:
    page_width: int
    page_height: int
    content_width: int
    text: str
    # Where the page's last link is drawn (the footer's unsubscribe link in a mail), in CSS
    # pixels from the page's top left: (left, top, right, bottom); None without links.
    last_link: tuple[int, int, int, int] | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Layout:
        box = data.get("last_link")
        return cls(
            page_width=int(data["page_width"]),
            page_height=int(data["page_height"]),
            content_width=int(data["content_width"]),
            text=str(data["text"]),
            last_link=(int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box else None,
        )


def find_browser() -> str | None:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _browser() -> str:
    found = find_browser()
    if found is None:
        raise BrowserError(
            _("no headless Chromium found for --png"),
            hint=_("install it: apt-get install chromium (or write --html and open it)"),
        )
    return found


def _run(args: list[str]) -> str:
    base = [
        _browser(),
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--mute-audio",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no network, ever
    ]
    with tempfile.TemporaryDirectory(prefix="mailer-chromium-") as profile:
        try:
            done = subprocess.run(
                [*base, f"--user-data-dir={profile}", *args],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BrowserError(
                _("Chromium took more than {seconds} s").format(seconds=TIMEOUT)
            ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BrowserError(
            _("Chromium failed (exit {code}): {problem}").format(code=done.returncode, problem=last)
        )
    return done.stdout


def measure(html: str, *, width: int = DESKTOP_WIDTH) -> Layout:
    """Lay the page out at ``width`` CSS pixels and report its size and visible text.

    In a frame of exactly that width: Chromium makes no window narrower than 500 pixels, so
    a window of phone width lays the page out wider (and shorter) than a phone does. The
    frame is low, as the page's height is never less than its frame's: so it is the height
    of what the page shows.
    """
    return measure_pages([html], width=width, height=_LOW)[0]


def screenshot(html: str, png: Path, *, width: int = DESKTOP_WIDTH) -> Path:
    """Write a PNG of the whole page at ``width`` CSS pixels."""
    height = measure(html, width=width).page_height
    with tempfile.TemporaryDirectory(prefix="mailer-page-") as folder:
        page = Path(folder) / "page.html"
        page.write_text(html, encoding="utf-8")
        target = png.resolve()
        _run([f"--window-size={width},{height}", f"--screenshot={target}", page.as_uri()])
    if not png.is_file():
        raise BrowserError(_("Chromium wrote no screenshot"), path=png)
    return png


def screenshots(html: str, png: Path) -> list[Path]:
    """Desktop width at ``png``, phone width beside it (``NAME-mobile.png``)."""
    mobile = png.with_name(f"{png.stem}-mobile{png.suffix or '.png'}")
    return [
        screenshot(html, png, width=DESKTOP_WIDTH),
        screenshot(html, mobile, width=MOBILE_WIDTH),
    ]


# For several pages at once (one browser start instead of one per page): each page in an
# iframe of the given size; after load, every frame's layout is read from its document.
_MEASURE_FRAMES = (
    f"<script>\n{_LAYOUT_OF}\nwindow.addEventListener('load', function () {{\n"
    "  var out = [];\n"
    "  document.querySelectorAll('iframe').forEach(function (f) {"
    " out.push(layoutOf(f.contentDocument)); });\n"
    f"  {_report('out')}\n}});\n</script>"
)


def composite(pages: Sequence[str], *, width: int, height: int) -> str:
    """One document showing each page in a ``width`` x ``height`` frame, stacked."""
    frames = "".join(
        f'<iframe srcdoc="{html_lib.escape(page, quote=True)}" width="{width}" '
        f'height="{height}" scrolling="no" style="display:block;border:0;margin:0"></iframe>'
        for page in pages
    )
    return f'<!DOCTYPE html><html><body style="margin:0">{frames}</body></html>'


def measure_pages(pages: Sequence[str], *, width: int, height: int = 1600) -> list[Layout]:
    """:func:`measure` for several pages in one browser run."""
    document = composite(pages, width=width, height=height)
    marked = document.replace("</body>", _MEASURE_FRAMES + "</body>", 1)
    with tempfile.TemporaryDirectory(prefix="mailer-page-") as folder:
        page = Path(folder) / "pages.html"
        page.write_text(marked, encoding="utf-8")
        dom = _run(
            [
                f"--window-size={width},{height}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                page.as_uri(),
            ]
        )
    start = dom.find(f'<pre id="{_MARKER}">')
    if start < 0:
        raise BrowserError(_("Chromium did not lay the pages out (no measurement came back)"))
    body = dom[start + len(f'<pre id="{_MARKER}">') : dom.index("</pre>", start)]
    return [Layout.of(d) for d in json.loads(html_lib.unescape(body))]


def screenshot_pages(pages: Sequence[str], png: Path, *, width: int, height: int = 1600) -> Path:
    """One PNG of the pages stacked, each cut to ``height``: page i is rows i*height..."""
    document = composite(pages, width=width, height=height)
    with tempfile.TemporaryDirectory(prefix="mailer-page-") as folder:
        page = Path(folder) / "pages.html"
        page.write_text(document, encoding="utf-8")
        _run(
            [
                f"--window-size={width},{height * len(pages)}",
                "--virtual-time-budget=10000",
                f"--screenshot={png.resolve()}",
                page.as_uri(),
            ]
        )
    if not png.is_file():
        raise BrowserError(_("Chromium wrote no screenshot"), path=png)
    return png
