"""``mailer recipients hygiene``: the rows each member should delete from its own lists."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from mailer.cli._common import EXIT_FAILED, State, console, finish, pass_state, reports_errors
from mailer.cli.translated import Command, option
from mailer.i18n import N_, _

# One whole line per reason, so each language words it its own way.
_LINES = {
    "bounced": N_("{where}: {email}: bounced {since}"),
    "unsubscribed": N_("{where}: {email}: unsubscribed {since}"),
    "forgotten": N_("{where}: {email}: forgotten {since}"),
}


@click.command("hygiene", cls=Command)
@option("--org", "member", metavar="ID", help="Only this member's lists.")
@option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the rows as CSV (member, file, line, email, reason, since).",
)
@option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@pass_state
@reports_errors
def recipients_hygiene(state: State, member: str | None, out: Path | None, as_json: bool) -> None:
    """The rows in each member's own list files (file:line) whose address bounced for good,
    unsubscribed or was forgotten, so the member deletes them at the source.

    The opt-out list already keeps these people from being mailed. Exits with 1 while
    there are rows to delete.
    """
    from mailer.dates import stored_moment
    from mailer.inbox import hygiene

    network = state.network
    rows = hygiene(network, member=member)
    if out is not None:
        with out.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["member", "file", "line", "email", "reason", "since"])
            for r in rows:
                writer.writerow([r.member, r.path, r.line, r.email, r.reason, r.since])
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2))
    else:
        con = console()
        for r in rows:
            since = stored_moment(r.since, network.tz)
            where = f"{r.member}: {r.path}:{r.line}"
            con.print(
                _(_LINES[r.reason]).format(where=where, email=r.email, since=since), markup=False
            )
        if not rows:
            con.print(_("No rows to delete."), markup=False)
    finish(EXIT_FAILED if rows else 0)
