"""Commands for the network-wide opt-out list: unsubscribe, suppressed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from mailer.cli._common import EXIT_FAILED, Failure, State, console, pass_state, reports_errors

# 'forgotten' is set by `mailer person forget`, which also drops the address itself.
REASON = click.Choice(["unsubscribed", "bounced", "other"])


def _file_addresses(path: Path) -> Iterator[tuple[int, str]]:
    """(line, raw address) from a list with an e-mail column, or one address per line."""
    from mailer.lists import list_error, read_list

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise list_error("missing", path) from None
    except OSError as exc:
        raise list_error("unreadable", path, why=exc.strerror) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel on Windows; addresses are ASCII
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "@" in first:
        # A plain list: an address per line; anything after a delimiter is a comment.
        for number, line in enumerate(text.splitlines(), 1):
            value = line.replace(";", ",").replace("\t", ",").split(",", 1)[0].strip()
            if value:
                yield number, value
        return
    for row in read_list(path).rows:
        yield row.line, row.values.get("email", "")


@click.command()
@click.argument("addresses", nargs=-1, metavar="ADDRESS...")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read addresses from this file: a list with an e-mail column, or one per line.",
)
@click.option(
    "--reason", type=REASON, default="unsubscribed", show_default=True, help="Why, for the record."
)
@click.option("--note", default="", help="A short note kept with each entry (e.g. a ticket).")
@click.option(
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
    some values were not addresses (the others are added).
    """
    from mailer.addresses import AddressError, normalise_address
    from mailer.suppression import Suppression

    if not addresses and not files and not tokens_:
        raise click.UsageError("give one or more addresses, --file FILE or --token TOKEN")
    network = state.network
    if tokens_:
        from mailer.tokens import Signer, unsubscribe_purpose

        signer = Signer.from_env(network, why="checking an unsubscribe token")
        # A forged or damaged token stops the command before anything is added.
        # So does a rehearsal's token: it names a real person who asked for nothing.
        purpose = unsubscribe_purpose(network)
        refused = "nobody was unsubscribed"
        verified = [signer.verify(purpose, t, refused=refused) for t in tokens_]
        addresses = (*addresses, *verified)
        note = note or "one-click unsubscribe"
    sv = network.network.language == "sv"
    raw: list[tuple[str, str]] = [("", a) for a in addresses]  # (where, value)
    from mailer.cli.recipients import list_errors_in

    with list_errors_in(network.network.language):
        for path in files:
            raw.extend((f"{path}:{line}: ", value) for line, value in _file_addresses(path))
    valid: list[str] = []
    err = console(stderr=True)
    bad = 0
    for where, value in raw:
        try:
            valid.append(normalise_address(value))
        except AddressError as exc:
            bad += 1
            err.print(
                f"{where}{value!r}: {_reason(exc.code, sv)}",
                markup=False,
            )
    if not valid and bad:
        raise Failure(
            "inga giltiga adresser; inget lades till"
            if sv
            else "no valid addresses; nothing was added",
            2,
        )
    with Suppression.in_state_dir(network.state_dir) as suppression:
        added = suppression.add_many(valid, reason=reason, note=note)
        total = len(suppression)
    again = len(set(valid)) - added
    if sv:
        click.echo(
            f"{added} tillagda på spärrlistan ({reason}); {again} fanns redan där. "
            f"Spärrlistan har nu {total} adresser: {suppression.path}"
        )
    else:
        click.echo(
            f"{added} added to the opt-out list ({reason}); {again} already on it. "
            f"The list now holds {total}: {suppression.path}"
        )
    if bad:
        sys.exit(EXIT_FAILED)


def _reason(code: str, sv: bool) -> str:
    from mailer.addresses import say

    return say(code, "sv" if sv else "en")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_state
@reports_errors
def suppressed(state: State, as_json: bool) -> None:
    """List the network's opt-out list: address, reason, date added.

    People who asked to be forgotten are shown without their address: only a salted
    hash of it is kept, which still stops any mail to them.
    """
    from mailer.suppression import FILENAME, Entry, Suppression

    network = state.network
    sv = network.network.language == "sv"
    entries: list[Entry] = []
    if (network.state_dir / FILENAME).exists():
        with Suppression.in_state_dir(network.state_dir) as suppression:
            entries = suppression.entries()
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
    from rich.table import Table

    forgotten = "(glömd)" if sv else "(forgotten)"
    table = Table(
        title="Spärrlista" if sv else "Opt-out list",
        title_justify="left",
    )
    for col in (
        ("adress", "orsak", "tillagd", "anteckning")
        if sv
        else (
            "address",
            "reason",
            "added",
            "note",
        )
    ):
        table.add_column(col)
    for e in entries:
        table.add_row(e.email or forgotten, e.reason, e.added_at[:10], e.note)
    out = console()
    if entries:
        out.print(table)
    out.print(
        f"{len(entries)} adresser spärrade." if sv else f"{len(entries)} addresses suppressed."
    )
