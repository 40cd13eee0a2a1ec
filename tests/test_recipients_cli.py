"""mailer recipients merge / check: the per-file report, in the network's language."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from mailer.campaign.mailing import mailing_for
from mailer.campaign.plan import make_plan
from mailer.config import load_network
from mailer.journal import Journal
from mailer.recipients import merge
from mailer.suppression import Suppression
from tests.helpers import edit_member, edit_table, in_a_terminal

CORPUS = Path(__file__).parent / "corpus"


def test_merge_report_in_swedish(cli, monkeypatch):
    monkeypatch.delenv("MAILER_LANGUAGE")  # the example network is Swedish
    result = cli("recipients", "merge")
    assert result.exit_code == 0, result.stderr
    out = result.output
    for label in ("lista", "kodning", "rader", "giltiga", "ogiltiga", "spärrade", "slutligt"):
        assert label in out
    assert (
        "ogiltig recipients/konsumentverket.csv:5: 'anna.holmgren.konsumentverket.example': "
        "saknar @"
    ) in out
    assert "varning recipients/karlstads-universitet.csv:6: 'info@startup-varmland.example': " in (
        out
    )
    assert "konflikt maja.lund@msb.example: namn 'Maja Lund' (från MSB, avsändaren)" in out


def test_merge_report_in_english(cli, workspace: Path):
    edit_table(workspace, "network", language="en")
    out = cli("recipients", "merge").output
    assert "'anna.holmgren.konsumentverket.example': no @ in the address" in out
    assert "role address (kept, but perhaps no person reads it)" in out
    assert "(from MSB, the sender) kept over 'Maja Lundh'" in out


def test_merge_json(cli, monkeypatch):
    monkeypatch.delenv("MAILER_LANGUAGE")  # the reasons in the network's language
    report = json.loads(cli("recipients", "merge", "--json").output)
    lists = {r["path"]: r for r in report["lists"]}
    kommun = lists["recipients/karlstads-kommun.csv"]
    assert (kommun["encoding"], kommun["delimiter"]) == ("windows-1252", ";")
    assert kommun["columns"]["email"] == "E-postadress"
    assert kommun["duplicates_in_file"] == 1
    assert kommun["invalid_rows"] == [
        {
            "line": 8,
            "value": "reception@@karlstad.example",
            "code": "two_at",
            "reason": "mer än ett @",
            "detail": "",
        }
    ]
    for r in report["lists"]:
        assert r["rows"] == r["valid"] + r["invalid"]
        assert r["valid"] >= r["duplicates_in_file"] + r["duplicates_of_others"] + r["final"]
    assert report["people"] == sum(report["senders"].values())
    assert report["conflicts"][0]["field"] == "name"


def test_check_exit_codes_and_language(cli, tmp_path: Path):
    good = tmp_path / "bra.csv"
    good.write_text("E-post;Namn\nanna.berg@msb.example;Anna Berg\n", encoding="utf-8")
    assert cli("recipients", "check", str(good)).exit_code == 0
    result = cli("recipients", "check", str(CORPUS / "bad-addresses.csv"), "--language", "en")
    assert result.exit_code == 1
    assert "'anna@msb': invalid domain: no dot" in result.output
    assert "a typo? did you mean gmail.com?" in result.output


def test_excel_lists_from_several_members_merge_without_editing(cli, workspace: Path):
    """Acceptance: Windows-1252 with semicolons and an .xlsx with a title row, as saved."""
    (workspace / "recipients" / "msb.csv").write_bytes(
        (CORPUS / "excel-sv-windows1252.csv").read_bytes()
    )
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Karlstads universitet: inbjudna"])
    ws.merge_cells("A1:C1")
    ws.append(["Förnamn", "Efternamn", "E-post"])
    ws.append(["Göran", "Åström", "goran.astrom@kau.example"])
    ws.append(["Märta", "Öberg", "marta.oberg@kau.example"])
    book.save(workspace / "recipients" / "kau.xlsx")
    toml = workspace / "network.toml"
    edit_member(workspace, "karlstads-universitet", lists=["recipients/kau.xlsx"])
    result = cli("recipients", "merge", "--json")
    assert result.exit_code == 0, result.stderr
    names = {p.email: p.name for p in merge(load_network(toml)).people}
    assert names["goran.astrom@kau.example"] == "Göran Åström"
    assert names["marta.oberg@kau.example"] == "Märta Öberg"
    assert names["bjorn.angstrom@karlstad.example"] == "Björn Ångström"
    assert names["asa.ostlund@karlstad.example"] == "Åsa Östlund"


def test_plan_leaves_out_suppressed_people_even_from_a_merge_made_without_the_list(
    workspace: Path,
):
    network = load_network(workspace / "network.toml")
    merged = merge(network)  # made before the person unsubscribed
    with Suppression.in_state_dir(network.state_dir) as suppression:
        suppression.add("per.holm@kau.example")
    with Journal.in_state_dir(network.state_dir) as journal:
        plan = make_plan(network, mailing_for(network, "invitation", 2), journal, merged=merged)
    planned = {p.email for c in plan.channels for p in c.to_send}
    assert planned and "per.holm@kau.example" not in planned


# ESC, BEL, NUL and a C1 CSI: what a hostile list could use to rewrite the terminal (a NUL
# in a CSV file makes it binary, refused; in a file name, the system refuses it).
CONTROLS = ("\x1b", "\x07", "\x00", "\x9b")


def _no_raw_controls(text: str) -> None:
    assert not any(c in text for c in CONTROLS), repr(text)


def test_check_never_prints_control_characters_from_a_list(cli, tmp_path: Path):
    evil = "\x1b[2J\x07lista\x9b.csv"
    path = tmp_path / evil
    path.write_text(
        "E-post;Namn;Organisation\n"
        "anna.berg@msb.example;Anna\x1b[31m Berg\x07;MSB\x9b\n"
        "per\x1b[5m\x07@msb.example;Per Holm;MSB\n",
        encoding="utf-8",
    )
    result = cli("recipients", "check", str(path), "--language", "en")
    assert result.exit_code == 1  # the second row is invalid
    _no_raw_controls(result.stdout + result.stderr)
    assert "\\x1b[2J\\x07lista\\x9b.csv:3: " in result.stdout
    assert "contains control characters" in result.stdout
    assert "line break or control character in name replaced by a space" in result.stdout
    as_json = cli("recipients", "check", str(path), "--json", "--language", "en")
    _no_raw_controls(as_json.stdout)
    assert json.loads(as_json.stdout)[0]["path"] == str(path)  # escaped, not lost

    missing = cli("recipients", "check", str(tmp_path / "\x1b[31mborta.csv"), "--language", "en")
    assert missing.exit_code == 2
    _no_raw_controls(missing.stdout + missing.stderr)
    assert "\\x1b[31mborta.csv: no such file" in missing.stderr


def test_merge_never_prints_control_characters_from_a_list(cli, workspace: Path):
    (workspace / "recipients" / "msb\x1b[31m.csv").write_text(
        "E-post;Namn\nanna.berg@msb.example;Anna\x07 Berg\nfel\x1b@msb.example;Fel\n",
        encoding="utf-8",
    )
    toml = workspace / "network.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            'lists = ["recipients/msb.csv"]', 'lists = ["recipients/msb\\u001b[31m.csv"]', 1
        ),
        encoding="utf-8",
    )
    result = cli("recipients", "merge")
    assert result.exit_code == 0, result.stderr
    _no_raw_controls(result.stdout + result.stderr)
    assert "recipients/msb\\x1b[31m.csv:3: " in result.stdout


def test_the_merge_report_fits_an_80_column_terminal(workspace: Path):
    """Nothing is cut ('ogil…') and no line is longer than the terminal."""
    env = {"MAILER_LANGUAGE": "sv", "MAILER_NETWORK": str(workspace / "network.toml")}
    out = in_a_terminal(["recipients", "merge"], columns=80, env=env)
    lines = out.splitlines()
    assert "…" not in out
    assert max(len(line) for line in lines) <= 80, out
    assert "recipients/karlstads-kommun.csv" in lines
    words = " ".join(lines).split()
    for label in ("ogiltiga", "slutligt", "spärrade", "kodning", "windows-1252"):
        assert label in words or f"{label}," in words, (label, out)
    assert "konflikt maja.lund@msb.example: namn 'Maja Lund' (från MSB," in out
    assert "33 personer; var och en får e-post från en medlem." in lines
    # Wide enough, the table stays a table.
    wide = in_a_terminal(["recipients", "merge"], columns=200, env=env)
    assert "┃ lista" in wide and "slutligt ┃" in wide
