"""``mailer inbox fetch``: read each member's own mailbox where its channel can reach it.

An SMTP channel with an ``imap_host`` is read over IMAP (:mod:`.imap`), a Graph channel
through Microsoft Graph (:mod:`.graph`). One mailbox that cannot be read stops that member
only, said in one line; the others are read.
"""

from __future__ import annotations

from mailer.config import GraphChannel, Member, Network, SmtpChannel
from mailer.errors import ConfigError, MailerError
from mailer.i18n import _
from mailer.inbox.handling import Handled, InboxRun, Reader, SoftBounces, known_member
from mailer.journal import Journal
from mailer.suppression import Suppression


def readable(member: Member) -> bool:
    """Whether the member's channel names a mailbox the tool can read."""
    channel = member.channel
    return isinstance(channel, GraphChannel) or (
        isinstance(channel, SmtpChannel) and bool(channel.imap_host)
    )


def fetch_mail(
    network: Network,
    *,
    member: str | None = None,
    move_to: str | None = None,
    soft: SoftBounces = SoftBounces(),  # noqa: B008
) -> InboxRun:
    """Read what is new in the mailbox of each member (or the one asked for) whose channel
    reaches one; ConfigError when none does."""
    known_member(network, member)
    members = [m for m in network.members if (member is None or m.id == member) and readable(m)]
    if not members:
        problem = (
            _("no IMAP mailbox to read for the member '{member}' (and no Graph channel)").format(
                member=member
            )
            if member
            else _("no IMAP mailbox to read for any member (and no Graph channel)")
        )
        raise ConfigError(
            problem,
            hint=_(
                "set imap_host in the member's SMTP channel (the microsoft365 preset does), "
                "or give it a Graph channel"
            ),
        )
    run = InboxRun()
    with (
        Journal.in_state_dir(network.state_dir) as journal,
        Suppression.in_state_dir(network.state_dir) as suppression,
    ):
        for m in members:
            reader = Reader(network, journal, suppression, m.id, soft)
            read_mailbox(m, reader, journal, run, move_to)
    return run


def read_mailbox(
    member: Member, reader: Reader, journal: Journal, run: InboxRun, move_to: str | None
) -> None:
    """Read one member's mailbox into ``run``; a mailbox that cannot be read is one line."""
    import imaplib
    import ssl

    from mailer.inbox import graph, imap

    try:
        if isinstance(member.channel, GraphChannel):
            graph.read_graph(member, reader, journal, run, move_to)
        else:
            imap.read_imap(member, reader, journal, run, move_to)
    except (imaplib.IMAP4.error, OSError, ssl.SSLError, ValueError) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        text = _("IMAP: {error}").format(error=why)
        run.messages.append(Handled(member.id, "skipped", text, member=member.id))
    except MailerError as exc:  # Graph's answers, a token refused, a secret not set
        run.messages.append(Handled(member.id, "skipped", str(exc), member=member.id))
