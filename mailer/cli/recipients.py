"""Commands for the members' recipient lists: check one, merge all."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailer.cli._common import EXIT_FAILED, State, console, pass_state, reports_errors

if TYPE_CHECKING:
    from mailer.recipients import ListReport


@click.group()
def recipients() -> None:
    """Check and merge the member organisations' recipient lists."""


def _report_table(reports: list[ListReport], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in (
        "list",
        "encoding",
        "rows",
        "valid",
        "invalid",
        "dup. in file",
        "dup. of others",
        "suppressed",
        "final",
    ):
        table.add_column(col, justify="left" if col in ("list", "encoding") else "right")
    for r in reports:
        table.add_row(
            str(r.path),
            r.encoding,
            str(r.rows),
            str(r.valid),
            str(len(r.invalid)),
            str(r.duplicates_in_file),
            str(r.duplicates_of_others),
            str(r.suppressed),
            str(r.final),
        )
    out = console()
    out.print(table)
    for r in reports:
        for problem in r.invalid[:10]:
            out.print(f"[red]invalid[/red] {problem}", markup=True)
        if len(r.invalid) > 10:
            out.print(f"  … and {len(r.invalid) - 10} more in {r.path}")
        for warning in r.warnings[:10]:
            out.print(f"[yellow]warning[/yellow] {warning}", markup=True)


@recipients.command("merge")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the merged list as CSV to this file.",
)
@pass_state
@reports_errors
def recipients_merge(state: State, as_json: bool, out: Path | None) -> None:
    """Merge every member's list: one row per person, with one sending member each."""
    from mailer.export import write_merged_csv
    from mailer.recipients import merge

    network = state.network
    merged = merge(network)
    by_member = merged.by_member()
    if out:
        write_merged_csv(merged.people, out)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "people": len(merged.people),
                    "lists": [r.as_dict() for r in merged.reports],
                    "senders": {m.id: len(by_member.get(m.id, [])) for m in network.members},
                    "conflicts": [
                        {
                            "email": c.email,
                            "field": c.field,
                            "kept": c.kept,
                            "kept_from": c.kept_from,
                            "dropped": c.dropped,
                            "dropped_from": c.dropped_from,
                        }
                        for c in merged.conflicts
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    _report_table(merged.reports, f"{network.network.name}: member lists")
    term = console()
    for c in merged.conflicts:
        term.print(
            f"[yellow]conflict[/yellow] {c.email}: {c.field} {c.kept!r} "
            f"(from {c.kept_from}, the sender) kept over {c.dropped!r} "
            f"(from {c.dropped_from})",
            markup=True,
        )
    term.print(f"{len(merged.people)} people; each gets mail from one member.")
    if out:
        term.print(f"Merged list written to {out}")


@recipients.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--check-dns", is_flag=True, help="Also look up each domain's mail servers.")
@reports_errors
def recipients_check(files: tuple[Path, ...], as_json: bool, check_dns: bool) -> None:
    """Check list FILES before forwarding them; needs no network.toml.

    Exits with 1 when a row is invalid, 2 when a file cannot be read at all.
    """
    from mailer.recipients import check_files

    reports = check_files(files, check_dns=check_dns)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        _report_table(reports, "List check")
    if any(r.invalid for r in reports):
        sys.exit(EXIT_FAILED)
