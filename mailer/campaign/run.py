"""Sending a plan: every channel concurrently, each within its limits, every outcome
recorded in the journal and the delivery log."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mailer.campaign.factory import MessageFactory
from mailer.campaign.plan import ChannelPlan, Plan
from mailer.channels.base import Transport
from mailer.channels.factory import transport_factory
from mailer.channels.ratelimit import DAY, Clock, DailyQuota, TokenBucket
from mailer.channels.smtp import SmtpSettings
from mailer.config import Member
from mailer.errors import (
    ChannelError,
    ConfigError,
    RecipientRefusedError,
    TooManyConnectionsError,
    TransientError,
    UncertainError,
)
from mailer.journal import GroupCommit, Journal, is_rehearsal
from mailer.recipients import Person

# Every SMTP outcome, one line each (no bodies, no secrets); the CLI writes it to a file
# in the state folder.
log = logging.getLogger("mailer.delivery")
MAX_BACKOFF = 300.0  # seconds: a retry never waits longer than this


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
            if not await self.writes.start(
                self.mailing, person.email, self.member.id, message.message_id, self.channel
            ):
                return "not-started"  # forgotten meanwhile (mailer person forget): not a word
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
