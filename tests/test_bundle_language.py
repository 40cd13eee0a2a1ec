"""A member's mailer speaks the bundle's network language, unless the member chose one;
and the small truths of a bundle send, a workspace check and a new workspace.

A member has no network.toml, so without the bundle its mailer would speak the default
language. Each test runs the real CLI against a real bundle from the example network.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mailer.bundle.archive import pack, sign
from mailer.bundle.formats import MANIFEST, SIGNATURE
from mailer.bundle.signing import load_key
from tests.helpers import Member, edit_table, export_bundle, run_mailer

# Words only the English lines say, and only the Swedish ones.
ENGLISH = ("signature and checksums OK", "People:", "Sample message:", "To send:")
SWEDISH = ("signatur och kontrollsummor OK", "Personer:", "Exempel på mejl:", "För att skicka:")


def member_run(member: Member, *args: str, language: str | None = None) -> Any:
    """The member's mailer with nothing but the bundle's key: MAILER_LANGUAGE as given."""
    return run_mailer(
        *args,
        env={"MAILER_BUNDLE_KEY_FILE": str(member.key), "MAILER_LANGUAGE": language},
    )


def check_lines(member: Member, *first: str, language: str | None = None) -> str:
    result = member_run(
        member,
        *first,
        "bundle",
        "check",
        str(member.bundle),
        "--channel",
        str(member.channel),
        language=language,
    )
    assert result.exit_code == 0, result.output + result.stderr
    return str(result.output)


def test_a_member_reads_a_swedish_networks_bundle_in_swedish(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    output = check_lines(msb)
    assert all(word in output for word in SWEDISH), output
    assert not any(word in output for word in ENGLISH), output
    # The bundle's times in the network's zone, as a Swede writes them.
    assert " kl. " in output and "UTC" not in output


def test_a_member_reads_an_english_networks_bundle_in_english(
    coordinator, workspace, members, monkeypatch
):
    edit_table(workspace, "network", language="en")
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    # Without the bundle, a mailer with no network.toml speaks Swedish.
    assert "Användning:" in member_run(msb, "bundle", "--help").output
    output = check_lines(msb)
    assert all(word in output for word in ENGLISH), output
    assert not any(word in output for word in SWEDISH), output


@pytest.mark.parametrize("how", ["env", "option"])
def test_a_member_who_chose_a_language_keeps_it(coordinator, members, monkeypatch, how):
    msb = members["msb"]
    export_bundle(coordinator, msb)  # a Swedish network's bundle
    monkeypatch.chdir(msb.root)
    if how == "env":
        output = check_lines(msb, language="en")
    else:
        output = check_lines(msb, "--language", "en")
    assert all(word in output for word in ENGLISH), output
    assert not any(word in output for word in SWEDISH), output


def test_check_names_the_seminar_in_the_readers_language(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)  # a Swedish network's bundle, seminar 2
    monkeypatch.chdir(msb.root)
    english = check_lines(msb, language="en")
    # (The sample message further down is a Swede's, in Swedish.)
    (mailing,) = [line for line in english.splitlines() if line.startswith("Mailing:")]
    assert "invitation-2: Open data – innovation, " in mailing, english
    swedish = check_lines(msb)
    assert "invitation-2: Öppna data – innovationer, " in swedish, swedish


def test_a_refusal_speaks_the_bundles_language_too(coordinator, members, monkeypatch):
    msb, kau = members["msb"], members["karlstads-universitet"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    # The manifest is read first, so even a bundle for another member is refused in Swedish.
    result = member_run(msb, "bundle", "check", str(msb.bundle), "--channel", str(kau.channel))
    assert result.exit_code == 2
    assert "paketet är till medlemmen 'msb'" in result.stderr
    assert result.stderr.startswith("Fel: ")


def without_language_in_the_manifest(bundle: Path, private_key: Path) -> None:
    """Rewrite ``bundle`` as a mailer made it before the manifest carried the language:
    the same files, the manifest without it, signed again with the network's key."""
    with zipfile.ZipFile(io.BytesIO(bundle.read_bytes())) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(files.pop(MANIFEST))
    files.pop(SIGNATURE)
    del manifest["network"]["language"]
    body = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    signature = json.dumps(sign(load_key(private_key), body).model_dump(), indent=1).encode()
    bundle.write_bytes(pack(body, signature, files))


def test_an_older_bundle_speaks_the_language_its_network_data_names(
    coordinator, workspace, members, keys, monkeypatch
):
    edit_table(workspace, "network", language="en")
    msb = members["msb"]
    export_bundle(coordinator, msb)
    without_language_in_the_manifest(msb.bundle, keys["private"])
    monkeypatch.chdir(msb.root)
    output = check_lines(msb)
    assert all(word in output for word in ENGLISH), output


# -- bundle status: members as send and status show them ---------------------------------


def test_bundle_status_names_the_member_as_send_and_status_do(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    status = msb("bundle", "status", str(msb.bundle))
    assert status.exit_code == 0, status.output
    rows = [line for line in status.output.splitlines() if "│" in line or "|" in line]
    assert any(" MSB " in row for row in rows), status.output
    assert not any(" msb " in row for row in rows), status.output
    # --json keeps the ids: it is for scripts.
    as_json = json.loads(msb("bundle", "status", str(msb.bundle), "--json").output)
    assert "msb" in as_json["invitation-2"]["members"]


# -- bundle send --dry-run: is the channel's secret there? --------------------------------


def with_password(member: Member, variable: str) -> None:
    text = member.channel.read_text(encoding="utf-8")
    text = text.replace(
        "[channel]\n",
        f'[channel]\nusername = "seminarier@msb.example"\npassword_env = "{variable}"\n',
    )
    member.channel.write_text(text, encoding="utf-8")


def test_dry_run_says_the_password_is_set_without_showing_it(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    with_password(msb, "MSB_SMTP_PASSWORD")
    monkeypatch.setenv("MSB_SMTP_PASSWORD", "correct-horse-battery")
    monkeypatch.chdir(msb.root)
    result = msb("bundle", "send", str(msb.bundle), "--channel", str(msb.channel), "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    assert "127.0.0.1: the password is set in MSB_SMTP_PASSWORD (not shown)." in result.output
    assert "correct-horse-battery" not in result.output + result.stderr
    assert msb.server.received == []


def test_dry_run_without_the_password_says_what_to_set(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    with_password(msb, "MSB_SMTP_PASSWORD")
    monkeypatch.delenv("MSB_SMTP_PASSWORD", raising=False)
    monkeypatch.chdir(msb.root)
    result = msb("bundle", "send", str(msb.bundle), "--channel", str(msb.channel), "--dry-run")
    assert result.exit_code == 2
    assert "Dry run: nothing was sent" in result.output  # the plan is shown first
    assert "the password for 127.0.0.1 is not set" in result.stderr
    assert "export MSB_SMTP_PASSWORD=" in result.stderr
    assert msb.server.received == []


def test_dry_run_of_a_maildir_channel_needs_no_secret(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    msb.channel.write_text(
        'network = "oppna-data-varmland"\nmember = "msb"\n\n[channel]\ntype = "maildir"\n'
        'path = "outbox"\nfrom = "MSB <seminarier@msb.example>"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(msb.root)
    result = msb("bundle", "send", str(msb.bundle), "--channel", str(msb.channel), "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    assert "not shown" not in result.output


# -- mailer check and mailer init -----------------------------------------------------------


def test_check_warns_when_the_links_need_the_token_key_that_is_not_set(cli, monkeypatch):
    monkeypatch.delenv("MAILER_TOKEN_KEY")
    result = cli("check")
    assert result.exit_code == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if "MAILER_TOKEN_KEY" in line)
    assert warning.startswith("Warning: every personal link in the mails needs a signing key")
    assert "is not set" in warning and "export MAILER_TOKEN_KEY=" in warning
    assert "OK" in result.output


def test_check_says_nothing_of_the_key_when_it_is_set(cli):
    result = cli("check")
    assert result.exit_code == 0
    assert "MAILER_TOKEN_KEY" not in result.output + result.stderr


def test_check_says_where_the_links_point(cli, workspace):
    result = cli("check")
    assert (
        "The links in the mails point under https://oppnadata-varmland.example: "
        "mailer serve answers them." in result.output
    )
    edit_table(workspace, "web", base_url="https://elsewhere.example")
    moved = cli("check")
    assert "not under [web] base_url" in moved.stderr
    assert "point under" not in moved.output


def test_check_reports_in_swedish_with_counts_in_their_forms(cli, monkeypatch):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    monkeypatch.delenv("MAILER_TOKEN_KEY")
    result = cli("check")
    assert result.exit_code == 0, result.stderr
    assert "network.toml: OK" in result.output
    assert "personer att skicka till" in result.output
    assert "Länkarna i mejlen pekar under" in result.output
    assert "Varning: varje personlig länk i mejlen behöver en signeringsnyckel" in result.stderr
    for english in ("people", "members", "seminars", "rendered", "Warning"):
        assert english not in result.output + result.stderr


def test_init_keeps_keys_bundles_and_reports_out_of_git(tmp_path):
    target = tmp_path / "network"
    assert run_mailer("init", str(target)).exit_code == 0
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    secret = ["network.key", "msb-ca.pem", "invitation-2-msb.zip", "invitation-2-msb-report.json"]
    secret += [".mailer/journal.sqlite3", "outbox/msb/new/1", "bundles/a.zip", "merged.csv"]
    shared = ["network.key.pub", "CHANNEL.toml", "invitation-2-msb-revocation.json"]
    ignored = subprocess.run(
        ["git", "-C", str(target), "check-ignore", "--no-index", *secret, *shared],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(ignored) == sorted(secret)


def test_init_says_to_set_the_link_key_when_it_is_not_set(tmp_path, monkeypatch):
    monkeypatch.delenv("MAILER_TOKEN_KEY")
    result = run_mailer("init", str(tmp_path / "network"))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[2].startswith('  export MAILER_TOKEN_KEY="$(python3 -c')
    assert lines[3].endswith("mailer check && mailer send invitation 2 --dry-run")
    monkeypatch.setenv("MAILER_TOKEN_KEY", "k" * 32)
    again = run_mailer("init", str(tmp_path / "second"))
    assert "export" not in again.output


def test_init_speaks_the_chosen_language(tmp_path):
    target = tmp_path / "nätverk"
    result = run_mailer("init", str(target), env={"MAILER_LANGUAGE": "sv"})
    assert result.exit_code == 0
    assert f"En arbetsmapp skapades i {target}. Nästa steg:" in result.output
    again = run_mailer("init", str(target), env={"MAILER_LANGUAGE": "sv"})
    assert again.exit_code == 2
    assert "finns redan (använd --force för att skriva över)" in again.stderr


def test_a_state_error_speaks_swedish(tmp_path):
    from mailer import i18n
    from mailer.errors import StateError
    from mailer.journal import Journal

    (tmp_path / "journal.sqlite3").mkdir()
    with i18n.speaking("sv"), pytest.raises(StateError) as raised:
        Journal.in_state_dir(tmp_path)
    assert "är en mapp, inte en databas" in str(raised.value)
    assert "återställ tillståndsmappen" in str(raised.value)


def test_the_help_of_bundle_is_swedish_for_a_swede():
    run = subprocess.run(
        [sys.executable, "-m", "mailer", "--language", "sv", "bundle", "--help"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0
    assert "Utskickspaket: en medlem skickar sin egen andel" in run.stdout


# -- every line of the bundle commands, in Swedish -----------------------------------------

ENGLISH_WORDS = ("people", "person ", "merged", "revokes", "Give ", "Send ", "written", "nothing")


def swedish_only(result: Any) -> str:
    text = str(result.output) + str(result.stderr)
    assert not [w for w in ENGLISH_WORDS if w in text], text
    return text


def test_the_coordinators_and_members_bundle_lines_are_swedish(
    workspace, keys, members, tmp_path, monkeypatch
):
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    msb = members["msb"]
    network = ("--network", str(workspace / "network.toml"))

    def coordinator(*args: str) -> Any:
        return run_mailer(*network, *args, env={"MAILER_BUNDLE_KEY_FILE": str(keys["private"])})

    keygen = run_mailer("bundle", "keygen", "-o", str(tmp_path / "ny.key"))
    assert "Nyckeln skrevs till" in swedish_only(keygen)
    exported = coordinator(
        "bundle", "export", "invitation", "2", "--org", "msb", "-o", str(msb.bundle)
    )
    assert f"{msb.bundle}: MSB, 4 personer" in swedish_only(exported)
    monkeypatch.chdir(msb.root)
    early = msb("bundle", "report", str(msb.bundle), "-o", str(msb.root / "tidig.json"))
    assert "0 av 4 personer (inget skickat än)." in swedish_only(early)
    assert msb.send().exit_code == 0
    report = msb("bundle", "report", str(msb.bundle), "-o", str(msb.root / "rapport.json"))
    assert "4 av 4 personer (4 skickade)." in swedish_only(report)
    imported = coordinator("bundle", "import-report", str(msb.root / "rapport.json"))
    assert "MSB, invitation-2: infört 4 skickade" in swedish_only(imported)
    again = coordinator("bundle", "import-report", str(msb.root / "rapport.json"))
    assert again.exit_code == 2
    assert "rapporten importerades redan " in swedish_only(again)
    revoked = coordinator("bundle", "revoke", "invitation-2", "--org", "msb")
    assert "återkallar 1 paket med invitation-2 till MSB." in swedish_only(revoked)
