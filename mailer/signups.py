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
import html
import textwrap
from dataclasses import replace

from mailer import dates, i18n, tokens
from mailer.config import Network, Seminar
from mailer.i18n import _, ngettext
from mailer.journal import Journal, Signup
from mailer.message import Outgoing, build_message, new_message_id, sender_domain
from mailer.recipients import Merge, Person
from mailer.render import Variant


def consent_text(network: Network, language: str) -> str:
    """What a person agrees to by ticking the box, in their language; stored word for
    word with the consent."""
    with i18n.speaking(language):
        return _(
            "Yes, {network} may send me invitations to coming seminars. "
            "I can unsubscribe at any time."
        ).format(network=network.network.name)


def confirmation_variant(network: Network, seminar: Seminar, language: str) -> Variant:
    """The confirmation mail: plain pieces around two fields, ``name`` and ``confirm_url``."""
    with i18n.speaking(language):
        title = seminar.title_in(language)
        day = dates.long_date(seminar.date, language)
        body = ngettext(
            "Someone, hopefully you, signed this address up for {seminar} on {date}. "
            "Please confirm with the link below: it works for {days} day.",
            "Someone, hopefully you, signed this address up for {seminar} on {date}. "
            "Please confirm with the link below: it works for {days} days.",
            tokens.CONFIRM_DAYS,
        ).format(seminar=title, date=day, days=tokens.CONFIRM_DAYS)
        # The greeting is one sentence in the catalogue; the name goes where it says.
        hello_before, _name, hello_after = _("Hello {name},").partition("{name}")
        button = _("Confirm my registration")
        ignore = _(
            "Was it not you? Then there is nothing to do: without a confirmation nothing happens."
        )
        subject = _("Confirm your registration: {seminar}").format(seminar=title)
    colour = network.network.colours.primary
    html_pieces = (
        f'<!DOCTYPE html><html lang="{language}"><body><p>{html.escape(hello_before)}',
        "name",
        f'{html.escape(hello_after)}</p><p>{html.escape(body)}</p><p><a href="',
        "confirm_url",
        f'" style="background:{colour};color:#ffffff;padding:10px 18px;'
        f'text-decoration:none">{html.escape(button)}</a></p>'
        f"<p>{html.escape(ignore)}</p></body></html>",
    )
    text_pieces = (
        hello_before,
        "name",
        f"{hello_after}\n\n{_wrapped(body)}\n\n{button}:\n",
        "confirm_url",
        f"\n\n{_wrapped(ignore)}\n",
    )
    return Variant(
        kind="signup",
        seminar=seminar.number,
        language=language,
        member=network.coordinator.member,
        subject=subject,
        preheader="",
        html=html_pieces,
        text=text_pieces,
    )


def _wrapped(text: str) -> str:
    """A paragraph of the text part at 72 columns, as every other mail's (the link goes
    on a line of its own: a URL is never broken)."""
    return textwrap.fill(text, width=72, break_long_words=False, break_on_hyphens=False)


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
        tokens.signup_purpose(network, signup.seminar),
        signup.email,
        language=signup.language,
        expires=tokens.expires_in(tokens.CONFIRM_DAYS),
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
