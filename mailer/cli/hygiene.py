"""``mailer recipients hygiene``: the rows each member should delete from its own lists."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from mailer.cli._common import EXIT_FAILED, State, console, finish, pass_state, reports_errors

_REASONS = {
    "sv": {"bounced": "studsade", "unsubscribed": "avregistrerad", "forgotten": "glömd"},
    "en": {"bounced": "bounced", "unsubscribed": "unsubscribed", "forgotten": "forgotten"},
}
_NONE = {"sv": "Inga rader att ta bort.", "en": "No rows to delete."}


@click.command("hygiene")
@click.option("--org", "member", metavar="ID", help="Only this member's lists.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the rows as CSV (member, file, line, email, reason, since).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@pass_state
@reports_errors
def recipients_hygiene(state: State, member: str | None, out: Path | None, as_json: bool) -> None:
    """The rows in each member's own list files (file:line) whose address bounced for good,
    unsubscribed or was forgotten, so the member deletes them at the source.

    The opt-out list already keeps these people from being mailed. Exits with 1 while
    there are rows to delete.
    """
    from mailer.inbox import hygiene

    network = state.network
    rows = hygiene(network, member=member)
    if out is not None:
        with out.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["member", "file", "line", "email", "reason", "since"])
            for r in rows:
                writer.writerow([r.member, r.path, r.line, r.email, r.reason, r.since])
    language = network.network.language if network.network.language in _REASONS else "en"
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2))
    else:
        con = console()
        for r in rows:
            reason = _REASONS[language][r.reason]
            con.print(
                f"{r.member}: {r.path}:{r.line}: {r.email}: {reason} {r.since[:10]}", markup=False
            )
        if not rows:
            con.print(_NONE[language], markup=False)
    finish(EXIT_FAILED if rows else 0)
