"""Mailing bundles end to end: coordinator and members in separate folders, real SMTP servers.

The coordinator's workspace exports bundles; each member has nothing but a folder with
its bundle, the network's public key and its CHANNEL.toml (no network.toml), and sends
through its own aiosmtpd server.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from mailer.bundle.signing import generate_key
from mailer.config import load_network
from mailer.recipients import merge
from mailer.suppression import Suppression
from tests.helpers import (
    FROM,
    KAU,
    NETWORK_ID,
    TOKEN_KEY,
    Member,
    add_cancellation,
    copy_workspace,
    edit_table,
    export_bundle,
    journal_rows,
    share,
    use_smtp_everywhere,
)
from tests.helpers import run_mailer as run
from tests.smtp_server import SmtpServer

# -- the whole round trip ------------------------------------------------------------------


def test_two_members_send_their_own_share_and_the_journal_matches_a_direct_send(
    coordinator, workspace, members, smtp_server, tmp_path, monkeypatch
):
    msb, kau = members["msb"], members[KAU]
    use_smtp_everywhere(workspace, smtp_server.port)
    out = coordinator(
        "bundle", "export", "invitation", "2", "--org", "msb", "--org", KAU, "-o", str(tmp_path)
    )
    assert out.exit_code == 0, out.output
    for m in (msb, kau):
        (tmp_path / m.bundle.name).rename(m.bundle)

    # The coordinator sends the rest directly; the bundled members' shares are left alone.
    direct = coordinator("send", "invitation", "2", "--yes", "-q")
    assert direct.exit_code == 0, direct.output
    assert "MSB: sends its own share with a bundle" in direct.output
    status = coordinator("status", "invitation-2")
    assert "MSB: no report yet" in status.output and "KAU: no report yet" in status.output

    # Each member, in its own folder with no network.toml, checks, sends and reports.
    for m in (msb, kau):
        monkeypatch.chdir(m.root)
        assert not (m.root / "network.toml").exists()
        checked = m.check()
        assert checked.exit_code == 0, checked.output
        assert "signature and checksums OK" in checked.output
        assert f"People:   {len(share(workspace, m.member))}" in checked.output
        assert "Sample message:" in checked.output
        sent = m.send()
        assert sent.exit_code == 0, sent.output
        received = Counter(m.server.handler.recipients())
        assert set(received) == share(workspace, m.member)
        assert set(received.values()) == {1}
        assert {r.message["From"] for r in m.server.received} == {FROM[m.member]}
        again = m.send()
        assert again.exit_code == 0 and "Nothing to send" in again.output
        assert len(m.server.received) == len(received)
        imported = coordinator("bundle", "import-report", str(m.report()))
        assert imported.exit_code == 0, imported.output + imported.stderr
        assert f"merged {len(received)} sent" in imported.output
        # The member named as send names it, not by its id.
        label = {"msb": "MSB", KAU: "KAU"}[m.member]
        assert f": {label}, invitation-2: merged" in imported.output

    # Nobody got two copies, and everybody got one.
    everyone = Counter(
        smtp_server.handler.recipients()
        + msb.server.handler.recipients()
        + kau.server.handler.recipients()
    )
    assert set(everyone.values()) == {1}
    assert set(everyone) == {
        p.email for p in merge(load_network(workspace / "network.toml")).people
    }

    # The journal holds what a direct send of the whole mailing would have.
    other = copy_workspace(tmp_path / "direct")
    alone = run("--network", str(other / "network.toml"), "send", "invitation", "2", "--yes", "-q")
    assert alone.exit_code == 0, alone.output
    assert journal_rows(workspace / ".mailer") == journal_rows(other / ".mailer")

    status = coordinator("status", "invitation-2")
    assert "no report yet" not in status.output
    assert "MSB: report imported" in status.output
    data = json.loads(coordinator("status", "invitation-2", "--json").output)
    assert data["invitation-2"]["members"]["msb"] == {"sent": len(share(workspace, "msb"))}
    assert data["invitation-2"]["bundles"]["msb"]["reported_at"]


def test_report_carries_outcomes_and_message_ids_but_no_bodies(
    coordinator, workspace, members, monkeypatch
):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    msb.server.handler.refuse["tom.walker@msb.example"] = "550 5.1.1 User unknown"
    monkeypatch.chdir(msb.root)
    sent = msb.send()
    assert sent.exit_code == 1
    assert "tom.walker@msb.example: 550 5.1.1 User unknown" in sent.output
    report = json.loads(msb.report().read_text())
    by_email = {p["email"]: p for p in report["people"]}
    assert by_email["tom.walker@msb.example"]["state"] == "failed"
    assert by_email["tom.walker@msb.example"]["reply"].startswith("550 5.1.1")
    received = {r.rcpt_tos[0]: r.message["Message-ID"] for r in msb.server.received}
    for email, message_id in received.items():
        assert by_email[email]["state"] == "sent"
        assert by_email[email]["message_id"] == message_id
    assert set(report) == {
        "format", "type", "tool", "network", "mailing", "member", "bundle", "created_at",
        "people", "unsubscribed", "bounced", "signature",
    }  # fmt: skip
    assert "Hej" not in msb.report().read_text()

    imported = coordinator("bundle", "import-report", str(msb.report()))
    assert imported.exit_code == 0, imported.output
    rows = journal_rows(workspace / ".mailer")
    assert rows["tom.walker@msb.example"] == ("msb", "failed")
    status = coordinator("status", "invitation-2")
    assert "tom.walker@msb.example (MSB): 550 5.1.1 User unknown" in status.output
    # A hard bounce goes on the network's opt-out list.
    assert "1 added to the suppression list" in imported.output
    with Suppression.in_state_dir(workspace / ".mailer") as suppressed:
        assert "tom.walker@msb.example" in suppressed
        assert [e.reason for e in suppressed.entries()] == ["bounced"]


def test_a_member_sees_where_its_share_stands_with_bundle_status(coordinator, members, monkeypatch):
    # Members have no network.toml, so 'mailer status' is not theirs: the send's hints
    # name 'mailer bundle status', which reads the member's own journal.
    msb = members["msb"]
    export_bundle(coordinator, msb)
    msb.server.handler.refuse["tom.walker@msb.example"] = "550 5.1.1 User unknown"
    msb.server.handler.script["erik.sandberg@msb.example"] = ["drop"]
    monkeypatch.chdir(msb.root)
    sent = msb.send()
    assert sent.exit_code == 1
    assert f"'mailer bundle status {msb.bundle}' lists them" in sent.output
    assert "'mailer status" not in sent.output

    status = msb("bundle", "status", str(msb.bundle))
    assert status.exit_code == 0, status.output
    assert "Mailing invitation-2" in status.output
    assert "failed    tom.walker@msb.example (MSB): 550 5.1.1 User unknown" in status.output
    assert "uncertain erik.sandberg@msb.example (MSB)" in status.output
    as_json = json.loads(msb("bundle", "status", str(msb.bundle), "--json").output)
    counts = as_json["invitation-2"]["members"]["msb"]
    assert counts["failed"] == 1 and counts["sending"] == 1
    assert counts["sent"] == len(msb.server.received)
    assert msb("bundle", "status", str(msb.bundle), "--rehearsal").output == "No rehearsals yet.\n"


def test_dry_run_sends_nothing_and_says_how_to_send(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    result = msb("bundle", "send", str(msb.bundle), "--channel", str(msb.channel), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was sent" in result.output
    assert "mailer bundle send" in result.output
    assert msb.server.received == []


def test_send_without_a_terminal_asks_for_yes(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    result = msb("bundle", "send", str(msb.bundle), "--channel", str(msb.channel), "-q")
    assert result.exit_code == 2
    assert "add --yes" in result.stderr
    assert msb.server.received == []


def test_hmac_key_signs_the_report_too(coordinator, workspace, members, keys, monkeypatch):
    msb = members["msb"]
    msb.key = keys["hmac"]
    result = coordinator(
        "bundle",
        "export",
        "invitation",
        "2",
        "--org",
        "msb",
        "-o",
        str(msb.bundle),
        key=keys["hmac"],
    )
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    path = msb.report()
    report = json.loads(path.read_text())
    assert report["signature"]["algorithm"] == "hmac-sha256"
    # Altered after signing: refused.
    report["people"][0]["state"] = "failed"
    altered = msb.root / "altered.json"
    altered.write_text(json.dumps(report))
    refused = coordinator("bundle", "import-report", str(altered), key=keys["hmac"])
    assert refused.exit_code == 2
    assert "signature does not match" in refused.stderr
    ok = coordinator("bundle", "import-report", str(path), key=keys["hmac"])
    assert ok.exit_code == 0, ok.output + ok.stderr


def test_direct_send_for_a_bundled_member_is_refused_politely(coordinator, members, smtp_server):
    export_bundle(coordinator, members["msb"])
    result = coordinator(
        "send", "invitation", "2", "--org", "msb", "--via", smtp_server.url, "--yes"
    )
    assert result.exit_code == 0
    assert "MSB: sends its own share with a bundle" in result.output
    assert smtp_server.received == []


def test_export_holds_only_that_members_people(coordinator, workspace, members):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    with zipfile.ZipFile(msb.bundle) as zf:
        people = json.loads(zf.read("people.json"))
        data = json.loads(zf.read("mailing.json"))
        manifest = json.loads(zf.read("manifest.json"))
    assert {p["email"] for p in people} == share(workspace, "msb")
    assert all(p["listed_by"] == ["msb"] for p in people)
    assert "lists" not in data["member"]
    assert data["member"]["channel"]["type"] == "maildir"
    assert manifest["network"]["id"] == NETWORK_ID
    assert manifest["mailing"]["id"] == "invitation-2"
    assert set(manifest["files"]) >= {"people.json", "mailing.json", "templates/layout.html"}
    assert oct(msb.bundle.stat().st_mode & 0o777) == "0o600"


def test_summary_bundle_carries_the_summary(coordinator, workspace, members, monkeypatch):
    msb = members["msb"]
    result = coordinator("bundle", "export", "summary", "1", "--org", "msb", "-o", str(msb.bundle))
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    body = msb.server.received[0].message.get_body(("plain",)).get_content()
    summary = (workspace / "seminars" / "1-summary.md").read_text(encoding="utf-8")
    first_words = summary.strip().splitlines()[-1].split()[:3]
    assert " ".join(first_words) in " ".join(body.split())


def test_summary_bundle_carries_the_next_seminar_that_takes_place(
    coordinator, workspace, members, monkeypatch
):
    # Seminar 2 is cancelled: the bundle carries seminar 3 as the next one, as a summary
    # the coordinator sends says, and the member's mail names it.
    add_cancellation(workspace, 2)
    msb = members["msb"]
    result = coordinator("bundle", "export", "summary", "1", "--org", "msb", "-o", str(msb.bundle))
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(msb.bundle) as zf:
        data = json.loads(zf.read("mailing.json"))
    assert [s["number"] for s in data["seminars"]] == [1, 3]
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    for received in msb.server.received:
        body = received.message.get_body(("plain",)).get_content()
        assert "innovation" not in body, body
        assert "säkerhetsaspekter" in body or "security" in body


# -- bad bundles: one line, exit code 2, nothing sent ---------------------------------------


def rewrite(bundle: Path, change: Any) -> None:
    """Rebuild the zip with ``change(files)`` applied to its contents."""
    with zipfile.ZipFile(bundle) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    change(files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    bundle.write_bytes(buffer.getvalue())


def add_recipient(files: dict[str, bytes]) -> None:
    people = json.loads(files["people.json"])
    people.append(people[0] | {"email": "intruder@elsewhere.example", "name": "Intruder"})
    files["people.json"] = json.dumps(people).encode()


def newer_format(files: dict[str, bytes]) -> None:
    manifest = json.loads(files["manifest.json"])
    files["manifest.json"] = json.dumps(manifest | {"format": 2}).encode()


def more_people(files: dict[str, bytes]) -> None:
    manifest = json.loads(files["manifest.json"])
    files["manifest.json"] = json.dumps(manifest | {"people": 99}).encode()


def extra_file(files: dict[str, bytes]) -> None:
    files["templates/extra.html"] = b"<p>hello</p>"


def unsigned(files: dict[str, bytes]) -> None:
    del files["signature.json"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (add_recipient, "people.json does not match its checksum: the bundle was altered"),
        (newer_format, "this bundle has format 2, newer than this mailer reads (1)"),
        (more_people, "the signature does not match: the bundle was changed after it was signed"),
        (extra_file, "holds templates/extra.html, which its manifest does not list"),
        (unsigned, "the bundle is not signed"),
    ],
)
def test_altered_bundle_is_refused_before_anything_is_sent(
    coordinator, members, monkeypatch, change, message
):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    rewrite(msb.bundle, change)
    monkeypatch.chdir(msb.root)
    for result in (msb.check(), msb.send()):
        assert result.exit_code == 2
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.output
    assert msb.server.received == []
    assert not (msb.root / ".mailer").exists()


def test_a_changed_byte_anywhere_is_refused(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    original = msb.bundle.read_bytes()
    monkeypatch.chdir(msb.root)
    # Every 211th byte, one at a time: wherever it lands, the bundle must be refused.
    for offset in range(0, len(original), 211):
        data = bytearray(original)
        data[offset] ^= 0x01
        msb.bundle.write_bytes(bytes(data))
        result = msb.send()
        assert result.exit_code == 2, (offset, result.output)
        assert len(result.stderr.strip().splitlines()) == 1
    assert msb.server.received == []


def test_every_header_byte_changed_is_refused(coordinator, members, keys):
    # Library level, at every 7th byte of the zip's own structure (local headers, central
    # directory, end record), each time a different bit: where zipfile's parser has the
    # most ways to fail. The CLI test above samples the whole file.
    from mailer.bundle import verify
    from mailer.bundle.signing import load_key
    from mailer.errors import BundleError

    msb = members["msb"]
    export_bundle(coordinator, msb)
    original = msb.bundle.read_bytes()
    key = load_key(keys["public"])
    verify(msb.bundle, key)
    content: set[int] = set()
    with zipfile.ZipFile(msb.bundle) as zf:
        for info in zf.infolist():
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            content.update(range(start, start + info.compress_size))
    offsets = [o for o in range(0, len(original), 7) if o not in content]
    assert len(offsets) > 300
    flipped = msb.root / "flipped.zip"
    for offset in offsets:
        data = bytearray(original)
        data[offset] ^= 1 << (offset % 8)
        flipped.write_bytes(bytes(data))
        with pytest.raises(BundleError):
            verify(flipped, key)


def test_truncated_bundle_is_refused(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    data = msb.bundle.read_bytes()
    msb.bundle.write_bytes(data[: len(data) // 2])
    monkeypatch.chdir(msb.root)
    result = msb.send()
    assert result.exit_code == 2
    assert "not a complete bundle" in result.stderr
    assert "truncated or damaged" in result.stderr
    assert msb.server.received == []


def test_bundle_for_another_network_is_refused(tmp_path, keys, members, monkeypatch):
    other = copy_workspace(tmp_path / "other-network")
    config = other / "network.toml"
    edit_table(other, "network", id="another-network")
    msb = members["msb"]
    exported = run(
        "--network",
        str(config),
        "bundle",
        "export",
        "invitation",
        "2",
        "--org",
        "msb",
        "-o",
        str(msb.bundle),
        env={"MAILER_BUNDLE_KEY_FILE": str(keys["private"])},
    )
    assert exported.exit_code == 0, exported.output
    monkeypatch.chdir(msb.root)
    result = msb.send()
    assert result.exit_code == 2
    assert f"is for the network 'another-network', not '{NETWORK_ID}'" in result.stderr
    assert msb.server.received == []


def test_bundle_signed_with_another_key_is_refused(coordinator, members, monkeypatch, tmp_path):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    _, public = generate_key("ed25519")
    msb.key = tmp_path / "stranger.pub"
    msb.key.write_text(public or "")
    monkeypatch.chdir(msb.root)
    result = msb.send()
    assert result.exit_code == 2
    assert "signed with another key" in result.stderr
    assert msb.server.received == []


def test_hmac_bundle_checked_with_a_public_key_is_refused(coordinator, members, keys, monkeypatch):
    # The key decides the algorithm, never the bundle: no downgrade to HMAC.
    msb = members["msb"]
    result = coordinator(
        "bundle",
        "export",
        "invitation",
        "2",
        "--org",
        "msb",
        "-o",
        str(msb.bundle),
        key=keys["hmac"],
    )
    assert result.exit_code == 0
    monkeypatch.chdir(msb.root)
    refused = msb.send()
    assert refused.exit_code == 2
    assert "signed with 'hmac-sha256' but your key is ed25519" in refused.stderr


def test_bundle_for_another_member_is_refused(coordinator, members, monkeypatch):
    msb, kau = members["msb"], members[KAU]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(kau.root)
    result = kau.send(msb.bundle)
    assert result.exit_code == 2
    assert f"this bundle is for the member 'msb', but the channel file is for '{KAU}'" in (
        result.stderr
    )
    assert kau.server.received == [] and msb.server.received == []


def test_not_a_zip_and_no_key_and_no_file(members, monkeypatch):
    msb = members["msb"]
    monkeypatch.chdir(msb.root)
    msb.bundle.write_text("hello")
    assert "not a complete bundle" in msb.send().stderr
    missing = msb.send(msb.root / "nope.zip")
    assert missing.exit_code == 2 and "nope.zip: no such file" in missing.stderr
    keyless = run("bundle", "check", str(msb.bundle), env={"MAILER_BUNDLE_KEY_FILE": None})
    assert keyless.exit_code == 2
    assert "no key to sign or check bundles with" in keyless.stderr


def test_channel_file_with_a_password_is_refused(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    msb.channel.write_text(msb.channel.read_text() + 'password = "hunter2hunter2"\n')
    monkeypatch.chdir(msb.root)
    result = msb.send()
    assert result.exit_code == 2
    assert "CHANNEL.toml:10: channel.password holds a secret in clear text" in result.stderr
    assert "hunter2" not in result.output
    assert msb.server.received == []


def test_channel_file_with_an_unknown_key_names_the_line(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    msb.channel.write_text(msb.channel.read_text().replace("port =", "prot ="))
    monkeypatch.chdir(msb.root)
    result = msb.send()
    assert result.exit_code == 2
    assert "CHANNEL.toml:7: unknown key 'channel.prot'" in result.stderr


# -- bad reports: one line, exit code 2, nothing merged -------------------------------------


@pytest.fixture
def sent_report(coordinator, members, monkeypatch) -> Path:
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    return msb.report()


def edited(report: Path, **changes: Any) -> Path:
    data = json.loads(report.read_text())
    for key, value in changes.items():
        data[key] = value(data[key]) if callable(value) else value
    out = report.with_name("edited.json")
    out.write_text(json.dumps(data))
    return out


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mailing": "invitation-3"}, "says mailing 'invitation-3', but its bundle was for"),
        ({"member": KAU}, f"says member '{KAU}', but its bundle was for 'msb'"),
        ({"network": "another-network"}, "is for the network 'another-network'"),
        ({"bundle": "0" * 64}, "for a bundle this workspace never exported"),
        (
            {"people": lambda p: [*p, p[0] | {"email": "jan.ek@kronofogden.example"}]},
            "names jan.ek@kronofogden.example, who is not in MSB's share",
        ),
        ({"format": 2}, "this report has format 2, newer than this mailer reads (1)"),
        ({"people": lambda p: [p[0] | {"state": "delivered"}]}, "unknown outcome 'delivered'"),
    ],
)
def test_bad_report_is_refused_and_nothing_merged(
    coordinator, workspace, sent_report, changes, message
):
    before = journal_rows(workspace / ".mailer")
    result = coordinator("bundle", "import-report", str(edited(sent_report, **changes)))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert journal_rows(workspace / ".mailer") == before


def test_an_early_report_says_what_is_still_to_send(coordinator, members, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    early = coordinator("bundle", "import-report", str(msb.report()))
    assert early.exit_code == 0, early.output + early.stderr
    status = coordinator("status", "invitation-2")
    assert "MSB: report imported" in status.output
    assert "4 not sent by the member yet" in status.output


def test_same_report_twice_is_refused_and_changes_nothing(coordinator, workspace, sent_report):
    first = coordinator("bundle", "import-report", str(sent_report))
    assert first.exit_code == 0
    after_first = journal_rows(workspace / ".mailer")
    second = coordinator("bundle", "import-report", str(sent_report))
    assert second.exit_code == 2
    assert "was already imported at" in second.stderr
    assert journal_rows(workspace / ".mailer") == after_first


def test_a_bundle_is_not_a_report(coordinator, members, sent_report):
    result = coordinator("bundle", "import-report", str(members["msb"].bundle))
    assert result.exit_code == 2
    assert "not a mailer report (not JSON)" in result.stderr


def test_report_of_another_workspace_is_refused(tmp_path, keys, sent_report):
    other = copy_workspace(tmp_path / "elsewhere")
    result = run(
        "--network",
        str(other / "network.toml"),
        "bundle",
        "import-report",
        str(sent_report),
        env={"MAILER_BUNDLE_KEY_FILE": str(keys["private"])},
    )
    assert result.exit_code == 2
    assert "never exported" in result.stderr


def test_report_names_only_the_bundles_people_for_unsubscribes(members, sent_report):
    msb = members["msb"]
    result = msb(
        "bundle", "report", str(msb.bundle), "--unsubscribed", "jan.ek@kronofogden.example"
    )
    assert result.exit_code == 2
    assert "not one of the people in this bundle" in result.stderr
    ok = msb.report("--unsubscribed", "Tom.Walker@msb.example")
    assert json.loads(ok.read_text())["unsubscribed"] == ["tom.walker@msb.example"]


def test_unsubscribes_reach_the_opt_out_list_and_the_next_export(
    coordinator, workspace, members, sent_report
):
    msb = members["msb"]
    report = msb.report("--unsubscribed", "tom.walker@msb.example")
    imported = coordinator("bundle", "import-report", str(report))
    assert imported.exit_code == 0, imported.output + imported.stderr
    with Suppression.in_state_dir(workspace / ".mailer") as suppressed:
        assert [(e.email, e.reason) for e in suppressed.entries()] == [
            ("tom.walker@msb.example", "unsubscribed")
        ]
    summary = coordinator("bundle", "export", "summary", "1", "--org", "msb", "-o", str(msb.bundle))
    assert summary.exit_code == 0, summary.output
    with zipfile.ZipFile(msb.bundle) as zf:
        people = {p["email"] for p in json.loads(zf.read("people.json"))}
    assert people == share(workspace, "msb") - {"tom.walker@msb.example"}


# -- mailer send --org: the coordinator sends some members' share ---------------------------


def test_send_for_some_members_leaves_the_others_untouched(cli, workspace, smtp_server):
    use_smtp_everywhere(workspace, smtp_server.port)
    some = cli(
        "send", "invitation", "2", "--yes", "-q", "--org", "msb", "--org", "kronofogden"
    )  # fmt: skip
    assert some.exit_code == 0, some.output
    chosen = share(workspace, "msb") | share(workspace, "kronofogden")
    assert set(smtp_server.handler.recipients()) == chosen
    rows = journal_rows(workspace / ".mailer")
    assert set(rows) == chosen
    assert {member for member, _ in rows.values()} == {"msb", "kronofogden"}

    rest = cli("send", "invitation", "2", "--yes", "-q")
    assert rest.exit_code == 0, rest.output
    everyone = Counter(smtp_server.handler.recipients())
    assert set(everyone.values()) == {1}
    network = load_network(workspace / "network.toml")
    assert set(everyone) == {p.email for p in merge(network).people}
    assert {state for _, state in journal_rows(workspace / ".mailer").values()} == {"sent"}


def test_unsigned_report_is_refused_when_the_network_key_is_hmac(
    coordinator, workspace, members, keys, monkeypatch
):
    msb = members["msb"]
    msb.key = keys["hmac"]
    args = ("bundle", "export", "invitation", "2", "--org", "msb", "-o", str(msb.bundle))
    assert coordinator(*args, key=keys["hmac"]).exit_code == 0
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    unsigned = edited(msb.report(), signature=None)
    before = journal_rows(workspace / ".mailer")
    result = coordinator("bundle", "import-report", str(unsigned), key=keys["hmac"])
    assert result.exit_code == 2
    assert "the report is not signed with the network's key" in result.stderr
    assert journal_rows(workspace / ".mailer") == before


def test_keygen_writes_a_private_key_and_a_public_one_and_never_overwrites(tmp_path):
    key = tmp_path / "network.key"
    made = run("bundle", "keygen", "-o", str(key))
    assert made.exit_code == 0, made.output
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "network.key.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in made.output
    again = run("bundle", "keygen", "-o", str(key))
    assert again.exit_code == 2 and "refusing to overwrite a key" in again.stderr
    secret = tmp_path / "shared.key"
    assert run("bundle", "keygen", "--type", "hmac", "-o", str(secret)).exit_code == 0
    assert len(secret.read_text().strip()) >= 32
    assert not (tmp_path / "shared.key.pub").exists()


def test_a_public_key_cannot_export(coordinator, members, keys):
    msb = members["msb"]
    args = ("bundle", "export", "invitation", "2", "--org", "msb", "-o", str(msb.bundle))
    result = coordinator(*args, key=keys["public"])
    assert result.exit_code == 2
    assert "is a public key: it can check bundles, not sign them" in result.stderr
    assert not msb.bundle.exists()


# -- time limits and the member's channel file ---------------------------------------------


def test_expired_bundle_is_refused_but_can_still_be_reported(coordinator, members, monkeypatch):
    import datetime as dt

    from mailer.bundle import formats

    msb = members["msb"]
    args = ("bundle", "export", "invitation", "2", "--org", "msb", "-o", str(msb.bundle))
    assert coordinator(*args, "--valid-days", "3").exit_code == 0
    monkeypatch.chdir(msb.root)
    checked = msb.check()
    assert checked.exit_code == 0 and "send it before" in checked.output
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3, minutes=1)
    monkeypatch.setattr(formats, "utcnow", lambda: later)
    for result in (msb.check(), msb.send()):
        assert result.exit_code == 2
        assert "this bundle expired on" in result.stderr
        assert "ask the coordinator for a fresh one" in result.stderr
    assert msb.server.received == []
    report = json.loads(msb.report().read_text())
    assert report["people"] == []


def test_member_channel_file_takes_the_microsoft_365_preset(tmp_path):
    from mailer.bundle import load_channel_file

    path = tmp_path / "CHANNEL.toml"
    path.write_text(
        'network = "oppna-data-varmland"\nmember = "msb"\n\n[channel]\ntype = "smtp"\n'
        'preset = "microsoft365"\nauth = "oauth2"\nusername = "seminarier@msb.example"\n'
        'tenant_id = "t"\nclient_id = "c"\nclient_secret_env = "MSB_CLIENT_SECRET"\n'
        'from = "MSB <seminarier@msb.example>"\n',
        encoding="utf-8",
    )
    channel = load_channel_file(path).channel
    assert channel.type == "smtp"
    assert (channel.host, channel.port, channel.rate_per_minute) == ("smtp.office365.com", 587, 30)
    assert channel.max_connections == 3


def test_member_maildir_channel_is_relative_to_the_channel_file(
    coordinator, workspace, members, tmp_path, monkeypatch
):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    msb.channel.write_text(
        'network = "oppna-data-varmland"\nmember = "msb"\n\n[channel]\ntype = "maildir"\n'
        'path = "outbox"\nfrom = "MSB <seminarier@msb.example>"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # somewhere else: the path still means msb/outbox
    result = msb.send()
    assert result.exit_code == 0, result.output
    assert len(list((msb.root / "outbox" / "new").iterdir())) == len(share(workspace, "msb"))
    checked = msb("bundle", "check", str(msb.bundle))
    assert "Channel:  yours, from CHANNEL.toml" in checked.output


def test_export_keeps_to_the_mailings_audience(coordinator, workspace, members, monkeypatch):
    kau = members[KAU]
    args = ("bundle", "export", "invitation", "2", "--org", KAU, "-o", str(kau.bundle))
    result = coordinator(*args, "--audience", "segment:management")
    assert result.exit_code == 0, result.output
    merged = merge(load_network(workspace / "network.toml"))
    managers = {p.email for p in merged.people if p.sender == KAU and p.segment == "management"}
    assert managers and managers != share(workspace, KAU)
    with zipfile.ZipFile(kau.bundle) as zf:
        assert {p["email"] for p in json.loads(zf.read("people.json"))} == managers
    monkeypatch.chdir(kau.root)
    assert kau.send().exit_code == 0
    assert set(kau.server.handler.recipients()) == managers


def test_the_hmac_secret_is_never_shown(keys):
    from mailer import redaction
    from mailer.bundle.signing import load_key

    secret = keys["hmac"].read_text().strip()
    load_key(keys["hmac"])
    assert redaction.redact(f"oops: {secret}") == "oops: ***"
    redaction.forget_all()


def test_member_needs_no_link_key_and_links_verify_at_the_coordinator(
    coordinator, workspace, members, monkeypatch
):
    """The coordinator signs each person's links into the bundle: the key never travels."""
    from mailer import tokens

    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    monkeypatch.delenv("MAILER_TOKEN_KEY")
    result = msb.send()
    assert result.exit_code == 0, result.output
    assert msb.server.received

    monkeypatch.setenv("MAILER_TOKEN_KEY", TOKEN_KEY)
    network = load_network(workspace / "network.toml")
    signer = tokens.Signer.from_env(network, why="test")
    purpose = tokens.registration_purpose(network, 2)
    for item in msb.server.received:
        text = item.message.get_body(("plain",)).get_content()
        token = re.search(r"[?&]token=([A-Za-z0-9_.-]+)", text).group(1)
        assert signer.verify(purpose, token) == item.rcpt_tos[0]


# -- a member's rehearsal: mailer bundle send --via -------------------------------------------

TOM = "tom.walker@msb.example"


def rehearse(member: Member, server: SmtpServer, *extra: str) -> Result:
    return member(
        "bundle",
        "send",
        str(member.bundle),
        "--channel",
        str(member.channel),
        "--via",
        server.url,
        "--yes",
        *extra,
    )


def member_state(member: Member) -> Path:
    return member.root / ".mailer" / "bundles" / NETWORK_ID


def test_a_member_rehearses_then_sends_for_real_and_the_report_counts_only_the_real_send(
    coordinator, workspace, members, smtp_servers, monkeypatch
):
    msb = members["msb"]
    people = share(workspace, "msb")
    # The member's mailbox takes exactly its share today: a rehearsal that counted
    # against the quota would leave nothing for the real send.
    with msb.channel.open("a", encoding="utf-8") as f:
        f.write(f"recipients_per_day = {len(people)}\n")
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    rehearsal = smtp_servers()
    host = f"127.0.0.1:{rehearsal.port}"

    first = rehearse(msb, rehearsal)
    assert first.exit_code == 0, first.output + first.stderr
    assert Counter(rehearsal.handler.recipients()) == Counter(people)
    assert {r.message["From"] for r in rehearsal.received} == {FROM["msb"]}
    assert msb.server.received == []
    assert f"Rehearsal of mailing invitation-2 through {host}" in first.output
    assert "opt-out list are left alone" in first.output
    real = f"mailer bundle send {msb.bundle} --channel {msb.channel}"
    said = f"That was a rehearsal through {host}: nobody on the lists got anything. "
    assert f"{said}To send for real: {real}" in first.stderr
    assert "mailer bundle report" not in first.stderr

    # Nothing rehearsed reaches the coordinator as sent.
    early = msb("bundle", "report", str(msb.bundle), "-o", str(msb.root / "early.json"))
    assert early.exit_code == 0, early.output
    assert f"0 of {len(people)} people (nothing sent yet)" in early.output
    assert json.loads((msb.root / "early.json").read_text())["people"] == []

    # A rehearsal resumes like a real run; --resend rehearses from the start.
    again = rehearse(msb, rehearsal)
    assert again.exit_code == 0 and "Nothing to rehearse" in again.output
    over = rehearse(msb, rehearsal, "--resend", "-q")
    assert over.exit_code == 0, over.output + over.stderr
    assert Counter(rehearsal.handler.recipients()) == Counter(people) + Counter(people)

    sent = msb.send()
    assert sent.exit_code == 0, sent.output + sent.stderr
    assert "rehearsal" not in (sent.output + sent.stderr).lower()
    assert Counter(msb.server.handler.recipients()) == Counter(people)
    report = json.loads(msb.report().read_text())
    assert {p["email"]: p["state"] for p in report["people"]} == dict.fromkeys(people, "sent")
    imported = coordinator("bundle", "import-report", str(msb.report()))
    assert imported.exit_code == 0, imported.output + imported.stderr
    assert f"merged {len(people)} sent" in imported.output

    # The rehearsal's journal sits beside the member's; its log lines say what they were.
    state = member_state(msb)
    assert journal_rows(state / "rehearsal").keys() == people
    lines = (state / "delivery.log").read_text(encoding="utf-8").splitlines()
    mailings = Counter(line.split("\t")[1] for line in lines)
    assert mailings == {"rehearsal:invitation-2": 2 * len(people), "invitation-2": len(people)}


def test_a_refusal_at_the_members_rehearsal_server_reaches_no_opt_out_list(
    coordinator, workspace, members, smtp_server, monkeypatch
):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    smtp_server.handler.refuse[TOM] = "550 5.1.1 User unknown"
    result = rehearse(msb, smtp_server)
    assert result.exit_code == 1
    assert f"failed   {TOM}: 550 5.1.1 User unknown" in result.output
    assert journal_rows(member_state(msb) / "rehearsal")[TOM] == ("msb", "failed")
    assert not list(msb.root.rglob("suppression*"))

    imported = coordinator("bundle", "import-report", str(msb.report()))
    assert imported.exit_code == 0, imported.output + imported.stderr
    assert "suppression list" not in imported.output
    with Suppression.in_state_dir(workspace / ".mailer") as suppressed:
        assert TOM not in suppressed

    # The real send still reaches Tom.
    sent = msb.send()
    assert sent.exit_code == 0, sent.output + sent.stderr
    assert TOM in msb.server.handler.recipients()


def test_a_members_rehearsal_dry_run_and_its_usage(coordinator, members, smtp_server, monkeypatch):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    base = ("bundle", "send", str(msb.bundle), "--channel", str(msb.channel))
    dry = msb(*base, "--via", smtp_server.url, "--dry-run")
    assert dry.exit_code == 0, dry.output + dry.stderr
    assert f"through 127.0.0.1:{smtp_server.port}" in dry.output
    assert f"To rehearse: mailer bundle send {msb.bundle}" in dry.output
    assert f"--via {smtp_server.url}" in dry.output

    asks = msb(*base, "--via", smtp_server.url, "-q")
    assert asks.exit_code == 2
    assert f"this rehearses through 127.0.0.1:{smtp_server.port}" in asks.stderr

    resend = msb(*base, "--resend", "--yes")
    assert resend.exit_code == 2
    assert "--resend only rehearses again: use it with --via" in resend.stderr
    assert smtp_server.received == [] and msb.server.received == []
    assert journal_rows(member_state(msb) / "rehearsal") == {}


def test_a_members_rehearsal_carries_links_the_coordinator_refuses(
    coordinator, workspace, members, smtp_server, monkeypatch
):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    monkeypatch.delenv("MAILER_TOKEN_KEY")  # the member never holds the key
    assert rehearse(msb, smtp_server).exit_code == 0
    practised = next(r.message for r in smtp_server.received if r.rcpt_tos == [TOM])
    token = re.search(r"token=([A-Za-z0-9_.-]+)", str(practised["List-Unsubscribe"]))
    assert token

    monkeypatch.setenv("MAILER_TOKEN_KEY", TOKEN_KEY)
    monkeypatch.chdir(workspace)
    refused = coordinator("unsubscribe", "--token", token.group(1))
    assert refused.exit_code == 2
    assert "this link comes from a rehearsal: nobody was unsubscribed" in refused.stderr
    with Suppression.in_state_dir(workspace / ".mailer") as suppressed:
        assert TOM not in suppressed


def test_a_bundle_without_rehearsal_links_cannot_be_rehearsed(
    coordinator, members, smtp_server, monkeypatch
):
    """A bundle from before rehearsals had links of their own holds only live ones."""
    from mailer.bundle import export as exporting

    real_entry = exporting.person_entry

    def older_entry(*args: Any) -> dict[str, Any]:
        entry = real_entry(*args)
        del entry["links"]["rehearsal"]
        return entry

    monkeypatch.setattr(exporting, "person_entry", older_entry)
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    refused = rehearse(msb, smtp_server)
    assert refused.exit_code == 2
    assert "this bundle was made by an older mailer" in refused.stderr
    assert "ask the coordinator for a new bundle to rehearse with" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert smtp_server.received == []
    sent = msb.send()  # the real send does not need them
    assert sent.exit_code == 0, sent.output + sent.stderr
