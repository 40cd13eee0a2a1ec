"""What each member command does, so that ``mailer.cli.bundle`` only parses and prints.

Each function opens what it needs (bundle, channel file, journals), refuses a bundle that
is expired or superseded, and returns what the command shows.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mailer.bundle import sentfrom
from mailer.bundle.member import (
    Bundle,
    ChannelFile,
    load_channel_file,
    member_journal,
    member_rehearsal,
    member_state_dir,
    open_bundle,
)
from mailer.bundle.optouts import Applied, apply_note
from mailer.bundle.reports import make_report
from mailer.bundle.revocation import ensure_not_superseded, load_supersessions
from mailer.bundle.signing import Key
from mailer.campaign.factory import MessageFactory
from mailer.campaign.plan import Plan, make_plan
from mailer.config import Channel, GraphChannel, Network, SmtpChannel
from mailer.i18n import _, ngettext
from mailer.journal import Journal


def member_state(bundle_file: Path, state_dir: Path | None) -> Path:
    """The member's state folder: ``--state``, else .mailer beside the bundle."""
    return state_dir or bundle_file.resolve().parent / ".mailer"


@contextlib.contextmanager
def open_to_send(
    bundle_file: Path, key: Key, channel: ChannelFile | None, revocations: Sequence[Path] = ()
) -> Iterator[tuple[Bundle, Network]]:
    """The bundle, checked for the channel's network and member, still current and not
    superseded; and its network with the member's channel (if one was given)."""
    superseding = load_supersessions(list(revocations), key)
    with open_for_channel(bundle_file, key, channel) as (b, network):
        b.ensure_current()
        ensure_not_superseded(b, superseding)
        yield b, network


@contextlib.contextmanager
def open_for_channel(
    bundle_file: Path, key: Key, channel: ChannelFile | None
) -> Iterator[tuple[Bundle, Network]]:
    """The bundle, checked for the channel's network and member (when there is a channel
    file), and its network with the member's channel; current or not."""
    with open_bundle(
        bundle_file,
        key,
        network_id=channel.network if channel else None,
        member_id=channel.member if channel else None,
    ) as b:
        yield b, (b.with_channel(channel.channel) if channel else b.network)


@dataclass(frozen=True, slots=True)
class Inspection:
    """What 'mailer bundle check' shows."""

    bundle: Bundle
    network: Network
    sample: str  # the sample message as text
    html: str  # its HTML part

    @property
    def summary(self) -> str:
        """The bundle in a few labelled lines, in the network's time zone and language."""
        from mailer.dates import long_date
        from mailer.i18n import current_language

        b, seminar = self.bundle, self.bundle.mailing.seminar
        languages = ", ".join(sorted({p.language for p in b.people}))
        made = b.moment(b.manifest.created_at)
        if b.expires_at:
            made = _("{made}; send it before {expires}").format(
                made=made, expires=b.moment(b.expires_at)
            )
        count = len(b.people)
        rows = [
            (_("Made:"), made),
            (_("Network:"), f"{self.network.network.name} ({b.network_id})"),
            (_("Member:"), f"{b.member.name} ({b.member.id})"),
            (
                _("Mailing:"),
                f"{b.mailing.id}: {seminar.title_in(current_language())}, "
                f"{long_date(seminar.date, current_language())}",
            ),
            (
                _("People:"),
                ngettext(
                    "{count} (languages: {languages})", "{count} (languages: {languages})", count
                ).format(count=count, languages=languages),
            ),
        ]
        # Labels in any language line up: as wide as the widest, and two spaces.
        width = max(len(label) for label, _value in rows) + 2
        lines = [_("Bundle {path}: signature and checksums OK").format(path=b.path)]
        lines += [f"{label:{width}}{value}" for label, value in rows]
        return "\n".join(lines)


def inspect_bundle(
    bundle_file: Path,
    key: Key,
    *,
    channel_file: Path | None = None,
    address: str | None = None,
    revocations: Sequence[Path] = (),
) -> Inspection:
    """Verify a bundle and render one message as its person will get it."""
    from mailer.preview import describe, find_person

    channel = load_channel_file(channel_file) if channel_file else None
    with open_to_send(bundle_file, key, channel, revocations) as (b, network):
        person = find_person(b.people, address)
        view = describe(b.factory(network).build(person, b.member), b.member)
        text = view.text
        if channel is None:
            # The bundle only carries the sender's address; the channel is the member's own.
            rest = text.partition("\n")[2]
            text = _("Channel:  yours, from CHANNEL.toml (pass --channel to check it too)")
            text += "\n" + rest
        return Inspection(b, network, text, view.html)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything 'mailer bundle send' hands to the send path."""

    bundle: Bundle
    plan: Plan
    factory: MessageFactory
    journal: Journal  # the one the send records in: the rehearsal's for a rehearsal
    state_dir: Path


@contextlib.contextmanager
def prepare_send(
    bundle_file: Path,
    key: Key,
    channel_file: Path,
    *,
    state_dir: Path | None,
    rehearsal: bool,
    resend: bool = False,
    resend_uncertain: bool = False,
    retry_failed: bool = False,
    revocations: Sequence[Path] = (),
    dry_run: bool = False,
) -> Iterator[Prepared]:
    """Open the bundle and the member's journal, and plan the member's send. A real send
    (not a dry run, not a rehearsal) claims its state folder (:mod:`.sentfrom`)."""
    channel = load_channel_file(channel_file)
    with (
        open_to_send(bundle_file, key, channel, revocations) as (b, network),
        contextlib.ExitStack() as stack,
    ):
        state = member_state(bundle_file, state_dir)
        # The member's own opt-out list ('bundle inbox', 'bundle suppress') is the one the
        # plan and the send read, not one beside the unpacked files.
        network.keep_state_in(member_state_dir(state, b.network_id))
        # Before any journal exists: an older bundle cannot be rehearsed.
        factory = b.factory(network, rehearsal=rehearsal)
        if not (rehearsal or dry_run):
            name = b.member.short_name or b.member.name
            sentfrom.claim(b.network_id, b.mailing.id, b.member.id, state, name=name)
        journal = stack.enter_context(member_journal(state, b.network_id))
        # As with 'mailer send --via': the rehearsal records only in its own journal.
        practice = stack.enter_context(member_rehearsal(state, b.network_id)) if rehearsal else None
        plan = make_plan(
            network,
            b.mailing,
            journal,
            merged=b.merged,
            orgs=[b.member.id],
            resend=resend,
            resend_uncertain=resend_uncertain,
            retry_failed=retry_failed,
            rehearsal=practice,
        )
        yield Prepared(b, plan, factory, practice or journal, journal.path.parent)


@dataclass(frozen=True, slots=True)
class Written:
    """A report written by :func:`write_report`."""

    path: Path
    people: int  # in the bundle
    counts: dict[str, int]  # state -> people, from the member's journal


def write_report(
    bundle_file: Path,
    key: Key,
    *,
    out: Path | None,
    state_dir: Path | None,
    unsubscribed: Sequence[str] = (),
    bounced: Sequence[str] = (),
) -> Written:
    """Write the member's report (default: MAILING-MEMBER-report.json here), with what
    'mailer bundle inbox' read back from the member's mailbox."""
    from mailer.inbox.bundle import read_back

    with open_bundle(bundle_file, key) as b:
        back = read_back(b, member_state(bundle_file, state_dir))
        unsubscribed = [*unsubscribed, *back.unsubscribed]
        bounced = [*bounced, *back.bounced]
        with member_journal(member_state(bundle_file, state_dir), b.network_id) as journal:
            data = make_report(b, journal, key, unsubscribed=unsubscribed, bounced=bounced)
            counts = journal.counts(b.mailing.id).get(b.member.id, {})
        target = out or Path(f"{b.mailing.id}-{b.member.id}-report.json")
        target.write_bytes(data)
        return Written(target, len(b.people), counts)


def apply_opt_outs(
    bundle_file: Path, note: Path, key: Key, state_dir: Path | None
) -> tuple[Applied, str]:
    """Apply the coordinator's opt-out note to the member's opt-out list ('mailer bundle
    suppress'): what was done, and when the note was made as the member reads it."""
    with open_bundle(bundle_file, key) as b:
        applied = apply_note(b, note, key, member_state(bundle_file, state_dir))
        return applied, b.moment(applied.made_at)


def credentials_ready(channel: Channel) -> str | None:
    """Whether the secret the member's channel logs in with is there, without showing it:
    a line saying where it was found, or ConfigError saying what to set. None for a
    channel that needs none (a Maildir).

    A dry run says it, so that the real send does not stop at its first login.
    """
    if isinstance(channel, SmtpChannel):
        if channel.auth == "oauth2":
            assert channel.client_secret_env is not None  # the config requires it
            channel.client_secret()
            return _("{server}: the OAuth2 client secret is set in {variable} (not shown).").format(
                server=channel.host, variable=channel.client_secret_env
            )
        if channel.password() is None:
            return _("{server}: logs in without a password.").format(server=channel.host)
        if channel.password_env and os.environ.get(channel.password_env):
            return _("{server}: the password is set in {variable} (not shown).").format(
                server=channel.host, variable=channel.password_env
            )
        return _("{server}: the password is in the system keyring (not shown).").format(
            server=channel.host
        )
    if isinstance(channel, GraphChannel):
        if channel.client_secret_env:
            channel.client_secret()
            variable = channel.client_secret_env
            line = _("{mailbox}: the OAuth2 client secret is set in {variable} (not shown).")
        else:
            assert channel.client_certificate_key_env is not None  # the config requires it
            channel.certificate_key()
            variable = channel.client_certificate_key_env
            line = _("{mailbox}: the certificate's private key is set in {variable} (not shown).")
        return line.format(mailbox=channel.mailbox, variable=variable)
    return None
