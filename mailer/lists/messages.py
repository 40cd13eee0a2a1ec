"""What is wrong with a list file as a whole, in English and Swedish, with how to fix it."""

from __future__ import annotations

from pathlib import Path

from mailer.errors import ListError

# Whole-file problems: (English, Swedish) message and hint; {names} are filled in.
_ACCEPTED = "e-post, e-postadress, epost, mejl, mail, email, e-mail"
MESSAGES: dict[str, tuple[tuple[str, str | None], tuple[str, str | None]]] = {
    "too_big": (
        (
            "the file is {mb} MB; lists up to {max} MB are read",
            "export only the people to invite, and only the columns the mailer uses",
        ),
        (
            "filen är {mb} MB; listor på upp till {max} MB läses",
            "exportera bara de personer som ska bjudas in, och bara kolumnerna som behövs",
        ),
    ),
    "missing": (("no such file", "check the path"), ("filen finns inte", "kontrollera sökvägen")),
    "folder": (("this is a folder, not a file", None), ("det här är en mapp, inte en fil", None)),
    "not_file": (
        ("this is {what}, not a file", "export the list to a file and give its path"),
        ("det här är {what_sv}, inte en fil", "exportera listan till en fil och ange dess sökväg"),
    ),
    "unreadable": (("cannot read the file: {why}", None), ("filen kan inte läsas: {why}", None)),
    "empty": (
        ("the file is empty", "export the list again"),
        ("filen är tom", "exportera listan igen"),
    ),
    "password": (
        (
            "this Excel file is password-protected",
            "open it in Excel, remove the password (File > Info > Protect Workbook) and "
            "save it again",
        ),
        (
            "Excel-filen är lösenordsskyddad",
            "öppna den i Excel, ta bort lösenordet (Arkiv > Information > Skydda "
            "arbetsbok) och spara igen",
        ),
    ),
    "xls": (
        (
            "cannot read this file in the old Excel format (.xls): {why}",
            "open it in Excel and save it as .xlsx or CSV (UTF-8)",
        ),
        (
            "filen i det gamla Excel-formatet (.xls) kan inte läsas: {why}",
            "öppna filen i Excel och spara den som .xlsx eller CSV (UTF-8)",
        ),
    ),
    "vcard_bad": (
        ("broken vCard file: {why}", "export the contacts again"),
        ("trasig vCard-fil: {why}", "exportera kontakterna igen"),
    ),
    "magic": (
        ("this is {what}, not a list", "export the list as CSV or .xlsx"),
        ("det här är {what_sv}, inte en lista", "exportera listan som CSV eller .xlsx"),
    ),
    "binary": (
        ("this is not a text file (it looks binary)", "export the list as CSV or .xlsx"),
        ("det här är ingen textfil (den ser binär ut)", "exportera listan som CSV eller .xlsx"),
    ),
    "unclosed_quote": (
        (
            "broken CSV: a quoted field that starts here is never closed",
            'check the quotes (") on this line',
        ),
        (
            "trasig CSV: ett fält inom citattecken som börjar här avslutas aldrig",
            'kontrollera citattecknen (") på raden',
        ),
    ),
    "broken_csv": (("broken CSV: {why}", None), ("trasig CSV: {why}", None)),
    "no_rows": (
        ("the file has no rows", "export the list again"),
        ("filen har inga rader", "exportera listan igen"),
    ),
    "header_only": (
        ("only a header row, no people", "export the list again, with its rows"),
        ("bara en rubrikrad, inga personer", "exportera listan igen, med raderna"),
    ),
    "mapped_missing": (
        (
            "the column {wanted!r} set for {name} in network.toml is not in the file",
            "columns found: {found}",
        ),
        (
            "kolumnen {wanted!r} som anges för {name} i network.toml finns inte i filen",
            "kolumner i filen: {found}",
        ),
    ),
    "two_columns": (
        (
            "two columns mean {name}: {a!r} (column {ca}) and {b!r} (column {cb})",
            "remove or rename one of them",
        ),
        (
            "två kolumner betyder {name}: {a!r} (kolumn {ca}) och {b!r} (kolumn {cb})",
            "ta bort eller byt namn på en av dem",
        ),
    ),
    "no_email": (
        (
            "no e-mail column",
            "columns found: {found}; accepted names: " + _ACCEPTED + " (or set "
            "columns.email for the member in network.toml)",
        ),
        (
            "ingen e-postkolumn",
            "kolumner i filen: {found}; godtagna namn: " + _ACCEPTED + " (eller ange "
            "columns.email för medlemmen i network.toml)",
        ),
    ),
    "xlsx_bad": (
        ("not a readable .xlsx file ({why})", "open it in Excel and save it again as .xlsx or CSV"),
        (
            "ingen läsbar .xlsx-fil ({why})",
            "öppna den i Excel och spara den igen som .xlsx eller CSV",
        ),
    ),
    "chart": (
        ("the sheet {title!r} is a chart, not a table", None),
        ("fliken {title!r} är ett diagram, inte en tabell", None),
    ),
    "no_sheet": (
        ("no sheet named {sheet!r}", "sheets: {sheets}"),
        ("det finns ingen flik som heter {sheet!r}", "flikar: {sheets}"),
    ),
}


def list_error(code: str, path: Path, *, line: int | None = None, **values: object) -> ListError:
    """A ListError in English that also carries its Swedish wording."""
    (en, en_hint), (sv, sv_hint) = MESSAGES[code]
    return ListError(
        en.format(**values),
        path=path,
        line=line,
        hint=en_hint.format(**values) if en_hint else None,
        translations={"sv": (sv.format(**values), sv_hint.format(**values) if sv_hint else None)},
    )


# How a file was read, for `mailer recipients check`: (English, Swedish).
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("CSV text", "CSV-text"),
    "xlsx": ("Excel workbook (.xlsx)", "Excel-arbetsbok (.xlsx)"),
    "xls": ("old Excel workbook (.xls)", "gammal Excel-arbetsbok (.xls)"),
    "ods": ("OpenDocument spreadsheet (.ods)", "OpenDocument-kalkylblad (.ods)"),
    "vcard": ("vCard contacts (.vcf)", "vCard-kontakter (.vcf)"),
    "addresses": ("pasted addresses (To: line)", "inklistrade adresser (Till-rad)"),
}

# The mailer's fields as a report names them: (English, Swedish).
FIELD_NAMES: dict[str, tuple[str, str]] = {
    "email": ("email", "e-post"),
    "name": ("name", "namn"),
    "first_name": ("first name", "förnamn"),
    "last_name": ("last name", "efternamn"),
    "organisation": ("organisation", "organisation"),
    "title": ("title", "titel"),
    "language": ("language", "språk"),
    "segment": ("segment", "segment"),
    "tags": ("tags", "taggar"),
}

# How the columns were chosen; {names} come from the file. (English, Swedish).
Note = tuple[str, dict[str, str]]
NOTES: dict[str, tuple[str, str]] = {
    "alternative": (
        "{field}: used {used!r}; {other!r} is an alternative, not used",
        "{field_sv}: {used!r} används; {other!r} är ett alternativ som inte används",
    ),
    "by_content": (
        "email: no header names it; column {column} chosen because {share}% of its "
        "cells are addresses (set columns.email to choose another)",
        "e-post: ingen rubrik anger den; kolumn {column} valdes eftersom {share} % av "
        "cellerna är adresser (ange columns.email för att välja en annan)",
    ),
    "by_content_named": (
        "email: column {column} ({header!r}) chosen because {share}% of its cells are "
        "addresses (set columns.email to choose another)",
        "e-post: kolumn {column} ({header!r}) valdes eftersom {share} % av cellerna är "
        "adresser (ange columns.email för att välja en annan)",
    ),
    "by_letter": (
        "email: the file has no header row; column {column}, as columns.email says",
        "e-post: filen saknar rubrikrad; kolumn {column}, som columns.email anger",
    ),
    "display_names": (
        "email: the address inside <...> in {column!r}; the name before it when the "
        "file has no name column",
        "e-post: adressen inom <...> i {column!r}; namnet före den när filen saknar namnkolumn",
    ),
    "fallback": (
        "email: {count} rows with no address in {column!r} took one from the next e-mail column",
        "e-post: {count} rader utan adress i {column!r} fick en från nästa e-postkolumn",
    ),
    "by_label": (
        "email: {count} rows took a work address over a home one, by their labels",
        "e-post: {count} rader fick en arbetsadress framför en hemadress, enligt etiketterna",
    ),
    "several_in_cell": (
        'email: {count} cells hold several addresses ("a ::: b"); the first is used',
        'e-post: {count} celler har flera adresser ("a ::: b"); den första används',
    ),
    "vcard_emails": (
        "email: {count} cards have several addresses; the work or preferred one is used",
        "e-post: {count} kort har flera adresser; arbets- eller förstahandsadressen används",
    ),
}


def format_name(code: str, language: str) -> str:
    """The name of a recognised format, in English or Swedish."""
    en, sv = FORMATS[code]
    return sv if language == "sv" else en


def note_text(note: Note, language: str) -> str:
    """One note on how a file's columns were chosen, in English or Swedish."""
    code, values = note
    en, sv = NOTES[code]
    name = values.get("field", "")
    field_en, field_sv = FIELD_NAMES.get(name, (name, name))
    return (sv if language == "sv" else en).format(
        **values | {"field": field_en, "field_sv": field_sv}
    )


def field_name(name: str, language: str) -> str:
    """A field as a report names it, in English or Swedish."""
    en, sv = FIELD_NAMES.get(name, (name, name))
    return sv if language == "sv" else en
