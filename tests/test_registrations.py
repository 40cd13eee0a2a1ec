"""Registrations and audiences end to end: import a form export, then send to the right people."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from mailer import tokens
from mailer.config import load_network
from mailer.recipients import merge
from tests.helpers import Member, run_mailer

REGISTERED = {
    "asa.bjork@lansstyrelsen-varmland.example",
    "tom.walker@msb.example",
    "per.holm@kau.example",
}
VIDEO = "https://video.oppnadata-varmland.example/seminarium-1"


def registration_token(workspace: Path, key: str, email: str, seminar: int) -> str:
    network = load_network(workspace / "network.toml")
    return tokens.Signer(key.encode()).sign(tokens.registration_purpose(network, seminar), email)


def write_export(workspace: Path, key: str, seminar: int, *, attended: bool = False) -> Path:
    """A form tool's export: Swedish headers, one row by token with another address typed,
    two by address, one stranger, one typo."""
    tom = registration_token(workspace, key, "tom.walker@msb.example", seminar)
    head = "Tidstämpel;E-postadress;Namn;Token" + (";Närvarande" if attended else "")
    rows = [
        f"2027-03-01 10:00;tom.private@example.org;Tom Walker;{tom}" + (";ja" if attended else ""),
        "2027-03-01 10:05;ASA.BJORK@lansstyrelsen-varmland.example;Åsa Björk;"
        + (";x" if attended else ""),
        "2027-03-02 09:00;per.holm@kau.example;Per Holm;" + (";nej" if attended else ""),
        "2027-03-02 09:30;someone@elsewhere.example;Någon Annan;" + (";ja" if attended else ""),
        "2027-03-03 11:00;not-an-address;Fel;" + (";" if attended else ""),
    ]
    path = workspace / f"anmalningar-{seminar}.csv"
    path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    return path


def test_import_matches_by_token_and_address_and_reports_the_rest(cli, workspace, token_key):
    export = write_export(workspace, token_key, 2)
    result = cli("registrations", "import", str(export), "--seminar", "2")
    assert result.exit_code == 0, result.output + result.stderr
    out = result.output
    assert "5 rows; 3 matched (1 by token, 2 by address): 3 registered for seminar 2" in out
    assert f"{export}:5: someone@elsewhere.example: on no member's list" in out
    assert f"{export}:6: not-an-address:" in out
    assert "2 rows matched nobody and were not stored" in out


def test_reminder_goes_only_to_the_registered(cli, workspace, smtp_server, token_key):
    cli("registrations", "import", str(write_export(workspace, token_key, 2)), "--seminar", "2")
    dry = cli("send", "reminder", "2", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    everybody = len(merge(load_network(workspace / "network.toml")).people)
    assert f"Audience registered: 3 people; {everybody - 3} on the lists left out." in dry.output
    result = cli("send", "reminder", "2", "--via", smtp_server.url, "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert set(smtp_server.handler.recipients()) == REGISTERED
    for item in smtp_server.received:
        body = item.message.get_body(("plain",)).get_content()
        assert "Tack för din anmälan" in body or "Thank you for registering" in body


def test_reminder_to_the_not_registered_asks_them_to_register(
    cli, workspace, smtp_server, token_key
):
    cli("registrations", "import", str(write_export(workspace, token_key, 2)), "--seminar", "2")
    result = cli(
        "send", "reminder", "2", "--audience", "not-registered", "--via", smtp_server.url, "--yes"
    )
    assert result.exit_code == 0, result.output + result.stderr
    got = set(smtp_server.handler.recipients())
    assert got and not got & REGISTERED
    network = load_network(workspace / "network.toml")
    assert len(got) == len(merge(network).people) - len(REGISTERED)
    signer = tokens.Signer(token_key.encode())
    for item in smtp_server.received:
        body = item.message.get_body(("plain",)).get_content()
        link = next(w for w in body.split() if "/anmalan/seminarium-2?token=" in w)
        token = link.split("token=")[1]
        # A rehearsal (--via) signs the same link for its own purpose (see test_rehearsal).
        purpose = tokens.rehearsal_purpose(tokens.registration_purpose(network, 2))
        assert signer.verify(purpose, token) == item.rcpt_tos[0]


def test_summary_to_those_who_attended_has_the_video(cli, workspace, smtp_server, token_key):
    export = write_export(workspace, token_key, 1, attended=True)
    imported = cli("registrations", "import", str(export), "--seminar", "1")
    assert "3 registered, 2 attended" in imported.output
    result = cli(
        "send", "summary", "1", "--audience", "attended", "--via", smtp_server.url, "--yes"
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert set(smtp_server.handler.recipients()) == {
        "tom.walker@msb.example",
        "asa.bjork@lansstyrelsen-varmland.example",
    }
    for item in smtp_server.received:
        msg = item.message
        assert VIDEO in msg.get_body(("plain",)).get_content()
        assert f'href="{VIDEO}"' in msg.get_body(("html",)).get_content()


def test_attended_without_attendance_is_one_clear_line(cli, workspace, token_key):
    cli("registrations", "import", str(write_export(workspace, token_key, 1)), "--seminar", "1")
    result = cli("send", "summary", "1", "--audience", "attended", "--dry-run")
    assert result.exit_code == 2
    assert "attendance is not known for seminar 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_xlsx_export_and_a_later_import_adds_attendance(cli, workspace, token_key):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["E-post", "Namn"])
    sheet.append(["per.holm@kau.example", "Per Holm"])
    sheet.append(["sara.nystrom@konsumentverket.example", "Sara Nyström"])
    path = workspace / "anmalda.xlsx"
    book.save(path)
    first = cli("registrations", "import", str(path), "--seminar", "1")
    assert "2 matched (0 by token, 2 by address): 2 registered" in first.output
    later = workspace / "narvaro.csv"
    later.write_text("email,attended\nper.holm@kau.example,yes\n", encoding="utf-8")
    cli("registrations", "import", str(later), "--seminar", "1")
    dry = cli("send", "summary", "1", "--audience", "not-attended", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    everybody = len(merge(load_network(workspace / "network.toml")).people)
    assert f"Audience not-attended: {everybody - 1} people; 1 on the lists left out." in dry.output


def test_segment_and_tag_audiences(cli, workspace):
    result = cli("send", "invitation", "2", "--audience", "segment:management", "--dry-run")
    assert result.exit_code == 0, result.stderr
    people = merge(load_network(workspace / "network.toml")).people
    managers = sum(1 for p in people if p.segment == "management")
    assert managers > 0
    assert f"Audience all,segment:management: {managers} people;" in result.output
    bad = cli("send", "invitation", "2", "--audience", "segment:astronauts", "--dry-run")
    assert bad.exit_code == 2 and "unknown segment 'astronauts'" in bad.stderr


def test_unknown_seminar_or_broken_flag_is_one_line(cli, workspace):
    path = workspace / "x.csv"
    path.write_text("email,närvarande\nper.holm@kau.example,kanske\n", encoding="utf-8")
    result = cli("registrations", "import", str(path), "--seminar", "1")
    assert result.exit_code == 2
    assert f"{path}:2: attended: 'kanske' is neither yes nor no" in result.stderr
    result = cli("registrations", "import", str(path), "--seminar", "9")
    assert result.exit_code == 2 and "there is no seminar 9" in result.stderr


def test_unsubscribe_by_token_suppresses_the_person(cli, workspace, smtp_server, token_key):
    network = load_network(workspace / "network.toml")
    token = tokens.Signer(token_key.encode()).sign(
        tokens.unsubscribe_purpose(network), "tom.walker@msb.example"
    )
    result = cli("unsubscribe", "--token", token)
    assert result.exit_code == 0, result.output + result.stderr
    sent = cli("send", "invitation", "2", "--via", smtp_server.url, "--yes")
    assert sent.exit_code == 0
    assert "tom.walker@msb.example" not in smtp_server.handler.recipients()
    assert smtp_server.received


def test_forged_or_registration_token_cannot_unsubscribe(cli, workspace, token_key):
    forged = tokens.Signer(b"another-key-0123456789").sign(
        tokens.unsubscribe_purpose(load_network(workspace / "network.toml")),
        "tom.walker@msb.example",
    )
    for token in (forged, registration_token(workspace, token_key, "tom.walker@msb.example", 2)):
        result = cli("unsubscribe", "--token", token)
        assert result.exit_code == 2
        assert "the token is not valid for this network" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    listing = cli("suppressed")
    assert "tom.walker" not in listing.output


def test_a_bundled_reminder_goes_only_to_the_members_registered(
    workspace, tmp_path, smtp_servers, token_key
):
    """The coordinator chooses the audience; the member's machine has no registrations and
    sends what the bundle holds, worded for that audience."""
    from mailer.bundle.signing import generate_key

    private, public = generate_key("ed25519")
    keys = {"private": tmp_path / "net.key", "public": tmp_path / "net.pub"}
    keys["private"].write_text(private)
    keys["public"].write_text(public or "")
    msb = Member(tmp_path / "msb", "msb", smtp_servers(), keys["public"])

    def coordinator(*args: str):
        return run_mailer(
            "--network",
            str(workspace / "network.toml"),
            *args,
            env={"MAILER_BUNDLE_KEY_FILE": str(keys["private"])},
        )

    export = write_export(workspace, token_key, 2)
    assert coordinator("registrations", "import", str(export), "--seminar", "2").exit_code == 0
    bundle = tmp_path / "msb" / "reminder-2-msb.zip"
    out = coordinator("bundle", "export", "reminder", "2", "--org", "msb", "-o", str(bundle))
    assert out.exit_code == 0, out.output
    sent = msb.send(bundle)
    assert sent.exit_code == 0, sent.output
    assert msb.server.handler.recipients() == ["tom.walker@msb.example"]
    body = msb.server.received[0].message.get_body(("plain",)).get_content()
    assert "Thank you for registering" in body


def test_an_export_with_only_a_token_column_is_accepted(cli, workspace, token_key, monkeypatch):
    """A form that asked for nothing but carried the link's code: no address column."""
    tom = registration_token(workspace, token_key, "tom.walker@msb.example", 2)
    per = registration_token(workspace, token_key, "per.holm@kau.example", 2)
    export = workspace / "bara-koder.csv"
    export.write_text(f"Tidstämpel;Kod\n2027-03-01 10:00;{tom}\n2027-03-01 11:00;{per}\n;\n")
    result = cli("registrations", "import", str(export), "--seminar", "2", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.output)
    assert (report["rows"], report["matched_by_token"], report["registered"]) == (2, 2, 2)
    assert report["unmatched"] == []
    dry = cli("send", "reminder", "2", "--dry-run")
    assert dry.exit_code == 0, dry.output + dry.stderr
    assert "Audience registered: 2 people" in dry.output
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    again = cli("registrations", "import", str(export), "--seminar", "2")
    # The count last, so Swedish needs no plural for it ("anmälda: 1", never "1 anmälda").
    assert "2 rader; 2 matchade (2 med kod, 0 med adress); anmälda till seminarium 2: 2." in (
        again.output
    )


def test_an_export_with_neither_address_nor_token_is_refused(cli, workspace):
    export = workspace / "inga-koder.csv"
    export.write_text("Tidstämpel;Namn\n2027-03-01 10:00;Tom Walker\n")
    result = cli("registrations", "import", str(export), "--seminar", "2")
    assert result.exit_code == 2
    assert "no e-mail column" in result.stderr
