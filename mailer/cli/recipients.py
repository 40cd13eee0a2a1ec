"""Commands for the members' recipient lists: check one, merge all."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailer.cli._common import (
    EXIT_FAILED,
    Failure,
    State,
    console,
    finish,
    pass_state,
    reports_errors,
)

if TYPE_CHECKING:
    from mailer.recipients import Conflict, ListReport

SHOWN = 10  # invalid rows and warnings listed per file; --json has them all

LABELS = {
    "sv": (
        "lista",
        "kodning",
        "avgr.",
        "rader",
        "giltiga",
        "ogiltiga",
        "dubbl. i filen",
        "dubbl. i andras",
        "spärrade",
        "slutligt",
    ),
    "en": (
        "list",
        "encoding",
        "delim.",
        "rows",
        "valid",
        "invalid",
        "dup. in file",
        "dup. of others",
        "suppressed",
        "final",
    ),
}
_WORDS = {
    "sv": {
        "invalid": "ogiltig",
        "warning": "varning",
        "conflict": "konflikt",
        "more": "… och {0} till i {1}",
        "people": "{0} personer; var och en får e-post från en medlem.",
        "suppressed": "{0} personer på spärrlistan lämnades utanför.",
        "written": "Den sammanslagna listan skrevs till {0}",
        "check": "Kontroll av listor",
        "lists": "{0}: medlemmarnas listor",
        "read_as": "{0}: läst som {1}; kolumner: {2}",
    },
    "en": {
        "invalid": "invalid",
        "warning": "warning",
        "conflict": "conflict",
        "more": "… and {0} more in {1}",
        "people": "{0} people; each gets mail from one member.",
        "suppressed": "{0} people on the opt-out list were left out.",
        "written": "Merged list written to {0}",
        "check": "List check",
        "lists": "{0}: member lists",
        "read_as": "{0}: read as {1}; columns: {2}",
    },
}
_DELIMITERS = {",": ",", ";": ";", "\t": "tab", None: ""}


@contextmanager
def list_errors_in(language: str) -> Iterator[None]:
    """Show an unreadable list's one line in the network's language."""
    from mailer.errors import ListError
    from mailer.fields import shown

    try:
        yield
    except ListError as exc:
        # The file name in the line is the member's: escaped, like everywhere in a report.
        raise Failure(shown(exc.in_language(language)), exc.exit_code) from None


# json.dumps escapes C0 control characters but writes C1 ones (U+009B is CSI on some
# terminals) and line separators raw; a \u escape is as valid inside a JSON string.
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")


def _json(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _word(language: str, key: str, *args: object) -> str:
    return _WORDS.get(language, _WORDS["en"])[key].format(*args)


@click.group()
def recipients() -> None:
    """Check and merge the member organisations' recipient lists."""


def _report_table(reports: list[ListReport], title: str, language: str) -> None:
    from rich.table import Table
    from rich.text import Text

    from mailer.fields import shown

    # File and sheet names come from the member: shown escaped and as plain text, so a
    # control character or a [bracket] in one cannot restyle or move the terminal.
    table = Table(title=Text(shown(title)), title_justify="left")
    for i, col in enumerate(LABELS.get(language, LABELS["en"])):
        table.add_column(
            col,
            justify="left" if i < 3 else "right",
            min_width=max((len(shown(r.path)) for r in reports), default=4) if i == 0 else None,
        )
    for r in reports:
        encoding = r.encoding if r.sheet is None else f"xlsx: {shown(r.sheet)}"
        table.add_row(
            Text(shown(r.path)),
            Text(encoding),
            _DELIMITERS.get(r.delimiter, r.delimiter or ""),
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
    _formats(reports, language)
    for r in reports:
        for problem in r.invalid[:SHOWN]:
            out.print(f"[red]{_word(language, 'invalid')}[/red] ", end="", markup=True)
            out.print(problem.text(language), markup=False)
        if len(r.invalid) > SHOWN:
            out.print(_word(language, "more", len(r.invalid) - SHOWN, shown(r.path)), markup=False)
        for warning in r.warnings[:SHOWN]:
            out.print(f"[yellow]{_word(language, 'warning')}[/yellow] ", end="", markup=True)
            out.print(warning.text(language), markup=False)
        if len(r.warnings) > SHOWN:
            out.print(_word(language, "more", len(r.warnings) - SHOWN, shown(r.path)), markup=False)


def _formats(reports: list[ListReport], language: str) -> None:
    """Per file: the format recognised, the columns used and how they were chosen."""
    from mailer.fields import shown
    from mailer.lists import format_name, note_text
    from mailer.lists.messages import field_name

    out = console()
    for r in reports:
        if not r.format:
            continue
        used = ", ".join(f"{field_name(k, language)} ← {v!r}" for k, v in r.columns.items())
        line = _word(language, "read_as", shown(r.path), format_name(r.format, language), used)
        out.print(shown(line), markup=False)
        for note in r.notes:
            out.print(f"  {shown(note_text(note, language))}", markup=False)


def _conflicts(conflicts: list[Conflict], language: str) -> None:
    term = console()
    for c in conflicts:
        term.print(f"[yellow]{_word(language, 'conflict')}[/yellow] ", end="", markup=True)
        term.print(c.text(language), markup=False)


@recipients.command("merge")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the merged list as CSV to this file (formula-safe for spreadsheets).",
)
@click.option("--check-dns", is_flag=True, help="Also look up each domain's mail servers.")
@pass_state
@reports_errors
def recipients_merge(state: State, as_json: bool, out: Path | None, check_dns: bool) -> None:
    """Merge every member's list: one row per person, with one sending member each.

    People on the network's opt-out list (mailer unsubscribe) are left out, whoever
    lists them.
    """
    from mailer.export import write_merged_csv
    from mailer.fields import shown
    from mailer.suppression import merge_without_suppressed

    network = state.network
    language = network.network.language
    with list_errors_in(language):
        merged = merge_without_suppressed(network, check_dns=check_dns)
    by_member = merged.by_member()
    if out:
        write_merged_csv(merged.people, out)
    if as_json:
        click.echo(
            _json(
                {
                    "people": len(merged.people),
                    "suppressed": merged.suppressed,
                    "lists": [r.as_dict(language) for r in merged.reports],
                    "senders": {m.id: len(by_member.get(m.id, [])) for m in network.members},
                    "conflicts": [c.as_dict() for c in merged.conflicts],
                }
            )
        )
        return
    _report_table(merged.reports, _word(language, "lists", network.network.name), language)
    _conflicts(merged.conflicts, language)
    term = console()
    term.print(_word(language, "people", len(merged.people)), markup=False)
    if merged.suppressed:
        term.print(_word(language, "suppressed", merged.suppressed), markup=False)
    if out:
        term.print(_word(language, "written", shown(out)), markup=False)


def _check_language(state: State, chosen: str | None) -> str:
    """--language, else the network's when there is a network.toml, else Swedish."""
    if chosen:
        return chosen
    from mailer.errors import MailerError

    try:
        return state.network.network.language
    except MailerError:
        return "sv"


@recipients.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--check-dns", is_flag=True, help="Also look up each domain's mail servers.")
@click.option("--sheet", metavar="NAME", help="For .xlsx files: the sheet (default: the first).")
@click.option(
    "--language",
    type=click.Choice(["sv", "en"]),
    help="Language of the report (default: the network's, else sv).",
)
@pass_state
@reports_errors
def recipients_check(
    state: State,
    files: tuple[Path, ...],
    as_json: bool,
    check_dns: bool,
    sheet: str | None,
    language: str | None,
) -> None:
    """Check list FILES before forwarding them; needs no network.toml.

    Exits with 1 when a row is invalid, 2 when a file cannot be read at all.
    """
    from mailer.recipients import check_files

    lang = _check_language(state, language)
    with list_errors_in(lang):
        reports = check_files(files, check_dns=check_dns, sheet=sheet)
    if as_json:
        click.echo(_json([r.as_dict(lang) for r in reports]))
    else:
        _report_table(reports, _word(lang, "check"), lang)
    if any(r.invalid for r in reports):
        finish(EXIT_FAILED)
