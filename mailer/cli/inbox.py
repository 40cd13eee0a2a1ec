"""Commands for what comes back by mail: ``mailer inbox import`` (saved mail) and
``mailer inbox fetch`` (each member's mailbox)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mailer.cli._common import EXIT_FAILED, State, console, finish, pass_state, reports_errors
from mailer.cli.translated import Group, option
from mailer.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from mailer.inbox import InboxRun

F = TypeVar("F", bound=Any)
# The classes as a person reads them; --json keeps the codes.
KIND_WORDS = {
    "bounce": N_("bounce"),
    "delay": N_("delay"),
    "auto-reply": N_("auto-reply"),
    "unsubscribe": N_("unsubscribe"),
    "reply": N_("reply"),
    "loop": N_("loop"),
    "unknown": N_("unknown"),
    "skipped": N_("skipped"),
}


def soft_options(func: F) -> F:
    func = option(
        "--soft-days",
        type=click.IntRange(0),
        default=14,
        show_default=True,
        help="...when the first and the last are at least this many days apart.",
    )(func)
    return option(
        "--soft-bounces",
        type=click.IntRange(1),
        default=3,
        show_default=True,
        help="Soft bounces (in different mailings) that count as a permanent one...",
    )(func)


@click.group(cls=Group)
def inbox() -> None:
    """Read what lands in the members' mailboxes: bounces, auto-replies, unsubscribes,
    replies."""


@inbox.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@option("--member", metavar="ID", help="The member whose mailbox this is.")
@option("--json", "as_json", is_flag=True, help="One JSON record per message read.")
@soft_options
@pass_state
@reports_errors
def inbox_import(
    state: State,
    paths: tuple[Path, ...],
    member: str | None,
    as_json: bool,
    soft_bounces: int,
    soft_days: int,
) -> None:
    """Read saved mail: PATH is a Maildir folder, an mbox file, .eml files or a folder of them.

    Bounces are matched to the message they return (by its Message-ID) and written on its
    journal row; addresses that bounce for good (or softly, again and again) go on the
    opt-out list. Unsubscribe mails are honoured, replies listed, auto-replies counted.
    Reading the same mail twice changes nothing. Exits with 1 when some messages could
    not be read (each is named).
    """
    from mailer.inbox import SoftBounces, import_mail

    run = import_mail(
        state.network,
        paths,
        member=member,
        soft=SoftBounces(count=soft_bounces, days=soft_days),
    )
    show(run, as_json)


@inbox.command("fetch")
@option("--member", metavar="ID", help="Only this member's mailbox.")
@option("--json", "as_json", is_flag=True, help="One JSON record per message read.")
@option(
    "--move-to",
    metavar="FOLDER",
    help="File each message handled into this folder (it must exist).",
)
@soft_options
@pass_state
@reports_errors
def inbox_fetch(
    state: State,
    member: str | None,
    as_json: bool,
    move_to: str | None,
    soft_bounces: int,
    soft_days: int,
) -> None:
    """Read what is new in each member's mailbox, then act as 'mailer inbox import' does.

    An SMTP channel's mailbox is read over IMAP (TLS): imap_host (the microsoft365 preset
    sets it), imap_port (993), its username and password, or with auth = "oauth2" its
    Entra ID app's token (XOAUTH2; the app needs IMAP.AccessAsApp). A Graph channel's
    mailbox is read through Microsoft Graph with the channel's app (Mail.ReadWrite).
    Reads only what arrived since the last fetch and never deletes anything. Exits with
    1 when a mailbox or a message could not be read (each is named).
    """
    from mailer.inbox import SoftBounces
    from mailer.inbox.fetch import fetch_mail

    soft = SoftBounces(count=soft_bounces, days=soft_days)
    show(fetch_mail(state.network, member=member, move_to=move_to, soft=soft), as_json)


def show(run: InboxRun, as_json: bool, epilogue: str | None = None) -> None:
    """Each message read (a JSON record each with ``as_json``; else lines, a summary and
    the ``epilogue``), then the exit code."""
    if as_json:
        for handled in run.messages:
            click.echo(json.dumps(handled.as_dict(), ensure_ascii=False))
    else:
        _print(run)
        if epilogue:
            console().print(epilogue, markup=False)
    finish(EXIT_FAILED if run.counts["skipped"] else 0)


def _print(run: InboxRun) -> None:
    out = console()
    for m in run.messages:
        kind = _(KIND_WORDS.get(m.kind, m.kind))
        if m.person and m.mailing:
            line = _("{where}: {kind} {person} ({mailing}): {action}")
        elif m.person:
            line = _("{where}: {kind} {person}: {action}")
        else:
            line = _("{where}: {kind}: {action}")
        line = line.format(
            where=m.where, kind=kind, person=m.person, mailing=m.mailing, action=m.action
        )
        out.print(f"{line} [{m.detail}]" if m.detail else line, markup=False)
    counts = ", ".join(
        f"{_(KIND_WORDS.get(kind, kind))} {n}" for kind, n in sorted(run.counts.items())
    )
    total = len(run.messages)
    summary = ngettext("{count} message read: {kinds}", "{count} messages read: {kinds}", total)
    out.print(summary.format(count=total, kinds=counts or "-"), markup=False)
