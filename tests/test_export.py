"""The merged list as CSV: cells a spreadsheet would run as formulas are escaped."""

from __future__ import annotations

import csv
from pathlib import Path

from mailer.export import spreadsheet_safe, write_merged_csv
from mailer.recipients import Person

CORPUS = Path(__file__).parent / "corpus"


def test_formula_cells_are_escaped(cli, workspace: Path, tmp_path: Path):
    (workspace / "recipients" / "msb.csv").write_bytes((CORPUS / "formulas.csv").read_bytes())
    out = tmp_path / "merged.csv"
    result = cli("recipients", "merge", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = {r["email"]: r for r in csv.DictReader(handle)}
    anna = rows["anna.berg@msb.example"]
    assert anna["name"] == '\'=HYPERLINK("http://evil.example","klicka")'
    assert anna["organisation"] == "'+46 54 123"
    assert anna["title"] == "'@SUM(A1)"
    assert rows["per.holm@kau.example"]["name"] in ("Per Holm", "'-Per Holm")
    for row in rows.values():
        for value in row.values():
            assert value[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_spreadsheet_safe():
    assert spreadsheet_safe("=1+1") == "'=1+1"
    assert spreadsheet_safe("\t=1") == "'\t=1"
    assert spreadsheet_safe("Åsa") == "Åsa"
    assert spreadsheet_safe("") == ""


def test_writes_bom_and_all_columns(tmp_path: Path):
    path = tmp_path / "out.csv"
    person = Person(email="a@example.org", name="Åsa Ek", listed_by=("msb", "kau"), sender="msb")
    assert write_merged_csv([person], path) == 1
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "a@example.org,Åsa Ek" in data.decode("utf-8-sig")
    assert data.decode("utf-8-sig").splitlines()[1].endswith('msb,"msb,kau"')
