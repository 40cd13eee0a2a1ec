"""Bundles still in a member's hands when the seminar changes.

A member holding a bundle whose report the coordinator has not imported may send it at
any time, or may have sent it already: the coordinator does not know. So before a change
or a cancellation of that seminar leaves, :func:`unreported_bundles` names those members,
and :func:`awaiting_invitation` names the people who must not get a change to an
invitation that, as far as the journal knows, they never got.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mailer.bundle.revocation import recorded_revocations
from mailer.i18n import _, genitive
from mailer.journal import Delivery, Journal
from mailer.recipients import Person

# Every mailing of a seminar; a newsletter belongs to none.
_SEMINAR_MAILING = re.compile(
    r"^(?:invitation|reminder|summary|change|cancellation)-(\d+)(?:\.\d+)?$"
)
# The outcomes that settle a person: anything else may still be sent by the member.
_SETTLED = ("sent", "failed", "suppressed")


def seminar_of(mailing: str) -> int | None:
    """The seminar a mailing id belongs to ('change-3.1' -> 3); None for a newsletter."""
    found = _SEMINAR_MAILING.match(mailing)
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class HeldBundle:
    """A member's bundle of one mailing whose people's outcome is not known yet."""

    member: str
    mailing: str
    digest: str  # the newest such bundle
    exported_at: str
    people: frozenset[str]  # not reported as sent or failed
    reported: bool  # an earlier report came in, but not for these people
    revoked: bool  # the coordinator revoked it ('mailer bundle revoke')

    def line(self, name: str) -> str:
        """What a person reads about it, naming the member as ``name`` (its label)."""
        # The id too: it is what 'mailer bundle export --org' takes.
        names = {"member": name, "org": self.member, "mailing": self.mailing}
        if self.reported and self.revoked:
            text = _(
                "{member} holds a bundle of {mailing} only partly reported, revoked: its "
                "people are not sent this change from here; export a change bundle for "
                "{member} (--org {org})"
            )
        elif self.reported:
            text = _(
                "{member} holds a bundle of {mailing} only partly reported: its people are not "
                "sent this change from here; export a change bundle for {member} "
                "(--org {org})"
            )
        elif self.revoked:
            text = _(
                "{member} holds a bundle of {mailing} not yet reported, revoked: its people are "
                "not sent this change from here; export a change bundle for {member} "
                "(--org {org})"
            )
        else:
            text = _(
                "{member} holds a bundle of {mailing} not yet reported: its people are not sent "
                "this change from here; export a change bundle for {member} (--org {org})"
            )
        return text.format(**names)


def unreported_bundles(
    journal: Journal, seminar: int, *, state_dir: Path | None = None
) -> list[HeldBundle]:
    """The bundles of any mailing of ``seminar`` whose people the member may still mail.

    ``state_dir`` holds the coordinator's revocations (default: the journal's folder).
    """
    revocations = recorded_revocations(state_dir or journal.path.parent)
    held: dict[tuple[str, str], HeldBundle] = {}
    deliveries: dict[str, dict[str, Delivery]] = {}
    for export in journal.bundle_exports():  # oldest first: the newest export wins
        if seminar_of(export.mailing) != seminar:
            continue
        if export.mailing not in deliveries:
            deliveries[export.mailing] = journal.deliveries(export.mailing)
        done = deliveries[export.mailing]
        pending = {
            email
            for email in export.people
            if (d := done.get(email)) is not None
            and d.member == export.member
            and d.state not in _SETTLED
        }
        key = (export.mailing, export.member)
        earlier = held.get(key)
        people = pending | (earlier.people if earlier else frozenset())
        held[key] = HeldBundle(
            member=export.member,
            mailing=export.mailing,
            digest=export.digest,
            exported_at=export.exported_at,
            people=frozenset(people),
            reported=export.reported_at is not None,
            revoked=any(
                r.mailing == export.mailing
                and r.member == export.member
                and export.digest in r.bundles
                for r in revocations
            ),
        )
    return sorted((h for h in held.values() if h.people), key=lambda h: (h.mailing, h.member))


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A person left out of a change: their invitation is only in a member's bundle."""

    person: Person
    bundle: HeldBundle

    def line(self, name: str) -> str:
        """What a person reads about it, naming the bundle's member as ``name``."""
        return _(
            "{email}: left out; their invitation is in {member} bundle, not reported as sent"
        ).format(email=self.person.email, member=genitive(name))


def awaiting_invitation(journal: Journal, seminar: int, people: Iterable[Person]) -> list[LeftOut]:
    """Of a change's or cancellation's ``people``, those whose invitation to ``seminar``
    sits only in an unreported bundle: nobody gets a change to an invitation they never
    got. Someone the journal has as invited (sent directly or reported) is kept."""
    invitation = f"invitation-{seminar}"
    holding = [h for h in unreported_bundles(journal, seminar) if h.mailing == invitation]
    if not holding:
        return []
    sent = {e for e, d in journal.deliveries(invitation).items() if d.state == "sent"}
    left_out = []
    for person in people:
        if person.email in sent:
            continue
        for bundle in holding:
            if person.email in bundle.people:
                left_out.append(LeftOut(person, bundle))
                break
    return left_out
