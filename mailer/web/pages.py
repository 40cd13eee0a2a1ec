"""The pages ``mailer serve`` shows: small HTML documents in the network's colours.

Built from Python with every value escaped (``html.escape``); no template a workspace
could change runs here, no JavaScript, no asset from elsewhere: the one stylesheet is
served by the app itself (``/style.css``), so the Content-Security-Policy can say
``default-src 'none'; style-src 'self'``. A page names at most the seminar and what the
person did: never their address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape

from mailer.config import Network, Seminar

TEXTS: Mapping[str, Mapping[str, str]] = {
    "sv": {
        "unsubscribe_title": "Avregistrera",
        "unsubscribe_ask": "Vill du sluta få inbjudningar och nyhetsbrev från {network}?",
        "unsubscribe_button": "Ja, avregistrera mig",
        "unsubscribed_title": "Du är avregistrerad",
        "unsubscribed_text": "Du får inga fler utskick från {network}, från någon av "
        "medlemsorganisationerna.",
        "undo_text": "Ångrat dig? Det går att ångra under sju dagar.",
        "undo_button": "Ångra avregistreringen",
        "undone_title": "Välkommen tillbaka",
        "undone_text": "Du får utskick från {network} igen.",
        "undo_late": "Avregistreringen kan inte längre ångras här. Kontakta samordnaren.",
        "register_title": "Anmälan: {seminar}",
        "when": "{date}, {start}–{end}, {place}",
        "attend": "Kommer du?",
        "attend_yes": "Ja, jag kommer",
        "attend_no": "Nej, jag kan inte komma",
        "diet": "Specialkost (valfritt)",
        "message": "Meddelande till arrangören (valfritt)",
        "register_button": "Skicka anmälan",
        "registered_title": "Tack, du är anmäld",
        "registered_text": "Vi ses den {date} kl. {start}.",
        "declined_title": "Tack för ditt svar",
        "declined_text": "Du är inte anmäld till seminariet.",
        "already": "Du är anmäld till seminariet.",
        "calendar": "Lägg till i kalendern (.ics)",
        "cancel_button": "Avboka min plats",
        "cancelled_title": "Din plats är avbokad",
        "cancelled_text": "Välkommen en annan gång.",
        "closed_title": "Anmälan är stängd",
        "closed_text": "Det går inte längre att anmäla sig till det här seminariet.",
        "bad_token_title": "Länken fungerar inte",
        "bad_token_text": "Länken är ofullständig, ändrad eller gäller något annat. "
        "Kopiera hela länken från mejlet, eller kontakta samordnaren.",
        "rehearsal_text": "Länken kommer från ett provutskick och gör ingenting.",
        "bad_form_title": "Formuläret gick ut",
        "bad_form_text": "Gå tillbaka, ladda om sidan och försök igen.",
        "not_found_title": "Sidan finns inte",
        "contact": "Frågor? Kontakta {name}, {email}.",
    },
    "en": {
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_ask": "Do you want to stop receiving invitations and newsletters "
        "from {network}?",
        "unsubscribe_button": "Yes, unsubscribe me",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed_text": "You will get no more mail from {network}, from any of its "
        "member organisations.",
        "undo_text": "Changed your mind? You can undo this for seven days.",
        "undo_button": "Undo",
        "undone_title": "Welcome back",
        "undone_text": "You will get mail from {network} again.",
        "undo_late": "This can no longer be undone here. Please contact the coordinator.",
        "register_title": "Registration: {seminar}",
        "when": "{date}, {start}–{end}, {place}",
        "attend": "Will you attend?",
        "attend_yes": "Yes, I will attend",
        "attend_no": "No, I cannot come",
        "diet": "Special diet (optional)",
        "message": "Message to the organisers (optional)",
        "register_button": "Register",
        "registered_title": "Thank you, you are registered",
        "registered_text": "See you on {date} at {start}.",
        "declined_title": "Thank you for your answer",
        "declined_text": "You are not registered for the seminar.",
        "already": "You are registered for the seminar.",
        "calendar": "Add to your calendar (.ics)",
        "cancel_button": "Cancel my place",
        "cancelled_title": "Your place is cancelled",
        "cancelled_text": "Welcome another time.",
        "closed_title": "Registration is closed",
        "closed_text": "It is no longer possible to register for this seminar.",
        "bad_token_title": "This link does not work",
        "bad_token_text": "The link is incomplete, was changed or is meant for something "
        "else. Copy the whole link from the mail, or contact the coordinator.",
        "rehearsal_text": "This link comes from a rehearsal and does nothing.",
        "bad_form_title": "The form expired",
        "bad_form_text": "Go back, reload the page and try again.",
        "not_found_title": "Page not found",
        "contact": "Questions? Contact {name}, {email}.",
    },
}

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


def texts(language: str) -> Mapping[str, str]:
    return TEXTS.get(language, TEXTS["sv"])


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
    (href, label) on this site, forms."""
    t = texts(language)
    coordinator = network.coordinator
    contact = t["contact"].format(name=coordinator.name, email=coordinator.email)
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


def seminar_title(seminar: Seminar, language: str) -> str:
    return (seminar.title_en if language == "en" else None) or seminar.title


def when(network: Network, seminar: Seminar, language: str) -> str:
    return texts(language)["when"].format(
        date=seminar.date.isoformat(),
        start=seminar.start.strftime("%H:%M"),
        end=seminar.end.strftime("%H:%M"),
        place=seminar.place,
    )


def registration_fields(language: str) -> str:
    """The registration form's own fields (radio buttons, diet, message), escaped."""
    t = texts(language)
    return (
        f"<fieldset><legend>{escape(t['attend'])}</legend>"
        '<input type="radio" id="attend-yes" name="attend" value="yes" checked>'
        f'<label for="attend-yes">{escape(t["attend_yes"])}</label>'
        '<input type="radio" id="attend-no" name="attend" value="no">'
        f'<label for="attend-no">{escape(t["attend_no"])}</label></fieldset>'
        f'<label for="diet">{escape(t["diet"])}</label>'
        '<input type="text" id="diet" name="diet" maxlength="200">'
        f'<label for="message">{escape(t["message"])}</label>'
        '<textarea id="message" name="message" rows="3" maxlength="1000"></textarea>'
    )
