"""One mailing from plan to journal: who gets what, through which channel, and sending it.

A mailing has a stable identity (``invitation-2``), so running the same command again
resumes it: people whose message was accepted are skipped, people in flight when a run
died are *uncertain* and skipped unless asked, everybody else is sent once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr

from mailer.channels import SmtpSettings, Transport, transport_for
from mailer.config import Member, Network, Seminar, SmtpChannel
from mailer.errors import ChannelError, ConfigError, RecipientRefusedError, TransientError
from mailer.journal import Journal
from mailer.message import Outgoing, build_message, new_message_id, unsubscribe_mailto
from mailer.recipients import Merge, Person, merge
from mailer.render import KINDS, Renderer
from mailer.suppression import suppressed_checker

RETRIES = 3  # transient failures per message before it is deferred to a later run
BACKOFF = 0.5  # seconds, doubled on each retry, with jitter


@dataclass(frozen=True, slots=True)
class Mailing:
    kind: str
    seminar: Seminar

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.seminar.number}"


@dataclass(slots=True)
class ChannelPlan:
    """One member's share of a mailing."""

    member: Member
    to_send: list[Person] = field(default_factory=list)
    already_sent: list[Person] = field(default_factory=list)
    uncertain: list[Person] = field(default_factory=list)
    via: bool = False

    @property
    def total(self) -> int:
        return len(self.to_send) + len(self.already_sent) + len(self.uncertain)

    @property
    def is_smtp(self) -> bool:
        return self.via or isinstance(self.member.channel, SmtpChannel)

    @property
    def rate_per_minute(self) -> float | None:
        return self.member.channel.rate_per_minute

    def estimated_seconds(self) -> float:
        rate = self.rate_per_minute
        return len(self.to_send) * 60 / rate if rate else len(self.to_send) * 0.01


@dataclass(slots=True)
class Plan:
    mailing: Mailing
    channels: list[ChannelPlan]
    merge: Merge

    @property
    def to_send(self) -> int:
        return sum(len(c.to_send) for c in self.channels)

    @property
    def needs_confirmation(self) -> bool:
        return any(c.is_smtp and c.to_send for c in self.channels)


@dataclass(slots=True)
class ChannelResult:
    member: Member
    sent: int = 0
    skipped: int = 0
    uncertain: int = 0
    deferred: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    not_attempted: int = 0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.error or self.uncertain or self.deferred)


def mailing_for(network: Network, kind: str, number: int) -> Mailing:
    if kind not in KINDS:
        raise ConfigError(f"unknown mail kind {kind!r}", hint=f"known: {', '.join(KINDS)}")
    seminar = network.seminar(number)
    if kind == "summary" and not seminar.held:
        raise ConfigError(
            f"seminar {number} has no summary yet",
            path=network.path,
            hint="add summary_file, videos or attendance to the seminar first",
        )
    return Mailing(kind, seminar)


def make_plan(
    network: Network,
    mailing: Mailing,
    journal: Journal,
    *,
    merged: Merge | None = None,
    orgs: Iterable[str] = (),
    resend: bool = False,
    resend_uncertain: bool = False,
    via: bool = False,
) -> Plan:
    """Who gets this mailing in this run, per channel, given what the journal says."""
    # The opt-out list wins over every list, also over a merge the caller made without it.
    is_suppressed = suppressed_checker(network.state_dir)
    merged = merged or merge(network, suppressed=is_suppressed)
    wanted = set(orgs)
    for org in wanted:
        network.member(org)  # raises on an unknown id
    done = journal.deliveries(mailing.id)
    by_member = merged.by_member()
    channels = []
    for member in network.members:
        if wanted and member.id not in wanted:
            continue
        plan = ChannelPlan(member=member, via=via)
        for person in by_member.get(member.id, []):
            if is_suppressed(person.email):
                continue
            previous = done.get(person.email)
            state = previous.state if previous else None
            if state == "sent" and not resend:
                plan.already_sent.append(person)
            elif state == "sending" and not (resend or resend_uncertain):
                plan.uncertain.append(person)
            else:
                plan.to_send.append(person)
        channels.append(plan)
    return Plan(mailing=mailing, channels=channels, merge=merged)


class MessageFactory:
    """Builds each person's message; the rendering is shared per variant."""

    def __init__(self, network: Network, mailing: Mailing, renderer: Renderer | None = None):
        self.network = network
        self.mailing = mailing
        self.renderer = renderer or Renderer(network)

    def prepare(self, plan: Plan) -> None:
        """Render every variant the plan needs; raises TemplateError before anything is sent."""
        pairs = {(p.language, c.member.id): c.member for c in plan.channels for p in c.to_send}
        self.renderer.prepare(
            self.mailing.kind,
            self.mailing.seminar,
            [(lang, member) for (lang, _), member in sorted(pairs.items())],
        )

    def build(self, person: Person, member: Member, message_id: str | None = None) -> Outgoing:
        variant = self.renderer.variant(
            self.mailing.kind, self.mailing.seminar, person.language, member
        )
        unsubscribe = unsubscribe_mailto(member)
        values = self.renderer.personal_values(person, member, person.language, unsubscribe)
        domain = parseaddr(member.channel.from_)[1].rpartition("@")[2] or "localhost"
        return build_message(
            variant,
            values,
            person=person,
            member=member,
            network=self.network,
            message_id=message_id or new_message_id(self.mailing.id, domain),
        )


ProgressCallback = Callable[[str, str, str], None]  # (member id, email, outcome)


async def send_plan(
    plan: Plan,
    factory: MessageFactory,
    journal: Journal,
    *,
    via: SmtpSettings | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[ChannelResult]:
    """Send every channel's share concurrently; one channel's failure never stops another."""
    tasks = [
        _send_channel(c, factory, journal, via=via, on_progress=on_progress) for c in plan.channels
    ]
    return list(await asyncio.gather(*tasks))


async def _send_channel(
    plan: ChannelPlan,
    factory: MessageFactory,
    journal: Journal,
    *,
    via: SmtpSettings | None,
    on_progress: ProgressCallback | None,
) -> ChannelResult:
    member = plan.member
    mailing = factory.mailing.id
    result = ChannelResult(
        member=member, skipped=len(plan.already_sent), uncertain=len(plan.uncertain)
    )
    if not plan.to_send:
        return result
    try:
        transport = transport_for(member, factory.network, via=via)
        await transport.open()
    except (ChannelError, ConfigError) as exc:
        result.error = str(exc)
        result.not_attempted = len(plan.to_send)
        return result
    interval = 60 / plan.rate_per_minute if plan.rate_per_minute else 0.0
    loop = asyncio.get_running_loop()
    next_slot = loop.time()
    try:
        for index, person in enumerate(plan.to_send):
            if interval:
                delay = next_slot - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_slot = max(next_slot, loop.time()) + interval
            previous = journal.get(mailing, person.email)
            message = factory.build(person, member, previous.message_id if previous else None)
            outcome = await _deliver(transport, message, journal, mailing, person, member, result)
            if on_progress:
                on_progress(member.id, person.email, outcome)
            if outcome == "channel-error":
                result.not_attempted = len(plan.to_send) - index - 1
                break
    finally:
        await transport.close()
    return result


async def _deliver(
    transport: Transport,
    message: Outgoing,
    journal: Journal,
    mailing: str,
    person: Person,
    member: Member,
    result: ChannelResult,
) -> str:
    journal.start(mailing, person.email, member.id, message.message_id)
    for attempt in range(RETRIES):
        try:
            reply = await transport.send(message)
        except TransientError as exc:
            if attempt + 1 < RETRIES:
                await asyncio.sleep(BACKOFF * 2**attempt * (0.5 + random.random()))
                continue
            journal.finish(mailing, person.email, "deferred", str(exc))
            result.deferred.append((person.email, str(exc)))
            return "deferred"
        except RecipientRefusedError as exc:
            journal.finish(mailing, person.email, "failed", str(exc))
            result.failed.append((person.email, str(exc)))
            return "failed"
        except ChannelError as exc:
            # Nothing was handed over: the row goes back to the queue for a later run.
            journal.finish(mailing, person.email, "queued", str(exc))
            result.error = str(exc)
            return "channel-error"
        journal.finish(mailing, person.email, "sent", reply)
        result.sent += 1
        return "sent"
    raise AssertionError("unreachable")
