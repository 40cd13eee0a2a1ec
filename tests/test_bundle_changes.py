"""Bundles that outlive a seminar change: what is still out, revocation, newer bundles,
and reports naming people forgotten since. Real files, real keys, real SMTP servers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mailer.bundle import (
    awaiting_invitation,
    formats,
    recorded_revocations,
    seminar_of,
    unreported_bundles,
)
from mailer.bundle.signing import generate_key
from mailer.config import load_network
from mailer.journal import Journal
from mailer.recipients import merge
from tests.helpers import KAU, add_change, journal_rows, share, use_smtp_everywhere
from tests.helpers import export_bundle as export
from tests.helpers import run_mailer as run

TOM = "tom.walker@msb.example"


def later(monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    """Move the bundle package's clock on: an export 'later', without sleeping."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    monkeypatch.setattr(formats, "utcnow", lambda: moment)


# -- which bundles are still out when the seminar changes -----------------------------------


def test_seminar_of_a_mailing_id():
    assert seminar_of("invitation-3") == 3
    assert seminar_of("change-3.2") == 3
    assert seminar_of("cancellation-12") == 12
    assert seminar_of("newsletter-3") is None


def test_unreported_bundles_names_the_members_still_holding_people(
    coordinator, workspace, members, monkeypatch
):
    msb, kau = members["msb"], members[KAU]
    export(coordinator, msb)
    export(coordinator, kau)
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    assert coordinator("bundle", "import-report", str(msb.report())).exit_code == 0

    with Journal.in_state_dir(workspace / ".mailer") as journal:
        held = unreported_bundles(journal, 2)
        assert [(h.member, h.mailing, h.reported) for h in held] == [(KAU, "invitation-2", False)]
        assert held[0].people == share(workspace, KAU)
        # Named as send and status name members: by the label, never the id.
        label = load_network(workspace / "network.toml").member_label(KAU)
        assert label == "KAU"
        assert held[0].line(label) == (
            "KAU holds a bundle of invitation-2 not yet reported: its people are not sent "
            f"this change from here; export a change bundle for KAU (--org {KAU})"
        )
        assert unreported_bundles(journal, 1) == []

        # Nobody gets a change to an invitation that is only in KAU's hands.
        people = merge(load_network(workspace / "network.toml")).people
        left_out = awaiting_invitation(journal, 2, people)
        assert {lo.person.email for lo in left_out} == share(workspace, KAU)
        assert all(lo.bundle.member == KAU for lo in left_out)
        assert "left out; their invitation is in KAU's bundle" in left_out[0].line(label)


def test_an_early_report_leaves_the_unsent_people_held(coordinator, workspace, members):
    msb = members["msb"]
    export(coordinator, msb)
    assert coordinator("bundle", "import-report", str(msb.report())).exit_code == 0
    with Journal.in_state_dir(workspace / ".mailer") as journal:
        (held,) = unreported_bundles(journal, 2)
        assert held.reported and held.people == share(workspace, "msb")
        assert "only partly reported" in held.line("MSB")


# -- revocation ------------------------------------------------------------------------------


def test_a_revoked_bundle_is_refused_by_check_and_send(
    coordinator, workspace, members, monkeypatch
):
    msb = members["msb"]
    export(coordinator, msb)
    note = msb.root / "revocation.json"
    revoked = coordinator("bundle", "revoke", "invitation-2", "--org", "msb", "-o", str(note))
    assert revoked.exit_code == 0, revoked.output + revoked.stderr
    assert "revokes 1 bundle(s) of invitation-2 for MSB" in revoked.output
    assert "Send it to MSB;" in revoked.output
    (record,) = recorded_revocations(workspace / ".mailer")
    assert record.member == "msb" and record.revoked
    assert TOM not in note.read_text()  # a note holds no addresses

    monkeypatch.chdir(msb.root)
    assert msb.check().exit_code == 0  # without the note, the member cannot know
    for result in (
        msb("bundle", "check", str(msb.bundle), "--revocation", str(note)),
        msb.send(None, "--revocation", str(note)),
    ):
        assert result.exit_code == 2, result.output
        assert "the coordinator revoked this bundle on" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert msb.server.received == []
    assert not (msb.root / ".mailer").exists()

    # A bundle exported after the revocation is not refused by it.
    later(monkeypatch, 5)
    monkeypatch.chdir(workspace)
    fresh = msb.root / "fresh.zip"
    args = ("bundle", "export", "invitation", "2", "--org", "msb", "-o", str(fresh))
    assert coordinator(*args).exit_code == 0
    monkeypatch.chdir(msb.root)
    sent = msb.send(fresh, "--revocation", str(note))
    assert sent.exit_code == 0, sent.output + sent.stderr
    assert set(msb.server.handler.recipients()) == share(workspace, "msb")

    with Journal.in_state_dir(workspace / ".mailer") as journal:
        assert [h.revoked for h in unreported_bundles(journal, 2)] == [False]  # the fresh one


def test_an_altered_or_foreign_revocation_note_is_refused(coordinator, members, tmp_path):
    msb = members["msb"]
    export(coordinator, msb)
    note = tmp_path / "note.json"
    made = coordinator("bundle", "revoke", "invitation-2", "--org", "msb", "-o", str(note))
    assert made.exit_code == 0, made.output + made.stderr
    data = json.loads(note.read_text())
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(data | {"member": KAU}))
    result = msb("bundle", "check", str(msb.bundle), "--revocation", str(altered))
    assert result.exit_code == 2
    assert "the revocation note's signature does not match: it was altered" in result.stderr

    private, _ = generate_key("ed25519")
    stranger = tmp_path / "stranger.key"
    stranger.write_text(private)
    forged = coordinator(
        "bundle", "revoke", "invitation-2", "--org", "msb", "-o", str(tmp_path / "forged.json"),
        key=stranger,
    )  # fmt: skip
    assert forged.exit_code == 0
    result = msb("bundle", "check", str(msb.bundle), "--revocation", str(tmp_path / "forged.json"))
    assert result.exit_code == 2
    assert "the revocation note is not signed with the network's key" in result.stderr

    not_a_note = msb("bundle", "check", str(msb.bundle), "--revocation", str(msb.channel))
    assert not_a_note.exit_code == 2 and "not a revocation note (not JSON)" in not_a_note.stderr


def test_revoking_what_was_never_exported_is_one_line(coordinator):
    result = coordinator("bundle", "revoke", "invitation-2", "--org", "msb")
    assert result.exit_code == 2
    assert "MSB holds no bundle of invitation-2: nothing to revoke" in result.stderr
    unknown = coordinator("bundle", "revoke", "invitation-2", "--org", "nobody")
    assert unknown.exit_code == 2 and "unknown organisation 'nobody'" in unknown.stderr


def test_a_newer_bundle_supersedes_the_older_one(coordinator, workspace, members, monkeypatch):
    msb = members["msb"]
    export(coordinator, msb)
    later(monkeypatch, 5)
    newer = msb.root / "newer.zip"
    args = ("bundle", "export", "invitation", "2", "--org", "msb", "-o", str(newer))
    assert coordinator(*args).exit_code == 0
    monkeypatch.chdir(msb.root)

    old = msb.send(None, "--revocation", str(newer))
    assert old.exit_code == 2
    assert "newer.zip is a newer bundle of invitation-2 for msb" in old.stderr
    assert "send that one instead" in old.stderr
    assert msb.server.received == []
    ok = msb("bundle", "check", str(newer), "--revocation", str(msb.bundle))
    assert ok.exit_code == 0, ok.output + ok.stderr

    # Only a bundle signed with the network's key can supersede.
    other_key, _ = generate_key("ed25519")
    (msb.root / "other.key").write_text(other_key)
    forged = msb.root / "forged.zip"
    made = coordinator(*args[:-1], str(forged), key=msb.root / "other.key")
    assert made.exit_code == 0
    refused = msb.send(None, "--revocation", str(forged))
    assert refused.exit_code == 2 and "signed with another key" in refused.stderr


# -- a genuine report naming someone forgotten since ----------------------------------------


def test_a_report_naming_a_person_forgotten_since_imports_the_others(
    coordinator, workspace, members, monkeypatch
):
    msb = members["msb"]
    export(coordinator, msb)
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    report = msb.report("--unsubscribed", TOM)
    monkeypatch.chdir(workspace)
    forgot = coordinator("person", "forget", TOM, "--yes")
    assert "Forgot tom.walker@msb.example" in forgot.output

    imported = coordinator("bundle", "import-report", str(report))
    assert imported.exit_code == 0, imported.output + imported.stderr
    others = share(workspace, "msb") - {TOM}
    assert f"merged {len(others)} sent" in imported.output
    assert "skipped  1 forgotten since the export ('mailer person forget')" in imported.stderr
    assert TOM not in imported.output + imported.stderr
    rows = journal_rows(workspace / ".mailer")
    assert TOM not in rows
    assert {e for e, (_, state) in rows.items() if state == "sent"} >= others


# -- keygen into a folder that does not exist -----------------------------------------------


def test_keygen_into_a_missing_folder_is_one_line(tmp_path):
    result = run("bundle", "keygen", "-o", str(tmp_path / "nope" / "network.key"))
    assert result.exit_code == 2
    assert "no folder" in result.stderr and "create the folder first" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nope").exists()


def test_a_change_tells_the_coordinator_first_and_skips_invitations_still_in_a_bundle(
    coordinator, workspace, members, smtp_server, monkeypatch
):
    msb, kau = members["msb"], members[KAU]
    export(coordinator, msb)
    export(coordinator, kau)
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    assert coordinator("bundle", "import-report", str(msb.report())).exit_code == 0
    add_change(workspace, 2, "Sessionssalen", "Ny lokal: Sessionssalen")
    use_smtp_everywhere(workspace, smtp_server.port)

    dry = coordinator("send", "change", "2", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "KAU holds a bundle of invitation-2 not yet reported" in dry.output
    assert smtp_server.received == []

    sent = coordinator("send", "change", "2", "--yes")
    assert sent.exit_code == 0, sent.output
    assert f"export a change bundle for KAU (--org {KAU})" in sent.output
    got = set(smtp_server.handler.recipients())
    assert not got & share(workspace, KAU), "a change to an invitation they never got"
    assert share(workspace, "msb") <= got


def test_a_copy_of_a_bundle_sent_from_another_folder_is_refused(
    coordinator, workspace, members, monkeypatch, tmp_path
):
    """The member's journal is beside the bundle: a copy elsewhere would find none and mail
    everybody again. The first real send records its folder; a send of the same share from
    another is refused with the folder to use, and nobody gets a second copy."""
    msb = members["msb"]
    export(coordinator, msb)
    copy = tmp_path / "elsewhere" / msb.bundle.name
    copy.parent.mkdir()
    copy.write_bytes(msb.bundle.read_bytes())
    monkeypatch.chdir(msb.root)
    dry = msb.send(copy, "--dry-run")  # a dry run from the copy claims nothing
    assert dry.exit_code == 0, dry.output
    assert msb.send().exit_code == 0
    arrived = len(msb.server.received)
    assert arrived == len(share(workspace, "msb"))

    again = msb.send(copy)
    assert again.exit_code == 2, again.output
    assert "was sent from another folder before" in again.stderr
    assert str(msb.root / ".mailer") in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert len(msb.server.received) == arrived
    # From the folder it was sent from: nothing left to send, nothing twice.
    assert msb.send(copy, "--state", str(msb.root / ".mailer")).exit_code == 0
    assert len(msb.server.received) == arrived
