"""Commands for what comes back by mail: ``mailer inbox import`` (saved mail)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mailer.cli._common import EXIT_FAILED, State, console, finish, pass_state, reports_errors

if TYPE_CHECKING:
    from mailer.inbox import InboxRun

F = TypeVar("F", bound=Any)
_SUMMARY = {
    "sv": "{total} meddelanden lästa: {counts}",
    "en": "{total} messages read: {counts}",
}


def soft_options(func: F) -> F:
    func = click.option(
        "--soft-days",
        type=click.IntRange(0),
        default=14,
        show_default=True,
        help="...when the first and the last are at least this many days apart.",
    )(func)
    return click.option(
        "--soft-bounces",
        type=click.IntRange(1),
        default=3,
        show_default=True,
        help="Soft bounces (in different mailings) that count as a permanent one...",
    )(func)


@click.group()
def inbox() -> None:
    """Read what lands in the members' mailboxes: bounces, auto-replies, unsubscribes,
    replies."""


@inbox.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--member", metavar="ID", help="The member whose mailbox this is.")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per message read.")
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
    from mailer.errors import ConfigError
    from mailer.inbox import SoftBounces, import_mail

    network = state.network
    if member is not None and member not in {m.id for m in network.members}:
        raise ConfigError(f"no member {member!r} in the network", hint="see network.toml")
    run = import_mail(
        network, paths, member=member, soft=SoftBounces(count=soft_bounces, days=soft_days)
    )
    _show(run, as_json, network.network.language)


@inbox.command("fetch")
@click.option("--member", metavar="ID", help="Only this member's mailbox.")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per message read.")
@click.option(
    "--move-to",
    metavar="FOLDER",
    help="File each message handled into this IMAP folder (it must exist).",
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
    """Read what is new in each member's mailbox over IMAP (TLS), then act as
    'mailer inbox import' does.

    Uses the member's SMTP channel: imap_host (the microsoft365 preset sets it),
    imap_port (993), its username and password. Reads only what arrived since the last
    fetch and never deletes anything. Exits with 1 when a mailbox or a message could not
    be read (each is named).
    """
    from mailer.inbox import SoftBounces
    from mailer.inbox.imap import fetch_mail

    network = state.network
    soft = SoftBounces(count=soft_bounces, days=soft_days)
    run = fetch_mail(network, member=member, move_to=move_to, soft=soft)
    _show(run, as_json, network.network.language)


def _show(run: InboxRun, as_json: bool, language: str) -> None:
    if as_json:
        for handled in run.messages:
            click.echo(json.dumps(handled.as_dict(), ensure_ascii=False))
    else:
        _print(run, language)
    finish(EXIT_FAILED if run.counts["skipped"] else 0)


def _print(run: InboxRun, language: str) -> None:
    out = console()
    for m in run.messages:
        about = f" {m.person}" if m.person else ""
        about += f" ({m.mailing})" if m.mailing else ""
        detail = f" [{m.detail}]" if m.detail else ""
        out.print(f"{m.where}: {m.kind}{about}: {m.action}{detail}", markup=False)
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(run.counts.items()))
    text = _SUMMARY.get(language, _SUMMARY["en"])
    out.print(text.format(total=len(run.messages), counts=counts or "-"), markup=False)
