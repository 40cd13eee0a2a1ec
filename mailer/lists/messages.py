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
            "old Excel format (.xls) is not supported",
            "open it in Excel and save it as .xlsx or CSV (UTF-8)",
        ),
        (
            "det gamla Excel-formatet (.xls) stöds inte",
            "öppna filen i Excel och spara den som .xlsx eller CSV (UTF-8)",
        ),
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
