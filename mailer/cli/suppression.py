"""Commands for the network-wide opt-out list: unsubscribe, suppressed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailer.cli._common import EXIT_FAILED, Failure, State, console, pass_state, reports_errors
from mailer.cli.translated import Command, option
from mailer.i18n import _, ngettext

if TYPE_CHECKING:
    from mailer.config import Network
    from mailer.suppression import Unsubscribed

# 'forgotten' is set by `mailer person forget`, which also drops the address itself.
REASON = click.Choice(["unsubscribed", "bounced", "other"])


@click.command(cls=Command)
@click.argument("addresses", nargs=-1, metavar="ADDRESS...")
@option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read addresses from this file: a list with an e-mail column, or one per line.",
)
@option(
    "--reason", type=REASON, default="unsubscribed", show_default=True, help="Why, for the record."
)
@option("--note", default="", help="A short note kept with each entry (e.g. a ticket).")
@option(
    "--token",
    "tokens_",
    multiple=True,
    metavar="TOKEN",
    help="A signed token from a one-click unsubscribe URL (for a web form or a mailbox "
    "rule to call): verified with the network's key, then its person is added.",
)
@pass_state
@reports_errors
def unsubscribe(
    state: State,
    addresses: tuple[str, ...],
    files: tuple[Path, ...],
    reason: str,
    note: str,
    tokens_: tuple[str, ...],
) -> None:
    """Put ADDRESS... on the network's opt-out list: never mailed again, by any member.

    The list is in the state folder (.mailer/suppression.sqlite3) and wins over every
    member's list, also when a member forwards the person again later. Exits with 1 when
    some values given were not addresses (the others are added). In a --file, blank and
    # comment lines are skipped; a line that is not an address stops the command with
    exit code 2 and nothing added.
    """
    from mailer.addresses import say
    from mailer.cli.recipients import list_errors
    from mailer.suppression import unsubscribe as add_to_list

    if not addresses and not files and not tokens_:
        raise click.UsageError(_("give one or more addresses, --file FILE or --token TOKEN"))
    network = state.network
    if tokens_:
        addresses = (*addresses, *_verified(network, tokens_))
        note = note or "one-click unsubscribe"
    with list_errors():
        result = add_to_list(
            network.state_dir, addresses, files=files, reason=reason, note=note, strict=True
        )
    err = console(stderr=True)
    for where, value, exc in result.rejected:
        err.print(f"{where}{value!r}: {say(exc.code)}", markup=False)
    if result.refused:
        bad = sum(1 for where, _value, _exc in result.rejected if where)
        refused = ngettext(
            "{count} line of the files is not an address; nothing was added (correct the "
            "line or remove it, then run the command again)",
            "{count} lines of the files are not addresses; nothing was added (correct the "
            "lines or remove them, then run the command again)",
            bad,
        )
        raise Failure(refused.format(count=bad), 2)
    if result.rejected and not result.added and not result.again:
        raise Failure(_("no valid addresses; nothing was added"), 2)
    click.echo(_added_line(result, reason))
    if result.rejected:
        raise click.exceptions.Exit(EXIT_FAILED)


def _verified(network: Network, tokens_: tuple[str, ...]) -> list[str]:
    """The addresses the tokens name. A forged or damaged token stops the command before
    anything is added; so does a rehearsal's token: it names a real person who asked for
    nothing."""
    from mailer.tokens import Signer, unsubscribe_purpose

    signer = Signer.from_env(network, why=_("checking an unsubscribe token"))
    purpose = unsubscribe_purpose(network)
    refused = _("nobody was unsubscribed")
    return [signer.verify(purpose, t, refused=refused) for t in tokens_]


def _added_line(result: Unsubscribed, reason: str) -> str:
    """What the command did, in one line."""
    from mailer.suppression import reason_name

    added = ngettext(
        "{count} address added to the opt-out list ({reason}).",
        "{count} addresses added to the opt-out list ({reason}).",
        result.added,
    ).format(count=result.added, reason=reason_name(reason))
    again = ngettext(
        "{count} was already on it.", "{count} were already on it.", result.again
    ).format(count=result.again)
    total = ngettext(
        "The list now holds {count} address: {path}",
        "The list now holds {count} addresses: {path}",
        result.total,
    ).format(count=result.total, path=result.path)
    return f"{added} {again} {total}"


@click.command(cls=Command)
@option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_state
@reports_errors
def suppressed(state: State, as_json: bool) -> None:
    """List the network's opt-out list: address, reason, date added.

    People who asked to be forgotten are shown without their address: only a salted
    hash of it is kept, which still stops any mail to them.
    """
    from mailer.dates import stored_moment
    from mailer.suppression import listed, reason_name

    network = state.network
    entries = listed(network.state_dir)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"email": e.email, "reason": e.reason, "note": e.note, "added_at": e.added_at}
                    for e in entries
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    rows = [
        (
            e.email or _("(forgotten)"),
            reason_name(e.reason),
            stored_moment(e.added_at, network.tz),
            e.note,
        )
        for e in entries
    ]
    if rows:
        _show(rows)
    console().print(
        ngettext(
            "{count} address suppressed.", "{count} addresses suppressed.", len(entries)
        ).format(count=len(entries)),
        markup=False,
    )


def _show(rows: list[tuple[str, str, str, str]]) -> None:
    """The list as a table; on a terminal too narrow for it, an entry per line."""
    from rich.padding import Padding
    from rich.table import Table

    from mailer.cli.recipients import fits

    table = Table(title=_("Opt-out list"), title_justify="left")
    # An address or a reason is never cut or broken; a date and a note wrap between words.
    table.add_column(_("address"), no_wrap=True)
    table.add_column(_("reason"), no_wrap=True)
    table.add_column(_("added"), min_width=len(_("added")))
    table.add_column(_("note"), min_width=len(_("note")))
    for row in rows:
        table.add_row(*row)
    out = console()
    if fits(table, out):
        out.print(table)
        return
    out.print(_("Opt-out list"), markup=False)
    for address, reason, added, note in rows:
        entry = _("{address}: {reason}, {added}").format(
            address=address, reason=reason, added=added
        )
        out.print(entry, markup=False, soft_wrap=False)
        if note:
            shown = out.render_str(note, markup=False)  # drops control characters
            out.print(Padding(shown, (0, 0, 0, 2)), soft_wrap=False)
