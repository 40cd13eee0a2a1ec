"""What follows from each message read: the journal row, the opt-out list, a count.

A bounce is matched to the message it returns by that message's Message-ID (each person's
message has its own) and the failed recipient; its outcome goes on that journal row.
Permanent failures put the address on the opt-out list (reason ``bounced``); soft ones are
counted, and enough of them in different mailings over long enough count as permanent
(:class:`SoftBounces`). An unsubscribe mail is honoured with a valid token, or from the
address itself when the member's own mail system vouches for the sender. Replies are
listed, auto-replies and the rest counted. Every message read is remembered by its
Message-ID, so reading it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from mailer.addresses import AddressError, normalise_address
from mailer.config import Network
from mailer.errors import ConfigError
from mailer.i18n import N_, _, ngettext
from mailer.inbox import dsn
from mailer.inbox.classify import Classified, Unreadable, classify, header, parse
from mailer.inbox.sources import Raw, read_paths
from mailer.journal import Bounce, Delivery, InboxRecord, Journal
from mailer.suppression import Suppression


@dataclass(frozen=True, slots=True)
class SoftBounces:
    """When soft bounces count as permanent: ``count`` in different mailings, the first
    and the last at least ``days`` apart."""

    count: int = 3
    days: int = 14


# What was done with a message, as a code (``--json``, the journal) and as words for a
# person. A message read again names what was done the first time by its code.
OUTCOMES = {
    "opted-out": N_("opted out (bounced for good)"),
    "already-opted-out": N_("already opted out"),
    "soft-counted": N_("soft bounce counted"),
    "soft-opted-out": N_("opted out (soft bounces in several mailings)"),
    "bounce-recorded": N_("bounce recorded (not the address: the address stays)"),
    "not-matched": N_("not matched to a message sent"),
    "unsubscribed": N_("unsubscribed"),
    "already-listed": N_("already on the opt-out list"),
    "refused": N_("refused: the token is not genuine"),
    "unproven": N_("left alone: no token and the sender is not proven; check by hand"),
    "not-ours": N_("left alone: not from anyone this network mails"),
    "listed": N_("listed for the coordinator"),
    "counted": N_("counted"),
    "late": N_("counted (delivery is late; nothing failed yet)"),
    "loop": N_("left alone: our own message came back (a forwarding loop)"),
    "left-alone": N_("left alone"),
    "already-read": N_("already read; nothing changed"),
    "skipped": N_("skipped"),
}


def outcome_text(codes: str) -> str:
    """What the codes (comma-separated) of an earlier read say, in the current language."""
    return "; ".join(_(OUTCOMES[c]) if c in OUTCOMES else c for c in codes.split(",") if c)


@dataclass(slots=True)
class Handled:
    """One message read and what was done; ``kind`` is ``skipped`` when it was not read.

    ``outcome`` is what was done as codes (:data:`OUTCOMES`, comma-separated), ``action``
    the same in words, in the language of the run."""

    where: str
    kind: str
    action: str
    message_id: str | None = None
    person: str | None = None
    mailing: str | None = None
    member: str | None = None
    detail: str = ""
    outcome: str = ""

    def __post_init__(self) -> None:
        if self.kind == "skipped" and not self.outcome:
            self.outcome = "skipped"

    def act(self, code: str, text: str | None = None) -> None:
        """Record what was done: its code, and its words (by default the code's own)."""
        words = text if text is not None else _(OUTCOMES[code])
        codes = [c for c in self.outcome.split(",") if c]
        if code not in codes:
            codes.append(code)
        self.outcome = ",".join(codes)
        if not self.action:
            self.action = words
        elif words not in self.action:
            self.action += "; " + words

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(slots=True)
class InboxRun:
    messages: list[Handled] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(m.kind for m in self.messages)


def import_mail(
    network: Network,
    paths: Iterable[Path],
    *,
    member: str | None = None,
    soft: SoftBounces = SoftBounces(),
) -> InboxRun:
    """Read saved mail and act on each message; InboxError for a path that is not there,
    ConfigError for a member the network does not have."""
    known_member(network, member)
    run = InboxRun()
    with (
        Journal.in_state_dir(network.state_dir) as journal,
        Suppression.in_state_dir(network.state_dir) as suppression,
    ):
        reader = Reader(network, journal, suppression, member, soft)
        run.messages.extend(reader.handle_paths(paths))
    return run


# Who an unsubscribe mail's token names: the address, or TokenError (ConfigError when
# the key to check it is missing).
TokenCheck = Callable[[str], str]


def known_member(network: Network, member: str | None) -> None:
    """ConfigError unless ``member`` is None or one of the network's members."""
    known = [m.id for m in network.members]
    if member is not None and member not in known:
        raise ConfigError(
            _("no member '{member}' in the network").format(member=member),
            hint=_("one of: {members}").format(members=", ".join(known)),
        )


class Reader:
    """Handles one message at a time against an open journal and opt-out list.

    ``tokens`` checks an unsubscribe mail's token; by default with the network's signing
    key (a member's machine, which has no key, checks them against its bundle instead)."""

    def __init__(
        self,
        network: Network,
        journal: Journal,
        suppression: Suppression,
        member: str | None,
        soft: SoftBounces,
        tokens: TokenCheck | None = None,
    ) -> None:
        self.network, self.journal, self.suppression = network, journal, suppression
        self.member, self.soft = member, soft
        self.tokens = tokens or self._signed_by_network

    def handle_paths(self, paths: Iterable[Path]) -> Iterator[Handled]:
        """Each saved message under ``paths`` handled; what is not a message, skipped."""
        for item in read_paths(paths):
            if isinstance(item, Raw):
                yield self.handle(item)
            else:
                yield Handled(item.where, "skipped", item.why)

    def handle(self, raw: Raw) -> Handled:
        try:
            msg = parse(raw.data)
            found = classify(msg)
        except Unreadable as exc:
            return Handled(raw.where, "skipped", str(exc))
        report_id = found.message_id or "sha256:" + hashlib.sha256(raw.data).hexdigest()
        done = Handled(raw.where, found.kind, "", message_id=report_id)
        before = self.journal.inbox_read(report_id)
        if before is not None:
            earlier = outcome_text(before)
            done.act(
                "already-read",
                _("already read, and then: {earlier}; nothing changed").format(earlier=earlier),
            )
            return done
        if found.message_id and self.journal.by_message_id(found.message_id):
            done.kind = found.kind = "loop"
        bounces: list[Bounce] = []
        if found.kind == "bounce":
            bounces = self._bounce(found, msg, done)
        elif found.kind == "unsubscribe":
            self._unsubscribe(found, msg, done)
        else:
            self._other(found, done)
        # The journal keeps the codes: a later read names them in its own language.
        record = InboxRecord(report_id, done.kind, done.mailing, done.person, done.outcome)
        if not self.journal.record_inbox(record, bounces):
            done.outcome, done.action = "", ""
            done.act("already-read", _("already read (by another run); nothing changed"))
        return done

    # -- what each class leads to ---------------------------------------------------

    def _bounce(self, found: Classified, msg: EmailMessage, done: Handled) -> list[Bounce]:
        report = found.report or dsn.Report([], None)
        when = _date(msg)
        bounces: list[Bounce] = []
        for failure in report.failures or [dsn.Failure(None, "5.0.0", "")]:
            row = self._original(report.original_id, failure.recipient)
            if row is None:
                done.act("not-matched")
                continue
            done.person, done.mailing, done.member = row.email, row.mailing, row.member
            done.detail = f"{failure.status} {failure.diagnostic}".strip()
            permanent = dsn.permanent(failure.status)
            bounce = Bounce(
                row.email, row.mailing, failure.status, failure.diagnostic, permanent, when
            )
            bounces.append(bounce)
            if permanent:
                added = self.suppression.add(row.email, reason="bounced", note=failure.status)
                done.act("opted-out" if added else "already-opted-out")
            elif dsn.soft(failure.status):
                self._soft(bounce, done)
            else:
                done.act("bounce-recorded")
        return bounces

    def _soft(self, bounce: Bounce, done: Handled) -> None:
        # Only soft ones count: a policy refusal (5.7.x) says nothing about the address.
        earlier = self.journal.soft_bounces(bounce.email)
        history = [(m, at) for m, at, status in earlier if dsn.soft(status)]
        history.append((bounce.mailing, bounce.at))
        mailings = len({mailing for mailing, _at in history})
        first = dt.datetime.fromisoformat(min(at for _m, at in history))
        last = dt.datetime.fromisoformat(max(at for _m, at in history))
        days = (last - first).days
        if mailings >= self.soft.count and last - first >= dt.timedelta(days=self.soft.days):
            note = f"{mailings} soft bounces, last {bounce.status}"
            self.suppression.add(bounce.email, reason="bounced", note=note)
            text = _("opted out ({count} soft bounces over {days} days)")
            done.act("soft-opted-out", text.format(count=mailings, days=days))
            return
        text = ngettext(
            "soft bounce counted ({count} of {limit} mailing)",
            "soft bounce counted ({count} of {limit} mailings)",
            self.soft.count,
        )
        done.act("soft-counted", text.format(count=mailings, limit=self.soft.count))

    def _original(self, message_id: str | None, recipient: str | None) -> Delivery | None:
        """The delivery a failure is about: by Message-ID, checked against the recipient;
        without a Message-ID, the latest message sent to the recipient."""
        address = _normalised(recipient) if recipient else None
        row = self.journal.by_message_id(message_id) if message_id else None
        if row is not None and address is not None and row.email != address:
            row = None  # a report about someone else on the same message: not ours to match
        if row is None and message_id is None and address is not None:
            row = self.journal.last_sent_to(address, self.member)
        if row is not None and self.member is not None and row.member != self.member:
            return None
        return row

    def _unsubscribe(self, found: Classified, msg: EmailMessage, done: Handled) -> None:
        email = self._token_address(found.token, done) if found.token else None
        if found.token and email is None:
            return  # a token that is not genuine: done.action says why
        if email is None:
            sender = _normalised(found.sender) if found.sender else None
            row = self.journal.last_sent_to(sender, self.member) if sender else None
            if sender is None or row is None:
                done.act("not-ours")
                return
            if not vouched_for(msg, sender):
                done.person = sender
                done.act("unproven")
                return
            email = sender
        row = self.journal.last_sent_to(email, self.member)
        done.person = email
        if row is not None:
            done.mailing, done.member = row.mailing, row.member
        added = self.suppression.add(email, reason="unsubscribed", note="by mail")
        done.act("unsubscribed" if added else "already-listed")

    def _token_address(self, token: str, done: Handled) -> str | None:
        from mailer.tokens import TokenError

        try:
            return self.tokens(token)
        except (TokenError, ConfigError) as exc:
            done.act("refused", _("refused: {reason}").format(reason=exc.message))
            return None

    def _signed_by_network(self, token: str) -> str:
        from mailer.tokens import Signer, unsubscribe_purpose

        signer = Signer.from_env(self.network, why=_("an unsubscribe mail's token"))
        return signer.verify(unsubscribe_purpose(self.network), token)

    def _other(self, found: Classified, done: Handled) -> None:
        row = None
        # The message a reply or a delay is about; a loop is that message itself.
        about = [*found.refers_to, *(found.report.original_id for _r in [0] if found.report)]
        if found.kind == "loop" and found.message_id:
            about.insert(0, found.message_id)
        for message_id in filter(None, about):
            if row := self.journal.by_message_id(message_id):
                break
        if row is None and found.sender and found.kind in ("reply", "auto-reply"):
            sender = _normalised(found.sender)
            row = self.journal.last_sent_to(sender, self.member) if sender else None
        if row is not None:
            done.person, done.mailing, done.member = row.email, row.mailing, row.member
        codes = {"reply": "listed", "auto-reply": "counted", "delay": "late", "loop": "loop"}
        done.act(codes.get(found.kind, "left-alone"))
        if found.kind == "reply":
            done.detail = found.first_lines


def vouched_for(msg: EmailMessage, sender: str) -> bool:
    """Whether the member's own mail system vouches for the From address: Exchange marks
    mail from its own organisation, and the receiving system's (topmost)
    Authentication-Results says DMARC passed for the sender's domain."""
    if header(msg, "X-MS-Exchange-Organization-AuthAs").lower() == "internal":
        return True
    results = header(msg, "Authentication-Results").lower()
    domain = sender.rpartition("@")[2]
    found = re.search(r"\bdmarc=pass\b[^;]*header\.from=([\w.-]+)", results)
    return bool(found and found.group(1) == domain)


def _normalised(address: str) -> str | None:
    try:
        return normalise_address(address)
    except AddressError:
        return None


def _date(msg: EmailMessage) -> str:
    """When the report says it was written (so an old mailbox counts right), else now."""
    try:
        when = parsedate_to_datetime(header(msg, "Date"))
    except (TypeError, ValueError, IndexError):
        when = dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")
