"""Public sign-ups (double opt-in) from a seminar's web page: the confirmation mail, and
the confirmed people in the sends.

Someone who is on no member's list signs up on ``mailer serve``'s public page; the journal
remembers the request (:meth:`mailer.journal.Journal.request_signup`) and a mail with a
sealed link goes out through the coordinator's own channel. Only that link's form
registers them (:meth:`~mailer.journal.Journal.confirm_signup`). From then on the
coordinator's member sends them this seminar's mail (so ``--audience registered`` finds
them) and, when they agreed to it, every later invitation: :func:`with_signups`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from mailer import tokens
from mailer.config import Network, Seminar
from mailer.journal import Journal, Signup
from mailer.message import Outgoing, build_message, new_message_id, sender_domain
from mailer.recipients import Merge, Person
from mailer.render import Variant

# What a person agrees to by ticking the box; stored word for word with the consent.
CONSENT_TEXT = {
    "sv": "Ja, {network} får skicka mig inbjudningar till kommande seminarier. "
    "Jag kan avregistrera mig när som helst.",
    "en": "Yes, {network} may send me invitations to coming seminars. "
    "I can unsubscribe at any time.",
}

CONFIRM_TEXTS = {
    "sv": {
        "subject": "Bekräfta din anmälan: {seminar}",
        "hello": "Hej {name}!",
        "body": "Någon, förhoppningsvis du, anmälde den här adressen till {seminar} "
        "den {date}. Bekräfta anmälan med länken nedan.",
        "button": "Bekräfta min anmälan",
        "ignore": "Var det inte du? Då behöver du inte göra något: utan bekräftelse "
        "händer ingenting.",
    },
    "en": {
        "subject": "Confirm your registration: {seminar}",
        "hello": "Hello {name},",
        "body": "Someone, hopefully you, signed this address up for {seminar} on "
        "{date}. Please confirm with the link below.",
        "button": "Confirm my registration",
        "ignore": "Was it not you? Then there is nothing to do: without a confirmation "
        "nothing happens.",
    },
}


def consent_text(network: Network, language: str) -> str:
    return CONSENT_TEXT[language].format(network=network.network.name)


def confirmation_variant(network: Network, seminar: Seminar, language: str) -> Variant:
    """The confirmation mail: plain pieces around two fields, ``name`` and ``confirm_url``."""
    import html

    t = CONFIRM_TEXTS[language]
    title = (seminar.title_en if language == "en" else None) or seminar.title
    body = t["body"].format(seminar=title, date=seminar.date.isoformat())
    hello_before, _, hello_after = t["hello"].partition("{name}")
    colour = network.network.colours.primary
    html_pieces = (
        f"<!DOCTYPE html><html><body><p>{html.escape(hello_before)}",
        "name",
        f'{html.escape(hello_after)}</p><p>{html.escape(body)}</p><p><a href="',
        "confirm_url",
        f'" style="background:{colour};color:#ffffff;padding:10px 18px;'
        f'text-decoration:none">{html.escape(t["button"])}</a></p>'
        f"<p>{html.escape(t['ignore'])}</p></body></html>",
    )
    text_pieces = (
        hello_before,
        "name",
        f"{hello_after}\n\n{body}\n\n{t['button']}: ",
        "confirm_url",
        f"\n\n{t['ignore']}\n",
    )
    return Variant(
        kind="signup",
        seminar=seminar.number,
        language=language,
        member=network.coordinator.member,
        subject=t["subject"].format(seminar=title),
        preheader="",
        html=html_pieces,
        text=text_pieces,
    )


def confirmation_message(
    network: Network, seminar: Seminar, signup: Signup, confirm_url: str
) -> Outgoing:
    """The confirmation mail for one sign-up, from the coordinator's member."""
    member = network.member(network.coordinator.member)
    person = Person(
        email=signup.email,
        name=signup.name,
        organisation=signup.organisation,
        language=signup.language,
        sender=member.id,
    )
    variant = confirmation_variant(network, seminar, signup.language)
    domain = sender_domain(member.channel.from_)
    return build_message(
        variant,
        {"name": person.first_name, "confirm_url": confirm_url},
        person=person,
        member=member,
        network=network,
        message_id=new_message_id(f"signup-{seminar.number}", domain),
        date=dt.datetime.now(network.tz),
    )


async def send_confirmation(network: Network, message: Outgoing) -> None:
    """Through the coordinator member's channel (ChannelError when it cannot)."""
    from mailer.channels.factory import transport_factory

    member = network.member(network.coordinator.member)
    async with transport_factory(member, network)() as transport:
        await transport.send(message)


def confirm_url(network: Network, signer: tokens.Signer, path: str, signup: Signup) -> str:
    """The link in the mail: ``path`` (under ``[web] base_url``) on base_url's host, its
    sealed token naming the person."""
    import urllib.parse

    assert network.web is not None
    parts = urllib.parse.urlsplit(network.web.base_url)
    base = f"{parts.scheme}://{parts.netloc}"  # ``path`` starts with base_url's own path
    token = signer.sign(
        tokens.signup_purpose(network, signup.seminar), signup.email, language=signup.language
    )
    return tokens.with_token(base + path, token)


def with_signups(merged: Merge, journal: Journal, network: Network, seminar: int) -> Merge:
    """``merged`` and the confirmed sign-ups for ``seminar`` (and those who agreed to
    later mail) that no member lists, sent by the coordinator's member."""
    known = {p.email for p in merged.people}
    extra: dict[str, Person] = {}
    for s in journal.signups(seminar=seminar):
        if s.email not in known and s.email not in extra:
            extra[s.email] = Person(
                email=s.email,
                name=s.name,
                organisation=s.organisation,
                language=s.language,
                listed_by=(network.coordinator.member,),
                sender=network.coordinator.member,
            )
    if not extra:
        return merged
    return replace(merged, people=[*merged.people, *extra.values()])
