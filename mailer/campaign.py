"""One mailing from plan to journal: who gets what, through which channel, and sending it.

A mailing has a stable identity (``invitation-2``), so running the same command again
resumes it: people whose message was accepted are skipped, people in flight when a run
died are *uncertain* and skipped unless asked, everybody else is sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from mailer import calendar, registrations, tokens
from mailer.article import read_article
from mailer.assembly import Assembler
from mailer.audience import ALL, Audience, matcher
from mailer.channels.base import Transport
from mailer.channels.factory import transport_factory
from mailer.channels.ratelimit import DAY, Clock, DailyQuota, Estimate, TokenBucket, estimate
from mailer.channels.smtp import SmtpSettings
from mailer.config import Member, Network, Seminar, SmtpChannel
from mailer.errors import (
    ChannelError,
    ConfigError,
    RecipientRefusedError,
    TooManyConnectionsError,
    TransientError,
    UncertainError,
)
from mailer.inlining import inline_cache
from mailer.journal import GroupCommit, Journal, is_rehearsal
from mailer.message import (
    Attachment,
    Outgoing,
    check_recipient,
    new_message_id,
    parse_mailbox,
    sender_domain,
    unsubscribe_mailto,
)
from mailer.recipients import Merge, Person, merge
from mailer.render import CALENDAR_KINDS, KINDS, Renderer
from mailer.suppression import suppressed_checker

# Every SMTP outcome, one line each (no bodies, no secrets); the CLI writes it to a file
# in the state folder.
log = logging.getLogger("mailer.delivery")
MAX_BACKOFF = 300.0  # seconds: a retry never waits longer than this


# Who a kind goes to when --audience is not given.
DEFAULT_AUDIENCE = {"reminder": Audience("registered")}
ICS_FILENAME = "seminarium.ics"


@dataclass(frozen=True, slots=True)
class Mailing:
    """One mailing. ``revision`` is the change's number (change) or the newsletter's number
    (newsletter, whose ``seminar`` is the next one, shown at the end of the article)."""

    kind: str
    seminar: Seminar
    revision: int = 0
    audience: Audience = ALL
    # The people were chosen already (a member's bundle holds only its audience): the plan
    # keeps the audience for the wording but does not filter again.
    preselected: bool = False

    @property
    def id(self) -> str:
        if self.kind == "newsletter":
            return f"newsletter-{self.revision}"
        if self.kind == "change":
            return f"change-{self.seminar.number}.{self.revision}"
        return f"{self.kind}-{self.seminar.number}"


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
            return "unlimited"
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
        return self.via or isinstance(self.member.channel, SmtpChannel)

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

    @property
    def to_send(self) -> int:
        return sum(len(c.to_send) for c in self.channels)

    @property
    def uncertain(self) -> int:
        return sum(len(c.uncertain) for c in self.channels)

    @property
    def needs_confirmation(self) -> bool:
        return any(c.is_smtp and c.to_send for c in self.channels)


@dataclass(slots=True)
class ChannelResult:
    member: Member
    sent: int = 0
    skipped: int = 0
    uncertain: int = 0  # skipped as uncertain after an earlier run, or unanswered in this one
    deferred: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unanswered: list[tuple[str, str]] = field(default_factory=list)  # uncertain in this run
    error: str | None = None  # the channel stopped: why
    quota: str | None = None  # the daily quota stopped it: what to expect
    interrupted: bool = False  # Ctrl-C
    not_attempted: int = 0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.error or self.uncertain or self.deferred)

    @property
    def work_left(self) -> bool:
        """Something a later run will send (deferred, quota, Ctrl-C)."""
        return bool(self.deferred or self.quota or (self.interrupted and self.not_attempted))


def mailing_for(
    network: Network, kind: str, number: int, audience: Audience | None = None
) -> Mailing:
    """The mailing KIND for seminar NUMBER (for a newsletter: newsletter NUMBER)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown mail kind {kind!r}", hint=f"known: {', '.join(KINDS)}")
    audience = audience or DEFAULT_AUDIENCE.get(kind, ALL)
    if kind == "newsletter":
        return Mailing(kind, _seminar_after_newsletter(network, number), number, audience)
    seminar = network.seminar(number)
    revision = 0
    if kind == "summary" and not seminar.held:
        raise ConfigError(
            f"seminar {number} has no summary yet",
            path=network.path,
            hint="add summary_file, videos or attendance to the seminar first",
        )
    if kind == "change":
        if not seminar.changes:
            raise ConfigError(
                f"seminar {number} has no changes",
                path=network.path,
                hint='add [[seminars.changes]] with what = "..." (one line) and change '
                "the seminar's time, place or programme",
            )
        revision = len(seminar.changes)
    if kind == "cancellation" and not seminar.cancelled:
        raise ConfigError(
            f"seminar {number} is not cancelled",
            path=network.path,
            hint='set cancelled = { reason = "..." } on the seminar first',
        )
    if kind in ("invitation", "reminder", "change") and seminar.cancelled:
        raise ConfigError(
            f"seminar {number} is cancelled: no {kind} can go out for it",
            path=network.path,
            hint="send the cancellation instead",
        )
    return Mailing(kind, seminar, revision, audience)


def kinds_for(seminar: Seminar) -> list[str]:
    """The seminar kinds that can be sent for this seminar as configured now."""
    if seminar.cancelled:
        return ["cancellation"]
    kinds = ["invitation", "reminder"]
    if seminar.changes:
        kinds.append("change")
    if seminar.held:
        kinds.append("summary")
    return kinds


def _seminar_after_newsletter(network: Network, number: int) -> Seminar:
    item = network.newsletter(number)
    article = read_article(network.resolve(item.file))
    live = [s for s in network.seminars if not s.cancelled]
    if not live:
        raise ConfigError(
            "a newsletter ends with the next seminar, but there is none",
            path=network.path,
            hint="add a [[seminars]] entry",
        )
    coming = [s for s in live if s.date >= article.meta.date]
    return min(coming, key=lambda s: s.date) if coming else max(live, key=lambda s: s.date)


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
    """
    # There is no rehearsal without its own journal: one planned from the real journal
    # would let its sends count as the real mailing.
    via = rehearsal is not None
    record = rehearsal or journal
    # The opt-out list wins over every list, also over a merge the caller made without it.
    is_suppressed = suppressed_checker(network.state_dir)
    merged = merged or merge(network, suppressed=is_suppressed)
    now = now or dt.datetime.now(dt.UTC)
    wanted = set(orgs)
    for org in wanted:
        network.member(org)  # raises on an unknown id
    done = record.deliveries(mailing.id)
    by_member = merged.by_member()
    audience = ALL if mailing.preselected else mailing.audience
    in_audience = matcher(
        audience,
        registrations.status(journal, mailing.seminar.number)
        if audience.needs_registrations
        else None,
        seminar=mailing.seminar.number,
    )
    left_out = 0
    channels = []
    for member in network.members:
        if wanted and member.id not in wanted:
            continue
        plan = ChannelPlan(member=member, via=via)
        if plan.limits.per_day:
            plan.quota_used = journal.used_since(member.id, now - DAY)
        for person in by_member.get(member.id, []):
            if is_suppressed(person.email):
                continue
            if not in_audience(person):
                left_out += 1
                continue
            previous = done.get(person.email)
            state = previous.state if previous else None
            if state == "suppressed":
                plan.suppressed.append(person)
                continue
            if state == "sent" and not resend:
                plan.already_sent.append(person)
                continue
            if state == "sending" and not (resend or resend_uncertain):
                plan.uncertain.append(person)
                continue
            if state == "failed" and not (resend or retry_failed):
                plan.failed.append(person)
                continue
            plan.to_send.append(person)
            if previous and previous.message_id and state != "sent":
                plan.message_ids[person.email] = previous.message_id
        channels.append(plan)
    return Plan(mailing=mailing, channels=channels, merge=merged, left_out=left_out)


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
        seminar = mailing.seminar
        self._registers = bool(seminar.registration_url) and mailing.kind in (
            "invitation",
            "reminder",
            "change",
        )
        # One-click unsubscribe needs an HTTPS endpoint (RFC 8058); without one, mailto: only.
        self._one_click = network.network.unsubscribe_url
        self._signed = signed_links
        self._rehearsal = rehearsal
        self._signer = (
            tokens.Signer.from_env(network, why="the registration link or unsubscribe URL")
            if (self._registers or self._one_click) and signed_links is None
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
        return one_click or unsubscribe_mailto(member), one_click, registration

    def _sign(self, person: Person, *, rehearsal: bool) -> tuple[str | None, str]:
        signer = self._signer
        if signer is None:
            return None, ""

        def token(purpose: str) -> str:
            if rehearsal:
                purpose = tokens.rehearsal_purpose(purpose)
            return signer.sign(purpose, person.email)

        seminar = self.mailing.seminar
        one_click = None
        if self._one_click:
            one_click = self._with_token(
                self._one_click, token(tokens.unsubscribe_purpose(self.network))
            )
        registration = ""
        if self._registers and seminar.registration_url:
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


ProgressCallback = Callable[[str, str, str], None]  # (member id, email, outcome)
HardBounceCallback = Callable[[str, Member, str], None]  # (email, member, server reply)


async def send_plan(
    plan: Plan,
    factory: MessageFactory,
    journal: Journal,
    *,
    via: SmtpSettings | None = None,
    on_progress: ProgressCallback | None = None,
    on_hard_bounce: HardBounceCallback | None = None,
    stop: asyncio.Event | None = None,
    clock: Clock = time.monotonic,
) -> list[ChannelResult]:
    """Send every channel's share concurrently; one channel's failure never stops another.

    With ``via`` (a rehearsal) every message goes to that server and ``journal`` must be
    the rehearsal's own (ValueError otherwise); hard bounces are then not reported to
    ``on_hard_bounce``.

    Setting ``stop`` (Ctrl-C) lets the transactions in flight finish and be recorded, then
    returns; whatever was not sent stays queued for the next run.
    """
    if via is not None and not is_rehearsal(journal.path):
        # A caller's mistake, not the user's: it would record test sends as real ones.
        raise ValueError(f"a rehearsal must record in its own journal, not {journal.path}")
    journal.enqueue(
        plan.mailing.id, ((p.email, c.member.id) for c in plan.channels for p in c.to_send)
    )
    writes = GroupCommit(journal)
    runs = [
        _ChannelRun(c, factory, writes, via, on_progress, on_hard_bounce, stop, clock)
        for c in plan.channels
    ]
    try:
        return list(await asyncio.gather(*(r.run() for r in runs)))
    finally:
        writes.flush()


Outcome = Literal["sent", "failed", "deferred", "uncertain", "not-started"]


class _ChannelRun:
    """One channel's share: several connections (workers) drawing on one queue, one rate
    limit and one daily quota."""

    def __init__(
        self,
        plan: ChannelPlan,
        factory: MessageFactory,
        writes: GroupCommit,
        via: SmtpSettings | None,
        on_progress: ProgressCallback | None,
        on_hard_bounce: HardBounceCallback | None,
        stop: asyncio.Event | None,
        clock: Clock,
    ) -> None:
        self.plan = plan
        self.member = plan.member
        self.factory = factory
        self.writes = writes
        self.journal = writes.journal
        self.via = via
        self.mailing = factory.mailing.id
        # How the delivery log names the mailing: a rehearsal's lines must not read as real.
        self.logged_as = f"rehearsal:{self.mailing}" if via is not None else self.mailing
        self.on_progress = on_progress
        self.on_hard_bounce = on_hard_bounce
        self.stop = stop
        self.limits = plan.limits
        self.queue: deque[Person] = deque(plan.to_send)
        self.bucket = TokenBucket(self.limits.rate, clock=clock) if self.limits.rate else None
        self.quota = (
            DailyQuota(self.limits.per_day, plan.quota_used) if self.limits.per_day else None
        )
        self.result = ChannelResult(
            member=plan.member, skipped=len(plan.already_sent), uncertain=len(plan.uncertain)
        )
        self.active = 0  # connections (workers) running
        self.allowed = self.limits.connections  # lowered when the server says 432 4.3.2
        self.channel = ""

    @property
    def halted(self) -> bool:
        return bool(
            self.result.error or self.result.quota or (self.stop is not None and self.stop.is_set())
        )

    async def run(self) -> ChannelResult:
        result = self.result
        if not self.queue:
            return result
        try:
            make = transport_factory(self.member, self.factory.network, via=self.via)
            first = make()
        except (ChannelError, ConfigError) as exc:
            result.error = str(exc)
            result.not_attempted = len(self.queue)
            return result
        self.channel = first.description
        count = min(self.limits.connections, len(self.queue))
        transports = [first, *(make() for _ in range(count - 1))]
        self.active = count
        await asyncio.gather(*(self._worker(t) for t in transports))
        left = [p.email for p in self.queue]
        result.not_attempted = len(left)
        if result.quota and left:
            self.writes.flush()
            self.journal.defer(self.mailing, left, result.quota)
        if self.stop is not None and self.stop.is_set():
            result.interrupted = True
        return result

    async def _worker(self, transport: Transport) -> None:
        try:
            while self.queue and not self.halted and self.active <= self.allowed:
                person = self.queue.popleft()
                if self.quota is not None and not self.quota.take():
                    self.queue.appendleft(person)
                    self._quota_reached()
                    break
                outcome = await self._deliver(transport, person)
                if outcome == "not-started":
                    self.queue.appendleft(person)
                    if self.quota is not None:
                        self.quota.give_back()
                    continue
                if self.on_progress:
                    self.on_progress(self.member.id, person.email, outcome)
        finally:
            self.active -= 1
            await transport.close()

    def _quota_reached(self) -> None:
        assert self.quota is not None
        self.writes.flush()
        when = self.journal.oldest_since(self.member.id, dt.datetime.now(dt.UTC) - DAY)
        after = f"; more can go after {when + DAY:%Y-%m-%d %H:%M} UTC" if when else ""
        self.result.quota = (
            f"daily quota of {self.quota.limit} recipients reached{after}: "
            "run the same command again then"
        )

    async def _pause(self, seconds: float) -> bool:
        """Sleep, or wake early on Ctrl-C; True when the run is stopping."""
        if seconds > 0:
            if self.stop is None:
                await asyncio.sleep(seconds)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), seconds)
        return self.halted

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter, so several connections do not retry in lockstep.
        delay: float = min(MAX_BACKOFF, self.limits.backoff * 2**attempt)
        return delay * random.uniform(0.5, 1.5)

    async def _connect(self, transport: Transport) -> Literal["open", "stop", "retire"]:
        """Open the connection, retrying while the server is away; ChannelError when it
        stays away or cannot work as configured."""
        retries = self.limits.retries
        for attempt in range(retries + 1):
            try:
                await transport.open()
                return "open"
            except TooManyConnectionsError as exc:
                self._fewer_connections(exc)
                if self.active > self.allowed:
                    return "retire"
                last: TransientError = exc
            except TransientError as exc:
                last = exc
            log.info(
                "%s\t%s\t-\tconnect\t%d\t%s", self.logged_as, self.member.id, attempt + 1, last
            )
            if attempt < retries and await self._pause(self._backoff(attempt)):
                return "stop"
        raise ChannelError(f"{last.message} (gave up after {retries + 1} tries)")

    def _fewer_connections(self, exc: TransientError) -> None:
        self.allowed = max(1, min(self.allowed, self.active) - 1)
        log.info(
            "%s\t%s\t-\tfewer-connections\t%d\t%s",
            self.logged_as,
            self.member.id,
            self.allowed,
            exc,
        )

    def _record(self, person: Person, state: str, reply: str, attempt: int) -> None:
        self.writes.finish(self.mailing, person.email, state, reply)
        log.info(
            "%s\t%s\t%s\t%s\t%d\t%s",
            self.logged_as,
            self.member.id,
            person.email,
            "uncertain" if state == "sending" else state,
            attempt,
            reply,
        )

    async def _deliver(self, transport: Transport, person: Person) -> Outcome:
        result = self.result
        message = self.factory.build(person, self.member, self.plan.message_ids.get(person.email))
        self.plan.message_ids[person.email] = message.message_id
        retries = self.limits.retries
        for attempt in range(retries + 1):
            if self.bucket is not None:
                while not self.bucket.take():
                    if await self._pause(self.bucket.delay()):
                        return "not-started"
            if not transport.is_open:
                try:
                    state = await self._connect(transport)
                except ChannelError as exc:
                    self._stop_channel(exc)
                    return "not-started"
                if state != "open":
                    return "not-started"
            await self.writes.start(
                self.mailing, person.email, self.member.id, message.message_id, self.channel
            )
            try:
                reply = await transport.send(message)
            except TransientError as exc:
                self._record(person, "deferred", str(exc), attempt + 1)
                if isinstance(exc, TooManyConnectionsError):
                    self._fewer_connections(exc)
                if attempt == retries or await self._pause(self._backoff(attempt)):
                    result.deferred.append((person.email, str(exc)))
                    return "deferred"
                continue
            except UncertainError as exc:
                # Left in 'sending' with the reason: a retry could deliver it twice.
                self._record(person, "sending", str(exc), attempt + 1)
                result.uncertain += 1
                result.unanswered.append((person.email, str(exc)))
                return "uncertain"
            except RecipientRefusedError as exc:
                self._record(person, "failed", str(exc), attempt + 1)
                result.failed.append((person.email, str(exc)))
                # A test server's refusal says nothing about the address: a rehearsal
                # never puts anyone on the opt-out list.
                if exc.hard_bounce and self.on_hard_bounce is not None and self.via is None:
                    self.on_hard_bounce(person.email, self.member, str(exc))
                return "failed"
            except ChannelError as exc:
                # Refused before the message was handed over: back to the queue.
                self._record(person, "queued", str(exc), attempt + 1)
                self._stop_channel(exc)
                return "not-started"
            self._record(person, "sent", reply, attempt + 1)
            result.sent += 1
            return "sent"
        raise AssertionError("unreachable")

    def _stop_channel(self, exc: ChannelError) -> None:
        if not self.result.error:
            self.result.error = str(exc)
            log.info("%s\t%s\t-\tchannel-stopped\t-\t%s", self.logged_as, self.member.id, exc)
