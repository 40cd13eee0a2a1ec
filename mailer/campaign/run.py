"""Sending a plan: every channel concurrently, each within its limits, every outcome
recorded in the journal and the delivery log.

:func:`send_plan` keeps the safety rules itself, whoever calls it (``mailer send``, a
member's ``mailer bundle send``, a web server): one sender per mailing and journal
(:mod:`mailer.campaign.lock`); nobody another run dealt with since the plan was made; no
bundled share; the opt-out list as it is just before each person's transaction; a hard
bounce goes on the opt-out list, except in a rehearsal.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mailer.campaign.factory import MessageFactory
from mailer.campaign.lock import SendLock, lock_path
from mailer.campaign.log import DeliveryLog
from mailer.campaign.optout import LiveOptOut
from mailer.campaign.plan import ChannelPlan, Plan
from mailer.channels.base import Transport
from mailer.channels.factory import transport_factory
from mailer.channels.ratelimit import DAY, Clock, DailyQuota, TokenBucket
from mailer.channels.smtp import SmtpSettings
from mailer.config import Member
from mailer.dates import moment
from mailer.errors import (
    BusyError,
    ChannelError,
    ConfigError,
    RecipientRefusedError,
    ThrottledError,
    TooManyConnectionsError,
    TransientError,
    UncertainError,
)
from mailer.i18n import ngettext
from mailer.journal import Delivery, GroupCommit, Journal, is_rehearsal
from mailer.recipients import Person
from mailer.suppression import Suppression

MAX_BACKOFF = 300.0  # seconds: a retry never waits longer than this
MAX_THROTTLED = 20  # throttled tries of one message (429/503) before it waits for a later run
EXIT_OK, EXIT_FAILED, EXIT_TEMPFAIL = 0, 1, 75  # as the README's exit codes


@dataclass(slots=True)
class ChannelResult:
    member: Member
    sent: int = 0
    skipped: int = 0  # already sent, or on the opt-out list since the plan was made
    suppressed: int = 0  # of those skipped: put on the opt-out list while this run went on
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


@dataclass(slots=True)
class SendReport:
    """What a send did, per channel, and the exit code it earns."""

    channels: list[ChannelResult]
    bundled: list[Member] = field(default_factory=list)  # shares left to their members
    overtaken: int = 0  # people another run (or the opt-out list) dealt with since the plan

    @property
    def exit_code(self) -> int:
        """1: something failed or is uncertain; 75: work left for a later run; else 0."""
        if any(r.failed or r.error or r.uncertain for r in self.channels):
            return EXIT_FAILED
        if any(r.work_left for r in self.channels):
            return EXIT_TEMPFAIL
        return EXIT_OK

    @property
    def interrupted(self) -> bool:
        return any(r.interrupted for r in self.channels)

    @property
    def unanswered(self) -> int:
        return sum(len(r.unanswered) for r in self.channels)


ProgressCallback = Callable[[str, str, str], None]  # (member id, email, outcome)


def state_folder(journal: Journal) -> Path:
    """The state folder a journal belongs to (a rehearsal's lives in a folder inside it)."""
    folder = journal.path.parent
    return folder.parent if is_rehearsal(journal.path) else folder


@dataclass(slots=True)
class _Run:
    """What every channel of one send shares."""

    factory: MessageFactory
    writes: GroupCommit
    log: DeliveryLog
    opt_out: LiveOptOut
    via: SmtpSettings | None
    on_progress: ProgressCallback | None
    stop: asyncio.Event | None
    clock: Clock


async def send_plan(
    plan: Plan,
    factory: MessageFactory,
    journal: Journal,
    *,
    via: SmtpSettings | None = None,
    on_progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
    wait: bool = False,
    on_wait: Callable[[BusyError], None] | None = None,
    clock: Clock = time.monotonic,
) -> SendReport:
    """Send every channel's share concurrently; one channel's failure never stops another.

    Only one process sends a mailing from a journal at a time: BusyError when another one
    does, unless ``wait``, which waits for it (``on_wait`` hears who it is) and then sends
    only what it left. With
    ``via`` (a rehearsal) every message goes to that server and ``journal`` must be the
    rehearsal's own (ValueError otherwise).

    Setting ``stop`` (Ctrl-C) lets the transactions in flight finish and be recorded, then
    returns; whatever was not sent stays queued for the next run.
    """
    if via is not None and not is_rehearsal(journal.path):
        # A caller's mistake, not the user's: it would record test sends as real ones.
        raise ValueError(f"a rehearsal must record in its own journal, not {journal.path}")
    lock = SendLock(lock_path(journal.path, plan.mailing.id), plan.mailing.id, factory.network.tz)
    await lock.acquire(wait=wait, on_wait=on_wait)
    try:
        with (
            DeliveryLog(state_folder(journal)) as log,
            contextlib.closing(LiveOptOut(factory.network.state_dir)) as opt_out,
        ):
            overtaken = _catch_up(plan, journal, opt_out)
            if via is None:
                _leave_new_bundles(plan, journal)
            journal.enqueue(
                plan.mailing.id,
                ((p.email, c.member.id) for c in plan.sending for p in c.to_send),
            )
            writes = GroupCommit(journal)
            run = _Run(factory, writes, log, opt_out, via, on_progress, stop, clock)
            try:
                results = await asyncio.gather(*(_ChannelRun(c, run).run() for c in plan.sending))
            finally:
                writes.flush()
    finally:
        lock.release()
    return SendReport(list(results), [c.member for c in plan.bundled], overtaken)


def _leave_new_bundles(plan: Plan, journal: Journal) -> None:
    """Shares handed to their members in a bundle since the plan was made (while this
    send waited for the lock): the member sends them, so this run does not."""
    bundled = {e.member for e in journal.bundle_exports(plan.mailing.id)}
    for share in plan.channels:
        share.bundled = share.bundled or share.member.id in bundled


# States another run leaves a person in that mean: not again in this one.
_SETTLED = {"sent": "already_sent", "sending": "uncertain", "failed": "failed"}


def _catch_up(plan: Plan, journal: Journal, opt_out: LiveOptOut) -> int:
    """Take out of the plan whoever another run dealt with since it was made (a send that
    held the lock meanwhile) or who opted out since; how many."""
    now = journal.deliveries(plan.mailing.id)
    moved = 0
    for share in plan.sending:
        keep = []
        for person in share.to_send:
            row = now.get(person.email)
            changed = row is not None and row.updated_at != share.seen.get(person.email)
            if person.email in opt_out or (changed and row and row.state == "suppressed"):
                share.suppressed.append(person)
            elif changed and row and row.state in _SETTLED:
                getattr(share, _SETTLED[row.state]).append(person)
            else:
                keep.append(person)
                continue
            moved += 1
        share.to_send = keep
        # In flight in the other run when the plan was made, and answered since.
        landed = [p for p in share.uncertain if _state(now.get(p.email)) == "sent"]
        share.uncertain = [p for p in share.uncertain if p not in landed]
        share.already_sent.extend(landed)
    return moved


def _state(row: Delivery | None) -> str | None:
    return row.state if row is not None else None


# What became of one person in this run (journal.Outcome is a member's reported outcome).
Disposition = Literal["sent", "failed", "deferred", "uncertain", "suppressed", "not-started"]


class _ChannelRun:
    """One channel's share: several connections (workers) drawing on one queue, one rate
    limit and one daily quota."""

    def __init__(self, plan: ChannelPlan, run: _Run) -> None:
        self.plan = plan
        self.member = plan.member
        self.factory = run.factory
        self.writes = run.writes
        self.journal = run.writes.journal
        self.log = run.log
        self.opt_out = run.opt_out
        self.via = run.via
        self.mailing = run.factory.mailing.id
        # How the delivery log names the mailing: a rehearsal's lines must not read as real.
        self.logged_as = f"rehearsal:{self.mailing}" if run.via is not None else self.mailing
        self.on_progress = run.on_progress
        self.stop = run.stop
        self.limits = plan.limits
        self.queue: deque[Person] = deque(plan.to_send)
        self.bucket = TokenBucket(self.limits.rate, clock=run.clock) if self.limits.rate else None
        self.quota = (
            DailyQuota(self.limits.per_day, plan.quota_used) if self.limits.per_day else None
        )
        self.result = ChannelResult(
            member=plan.member, skipped=len(plan.already_sent), uncertain=len(plan.uncertain)
        )
        self.active = 0  # connections (workers) running
        self.allowed = self.limits.connections  # lowered when the server says 432 4.3.2
        self.channel = ""
        self.clock = run.clock
        self.hold_until = 0.0  # the service asked the whole channel to wait (Retry-After)

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
        limit = self.quota.limit
        if when is None:
            self.result.quota = ngettext(
                "daily quota of {n} recipient reached: run the same command again later",
                "daily quota of {n} recipients reached: run the same command again later",
                limit,
            ).format(n=limit)
            return
        self.result.quota = ngettext(
            "daily quota of {n} recipient reached; more can go after {when}: run the same "
            "command again then",
            "daily quota of {n} recipients reached; more can go after {when}: run the same "
            "command again then",
            limit,
        ).format(n=limit, when=moment(when + DAY, self.factory.network.tz))

    async def _pause(self, seconds: float) -> bool:
        """Sleep, or wake early on Ctrl-C; True when the run is stopping."""
        if seconds > 0:
            if self.stop is None:
                await asyncio.sleep(seconds)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), seconds)
        return self.halted

    def _wait(self, exc: TransientError, attempt: int) -> float:
        """How long before the next try: exactly what a throttling service asked for (and
        the channel's other workers wait as long), else the backoff."""
        if isinstance(exc, ThrottledError) and exc.retry_after is not None:
            self.hold_until = max(self.hold_until, self.clock() + exc.retry_after)
            return exc.retry_after
        return self._backoff(attempt)

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
            self.log.write(self.logged_as, self.member.id, "-", "connect", attempt + 1, last)
            if attempt < retries and await self._pause(self._backoff(attempt)):
                return "stop"
        tries = retries + 1
        raise ChannelError(
            ngettext(
                "{problem} (gave up after {n} try)", "{problem} (gave up after {n} tries)", tries
            ).format(problem=last.message, n=tries)
        )

    def _fewer_connections(self, exc: TransientError) -> None:
        self.allowed = max(1, min(self.allowed, self.active) - 1)
        self.log.write(self.logged_as, self.member.id, "-", "fewer-connections", self.allowed, exc)

    def _record(self, person: Person, state: str, reply: str, attempt: int) -> None:
        self.writes.finish(self.mailing, person.email, state, reply)
        # Forgotten while their transaction ran: the answer came after 'mailer person
        # forget' removed their lines, so this one leaves the address out.
        forgotten = self.opt_out.forgotten(person.email)
        self.log.write(
            self.logged_as,
            self.member.id,
            "-" if forgotten else person.email,
            "uncertain" if state == "sending" else state,
            attempt,
            reply,
        )

    async def _deliver(self, transport: Transport, person: Person) -> Disposition:
        result = self.result
        message = self.factory.build(person, self.member, self.plan.message_ids.get(person.email))
        self.plan.message_ids[person.email] = message.message_id
        retries = self.limits.retries
        attempt = throttles = 0  # failed tries (they use up retries), throttled ones
        while True:
            if not await self._ready(transport):
                return "not-started"
            if person.email in self.opt_out:
                return self._opted_out(person)
            if not await self.writes.start(
                self.mailing, person.email, self.member.id, message.message_id, self.channel
            ):
                return self._opted_out(person)  # forgotten this very moment
            if self.hold_until > self.clock():
                # Another worker heard Retry-After while this one waited for the journal:
                # nothing went out yet, so back to queued and wait out the hold like the rest.
                self.writes.finish(self.mailing, person.email, "queued", None)
                continue
            try:
                reply = await transport.send(message)
            except TransientError as exc:
                self._record(person, "deferred", str(exc), attempt + throttles + 1)
                if isinstance(exc, TooManyConnectionsError):
                    self._fewer_connections(exc)
                wait = self._wait(exc, attempt + throttles)
                # A service that says how long to wait slows the channel down without
                # using up the retries, unless it throttles without end.
                throttle = isinstance(exc, ThrottledError) and throttles < MAX_THROTTLED
                if (not throttle and attempt == retries) or await self._pause(wait):
                    result.deferred.append((person.email, str(exc)))
                    return "deferred"
                throttles, attempt = throttles + throttle, attempt + (not throttle)
                continue
            except UncertainError as exc:
                # Left in 'sending' with the reason: a retry could deliver it twice.
                self._record(person, "sending", str(exc), attempt + throttles + 1)
                result.uncertain += 1
                result.unanswered.append((person.email, str(exc)))
                return "uncertain"
            except RecipientRefusedError as exc:
                self._record(person, "failed", str(exc), attempt + throttles + 1)
                result.failed.append((person.email, str(exc)))
                # A test server's refusal says nothing about the address: a rehearsal
                # never puts anyone on the opt-out list.
                if exc.hard_bounce and self.via is None:
                    self._bounced(person, exc)
                return "failed"
            except ChannelError as exc:
                # Refused before the message was handed over: back to the queue.
                self._record(person, "queued", str(exc), attempt + throttles + 1)
                self._stop_channel(exc)
                return "not-started"
            self._record(person, "sent", reply, attempt + throttles + 1)
            result.sent += 1
            return "sent"

    async def _ready(self, transport: Transport) -> bool:
        """Wait out a hold the service asked for and the rate limit, and connect; False
        when the run stops, or the channel did, first."""
        while True:
            if await self._pause(self.hold_until - self.clock()):
                return False
            if self.bucket is None or self.bucket.take():
                break
            # A hold that began during this pause is waited out before the token is taken.
            if await self._pause(self.bucket.delay()):
                return False
        if transport.is_open:
            return True
        try:
            return await self._connect(transport) == "open"
        except ChannelError as exc:
            self._stop_channel(exc)
            return False

    def _opted_out(self, person: Person) -> Disposition:
        """On the opt-out list since the plan was made (unsubscribed, forgotten, bounced
        elsewhere): not sent. The log line leaves the address out: a forgotten person's
        address must not be written again after 'mailer person forget' removed it."""
        # An UPDATE: the row of a person forgotten meanwhile is gone and stays gone.
        self.writes.finish(self.mailing, person.email, "suppressed", "on the opt-out list")
        self.log.write(self.logged_as, self.member.id, "-", "suppressed", "-", "opted out")
        self.result.skipped += 1
        self.result.suppressed += 1
        return "suppressed"

    def _bounced(self, person: Person, exc: RecipientRefusedError) -> None:
        # An address that does not exist goes on the network's opt-out list, so no
        # member's list brings it back.
        with Suppression.in_state_dir(self.factory.network.state_dir) as suppression:
            suppression.add(person.email, reason="bounced", note=f"{self.member.id}: {exc}")

    def _stop_channel(self, exc: ChannelError) -> None:
        if not self.result.error:
            self.result.error = str(exc)
            self.log.write(self.logged_as, self.member.id, "-", "channel-stopped", "-", exc)
