"""Reading lists as members really send them: the corpus in tests/corpus, plus generated files."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from mailer.errors import ListError
from mailer.lists import MAX_BYTES, read_list, sniff_delimiter
from mailer.recipients import ListReport, check_files, validate_file

CORPUS = Path(__file__).parent / "corpus"


def people(path: Path, **kwargs: object) -> dict[str, dict[str, str]]:
    listing = read_list(path, **kwargs)  # type: ignore[arg-type]
    return validate_file(listing, ListReport(member=None, path=path), None)


def test_excel_on_swedish_windows_with_a_title_row():
    listing = read_list(CORPUS / "excel-sv-windows1252.csv")
    assert (listing.encoding, listing.delimiter, listing.header_line) == ("windows-1252", ";", 3)
    found = people(CORPUS / "excel-sv-windows1252.csv")
    assert found["bjorn.angstrom@karlstad.example"]["name"] == "Björn Ångström"
    assert found["asa.ostlund@karlstad.example"]["name"] == "Åsa Östlund"
    assert found["linnea.ek@karlstad.example"]["organisation"] == "Kultur; fritid"
    assert [r.line for r in listing.rows] == [4, 5, 6]


def test_utf8_bom_tabs_and_optional_fields():
    listing = read_list(CORPUS / "utf8-bom-tab.csv")
    assert (listing.encoding, listing.delimiter) == ("utf-8-sig", "\t")
    found = people(CORPUS / "utf8-bom-tab.csv")
    per = found["per.holm@kau.example"]
    assert (per["language"], per["segment"], per["tags"]) == ("en", "management", "gis,öppna data")
    assert found["maria.rossi@kau.example"]["segment"] == "business"


def test_quoted_fields_with_line_breaks_and_delimiters():
    listing = read_list(CORPUS / "quoted-newlines.csv")
    assert [r.line for r in listing.rows] == [2, 4]  # a row is reported where it starts
    assert listing.rows[0].values["name"] == "Berg, Anna"


def test_control_characters_are_cleaned_and_reported():
    path = CORPUS / "control-characters.csv"
    report = ListReport(member=None, path=path)
    found = validate_file(read_list(path), report, None)
    assert found["anna.berg@msb.example"]["name"] == "Anna Berg"
    assert found["anna.berg@msb.example"]["title"] == "Chef"
    assert [(w.line, w.code, w.args) for w in report.warnings] == [
        (2, "cleaned", ("name",)),
        (2, "cleaned", ("title",)),
    ]
    assert "radbrytning eller styrtecken i namn" in report.warnings[0].text("sv")


def test_bad_addresses_each_have_a_reason_in_swedish_and_english():
    path = CORPUS / "bad-addresses.csv"
    (report,) = check_files([path])
    assert [(p.line, p.code) for p in report.invalid] == [
        (2, "no_at"),
        (3, "two_at"),
        (4, "domain_no_dot"),
        (5, "reserved_domain"),
        (6, "space"),
        (9, "empty"),
    ]
    assert report.invalid[0].text("sv").endswith("'anna.berg.msb.example': saknar @")
    assert report.invalid[0].text("en").endswith("no @ in the address")
    assert report.invalid[3].reason("sv").startswith("ogiltig domän")
    assert [(w.line, w.code) for w in report.warnings] == [(7, "typo"), (8, "role")]
    assert report.warnings[0].reason("en") == "a typo? did you mean gmail.com?"
    assert (report.rows, report.valid, report.final) == (9, 3, 3)


def test_custom_columns_from_network_toml():
    found = people(
        CORPUS / "crm-export.csv",
        columns={"email": "Primär e-post", "name": "Visningsnamn", "segment": "Kundkategori"},
    )
    assert found["anna.berg@msb.example"]["name"] == "Anna Berg"
    assert found["anna.berg@msb.example"]["segment"] == "management"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "empty.csv: the file is empty"),
        ("blank-lines.csv", "blank-lines.csv: the file is empty"),
        ("header-only.csv", "header-only.csv:1: only a header row, no people"),
        (
            "no-email-column.csv",
            "no-email-column.csv:1: no e-mail column (columns found: 'Namn', 'Telefon', "
            "'Organisation'; accepted names: e-post, e-postadress",
        ),
        (
            "duplicate-columns.csv",
            "duplicate-columns.csv:1: two columns mean email: 'E-post' (column A) and "
            "'e-post' (column C)",
        ),
        ("broken-quote.csv", "broken-quote.csv:2: broken CSV: a quoted field that starts here"),
    ],
)
def test_unreadable_corpus_files(name: str, message: str, cli):
    with pytest.raises(ListError) as caught:
        read_list(CORPUS / name)
    assert message in str(caught.value)
    result = cli("recipients", "check", str(CORPUS / name), "--language", "en")
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()  # one line, no traceback
    assert message in line


@pytest.mark.parametrize("quote", ["", '"Berg, Anna"'], ids=["unquoted", "quoted"])
def test_a_field_over_the_csv_limit_is_reported_at_its_line(tmp_path: Path, quote: str):
    # Files with no quotes are numbered row by row, the others by the reader's line count.
    path = tmp_path / "lista.csv"
    path.write_text(f"email,name\na@msb.example,{quote}\nb@msb.example,{'x' * 140_000}\n")
    with pytest.raises(ListError, match=r"lista\.csv:3: broken CSV: field larger than"):
        read_list(path)


def test_line_numbers_with_and_without_quotes(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.write_text("email;name\n\na@msb.example;Anna\r\nb@msb.example;Per\n\n")
    assert [r.line for r in read_list(path).rows] == [3, 4]
    path.write_text('email;name\n\na@msb.example;"An\nna"\r\nb@msb.example;Per\n')
    assert [r.line for r in read_list(path).rows] == [3, 5]


def test_rows_keep_only_the_columns_the_mailer_reads(tmp_path: Path):
    # A wide HR export near the size limit would otherwise keep every cell in memory.
    path = tmp_path / "hr.csv"
    path.write_text("Anst-nr;Namn;Telefon;E-post;Lön\n17;Anna Berg;054-1;anna@msb.example;1\n")
    (row,) = read_list(path).rows
    assert list(row.cells) == ["Anna Berg", "anna@msb.example"]
    assert row.values == {"name": "Anna Berg", "email": "anna@msb.example"}


# -- generated files: binary, big, Excel ---------------------------------------------------


def _xlsx(tmp_path: Path, name: str, build) -> Path:  # type: ignore[no-untyped-def]
    book = openpyxl.Workbook()
    build(book)
    path = tmp_path / name
    book.save(path)
    return path


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("photo.csv", _png(), "this is a PNG image, not a list"),
        ("scan.csv", b"\xff\xd8\xff\xe0" + os.urandom(300), "this is a JPEG image"),
        ("random.csv", bytes(range(256)) * 20, "not a text file (it looks binary)"),
        ("list.pdf.csv", b"%PDF-1.7\n" + os.urandom(100), "this is a PDF document"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old Excel format (.xls)"),
        ("renamed.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old Excel format"),
        ("broken.xlsx", b"PK\x03\x04" + os.urandom(100), "not a readable .xlsx file"),
    ],
)
def test_binary_files(tmp_path: Path, name: str, data: bytes, message: str, cli):
    path = tmp_path / name
    path.write_bytes(data)
    result = cli("recipients", "check", str(path), "--language", "en")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {path}: ") and message in line


def test_a_zip_that_is_no_workbook(tmp_path: Path):
    path = tmp_path / "list.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hej")
    with pytest.raises(ListError, match=r"not a readable \.xlsx file"):
        read_list(path)


def test_password_protected_xlsx(tmp_path: Path, cli):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = _xlsx(tmp_path, "plain.xlsx", lambda b: b.active.append(["E-post"]))
    protected = tmp_path / "skyddad.xlsx"
    with plain.open("rb") as source, protected.open("wb") as out:
        OOXMLFile(source).encrypt("hemligt", out)
    result = cli("recipients", "check", str(protected), "--language", "en")
    assert result.exit_code == 2
    assert "this Excel file is password-protected" in result.stderr
    assert "remove the password" in result.stderr


def test_a_50_mb_list_is_refused_before_it_is_read(tmp_path: Path, cli):
    path = tmp_path / "hela-hr-exporten.csv"
    row = b"anna.berg@msb.example;Anna Berg;MSB;" + b"x" * 60 + b"\n"
    with path.open("wb") as out:
        out.write(b"E-post;Namn;Organisation;Anteckning\n")
        out.write(row * (50 * 1024 * 1024 // len(row) + 1))
    assert path.stat().st_size > MAX_BYTES
    result = cli("recipients", "check", str(path), "--language", "en")
    assert result.exit_code == 2
    assert "the file is 50 MB; lists up to 25 MB are read" in result.stderr


def _check_in_a_process(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A process of its own with a timeout: a read that blocks fails the test, not the suite.
    return subprocess.run(
        [sys.executable, "-m", "mailer", "recipients", "check", str(path), "--language", "en"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("through_link", [False, True], ids=["fifo", "symlink-to-fifo"])
def test_a_fifo_is_refused_at_once(tmp_path: Path, through_link: bool):
    fifo = tmp_path / "lista.csv"
    os.mkfifo(fifo)  # nobody writes to it: reading would wait for ever
    path = fifo
    if through_link:
        path = tmp_path / "länk.csv"
        path.symlink_to(fifo)
    with pytest.raises(ListError, match=r"this is a named pipe \(FIFO\), not a file"):
        read_list(path)
    result = _check_in_a_process(path, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert f"{path}: this is a named pipe (FIFO), not a file" in line


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
@pytest.mark.parametrize("through_link", [False, True], ids=["device", "symlink-to-device"])
def test_a_device_is_refused_before_a_byte_is_read(tmp_path: Path, through_link: bool):
    path = Path("/dev/zero")  # endless: a read without a check would fill the memory
    if through_link:
        path = tmp_path / "lista.csv"
        path.symlink_to("/dev/zero")
    with pytest.raises(ListError, match=r"this is a device, not a file"):
        read_list(path)
    result = _check_in_a_process(path, tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "this is a device, not a file (export the list to a file" in line


def test_a_dangling_link_is_a_missing_file(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.symlink_to(tmp_path / "borta.csv")
    with pytest.raises(ListError, match=r"lista\.csv: no such file"):
        read_list(path)


def test_xlsx_title_rows_named_sheet_merged_and_empty_cells(tmp_path: Path):
    def build(book: openpyxl.Workbook) -> None:
        book.active.title = "Info"
        book.active.append(["Den här fliken är inte listan"])
        ws = book.create_sheet("Deltagare")
        ws.append(["Inbjudna till frukostseminarium"])
        ws.merge_cells("A1:D1")
        ws.append([])
        ws.append(["E-post", "Förnamn", "Efternamn", "Myndighet"])
        ws.append(["asa.ostlund@karlstad.example", "Åsa", "Östlund", "Karlstads kommun"])
        ws.append(["bjorn.angstrom@karlstad.example", "Björn", None, None])
        ws.append([None, None, None, None])
        ws.append(["per.holm@kau.example", "Per", "Holm", "Karlstads universitet"])
        ws.merge_cells("D4:D5")  # "Karlstads kommun" for both

    path = _xlsx(tmp_path, "deltagare.xlsx", build)
    listing = read_list(path, sheet="deltagare")
    assert (listing.encoding, listing.sheet, listing.header_line) == ("xlsx", "Deltagare", 3)
    assert [r.line for r in listing.rows] == [4, 5, 7]
    found = people(path, sheet="Deltagare")
    assert found["bjorn.angstrom@karlstad.example"] == {
        "name": "Björn",
        "organisation": "Karlstads kommun",
        "title": "",
        "language": "",
        "segment": "public",
        "tags": "",
    }
    assert found["asa.ostlund@karlstad.example"]["name"] == "Åsa Östlund"
    with pytest.raises(ListError, match=r"no sheet named 'Medlemmar' \(sheets: Info, Deltagare"):
        read_list(path, sheet="Medlemmar")
    with pytest.raises(ListError, match="no e-mail column"):
        read_list(path)  # the first sheet is not the list


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2;3\n", ";"),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ('email;name\nx@example.org;"Berg, Anna"\ny@example.org;"Ek, Per"\n', ";"),
        ("email\nx@example.org\n", ","),
    ],
)
def test_delimiter_detection(text: str, delimiter: str):
    assert sniff_delimiter(text) == delimiter


def test_xlsx_as_merge_input(tmp_path: Path):
    book = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.append(["Mejl", "Namn"])
    wb.active.append(["anna.berg@msb.example", "Anna Berg"])
    wb.save(book)
    path = tmp_path / "lista.xlsx"
    path.write_bytes(book.getvalue())
    assert list(people(path)) == ["anna.berg@msb.example"]


def test_xlsx_header_below_empty_rows_and_columns(tmp_path: Path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.cell(row=3, column=2, value="E-post")
    ws.cell(row=3, column=3, value="Namn")
    ws.cell(row=5, column=2, value="anna.berg@msb.example")
    ws.cell(row=5, column=3, value="Anna Berg")
    ws.cell(row=6, column=2, value="johan.berg@msb.example")
    ws.merge_cells("C5:C6")
    path = tmp_path / "glest.xlsx"
    book.save(path)
    listing = read_list(path)
    assert listing.header_line == 3
    assert [(r.line, dict(r.values)) for r in listing.rows] == [
        (5, {"email": "anna.berg@msb.example", "name": "Anna Berg"}),
        (6, {"email": "johan.berg@msb.example", "name": "Anna Berg"}),
    ]


def test_xlsx_cell_values_read_as_text(tmp_path: Path):
    """Numbers, dates and Excel errors read as the text a member sees (or nothing)."""
    import datetime as dt

    def build(book: openpyxl.Workbook) -> None:
        ws = book.active
        ws.append(["E-post", "Namn", "Taggar", "Titel"])
        ws.append(["anna.berg@msb.example", "Anna", 2024, dt.datetime(2026, 3, 4, 5, 6, 7)])
        ws.append(["per.holm@msb.example", "#N/A", 1.5, dt.date(2026, 3, 4)])
        ws.append(["ek@msb.example", "Ek", True, None])
        ws["D4"] = 46000
        ws["D4"].number_format = "yyyy-mm-dd"

    listing = read_list(_xlsx(tmp_path, "typer.xlsx", build))
    assert [dict(r.values) for r in listing.rows] == [
        {
            "email": "anna.berg@msb.example",
            "name": "Anna",
            "tags": "2024",
            "title": "2026-03-04T05:06:07",
        },
        # "#N/A" written by openpyxl is an error cell, as a failed VLOOKUP leaves it.
        {
            "email": "per.holm@msb.example",
            "name": "",
            "tags": "1.5",
            "title": "2026-03-04T00:00:00",
        },
        {"email": "ek@msb.example", "name": "Ek", "tags": "True", "title": "2025-12-09T00:00:00"},
    ]


def test_xlsx_chart_sheet(tmp_path: Path):
    from openpyxl.chart import BarChart, Reference

    def build(book: openpyxl.Workbook) -> None:
        ws = book.active
        ws.append(["E-post"])
        ws.append(["anna.berg@msb.example"])
        chart = BarChart()
        chart.add_data(Reference(ws, min_col=1, min_row=1, max_row=2))
        book.create_chartsheet("Diagram", 0).add_chart(chart)

    path = _xlsx(tmp_path, "med-diagram.xlsx", build)
    assert [r.values["email"] for r in read_list(path).rows] == ["anna.berg@msb.example"]
    with pytest.raises(ListError, match="the sheet 'Diagram' is a chart, not a table"):
        read_list(path, sheet="diagram")


def test_typo_of_a_member_domain_is_a_warning(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.write_text("email\nanna@msb.exmaple\nper@kau.example\n", encoding="utf-8")
    report = ListReport(member=None, path=path)
    validate_file(read_list(path), report, None, known_domains=("msb.example", "kau.example"))
    assert [(w.line, w.code, w.args) for w in report.warnings] == [(2, "typo", ("msb.example",))]


def test_every_alias_is_in_the_guide():
    from mailer.lists import ALIASES, fold_header

    guide = (Path(__file__).parent.parent / "docs" / "guide.md").read_text(encoding="utf-8")
    table = guide[guide.index("| field | accepted column names |") :]
    table = table[: table.index("\n\n")]
    table = "\n".join(line.rsplit("|", 2)[0] for line in table.splitlines())  # not "values"
    documented = {fold_header(cell) for line in table.splitlines() for cell in line.split(",")}
    documented |= {
        fold_header(part)
        for line in table.splitlines()
        for cell in line.split("|")
        for part in cell.replace("+", ",").split(",")
    }
    missing = [a for aliases in ALIASES.values() for a in aliases if a not in documented]
    assert not missing, f"document these aliases in docs/guide.md: {missing}"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "empty.csv: filen är tom (exportera listan igen)"),
        ("header-only.csv", "header-only.csv:1: bara en rubrikrad, inga personer"),
        ("no-email-column.csv", "no-email-column.csv:1: ingen e-postkolumn (kolumner i filen:"),
        ("duplicate-columns.csv", "två kolumner betyder email: 'E-post' (kolumn A) och"),
        ("broken-quote.csv", "broken-quote.csv:2: trasig CSV: ett fält inom citattecken"),
    ],
)
def test_unreadable_files_in_the_networks_language(name: str, message: str, cli, monkeypatch):
    monkeypatch.delenv("MAILER_LANGUAGE")  # the example network is Swedish
    result = cli("recipients", "check", str(CORPUS / name))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert message in line


def test_every_file_message_has_both_languages():
    from mailer.i18n import translate
    from mailer.lists import PROBLEMS

    for code, (en, en_hint) in PROBLEMS.items():
        sv = translate(en, "sv")
        sv_hint = translate(en_hint, "sv") if en_hint else None
        assert en and sv and en != sv, code
        assert (en_hint is None) == (sv_hint is None), code
        assert sv_hint is None or sv_hint != en_hint, code


@pytest.mark.parametrize(
    ("text", "english", "swedish"),
    [
        (
            'email,name\na@msb.example,"Berg" Anna\n',
            "broken CSV: a quote inside a field that is not quoted as a whole",
            "trasig CSV: ett citattecken inuti ett fält som inte står inom citattecken",
        ),
        (
            f'email,name\na@msb.example,"x"\nb@msb.example,{"x" * 140_000}\n',
            "broken CSV: field larger than the limit of 131072 characters",
            "trasig CSV: ett fält längre än gränsen på 131072 tecken",
        ),
    ],
)
def test_the_csv_modules_reasons_are_the_readers_language(
    tmp_path: Path, cli, monkeypatch, text: str, english: str, swedish: str
):
    # The csv module says why in English; a Swede reads the catalogue's words instead.
    path = tmp_path / "lista.csv"
    path.write_text(text, encoding="utf-8")
    for language, says in (("en", english), ("sv", swedish)):
        monkeypatch.setenv("MAILER_LANGUAGE", language)
        result = cli("recipients", "check", str(path))
        assert result.exit_code == 2
        (line,) = result.stderr.strip().splitlines()
        assert says in line, line
    assert "expected after" not in line and "field limit" not in line
