"""The pages ``mailer serve`` shows: small HTML documents in the network's colours.

Built from Python with every value escaped (``html.escape``); no template a workspace
could change runs here, no JavaScript, no asset from elsewhere: the one stylesheet is
served by the app itself (``/style.css``), so the Content-Security-Policy can say
``default-src 'none'; style-src 'self'``. A page names at most the seminar and what the
person did: never their address.

Every text is in the message catalogue (:mod:`mailer.i18n`): a handler speaks the
person's language (``with i18n.speaking(language):``) while it builds its page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from mailer import dates
from mailer.config import Network, Seminar
from mailer.i18n import _, current_language

STYLE_TEMPLATE = """\
:root {{ --primary: {primary}; --accent: {accent}; --text: {text}; --bg: {background}; }}
body {{ margin: 0; background: var(--bg); color: var(--text);
  font: 16px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }}
header {{ background: var(--primary); color: #fff; padding: 16px 24px;
  border-bottom: 4px solid var(--accent); }}
header p {{ margin: 0; font-weight: 600; }}
main {{ max-width: 560px; margin: 24px auto; background: #fff; padding: 24px 28px;
  border-radius: 6px; }}
h1 {{ color: var(--primary); font-size: 1.4em; margin-top: 0; }}
button {{ background: var(--primary); color: #fff; border: 0; border-radius: 4px;
  padding: 10px 18px; font-size: 1em; cursor: pointer; }}
button.secondary {{ background: #fff; color: var(--primary); border: 1px solid var(--primary); }}
label {{ display: block; margin: 12px 0 4px; }}
fieldset {{ border: 0; padding: 0; margin: 0 0 8px; }}
fieldset label {{ display: inline; margin: 0 16px 0 4px; }}
input[type=text], input[type=email], textarea {{ width: 100%; box-sizing: border-box; padding: 8px;
  border: 1px solid #999; border-radius: 4px; font: inherit; }}
form {{ margin: 16px 0; }}
label.inline {{ display: inline; margin: 0; }}
.trap {{ position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }}
footer {{ max-width: 560px; margin: 0 auto 24px; font-size: 0.85em; color: #555;
  padding: 0 28px; }}
"""


def stylesheet(network: Network) -> str:
    """The pages' one stylesheet, in the network's colours (validated hex values)."""
    return STYLE_TEMPLATE.format(**network.network.colours.model_dump())


@dataclass(frozen=True, slots=True)
class Form:
    """A form that posts back to the page's own URL (the token stays in the query)."""

    action: str
    csrf: str
    button: str
    fields: str = ""  # already escaped HTML
    secondary: bool = False

    def html(self) -> str:
        css = ' class="secondary"' if self.secondary else ""
        return (
            f'<form method="post" action="{escape(self.action)}">'
            f'<input type="hidden" name="csrf" value="{escape(self.csrf)}">'
            f'{self.fields}<p><button type="submit"{css}>{escape(self.button)}</button></p>'
            "</form>"
        )


def page(
    network: Network,
    language: str,
    title: str,
    paragraphs: Iterable[str],
    *,
    forms: str = "",
    links: Iterable[tuple[str, str]] = (),
) -> str:
    """A whole document: the network's header, the title, plain-text paragraphs, links
    (href, label) on this site, forms. The caller speaks ``language`` already."""
    coordinator = network.coordinator
    contact = _("Questions? Contact {name}, {email}.").format(
        name=coordinator.name, email=coordinator.email
    )
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    body += "".join(f'<p><a href="{escape(h)}">{escape(label)}</a></p>' for h, label in links)
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · {escape(network.network.name)}</title>"
        '<link rel="stylesheet" href="/style.css"></head><body>'
        f"<header><p>{escape(network.network.name)}</p></header>"
        f"<main><h1>{escape(title)}</h1>{body}{forms}</main>"
        f"<footer><p>{escape(contact)}</p></footer></body></html>\n"
    )


def when(network: Network, seminar: Seminar) -> str:
    """The seminar's day, hours and place, in the current language."""
    language = current_language()
    span = dates.when(seminar.date, seminar.start, seminar.end, network.tz, language)
    return _("{when}, {place}").format(when=span, place=seminar.place)


def see_you(network: Network, seminar: Seminar) -> str:
    span = dates.when(seminar.date, seminar.start, seminar.end, network.tz, current_language())
    return _("See you on {when}.").format(when=span)


def registration_fields() -> str:
    """The registration form's own fields (radio buttons, diet, message), escaped."""
    return (
        f"<fieldset><legend>{escape(_('Will you attend?'))}</legend>"
        '<input type="radio" id="attend-yes" name="attend" value="yes" checked>'
        f'<label for="attend-yes">{escape(_("Yes, I will attend"))}</label>'
        '<input type="radio" id="attend-no" name="attend" value="no">'
        f'<label for="attend-no">{escape(_("No, I cannot come"))}</label></fieldset>'
        f'<label for="diet">{escape(_("Special diet (optional)"))}</label>'
        '<input type="text" id="diet" name="diet" maxlength="200">'
        f'<label for="message">{escape(_("Message to the organisers (optional)"))}</label>'
        '<textarea id="message" name="message" rows="3" maxlength="1000"></textarea>'
    )
