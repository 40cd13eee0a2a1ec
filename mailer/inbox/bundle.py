"""The way back on a member's machine: ``mailer bundle inbox``.

A member who sends its own share (``mailer bundle send``) gets the bounces, unsubscribe
mails and replies in its own mailbox, and the coordinator never sees that mailbox. The
member reads it here, against its own journal of the bundle (the Message-IDs it sent),
exactly as ``mailer inbox`` reads a coordinator's: saved mail, or the mailbox its
CHANNEL.toml reaches. What follows is recorded on the member's side: the bounce on its
journal row, and the address on the member's own opt-out record for that network, from
which ``mailer bundle report`` carries the permanent bounces and the unsubscribes back to
the coordinator (the report's ``bounced`` and ``unsubscribed``).

The member has no signing key, so an unsubscribe mail's token is checked against the
links the coordinator signed into the bundle: a token that is not one of them is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailer.bundle.commands import member_state, open_for_channel
from mailer.bundle.member import (
    Bundle,
    load_channel_file,
    member_journal,
    member_state_dir,
)
from mailer.bundle.signing import Key
from mailer.campaign.factory import SignedLinks
from mailer.i18n import _
from mailer.inbox.fetch import read_mailbox, readable
from mailer.inbox.handling import InboxRun, Reader, SoftBounces, TokenCheck
from mailer.suppression import FILENAME, Suppression


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What the member's mailbox said about the bundle's people, for the report."""

    bounced: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)


def bundle_inbox(
    bundle_file: Path,
    key: Key,
    *,
    paths: Iterable[Path] = (),
    channel_file: Path | None = None,
    state_dir: Path | None = None,
    move_to: str | None = None,
    soft: SoftBounces = SoftBounces(),  # noqa: B008
) -> InboxRun:
    """Read saved mail (``paths``) or, without them, the mailbox of the member's channel,
    against the member's journal of the bundle; BundleError for a bundle that is not
    genuine, ConfigError for a channel that reaches no mailbox."""
    from mailer.errors import ConfigError

    paths = list(paths)
    if paths and channel_file:
        raise ConfigError(
            _("give either the saved mail to read or --channel, not both"),
            hint=_("mailer bundle inbox BUNDLE PATH... or --channel CHANNEL.toml"),
        )
    channel = load_channel_file(channel_file) if channel_file else None
    if not paths and channel is None:
        raise ConfigError(
            _("give the saved mail to read, or --channel for the mailbox to read"),
            hint=_("mailer bundle inbox BUNDLE PATH... or --channel CHANNEL.toml"),
        )
    run = InboxRun()
    # Reading needs no current bundle: its bounces come back long after it expired.
    with open_for_channel(bundle_file, key, channel) as (b, network):
        state = member_state(bundle_file, state_dir)
        with (
            member_journal(state, b.network_id) as journal,
            Suppression.in_state_dir(member_state_dir(state, b.network_id)) as suppression,
        ):
            reader = Reader(network, journal, suppression, b.member.id, soft, bundle_tokens(b))
            if paths:
                run.messages.extend(reader.handle_paths(paths))
            elif not readable(b.member):
                raise ConfigError(
                    _("the channel in {path} reaches no mailbox to read").format(path=channel_file),
                    hint=_("set imap_host in its SMTP channel, or use a Graph channel"),
                )
            else:
                read_mailbox(b.member, reader, journal, run, move_to)
    return run


def bundle_tokens(bundle: Bundle) -> TokenCheck:
    """Who an unsubscribe mail's token names, by the links signed into the bundle."""
    from mailer.tokens import RehearsalTokenError, TokenError

    live = _tokens(bundle.links)
    rehearsal = _tokens(bundle.rehearsal_links or {})

    def check(token: str) -> str:
        if token in live:
            return live[token]
        if token in rehearsal:
            raise RehearsalTokenError(
                _("this link comes from a rehearsal: {refused}").format(
                    refused=_("nothing was done")
                )
            )
        raise TokenError(
            _("the token is not one of this bundle's"),
            hint=_("it was changed, cut short, or is from another mailing"),
        )

    return check


def _tokens(links: Mapping[str, SignedLinks]) -> dict[str, str]:
    # The token is the one-click URL's last value (tokens.with_token), and the mailto's
    # subject carries the same one (message.list_unsubscribe).
    return {
        signed.one_click.rpartition("token=")[2]: email
        for email, signed in links.items()
        if signed.one_click
    }


def read_back(bundle: Bundle, state_dir: Path) -> ReadBack:
    """The bundle's people that the member's mailbox showed bounced for good or asked to
    be unsubscribed (``bundle_inbox``), for ``mailer bundle report``."""
    from mailer import state

    where = member_state_dir(state_dir, bundle.network_id)
    if not state.known(where / FILENAME):
        return ReadBack()
    back = ReadBack()
    with Suppression.in_state_dir(where) as suppression:
        for person in bundle.people:
            entry = suppression.entry(person.email)
            if entry is not None and entry.reason == "bounced":
                back.bounced.append(person.email)
            elif entry is not None and entry.reason == "unsubscribed":
                back.unsubscribed.append(person.email)
    return back
