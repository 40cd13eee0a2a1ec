"""Commands for who registered and who came: registrations import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailer.cli._common import State, console, pass_state, reports_errors
from mailer.cli.translated import Group, option
from mailer.i18n import ngettext

if TYPE_CHECKING:
    from mailer.registrations import ImportReport


@click.group(cls=Group)
def registrations() -> None:
    """Who registered for a seminar (and who came), from a form tool's export."""


@registrations.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@option("--seminar", "seminar", type=int, required=True, help="The seminar's number.")
@option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
@reports_errors
def import_(state: State, file: Path, seminar: int, as_json: bool) -> None:
    """Import FILE (CSV or .xlsx) of who registered for SEMINAR, and who attended.

    The file needs an e-mail column or a token column (the code the invitation's
    registration link carried), which matches the invited person whatever address they
    typed. An attended column (närvarande, deltog: ja/nej, x) records attendance.
    Importing again updates. Rows that match nobody on the members' lists are listed and
    not stored.
    """
    from mailer.journal import Journal
    from mailer.registrations import import_registrations
    from mailer.suppression import merge_without_suppressed

    network = state.network
    people = merge_without_suppressed(network).people
    with Journal.in_state_dir(network.state_dir) as journal:
        report = import_registrations(network, journal, file, seminar=seminar, people=people)
    if as_json:
        click.echo(json.dumps(_as_json(report), ensure_ascii=False, indent=2))
    else:
        _say_imported(report, file, seminar)


def _as_json(report: ImportReport) -> dict[str, Any]:
    return {
        "file": str(report.path),
        "seminar": report.seminar,
        "rows": report.rows,
        "matched_by_token": report.by_token,
        "matched_by_address": report.by_address,
        "registered": report.registered,
        "attended": report.attended,
        "unmatched": [
            {"line": u.line, "value": u.value, "reason": u.reason} for u in report.unmatched
        ],
    }


def _say_imported(report: ImportReport, file: Path, seminar: int) -> None:
    out = console()
    values = {
        "file": file,
        "count": report.rows,
        "matched": report.matched,
        "by_token": report.by_token,
        "by_address": report.by_address,
        "registered": report.registered,
        "attended": report.attended,
        "seminar": seminar,
    }
    if report.attended is None:
        summary = ngettext(
            "{file}: {count} row; {matched} matched ({by_token} by token, {by_address} by "
            "address): {registered} registered for seminar {seminar}.",
            "{file}: {count} rows; {matched} matched ({by_token} by token, {by_address} by "
            "address): {registered} registered for seminar {seminar}.",
            report.rows,
        )
    else:
        summary = ngettext(
            "{file}: {count} row; {matched} matched ({by_token} by token, {by_address} by "
            "address): {registered} registered, {attended} attended for seminar {seminar}.",
            "{file}: {count} rows; {matched} matched ({by_token} by token, {by_address} by "
            "address): {registered} registered, {attended} attended for seminar {seminar}.",
            report.rows,
        )
    out.print(summary.format(**values), markup=False)
    for u in report.unmatched:
        out.print(f"{file}:{u.line}: {u.value}: {u.reason}", markup=False)
    if report.unmatched:
        nobody = ngettext(
            "{count} row matched nobody and was not stored.",
            "{count} rows matched nobody and were not stored.",
            len(report.unmatched),
        )
        out.print(nobody.format(count=len(report.unmatched)), markup=False)
