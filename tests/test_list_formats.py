"""Lists as members really send them: contact exports, vCards, pasted To: lines, old Excel.

Outlook and Google exports are written here with their real column names (about 90 for
Outlook); the vCards and the To: line are in tests/corpus.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.errors import ListError
from mailer.lists import FORMATS, read_list
from mailer.recipients import ListReport, validate_file

CORPUS = Path(__file__).parent / "corpus"

OUTLOOK_EN = [
    "Title",
    "First Name",
    "Middle Name",
    "Last Name",
    "Suffix",
    "Company",
    "Department",
    "Job Title",
    "Business Street",
    "Business Street 2",
    "Business Street 3",
    "Business City",
    "Business State",
    "Business Postal Code",
    "Business Country/Region",
    "Home Street",
    "Home Street 2",
    "Home Street 3",
    "Home City",
    "Home State",
    "Home Postal Code",
    "Home Country/Region",
    "Other Street",
    "Other Street 2",
    "Other Street 3",
    "Other City",
    "Other State",
    "Other Postal Code",
    "Other Country/Region",
    "Assistant's Phone",
    "Business Fax",
    "Business Phone",
    "Business Phone 2",
    "Callback",
    "Car Phone",
    "Company Main Phone",
    "Home Fax",
    "Home Phone",
    "Home Phone 2",
    "ISDN",
    "Mobile Phone",
    "Other Fax",
    "Other Phone",
    "Pager",
    "Primary Phone",
    "Radio Phone",
    "TTY/TDD Phone",
    "Telex",
    "Account",
    "Anniversary",
    "Assistant's Name",
    "Billing Information",
    "Birthday",
    "Business Address PO Box",
    "Categories",
    "Children",
    "Directory Server",
    "E-mail Address",
    "E-mail Type",
    "E-mail Display Name",
    "E-mail 2 Address",
    "E-mail 2 Type",
    "E-mail 2 Display Name",
    "E-mail 3 Address",
    "E-mail 3 Type",
    "E-mail 3 Display Name",
    "Gender",
    "Government ID Number",
    "Hobby",
    "Home Address PO Box",
    "Initials",
    "Internet Free Busy",
    "Keywords",
    "Language",
    "Location",
    "Manager's Name",
    "Mileage",
    "Notes",
    "Office Location",
    "Organizational ID Number",
    "Other Address PO Box",
    "Priority",
    "Private",
    "Profession",
    "Referred By",
    "Sensitivity",
    "Spouse",
    "User 1",
    "User 2",
    "User 3",
    "User 4",
    "Web Page",
]
OUTLOOK_SV = [
    "Titel",
    "Förnamn",
    "Mellannamn",
    "Efternamn",
    "Suffix",
    "Företag",
    "Avdelning",
    "Befattning",
    "Gatuadress, arbete",
    "Gatuadress 2, arbete",
    "Gatuadress 3, arbete",
    "Ort, arbete",
    "Region, arbete",
    "Postnummer, arbete",
    "Land, arbete",
    "Gatuadress, hem",
    "Gatuadress 2, hem",
    "Gatuadress 3, hem",
    "Ort, hem",
    "Region, hem",
    "Postnummer, hem",
    "Land, hem",
    "Annan gatuadress",
    "Annan gatuadress 2",
    "Annan gatuadress 3",
    "Annan ort",
    "Annan region",
    "Annat postnummer",
    "Annat land",
    "Assistentens telefon",
    "Fax, arbete",
    "Telefon, arbete",
    "Telefon 2, arbete",
    "Återuppringning",
    "Biltelefon",
    "Företagets växel",
    "Fax, hem",
    "Telefon, hem",
    "Telefon 2, hem",
    "ISDN",
    "Mobiltelefon",
    "Annan fax",
    "Annan telefon",
    "Personsökare",
    "Primär telefon",
    "Radiotelefon",
    "Texttelefon",
    "Telex",
    "Konto",
    "Årsdag",
    "Assistentens namn",
    "Faktureringsinformation",
    "Födelsedag",
    "Box, arbete",
    "Kategorier",
    "Barn",
    "Katalogserver",
    "E-postadress",
    "E-posttyp",
    "E-post visningsnamn",
    "E-postadress 2",
    "E-posttyp 2",
    "E-post 2 visningsnamn",
    "E-postadress 3",
    "E-posttyp 3",
    "E-post 3 visningsnamn",
    "Kön",
    "Personnummer",
    "Hobby",
    "Box, hem",
    "Initialer",
    "Ledig/upptagen",
    "Nyckelord",
    "Språk",
    "Plats",
    "Chefens namn",
    "Körsträcka",
    "Anteckningar",
    "Kontor",
    "ID-nummer",
    "Annan box",
    "Prioritet",
    "Privat",
    "Yrke",
    "Refererad av",
    "Känslighet",
    "Make/maka",
    "Användare 1",
    "Användare 2",
    "Användare 3",
    "Användare 4",
    "Webbsida",
]
GOOGLE = [
    "First Name",
    "Middle Name",
    "Last Name",
    "Phonetic First Name",
    "Phonetic Middle Name",
    "Phonetic Last Name",
    "Name Prefix",
    "Name Suffix",
    "Nickname",
    "File As",
    "Organization Name",
    "Organization Title",
    "Organization Department",
    "Birthday",
    "Notes",
    "Photo",
    "Labels",
    "E-mail 1 - Label",
    "E-mail 1 - Value",
    "E-mail 2 - Label",
    "E-mail 2 - Value",
    "Phone 1 - Label",
    "Phone 1 - Value",
]


def _row(header: list[str], **values: str) -> list[str]:
    return [values.get(h, "") for h in header]


def _write(path: Path, header: list[str], rows: list[list[str]], sep: str, enc: str) -> Path:
    def quoted(cell: str) -> str:
        return f'"{cell}"' if sep in cell or '"' in cell else cell

    text = "\r\n".join(sep.join(map(quoted, r)) for r in [header, *rows]) + "\r\n"
    path.write_bytes(text.encode(enc))
    return path


def people(path: Path, **kwargs: object) -> tuple[dict[str, dict[str, str]], ListReport]:
    report = ListReport(member=None, path=path)
    return validate_file(read_list(path, **kwargs), report, None), report  # type: ignore[arg-type]


def test_outlook_english_export(tmp_path: Path):
    path = _write(
        tmp_path / "contacts.CSV",
        OUTLOOK_EN,
        [
            _row(
                OUTLOOK_EN,
                Title="Dr.",
                **{"First Name": "Anna", "Last Name": "Berg", "Job Title": "Head of unit"},
                Company="MSB",
                **{"E-mail Address": "anna.berg@msb.example", "E-mail 2 Address": "a@hem.example"},
            ),
            _row(OUTLOOK_EN, **{"First Name": "Per", "E-mail Address": "per@kau.example"}),
            _row(OUTLOOK_EN, **{"First Name": "Bo", "E-mail 3 Address": "bo@hem.example"}),
        ],
        ",",
        "utf-8-sig",
    )
    assert len(OUTLOOK_EN) > 90
    listing = read_list(path)
    assert listing.columns["title"] == "Job Title"
    assert listing.columns["email"] == "E-mail Address"
    found, report = people(path)
    anna = found["anna.berg@msb.example"]
    assert (anna["name"], anna["title"], anna["organisation"]) == (
        "Anna Berg",
        "Head of unit",
        "MSB",
    )
    assert found["per@kau.example"]["name"] == "Per"
    assert found["bo@hem.example"]["name"] == "Bo"  # no first address: the next one
    assert report.notes[-1] == ("fallback", {"count": "1", "column": "E-mail Address"})
    alternatives = [values["other"] for code, values in listing.notes if code == "alternative"]
    assert alternatives == ["Title", "E-mail 2 Address", "E-mail 3 Address"]


def test_swedish_outlook_resaved_by_excel_in_windows_1252(tmp_path: Path):
    path = _write(
        tmp_path / "kontakter.csv",
        OUTLOOK_SV,
        [
            _row(
                OUTLOOK_SV,
                Titel="Fru",
                Förnamn="Åsa",
                Efternamn="Öberg",
                Företag="Karlstads kommun",
                Befattning="Utredare",
                **{"E-postadress": "asa.oberg@karlstad.example", "E-postadress 2": "x@y.example"},
            )
        ],
        ";",
        "cp1252",
    )
    listing = read_list(path)
    assert (listing.encoding, listing.delimiter, listing.format) == ("windows-1252", ";", "csv")
    assert (listing.columns["title"], listing.columns["email"]) == ("Befattning", "E-postadress")
    found, _ = people(path)
    asa = found["asa.oberg@karlstad.example"]
    assert (asa["name"], asa["title"]) == ("Åsa Öberg", "Utredare")


def test_google_contacts_export(tmp_path: Path):
    path = _write(
        tmp_path / "contacts.csv",
        GOOGLE,
        [
            _row(
                GOOGLE,
                **{
                    "First Name": "Linnéa",
                    "Last Name": "Ek",
                    "Organization Name": "Kronofogden",
                    "Organization Title": "Jurist",
                    "E-mail 1 - Label": "* Work",
                    "E-mail 1 - Value": "linnea.ek@kronofogden.example",
                    "E-mail 2 - Value": "linnea@hem.example",
                },
            ),
            _row(
                GOOGLE, **{"First Name": "Bo", "E-mail 1 - Value": "bo@x.example ::: b@y.example"}
            ),
            _row(
                GOOGLE,
                **{
                    "First Name": "Cia",
                    "E-mail 1 - Label": "* Home",
                    "E-mail 1 - Value": "cia@hem.example",
                    "E-mail 2 - Label": "Work",
                    "E-mail 2 - Value": "cia@kau.example",
                },
            ),
        ],
        ",",
        "utf-8",
    )
    found, report = people(path)
    assert report.notes[-2:] == [
        ("by_label", {"count": "1"}),
        ("several_in_cell", {"count": "1"}),
    ]
    assert found.pop("bo@x.example")["name"] == "Bo"
    assert found.pop("cia@kau.example")["name"] == "Cia"  # work beats home
    assert found == {
        "linnea.ek@kronofogden.example": {
            "name": "Linnéa Ek",
            "organisation": "Kronofogden",
            "title": "Jurist",
            "language": "",
            "segment": "public",
            "tags": "",
        }
    }


def test_a_work_address_beats_a_plain_and_a_private_one(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.write_text("Privat e-post;E-post;Arbetsmejl;Namn\nhem@x.example;a@x.example;;A\n")
    assert read_list(path).columns["email"] == "E-post"  # "Arbetsmejl" is no alias
    path.write_text(
        "Privat e-post;E-post;E-post arbete;Namn\nh@x.example;a@x.example;w@x.example;A\n"
    )
    listing = read_list(path)
    assert listing.columns["email"] == "E-post arbete"
    assert [v["other"] for c, v in listing.notes] == ["Privat e-post", "E-post"]


def test_two_columns_of_the_same_name_are_still_refused(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.write_text("Titel;E-post;titel\nChef;a@x.example;Fru\n")
    with pytest.raises(ListError, match="two columns mean title"):
        read_list(path)


def test_display_name_cells_fill_the_name(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.write_text(
        "E-post;Organisation\n"
        "Anna Svensson <anna@karlstad.example>;Karlstad\n"
        "<bo@msb.example>;MSB\n"
        "cecilia@kau.example;KAU\n"
        '"""Eriksson, Fredrik"" <fredrik@kau.example>";KAU\n'
    )
    found, report = people(path)
    assert {e: p["name"] for e, p in found.items()} == {
        "anna@karlstad.example": "Anna Svensson",
        "bo@msb.example": "",
        "cecilia@kau.example": "",
        "fredrik@kau.example": "Fredrik Eriksson",
    }
    assert [code for code, _ in report.notes] == ["display_names"]
    # With a name column of its own, the file's names win.
    path.write_text("Namn;E-post\nAnna S.;Anna Svensson <anna@karlstad.example>\n")
    found, _ = people(path)
    assert found["anna@karlstad.example"]["name"] == "Anna S."


def test_a_pasted_column_of_display_names_under_a_heading(tmp_path: Path):
    path = tmp_path / "mottagare.txt"
    path.write_text(
        'Mottagare\nAnna Svensson <anna@x.example>\n<bo@x.example>\n"Ek, Cia" <cia@x.example>\n'
    )
    listing = read_list(path)
    assert (listing.format, listing.header_line, listing.columns["email"]) == (
        "addresses",
        1,
        "Mottagare",
    )
    assert [(r.line, tuple(r.cells)) for r in listing.rows] == [
        (2, ("anna@x.example", "Anna Svensson")),
        (3, ("bo@x.example", "")),
        (4, ("cia@x.example", "Cia Ek")),
    ]


def test_a_pasted_to_line_across_lines():
    listing = read_list(CORPUS / "to-line.txt")
    assert listing.format == "addresses"
    assert [(r.line, r.values["email"], r.values["name"]) for r in listing.rows] == [
        (1, "anna.svensson@karlstad.example", "Anna Svensson"),
        (2, "bo.ek@msb.example", "Bo Ek"),
        (2, "fredrik.eriksson@kau.example", "Fredrik Eriksson"),
        (3, "cecilia.oberg@karlstad.example", "Cecilia Öberg"),
        (3, "dagny.karlstad.example", "Dagny"),
    ]
    found, report = people(CORPUS / "to-line.txt")
    assert len(found) == 4
    assert [(p.line, p.value) for p in report.invalid] == [(3, "dagny.karlstad.example")]


def test_a_csv_with_addresses_and_names_is_no_to_line(tmp_path: Path):
    path = tmp_path / "lista.txt"
    path.write_text("anna@x.example;Anna <ordf>\nbo@x.example;Bo\n")
    listing = read_list(path)
    assert listing.format == "csv"
    assert [r.values["email"] for r in listing.rows] == ["anna@x.example", "bo@x.example"]


def test_vcards_21_30_40_with_charsets_and_quoted_printable():
    listing = read_list(CORPUS / "contacts.vcf")
    assert listing.format == "vcard"
    rows = [(r.line, *r.cells) for r in listing.rows]
    assert rows == [
        (1, "asa.akesson@karlstad.example", "Åsa Åkesson", "Karlstads kommun", "Enhetschef"),
        (11, "goran.ostlund@msb.example", "Göran Östlund", "", ""),
        (16, "linnea.berg@kau.example", "Linnéa Berg", "Karlstads universitet", "Lektor, docent"),
        (25, "per.holm@kronofogden.example", "Per Holm", "", ""),
        (31, "", "Utan Adress", "", ""),
    ]
    assert listing.notes == [("vcard_emails", {"count": "2"})]
    found, report = people(CORPUS / "contacts.vcf")
    assert len(found) == 4
    assert [p.line for p in report.invalid] == [31]


def test_a_vcard_is_recognised_by_content_whatever_its_name(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.write_bytes((CORPUS / "contacts.vcf").read_bytes())
    assert read_list(path).format == "vcard"


def test_a_broken_vcard_is_one_line(tmp_path: Path, cli):
    path = tmp_path / "kontakter.vcf"
    path.write_text("BEGIN:VCARD\nVERSION:3.0\nFN:Anna\nEMAIL:anna@x.example\nEND:VCARD\n")
    path.write_text(path.read_text() + "BEGIN:VCARD\nFN:Bo\nEMAIL:bo@x.example\n")
    result = cli("recipients", "check", str(path), "--language", "en")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert (
        line == f"Error: {path}:6: broken vCard file: END:VCARD missing (export the contacts again)"
    )


def test_old_excel_xls(tmp_path: Path):
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Blad1")
    for r, row in enumerate([["Namn", "E-post"], ["Åsa Berg", "asa@msb.example"]]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    path = tmp_path / "lista.xls"
    book.save(str(path))
    listing = read_list(path)
    assert (listing.format, listing.sheet) == ("xls", "Blad1")
    found, _ = people(path)
    assert found["asa@msb.example"]["name"] == "Åsa Berg"
    # Renamed to .csv it is still read as the workbook it is.
    renamed = tmp_path / "lista.csv"
    renamed.write_bytes(path.read_bytes())
    assert read_list(renamed).format == "xls"


def test_a_list_without_a_header_row_is_found_by_content(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.write_text("Anna;anna@x.example;054-1\nBo;bo@x.example;054-2\nCia;;054-3\n")
    listing = read_list(path)
    assert listing.header_line == 0
    assert listing.columns == {"email": "B"}
    assert [r.line for r in listing.rows] == [1, 2]  # Cia has nothing the mailer reads
    assert listing.notes == [("by_content", {"column": "B", "share": "100"})]


def test_an_unnamed_column_of_addresses_under_a_header(tmp_path: Path):
    path = tmp_path / "lista.csv"
    path.write_text("Namn;;Reserv\nAnna;anna@x.example;a@hem.example\nBo;bo@x.example;\n")
    listing = read_list(path)
    assert (listing.header_line, listing.columns) == (1, {"email": "B", "name": "Namn"})
    # columns.email chooses another column.
    listing = read_list(path, columns={"email": "Reserv"})
    assert listing.columns["email"] == "Reserv"
    assert listing.notes == []


def test_a_column_of_addresses_headed_in_unknown_words_is_read_and_said(cli):
    """An export's headers are not the member's to change: 'Primär e-post' is read by
    its content, and the report says which column, why, and how to choose another."""
    listing = read_list(CORPUS / "crm-export.csv")
    assert listing.columns["email"] == "Primär e-post"
    assert [r.line for r in listing.rows][:2] == [2, 3]
    assert listing.notes == [
        ("by_content_named", {"column": "B", "header": "Primär e-post", "share": "100"})
    ]
    result = cli("recipients", "check", str(CORPUS / "crm-export.csv"), "--language", "sv")
    assert "kolumn B ('Primär e-post') valdes eftersom" in result.stdout


def test_check_shows_the_format_and_columns_in_the_members_language(cli):
    result = cli("recipients", "check", str(CORPUS / "contacts.vcf"), "--language", "sv")
    assert result.exit_code == 1  # the card without an address
    out = " ".join(result.stdout.split())
    assert (
        "contacts.vcf: läst som vCard-kontakter (.vcf); kolumner: e-post ← 'EMAIL', "
        "namn ← 'FN', organisation ← 'ORG', titel ← 'TITLE'"
    ) in out
    assert "e-post: 2 kort har flera adresser; arbets- eller förstahandsadressen används" in out
    result = cli("recipients", "check", str(CORPUS / "to-line.txt"), "--language", "en", "--json")
    (report,) = json.loads(result.stdout)
    assert (report["format"], report["format_name"]) == ("addresses", "pasted addresses (To: line)")


def test_every_format_is_in_the_guide():
    guide = (Path(__file__).parent.parent / "docs" / "guide.md").read_text(encoding="utf-8")
    section = guide[guide.index("- **Files** are recognised") : guide.index("- **Columns**")]
    documented = set(re.findall(r"\*\*(\w+)\*\*", section))
    assert set(FORMATS) <= documented, set(FORMATS) - documented


# -- only one-line ListErrors, whatever the file holds -------------------------------------

PREFIXES = [
    "BEGIN:VCARD\r\nVERSION:2.1\r\n",
    "begin:vcard\nFN;ENCODING=QUOTED-PRINTABLE;CHARSET=x-nope:=C3\n",
    "To: Anna <anna@x.example>; ",
    "Mottagare\n<a@x.example>\n",
    'Anna "Ek, Bo" <a@x.example>,\n',
]
PIECES = st.sampled_from(
    [
        "\r\n",
        "\n",
        " ",
        ":",
        ";",
        ",",
        "=",
        "=C3=85",
        '"',
        "<",
        ">",
        "@",
        "x.example",
        "END:VCARD",
        "BEGIN:VCARD",
        "EMAIL;TYPE=work:",
        "N:",
        "ORG:",
        "\\",
        "item1.",
        "FN:",
        "Å",
        "\t",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), body=st.lists(PIECES | st.text(max_size=5), max_size=60))
def test_cards_and_pasted_lines_fail_only_with_one_line(prefix: str, body: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lista.vcf"
        path.write_text(prefix + "".join(body), encoding="utf-8", errors="surrogatepass")
        try:
            listing = read_list(path)
        except ListError as exc:
            assert "\n" not in str(exc)
        else:
            validate_file(listing, ListReport(member=None, path=path), None)


def test_columns_email_names_a_column_by_its_letter_in_a_file_without_a_header_row(
    tmp_path: Path,
):
    """Two columns of addresses and no header row: content picks the fuller one, and
    columns.email = 'C' (the letter a spreadsheet shows) picks the other."""
    path = tmp_path / "lista.csv"
    path.write_text(
        "Anna;anna@x.example;anna@hem.example\nBo;bo@x.example;bo@hem.example\nCia;cia@x.example;\n"
    )
    assert read_list(path).columns == {"email": "B"}
    chosen = read_list(path, columns={"email": "C"})
    assert chosen.columns == {"email": "C"}
    assert [r.line for r in chosen.rows] == [1, 2]
    assert chosen.notes == [("by_letter", {"column": "C"})]
    # A header row is a header row: a letter is then no column's name.
    named = tmp_path / "named.csv"
    named.write_text("Namn;E-post;Reserv\nAnna;anna@x.example;a@hem.example\n")
    with pytest.raises(ListError):
        read_list(named, columns={"email": "C"})
