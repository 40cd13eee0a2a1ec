"""The network-wide opt-out list: it wins over every member's list, always."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from mailer.config import load_network
from mailer.suppression import FILENAME, Suppression, merge_without_suppressed
from tests.helpers import in_a_terminal


def test_unsubscribed_person_is_left_out_of_every_list(cli, workspace: Path, monkeypatch):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    # Maja is on MSB's list and (in capitals) on Elsäkerhetsverket's.
    result = cli("unsubscribe", "Maja.Lund@MSB.example", "--note", "svar på inbjudan")
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 adress tillagd på spärrlistan (avregistrerad)" in result.output

    merged = merge_without_suppressed(load_network(workspace / "network.toml"))
    assert "maja.lund@msb.example" not in {p.email for p in merged.people}
    assert merged.suppressed == 1
    by_path = {str(r.path): r for r in merged.reports}
    assert by_path["recipients/msb.csv"].suppressed == 1
    assert by_path["recipients/elsakerhetsverket.csv"].suppressed == 1

    report = json.loads(cli("recipients", "merge", "--json").output)
    assert report["suppressed"] == 1

    listing = json.loads(cli("suppressed", "--json").output)
    assert [(e["email"], e["reason"], e["note"]) for e in listing] == [
        ("maja.lund@msb.example", "unsubscribed", "svar på inbjudan")
    ]
    assert listing[0]["added_at"][:4].isdigit()


def test_state_folder_and_file_are_private(cli, workspace: Path):
    cli("unsubscribe", "johan.berg@msb.example")
    state = workspace / ".mailer"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / FILENAME).stat().st_mode) == 0o600


def test_unsubscribing_twice_keeps_the_first_date(cli, workspace: Path, monkeypatch):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    cli("unsubscribe", "johan.berg@msb.example", "--reason", "bounced")
    result = cli("unsubscribe", "JOHAN.BERG@msb.example")
    assert "0 adresser tillagda" in result.output and "1 fanns redan" in result.output
    (entry,) = json.loads(cli("suppressed", "--json").output)
    assert entry["reason"] == "bounced"


def test_unsubscribe_from_files(cli, workspace: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    plain = tmp_path / "avregistrerade.txt"
    plain.write_text("johan.berg@msb.example\nsara.nystrom@konsumentverket.example ; via telefon\n")
    listed = tmp_path / "studsar.csv"
    listed.write_text("Namn;E-post\nPer Holm;per.holm@kau.example\nX;inte-en-adress\n")
    result = cli("unsubscribe", "--file", str(plain), "--file", str(listed))
    # A line that is not an address: named, and nothing added (the wrong file or column
    # must not put anyone on the list by mistake).
    assert result.exit_code == 2
    assert f"{listed}:3: 'inte-en-adress': saknar @" in result.stderr
    assert "1 rad i filerna är ingen adress; inget lades till" in result.stderr
    assert json.loads(cli("suppressed", "--json").output) == []
    listed.write_text("Namn;E-post\nPer Holm;per.holm@kau.example\n")
    result = cli("unsubscribe", "--file", str(plain), "--file", str(listed))
    assert result.exit_code == 0, result.stderr
    assert "3 adresser tillagda" in result.output
    emails = {e["email"] for e in json.loads(cli("suppressed", "--json").output)}
    assert emails == {
        "johan.berg@msb.example",
        "sara.nystrom@konsumentverket.example",
        "per.holm@kau.example",
    }


def test_nothing_valid_is_bad_input(cli, monkeypatch):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    result = cli("unsubscribe", "nobody")
    assert result.exit_code == 2
    assert "'nobody': saknar @" in result.stderr
    assert "inget lades till" in result.stderr
    assert cli("unsubscribe").exit_code == 2  # neither addresses nor --file


def test_forgotten_person_stays_blocked_without_their_address(workspace: Path):
    state = workspace / ".mailer"
    with Suppression.in_state_dir(state) as suppression:
        suppression.add("per.holm@kau.example", reason="unsubscribed")
        suppression.forget("per.holm@kau.example")
        suppression.forget("james.okafor@kau.example")  # never listed before
        entries = suppression.entries()
        assert {e.email for e in entries} == {None}
        assert {e.reason for e in entries} == {"forgotten"}
        assert "per.holm@kau.example" in suppression
    raw = (state / FILENAME).read_bytes()
    assert b"per.holm" not in raw and b"okafor" not in raw
    merged = merge_without_suppressed(load_network(workspace / "network.toml"))
    emails = {p.email for p in merged.people}
    assert "per.holm@kau.example" not in emails and "james.okafor@kau.example" not in emails


def test_salt_is_per_workspace(tmp_path: Path):
    with Suppression(tmp_path / "a" / FILENAME) as a, Suppression(tmp_path / "b" / FILENAME) as b:
        assert a.digest("x@example.org") != b.digest("x@example.org")
        assert a.digest("x@example.org") == a.digest("x@example.org")


def test_unsubscribed_person_gets_no_later_mailing(cli, workspace: Path, smtp_server):
    cli("unsubscribe", "maja.lund@msb.example", "hanna.persson@fr-karlstad.dom.example")
    result = cli("send", "invitation", "2", "--via", smtp_server.url, "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    arrived = set(smtp_server.handler.recipients())
    assert arrived  # the others did get it
    assert "maja.lund@msb.example" not in arrived
    assert "hanna.persson@fr-karlstad.dom.example" not in arrived


def test_unsubscribe_file_saved_by_excel_on_windows(cli, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    path = tmp_path / "avanmälda.csv"
    path.write_bytes("per.holm@kau.example;Per Holm;avanmäld via telefon\r\n".encode("cp1252"))
    result = cli("unsubscribe", "--file", str(path))
    assert result.exit_code == 0, result.stderr
    assert "1 adress tillagd" in result.output
    missing = cli("unsubscribe", "--file", str(tmp_path / "finns-inte.txt"))
    assert missing.exit_code == 2
    assert "finns-inte.txt: filen finns inte" in missing.stderr


def test_a_web_form_or_mailbox_reader_unsubscribes_through_the_library(tmp_path: Path):
    from mailer.suppression import MIGRATIONS, listed, unsubscribe

    mailbox = tmp_path / "avregistrera.txt"
    mailbox.write_text("Anna.Berg@MSB.example ; svarade STOPP\nnot-an-address\n")
    state_dir = tmp_path / ".mailer"
    result = unsubscribe(state_dir, ["per.holm@kau.example"], files=[mailbox], note="mailbox")
    assert (result.added, result.again, result.total) == (2, 0, 2)
    [(where, value, why)] = result.rejected
    assert (where, value) == (f"{mailbox}:2: ", "not-an-address") and why.code
    assert {e.email for e in listed(state_dir)} == {"anna.berg@msb.example", "per.holm@kau.example"}
    with Suppression.in_state_dir(state_dir) as s:
        applied = {r[0] for r in s.db.execute("SELECT name FROM migrations")}
    assert applied == {m.__name__.lstrip("_") for m in MIGRATIONS}
    # Nothing valid: nothing is opened or created.
    empty = tmp_path / "empty"
    assert unsubscribe(empty, ["nope"]).rejected and not empty.exists()


def test_unsubscribe_file_skips_comments_and_blank_lines(cli, tmp_path: Path):
    path = tmp_path / "opt-outs.txt"
    path.write_text(
        "# Opt-outs collected by phone, spring 2027\n"
        "\n"
        "johan.berg@msb.example\n"
        "   # Per asked on 3 March\n"
        "per.holm@kau.example ; by phone\n"
        "\n"
    )
    result = cli("unsubscribe", "--file", str(path))
    assert result.exit_code == 0, result.stderr
    assert "2 addresses added to the opt-out list (unsubscribed)." in result.output
    emails = {e["email"] for e in json.loads(cli("suppressed", "--json").output)}
    assert emails == {"johan.berg@msb.example", "per.holm@kau.example"}


def test_a_bad_line_in_a_file_names_each_and_adds_nobody(cli, tmp_path: Path, workspace: Path):
    path = tmp_path / "opt-outs.txt"
    path.write_text(
        "johan.berg@msb.example\nPer Holm per.holm@kau.example\n# fine\nsara@@kv.example\n"
    )
    result = cli("unsubscribe", "maja.lund@msb.example", "--file", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}:2: 'Per Holm per.holm@kau.example': contains a space",
        f"{path}:4: 'sara@@kv.example': more than one @",
        "Error: 2 lines of the files are not addresses; nothing was added (correct the lines "
        "or remove them, then run the command again)",
    ]
    assert result.stdout == ""
    assert not (workspace / ".mailer" / FILENAME).exists()  # not even created


def test_the_list_fits_an_80_column_terminal(cli, workspace: Path):
    note = "asked by phone on Monday, ticket 4711, and again by mail"
    cli("unsubscribe", "hanna.persson@fr-karlstad.dom.example", "--note", note)
    cli("unsubscribe", "maja.lund@msb.example")
    env = {"MAILER_LANGUAGE": "sv", "MAILER_NETWORK": str(workspace / "network.toml")}
    out = in_a_terminal(["suppressed"], columns=80, env=env)
    assert "…" not in out and max(map(len, out.splitlines())) <= 80, out
    assert "hanna.persson@fr-karlstad.dom.example: avregistrerad, fredag" in out
    assert " ".join(out.split()).count(note) == 1  # the note whole, wrapped between words
    assert "2 adresser spärrade." in out
    wide = in_a_terminal(["suppressed"], columns=160, env=env)
    assert "┃ adress" in wide and "anteckning" in wide and note in wide
