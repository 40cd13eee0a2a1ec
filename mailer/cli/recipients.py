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
from mailer.cli.translated import Group, option
from mailer.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mailer.config import Network
    from mailer.recipients import Conflict, ListReport

SHOWN = 10  # invalid rows and warnings listed per file; --json has them all

# The report table's columns, translated when it is shown.
LABELS = (
    N_("list"),
    N_("encoding"),
    N_("delim."),
    N_("rows"),
    N_("valid"),
    N_("invalid"),
    N_("dup. in file"),
    N_("dup. of others"),
    N_("suppressed"),
    N_("final"),
)
_DELIMITERS = {",": ",", ";": ";", "\t": "tab", None: ""}


@contextmanager
def list_errors() -> Iterator[None]:
    """Show an unreadable list's one line with the member's file name escaped."""
    from mailer.errors import ListError
    from mailer.fields import shown

    try:
        yield
    except ListError as exc:
        # The file name in the line is the member's: escaped, like everywhere in a report.
        raise Failure(shown(str(exc)), exc.exit_code) from None


# json.dumps escapes C0 control characters but writes C1 ones (U+009B is CSI on some
# terminals) and line separators raw; a \u escape is as valid inside a JSON string.
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")


def _json(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@click.group(cls=Group)
def recipients() -> None:
    """Check and merge the member organisations' recipient lists."""


def _report_table(reports: list[ListReport], title: str) -> None:
    """The per-file counts as a table; on a terminal too narrow for it, a stacked list
    (a file per line, its counts below, wrapped between words)."""
    from rich.table import Table
    from rich.text import Text

    from mailer.fields import shown

    # File and sheet names come from the member: shown escaped and as plain text, so a
    # control character or a [bracket] in one cannot restyle or move the terminal.
    table = Table(title=Text(shown(title)), title_justify="left")
    for i, col in enumerate(LABELS):
        table.add_column(
            _(col),
            justify="left" if i < 3 else "right",
            min_width=max((len(shown(r.path)) for r in reports), default=4) if i == 0 else None,
        )
    for r in reports:
        table.add_row(Text(shown(r.path)), *(Text(cell) for cell in _cells(r)))
    out = console()
    if not fits(table, out):
        _stacked(reports, title)
    else:
        out.print(table)
    _formats(reports)
    for r in reports:
        for problem in r.invalid[:SHOWN]:
            _line(problem.text(), label=("red", _("invalid row")))
        _more(len(r.invalid) - SHOWN, r.path)
        for warning in r.warnings[:SHOWN]:
            _line(warning.text(), label=("yellow", _("warning")))
        _more(len(r.warnings) - SHOWN, r.path)


def _cells(r: ListReport) -> list[str]:
    """A file's cells after its name, in the order of LABELS."""
    from mailer.fields import shown

    encoding = r.encoding if r.sheet is None else f"xlsx: {shown(r.sheet)}"
    delimiter = _DELIMITERS.get(r.delimiter, r.delimiter or "")
    counts = (r.rows, r.valid, len(r.invalid), r.duplicates_in_file, r.duplicates_of_others)
    return [encoding, delimiter, *map(str, counts), str(r.suppressed), str(r.final)]


def fits(table: Table, out: Console) -> bool:
    """Whether the table fits the terminal without cutting a word; piped output takes
    any width (a log or a file is not cut)."""
    import io

    from rich.console import Console
    from rich.measure import Measurement

    if not out.is_terminal:
        return True
    wide = Console(width=10_000, file=io.StringIO())
    return Measurement.get(wide, wide.options, table).minimum <= out.width


def _stacked(reports: list[ListReport], title: str) -> None:
    """Each file's name, then its counts as 'label value' items in columns: an item is
    never split between lines."""
    from rich.columns import Columns
    from rich.padding import Padding
    from rich.text import Text

    from mailer.fields import shown

    out = console()
    out.print(Text(shown(title)))
    for r in reports:
        out.print(Text(shown(r.path), style="bold"))
        pairs = zip(LABELS[1:], _cells(r), strict=True)
        items = [Text(f"{_(label)} {cell}") for label, cell in pairs if cell]
        out.print(Padding(Columns(items, padding=(0, 3)), (0, 0, 0, 2)), soft_wrap=False)


def _line(text: str, *, label: tuple[str, str] | None = None, indent: int = 0) -> None:
    """One line of the report as plain text; on a terminal, wrapped between words (with
    a hanging indent) rather than by the terminal in the middle of one."""
    from rich.padding import Padding
    from rich.text import Text

    out = console()
    line = Text()
    if label is not None:
        line.append(label[1], style=label[0])
        line.append(" ")
    # render_str: the console's own path, which drops control characters from the text.
    line.append_text(out.render_str(text, markup=False))
    if not out.is_terminal:
        out.print(Padding(line, (0, 0, 0, indent)) if indent else line)
        return
    out.print(Padding(line, (0, 0, 0, indent)), soft_wrap=False)


def _more(count: int, path: Path) -> None:
    from mailer.fields import shown

    if count > 0:
        line = ngettext("… and {count} more in {file}", "… and {count} more in {file}", count)
        console().print(line.format(count=count, file=shown(path)), markup=False)


def _formats(reports: list[ListReport]) -> None:
    """Per file: the format recognised, the columns used and how they were chosen."""
    from mailer.fields import shown
    from mailer.lists import field_name, format_name, note_text

    for r in reports:
        if not r.format:
            continue
        used = ", ".join(f"{field_name(k)} ← {v!r}" for k, v in r.columns.items())
        line = _("{file}: read as {format}; columns: {columns}").format(
            file=shown(r.path), format=format_name(r.format), columns=used
        )
        _line(shown(line))
        for note in r.notes:
            _line(shown(note_text(note)), indent=2)


def _conflicts(conflicts: list[Conflict], network: Network) -> None:
    for c in conflicts:
        _line(c.text(network.member_label), label=("yellow", _("conflict")))


@recipients.command("merge")
@option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the merged list as CSV to this file (formula-safe for spreadsheets).",
)
@option("--check-dns", is_flag=True, help="Also look up each domain's mail servers.")
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
    with list_errors():
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
                    "lists": [r.as_dict() for r in merged.reports],
                    "senders": {m.id: len(by_member.get(m.id, [])) for m in network.members},
                    "conflicts": [c.as_dict() for c in merged.conflicts],
                }
            )
        )
        return
    title = _("{network}: member lists").format(network=network.network.name)
    _report_table(merged.reports, title)
    _conflicts(merged.conflicts, network)
    term = console()
    people = len(merged.people)
    term.print(
        ngettext(
            "{count} person; each gets mail from one member.",
            "{count} people; each gets mail from one member.",
            people,
        ).format(count=people),
        markup=False,
    )
    if merged.suppressed:
        left_out = ngettext(
            "{count} person on the opt-out list was left out.",
            "{count} people on the opt-out list were left out.",
            merged.suppressed,
        )
        term.print(left_out.format(count=merged.suppressed), markup=False)
    if out:
        term.print(_("Merged list written to {file}").format(file=shown(out)), markup=False)


@recipients.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@option("--check-dns", is_flag=True, help="Also look up each domain's mail servers.")
@option("--sheet", metavar="NAME", help="For .xlsx files: the sheet (default: the first).")
@pass_state
@reports_errors
def recipients_check(
    state: State,
    files: tuple[Path, ...],
    as_json: bool,
    check_dns: bool,
    sheet: str | None,
) -> None:
    """Check list FILES before forwarding them; needs no network.toml.

    Exits with 1 when a row is invalid, 2 when a file cannot be read at all.
    """
    from mailer.recipients import check_files

    with list_errors():
        reports = check_files(files, check_dns=check_dns, sheet=sheet)
    if as_json:
        click.echo(_json([r.as_dict() for r in reports]))
    else:
        _report_table(reports, _("List check"))
    if any(r.invalid for r in reports):
        finish(EXIT_FAILED)
