"""Each person's message: rendering shared per variant, signed links, attachments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from mailer import calendar, tokens
from mailer.assembly import Assembler
from mailer.campaign.mailing import Mailing
from mailer.campaign.plan import Plan
from mailer.config import Member, Network, Seminar
from mailer.i18n import _
from mailer.inlining import inline_cache
from mailer.message import (
    Attachment,
    Outgoing,
    check_recipient,
    new_message_id,
    parse_mailbox,
    sender_domain,
    unsubscribe_mailto,
)
from mailer.recipients import Person
from mailer.render import CALENDAR_KINDS, Renderer

ICS_FILENAME = "seminarium.ics"


def registration_seminar(network: Network, mailing: Mailing) -> Seminar | None:
    """The seminar whose registration link the mail carries, signed for each person: its
    own (invitation, reminder, change), the next one (summary), the one the newsletter
    ends with; None when that one has no registration or is cancelled."""
    kind, seminar = mailing.kind, mailing.seminar
    target: Seminar | None = None
    if kind in ("invitation", "reminder", "change", "newsletter"):
        target = seminar
    elif kind == "summary":
        target = network.next_seminar(seminar)
    if target is None or not target.registration_url or target.cancelled:
        return None
    return target


class SignedLinks(NamedTuple):
    """One person's links with their signed tokens (empty when the mailing has none)."""

    one_click: str | None = None
    registration: str = ""


class MessageFactory:
    """Builds each person's message; the rendering is shared per variant."""

    def __init__(
        self,
        network: Network,
        mailing: Mailing,
        renderer: Renderer | None = None,
        *,
        signed_links: Mapping[str, SignedLinks] | None = None,
        rehearsal: bool = False,
    ):
        """``signed_links``: each person's links signed beforehand (a member's bundle), so
        the signing key never leaves the coordinator; without them, links are signed here.
        ``rehearsal``: the links look the same but are signed for a rehearsal, which
        everything that honours a token refuses (see tokens)."""
        self.network = network
        self.mailing = mailing
        self.renderer = renderer or Renderer(network, inline_cache=inline_cache(network))
        # Builds what message.build_message builds, a hundred times faster (see assembly).
        self.assembler = Assembler()
        self._ics: dict[tuple[str, str], calendar.IcsTemplate] = {}
        self._token_prefix: dict[str, str] = {}
        self._registration = registration_seminar(network, mailing)
        # One-click unsubscribe needs an HTTPS endpoint (RFC 8058); without one, mailto: only.
        self._one_click = network.network.unsubscribe_url
        self._signed = signed_links
        self._rehearsal = rehearsal
        self._signer = (
            tokens.Signer.from_env(network, why=_("the registration link or unsubscribe URL"))
            if (self._registration or self._one_click) and signed_links is None
            else None
        )

    def signed_links(self, person: Person, *, rehearsal: bool = False) -> SignedLinks:
        """This person's signed links, to carry in a bundle: (one-click URL, registration);
        with ``rehearsal``, those its rehearsal shows."""
        one_click, registration = self._sign(person, rehearsal=rehearsal)
        return SignedLinks(one_click, registration)

    def links(self, person: Person, member: Member) -> tuple[str, str | None, str]:
        """(unsubscribe link for the footer, one-click URL or None, registration link)."""
        if self._signed is not None:
            signed = self._signed.get(person.email, SignedLinks())
            one_click, registration = signed.one_click, signed.registration
        else:
            one_click, registration = self._sign(person, rehearsal=self._rehearsal)
        if not registration and self._registration is not None:
            # Shares signed before this mail kind carried a personal link: the public one.
            registration = self._registration.registration_url or ""
        return one_click or unsubscribe_mailto(member), one_click, registration

    def _sign(self, person: Person, *, rehearsal: bool) -> tuple[str | None, str]:
        signer = self._signer
        if signer is None:
            return None, ""

        def token(purpose: str) -> str:
            if rehearsal:
                purpose = tokens.rehearsal_purpose(purpose)
            return signer.sign(purpose, person.email, language=person.language)

        seminar = self._registration
        one_click = None
        if self._one_click:
            one_click = self._with_token(
                self._one_click, token(tokens.unsubscribe_purpose(self.network))
            )
        registration = ""
        if seminar is not None and seminar.registration_url:
            registration = self._with_token(
                seminar.registration_url,
                token(tokens.registration_purpose(self.network, seminar.number)),
            )
        return one_click, registration

    def _with_token(self, url: str, token: str) -> str:
        """``tokens.with_token``, with the URL parsed once per mailing: a token's characters
        (base64url and ".") pass URL encoding unchanged, so it can simply be appended."""
        prefix = self._token_prefix.get(url)
        if prefix is None:
            prefix = self._token_prefix[url] = tokens.with_token(url, "")
        if not prefix.endswith("token="):
            return tokens.with_token(url, token)
        return prefix + token

    def attachments(self, person: Person, member: Member) -> list[Attachment]:
        """The seminar's .ics for the kinds that put it in a calendar."""
        if self.mailing.kind not in CALENDAR_KINDS:
            return []
        method = calendar.CANCEL if self.mailing.kind == "cancellation" else calendar.REQUEST
        key = (person.language, member.id)
        template = self._ics.get(key)
        if template is None:
            # One template per language and member; per person only the ATTENDEE line.
            sender = parse_mailbox(member.channel.from_, where=f"members.{member.id}.channel.from")
            template = self._ics[key] = calendar.IcsTemplate(
                self.network,
                self.mailing.seminar,
                self.renderer.event_text(self.mailing.seminar, person.language),
                method=method,
                organiser=(sender.display_name or member.name, sender.addr_spec),
            )
        ics = template.for_attendee(person.name, person.email).decode("utf-8")
        params = {"method": method}
        return [Attachment(ICS_FILENAME, "calendar", ics, params, alternative=True)]

    def prepare(self, plan: Plan) -> None:
        """Render every variant the plan needs; raises TemplateError before anything is sent."""
        pairs = {(p.language, c.member.id): c.member for c in plan.channels for p in c.to_send}
        self.renderer.prepare(
            self.mailing.kind,
            self.mailing.seminar,
            [(lang, member) for (lang, _), member in sorted(pairs.items())],
            revision=self.mailing.revision,
            audience=self.mailing.audience.status,
        )

    def build(self, person: Person, member: Member, message_id: str | None = None) -> Outgoing:
        check_recipient(person.email)  # before the address goes into links or an .ics
        mailing = self.mailing
        variant = self.renderer.variant(
            mailing.kind,
            mailing.seminar,
            person.language,
            member,
            revision=mailing.revision,
            audience=mailing.audience.status,
        )
        footer_link, one_click, registration = self.links(person, member)
        values = self.renderer.personal_values(
            person, member, person.language, footer_link, registration
        )
        domain = sender_domain(member.channel.from_)
        return self.assembler.build(
            variant,
            values,
            person=person,
            member=member,
            network=self.network,
            message_id=message_id or new_message_id(mailing.id, domain),
            unsubscribe_url=one_click,
            attachments=self.attachments(person, member),
        )
