"""The command line as a user meets it: help, init, merge, preview, dry run, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from mailer.cli import main


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


def test_every_command_has_help():
    runner = CliRunner()
    for path, command in all_commands(main):
        assert command.help, f"mailer {' '.join(path)} has no help text"
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Usage:" in result.output


def test_init_creates_a_workspace_that_checks(tmp_path: Path):
    runner = CliRunner()
    target = tmp_path / "new-network"
    result = runner.invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    for name in ("network.toml", "templates/layout.html", "recipients/msb.csv", ".gitignore"):
        assert (target / name).exists(), name
    check = runner.invoke(main, ["--network", str(target / "network.toml"), "check"])
    assert check.exit_code == 0, check.output + check.stderr
    assert "OK" in check.output
    again = runner.invoke(main, ["init", str(target)])
    assert again.exit_code == 2
    assert "already exists" in again.stderr


def test_merge_json_reports_every_list(cli):
    result = cli("recipients", "merge", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["people"] == 33
    by_path = {item["path"]: item for item in data["lists"]}
    kommun = by_path["recipients/karlstads-kommun.csv"]
    assert kommun["encoding"] == "windows-1252" and kommun["delimiter"] == ";"
    assert kommun["invalid"] == 1 and kommun["duplicates_in_file"] == 1
    assert sum(data["senders"].values()) == 33
    assert data["conflicts"][0]["email"] == "maja.lund@msb.example"


def test_merge_writes_csv(cli, tmp_path):
    out = tmp_path / "merged.csv"
    result = cli("recipients", "merge", "--out", str(out))
    assert result.exit_code == 0
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("email,name,organisation")
    assert len(lines) == 34
    assert any("Åsa Björk" in line for line in lines)


def test_recipients_check_needs_no_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.csv"
    good.write_text("e-post;namn\nanna@kommun.example;Anna\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("email\nnot-an-address\nok@kommun.example\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["recipients", "check", str(good)]).exit_code == 0
    result = runner.invoke(main, ["recipients", "check", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv:2" in result.output
    missing = runner.invoke(main, ["recipients", "check", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2


def test_dry_run_sends_nothing_and_shows_a_sample(cli, workspace):
    result = cli("send", "summary", "1", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "Mailing summary-1" in result.output
    assert "Sample message:" in result.output
    assert (
        "Subject: Så blev det: Öppna data – grundläggande kunskap och förståelse" in result.output
    )
    assert "To send for real: mailer send summary 1" in result.output
    assert not (workspace / "outbox").exists()
    assert "No mailings yet." in cli("status").output


def test_preview_shows_channel_headers_and_text(cli, tmp_path):
    html = tmp_path / "summary.html"
    result = cli("preview", "summary", "1", "--to", "Tom.Walker@MSB.example", "--html", str(html))
    assert result.exit_code == 0, result.stderr
    assert "Channel:  Myndigheten för samhällsskydd och beredskap" in result.output
    assert "To: Tom Walker <tom.walker@msb.example>" in result.output
    assert "Watch the video" in result.output
    assert "https://video.oppnadata-varmland.example/seminarium-1" in result.output
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_preview_of_someone_not_listed(cli):
    result = cli("preview", "invitation", "2", "--to", "nobody@example.org")
    assert result.exit_code == 2
    assert "not on any member's list" in result.stderr


def test_summary_before_the_seminar_is_refused(cli):
    result = cli("send", "summary", "2", "--dry-run")
    assert result.exit_code == 2
    assert "seminar 2 has no summary yet" in result.stderr


def test_unknown_seminar(cli):
    result = cli("preview", "invitation", "9")
    assert result.exit_code == 2
    assert "there is no seminar 9" in result.stderr


def test_smtp_send_without_terminal_needs_yes(cli, workspace, smtp_server):
    result = cli("send", "invitation", "2", "--via", smtp_server.url)
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert smtp_server.received == []


def test_maildir_send_needs_no_confirmation(cli, workspace):
    result = cli("send", "invitation", "2")
    assert result.exit_code == 0, result.stderr
    files = list((workspace / "outbox").glob("*/new/*"))
    assert len(files) == 33


def test_preview_and_check_respect_the_opt_out_list(cli):
    assert cli("unsubscribe", "tom.walker@msb.example").exit_code == 0
    result = cli("preview", "invitation", "2", "--to", "tom.walker@msb.example")
    assert result.exit_code == 2
    assert "opt-out list" in result.stderr
    check = cli("check")
    assert check.exit_code == 0, check.stderr
    assert "32 people" in check.output and "1 on the opt-out list" in check.output
