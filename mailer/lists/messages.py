"""What is wrong with a list file as a whole, with how to fix it; and the words a list
report uses. Every text is the catalogue's (:mod:`mailer.i18n`), translated when an error
is raised or a report is shown."""

from __future__ import annotations

from pathlib import Path

from mailer.errors import ListError
from mailer.i18n import N_, _

# The column names the mailer knows for the address, said in the hint of "no e-mail column".
ACCEPTED = "e-post, e-postadress, epost, mejl, mail, email, e-mail"

# Whole-file problems by code: message and hint; {names} are filled in.
PROBLEMS: dict[str, tuple[str, str | None]] = {
    "too_big": (
        N_("the file is {mb} MB; lists up to {max} MB are read"),
        N_("export only the people to invite, and only the columns the mailer uses"),
    ),
    "missing": (N_("no such file"), N_("check the path")),
    "folder": (N_("this is a folder, not a file"), None),
    "not_file": (
        N_("this is {what}, not a file"),
        N_("export the list to a file and give its path"),
    ),
    "unreadable": (N_("cannot read the file: {why}"), None),
    "empty": (N_("the file is empty"), N_("export the list again")),
    "password": (
        N_("this Excel file is password-protected"),
        N_(
            "open it in Excel, remove the password (File > Info > Protect Workbook) and "
            "save it again"
        ),
    ),
    "xls": (
        N_("cannot read this file in the old Excel format (.xls): {why}"),
        N_("open it in Excel and save it as .xlsx or CSV (UTF-8)"),
    ),
    "vcard_bad": (N_("broken vCard file: {why}"), N_("export the contacts again")),
    "magic": (N_("this is {what}, not a list"), N_("export the list as CSV or .xlsx")),
    "binary": (
        N_("this is not a text file (it looks binary)"),
        N_("export the list as CSV or .xlsx"),
    ),
    "unclosed_quote": (
        N_("broken CSV: a quoted field that starts here is never closed"),
        N_('check the quotes (") on this line'),
    ),
    "broken_csv": (N_("broken CSV: {why}"), None),
    "no_rows": (N_("the file has no rows"), N_("export the list again")),
    "header_only": (
        N_("only a header row, no people"),
        N_("export the list again, with its rows"),
    ),
    "mapped_missing": (
        N_("the column {wanted!r} set for {name} in network.toml is not in the file"),
        N_("columns found: {found}"),
    ),
    "two_columns": (
        N_("two columns mean {name}: {a!r} (column {ca}) and {b!r} (column {cb})"),
        N_("remove or rename one of them"),
    ),
    "no_email": (
        N_("no e-mail column"),
        N_(
            "columns found: {found}; accepted names: {accepted} (or set columns.email for "
            "the member in network.toml)"
        ),
    ),
    "xlsx_bad": (
        N_("not a readable .xlsx file ({why})"),
        N_("open it in Excel and save it again as .xlsx or CSV"),
    ),
    "chart": (N_("the sheet {title!r} is a chart, not a table"), None),
    "no_sheet": (N_("no sheet named {sheet!r}"), N_("sheets: {sheets}")),
}


def list_error(code: str, path: Path, *, line: int | None = None, **values: object) -> ListError:
    """A ListError in the current language (the moment it is raised)."""
    message, hint = PROBLEMS[code]
    values.setdefault("accepted", ACCEPTED)
    return ListError(
        _(message).format(**values),
        path=path,
        line=line,
        hint=_(hint).format(**values) if hint else None,
    )


# How a file was read, for `mailer recipients check`.
FORMATS: dict[str, str] = {
    "csv": N_("CSV text"),
    "xlsx": N_("Excel workbook (.xlsx)"),
    "xls": N_("old Excel workbook (.xls)"),
    "ods": N_("OpenDocument spreadsheet (.ods)"),
    "vcard": N_("vCard contacts (.vcf)"),
    "addresses": N_("pasted addresses (To: line)"),
}

# The mailer's fields as a report names them.
FIELD_NAMES: dict[str, str] = {
    "email": N_("email"),
    "name": N_("name"),
    "first_name": N_("first name"),
    "last_name": N_("last name"),
    "organisation": N_("organisation"),
    "title": N_("title"),
    "language": N_("language"),
    "segment": N_("segment"),
    "tags": N_("tags"),
}

# How the columns were chosen; {names} come from the file.
Note = tuple[str, dict[str, str]]
NOTES: dict[str, str] = {
    "alternative": N_("{field}: used {used!r}; {other!r} is an alternative, not used"),
    "by_content": N_(
        "email: no header names it; column {column} chosen because {share}% of its "
        "cells are addresses (set columns.email to choose another)"
    ),
    "by_content_named": N_(
        "email: column {column} ({header!r}) chosen because {share}% of its cells are "
        "addresses (set columns.email to choose another)"
    ),
    "by_letter": N_("email: the file has no header row; column {column}, as columns.email says"),
    "display_names": N_(
        "email: the address inside <...> in {column!r}; the name before it when the "
        "file has no name column"
    ),
    "fallback": N_(
        "email: {count} rows with no address in {column!r} took one from the next e-mail column"
    ),
    "by_label": N_("email: {count} rows took a work address over a home one, by their labels"),
    "several_in_cell": N_(
        'email: {count} cells hold several addresses ("a ::: b"); the first is used'
    ),
    "vcard_emails": N_(
        "email: {count} cards have several addresses; the work or preferred one is used"
    ),
}


def format_name(code: str) -> str:
    """The name of a recognised format, in the current language."""
    return _(FORMATS[code])


def note_text(note: Note) -> str:
    """One note on how a file's columns were chosen, in the current language."""
    code, values = note
    return _(NOTES[code]).format(**values | {"field": field_name(values.get("field", ""))})


def field_name(name: str) -> str:
    """A field as a report names it, in the current language."""
    text = FIELD_NAMES.get(name)
    return _(text) if text else name
