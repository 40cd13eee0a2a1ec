"""Who gets a mailing in this run, per channel, given what the journal says.

People whose message was accepted are skipped, people in flight when a run died are
*uncertain* and skipped unless asked, everybody else is sent once. A member who was given
a bundle sends its share itself: that share is planned (a fresh bundle needs it) but
never sent from here (:attr:`Plan.bundled`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailer import registrations
from mailer.audience import ALL, matcher
from mailer.campaign.mailing import Mailing

if TYPE_CHECKING:
    from mailer.bundle.outstanding import HeldBundle, LeftOut
from mailer.channels.ratelimit import DAY, Estimate, estimate
from mailer.config import MaildirChannel, Member, Network
from mailer.i18n import _
from mailer.journal import Delivery, Journal
from mailer.recipients import Merge, Person, merge
from mailer.suppression import suppressed_checker


@dataclass(frozen=True, slots=True)
class Limits:
    """How a channel may send: from its config in network.toml."""

    rate: float | None = None  # messages per second; None: as fast as the server takes them
    per_day: int | None = None  # recipients per rolling 24 hours
    connections: int = 1
    retries: int = 3
    backoff: float = 1.0

    @classmethod
    def of(cls, member: Member) -> Limits:
        c = member.channel
        return cls(c.rate, c.recipients_per_day, c.max_connections, c.retries, c.retry_backoff)

    def describe_rate(self) -> str:
        if self.rate is None:
            return _("unlimited")
        per_minute = self.rate * 60
        return f"{per_minute:g}/min" if per_minute < 600 else f"{self.rate:g}/s"


@dataclass(slots=True)
class ChannelPlan:
    """One member's share of a mailing."""

    member: Member
    to_send: list[Person] = field(default_factory=list)
    already_sent: list[Person] = field(default_factory=list)
    uncertain: list[Person] = field(default_factory=list)
    failed: list[Person] = field(default_factory=list)  # refused for good in an earlier run
    suppressed: list[Person] = field(default_factory=list)
    message_ids: dict[str, str] = field(default_factory=dict)  # reused on a retry
    quota_used: int = 0  # recipients this channel sent in the last 24 hours, any mailing
    via: bool = False  # a rehearsal: every message goes to one local test server
    bundled: bool = False  # the member sends this share itself, with a bundle
    # When each person's journal row last changed as the plan saw it (None: no row): the
    # run skips whoever another run dealt with since.
    seen: dict[str, str | None] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return (
            len(self.to_send)
            + len(self.already_sent)
            + len(self.uncertain)
            + len(self.failed)
            + len(self.suppressed)
        )

    @property
    def is_smtp(self) -> bool:
        """Whether real mail leaves (SMTP or Graph), not a Maildir folder."""
        return self.via or not isinstance(self.member.channel, MaildirChannel)

    @property
    def limits(self) -> Limits:
        limits = Limits.of(self.member)
        # The daily quota is the member's mailbox's; a rehearsal's test server is not it.
        return dataclasses.replace(limits, per_day=None) if self.via else limits

    @property
    def rate_per_minute(self) -> float | None:
        rate = self.limits.rate
        return rate * 60 if rate else None

    def estimate(self, now: dt.datetime | None = None) -> Estimate:
        limits = self.limits
        return estimate(
            len(self.to_send),
            rate=limits.rate,
            per_day=limits.per_day,
            used_today=self.quota_used,
            now=now or dt.datetime.now(dt.UTC),
            unlimited_rate=100.0,
        )


@dataclass(slots=True)
class Plan:
    mailing: Mailing
    channels: list[ChannelPlan]
    merge: Merge
    left_out: int = 0  # people on the lists outside the mailing's audience
    # A change or cancellation while bundles of the seminar are still out: the bundles
    # (each with a line for the coordinator), and the people left out because their
    # invitation is only in such a bundle (each with a line).
    held: list[HeldBundle] = field(default_factory=list)
    withheld: list[LeftOut] = field(default_factory=list)

    @property
    def sending(self) -> list[ChannelPlan]:
        """The shares sent from here: all but the bundled ones."""
        return [c for c in self.channels if not c.bundled]

    @property
    def bundled(self) -> list[ChannelPlan]:
        """The shares their members send themselves with a bundle: never sent from here."""
        return [c for c in self.channels if c.bundled]

    @property
    def to_send(self) -> int:
        return sum(len(c.to_send) for c in self.sending)

    @property
    def uncertain(self) -> int:
        return sum(len(c.uncertain) for c in self.sending)

    @property
    def needs_confirmation(self) -> bool:
        return any(c.is_smtp and c.to_send for c in self.sending)


def make_plan(
    network: Network,
    mailing: Mailing,
    journal: Journal,
    *,
    merged: Merge | None = None,
    orgs: Iterable[str] = (),
    resend: bool = False,
    resend_uncertain: bool = False,
    retry_failed: bool = False,
    rehearsal: Journal | None = None,
    now: dt.datetime | None = None,
) -> Plan:
    """Who gets this mailing in this run, per channel, given what the journal says.

    Sent: skipped (unless ``resend``). Sending: a run died mid-transaction, so the message
    may have arrived: uncertain, skipped unless ``resend_uncertain``. Failed: refused for
    good, skipped unless ``retry_failed``. Queued or deferred (or new): sent now. A retry
    keeps the message's Message-ID, so receiving systems can drop a duplicate.

    A rehearsal (``rehearsal``: its own journal, sent with ``via``) is planned from that
    journal alone and has no daily quota, so it never makes the real mailing look sent;
    registrations and the opt-out list are still the real ones.

    Members with a bundle of this mailing in ``journal`` are planned with ``bundled`` set:
    :func:`mailer.campaign.run.send_plan` leaves their shares alone.
    """
    # There is no rehearsal without its own journal: one planned from the real journal
    # would let its sends count as the real mailing.
    via = rehearsal is not None
    record = rehearsal or journal
    # The opt-out list wins over every list, also over a merge the caller made without it.
    is_suppressed = suppressed_checker(network.state_dir)
    merged = _everybody(network, mailing, journal, merged, is_suppressed)
    now = now or dt.datetime.now(dt.UTC)
    wanted = set(orgs)
    for org in wanted:
        network.member(org)  # raises on an unknown id
    done = record.deliveries(mailing.id)
    by_member = merged.by_member()
    in_audience = _audience_matcher(mailing, journal)
    bundled = {e.member for e in journal.bundle_exports(mailing.id)}
    held, left = _bundles_still_out(mailing, journal, merged, rehearsal is not None)
    withheld = {w.person.email for w in left}
    again = _Again(resend, resend_uncertain, retry_failed)
    left_out = 0
    channels = []
    for member in network.members:
        if wanted and member.id not in wanted:
            continue
        plan = ChannelPlan(member=member, via=via, bundled=member.id in bundled)
        if plan.limits.per_day:
            plan.quota_used = journal.used_since(member.id, now - DAY)
        people = [p for p in by_member.get(member.id, []) if not is_suppressed(p.email)]
        chosen = [p for p in people if in_audience(p) and p.email not in withheld]
        left_out += sum(1 for p in people if not in_audience(p))
        for person in chosen:
            _place(plan, person, done.get(person.email), again)
        channels.append(plan)
    return Plan(mailing, channels, merged, left_out, held=held, withheld=left)


def _everybody(
    network: Network,
    mailing: Mailing,
    journal: Journal,
    merged: Merge | None,
    is_suppressed: Callable[[str], bool],
) -> Merge:
    """The merged lists, and the people who signed up on mailer serve's public page and
    confirmed it (no list has them)."""
    from mailer.signups import with_signups

    merged = merged or merge(network, suppressed=is_suppressed)
    return with_signups(merged, journal, network, mailing.seminar.number)


def _bundles_still_out(
    mailing: Mailing, journal: Journal, merged: Merge, rehearsal: bool
) -> tuple[list[HeldBundle], list[LeftOut]]:
    """For a change or cancellation: the seminar's bundles whose outcome the coordinator
    does not know yet, and the people whose invitation is only in one of them. A member's
    own run (its bundle holds its chosen people) and a rehearsal check nothing."""
    if mailing.kind not in ("change", "cancellation") or mailing.preselected or rehearsal:
        return [], []
    from mailer.bundle.outstanding import awaiting_invitation, unreported_bundles

    seminar = mailing.seminar.number
    held = unreported_bundles(journal, seminar)
    if not held:
        return [], []
    return held, awaiting_invitation(journal, seminar, merged.people)


def _audience_matcher(mailing: Mailing, journal: Journal) -> Callable[[Person], bool]:
    audience = ALL if mailing.preselected else mailing.audience
    return matcher(
        audience,
        registrations.status(journal, mailing.seminar.number)
        if audience.needs_registrations
        else None,
        seminar=mailing.seminar.number,
    )


@dataclass(frozen=True, slots=True)
class _Again:
    """Which people an earlier run dealt with go again: all, the uncertain, the failed."""

    resend: bool
    uncertain: bool
    failed: bool


def _place(share: ChannelPlan, person: Person, previous: Delivery | None, again: _Again) -> None:
    """Put one person in the list of their share that the journal's row says."""
    state = previous.state if previous else None
    if state == "suppressed":
        share.suppressed.append(person)
    elif state == "sent" and not again.resend:
        share.already_sent.append(person)
    elif state == "sending" and not (again.resend or again.uncertain):
        share.uncertain.append(person)
    elif state == "failed" and not (again.resend or again.failed):
        share.failed.append(person)
    else:
        share.to_send.append(person)
        share.seen[person.email] = previous.updated_at if previous else None
        if previous and previous.message_id and state != "sent":
            share.message_ids[person.email] = previous.message_id
