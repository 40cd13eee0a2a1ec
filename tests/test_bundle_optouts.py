"""Opt-outs made after a bundle was exported reach the member: the coordinator's signed
opt-out note ('mailer bundle opt-outs'), applied on the member's machine ('mailer bundle
suppress'), and the member's own opt-out list, which 'mailer bundle send' reads.

Real parts throughout: the coordinator's workspace exports a signed bundle, people opt out
on the coordinator's side afterwards, and the member sends through its own aiosmtpd; the
report then goes back through 'mailer bundle import-report'.
"""

from __future__ import annotations

import json
import mailbox
from pathlib import Path
from typing import Any

from mailer.suppression import Suppression
from tests.helpers import KAU, Member, export_bundle, share
from tests.inbox_corpus import received


def note_for(coordinator: Any, member: Member, mailing: str = "invitation-2") -> Path:
    out = member.root / f"{mailing}-{member.member}-opt-outs.json"
    result = coordinator("bundle", "opt-outs", mailing, "--org", member.member, "-o", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    return out


def test_people_who_opted_out_after_the_export_are_not_mailed(
    coordinator, workspace, members, monkeypatch
):
    msb = members["msb"]
    export_bundle(coordinator, msb)
    people = sorted(share(workspace, "msb"))
    unsubscribed, bounced, forgotten = people[:3]
    # After the export: one unsubscribes (the web page and a mail end here too), one
    # bounces for good in another mailing, one asks to be forgotten.
    assert coordinator("unsubscribe", unsubscribed).exit_code == 0
    assert coordinator("unsubscribe", "--reason", "bounced", bounced).exit_code == 0
    # Exit code 1: forgotten, but msb's list still names them (msb is told to delete it).
    assert coordinator("person", "forget", forgotten, "--yes").exit_code == 1

    note = msb.root / "note.json"
    wrote = coordinator("bundle", "opt-outs", "invitation-2", "--org", "msb", "-o", str(note))
    assert wrote.exit_code == 0, wrote.output + wrote.stderr
    # The forgotten person is no longer known to the coordinator, so not counted; the note
    # leaves them out all the same, since it lists only whom it keeps.
    count = len(people) - 1
    assert f"{note}: 2 of {count} people in the bundles of invitation-2 for MSB" in wrote.output
    data = json.loads(note.read_text())
    assert len(data["keep"]) == len(people) - 3
    assert not any(p in note.read_text() for p in people)  # the note names nobody

    monkeypatch.chdir(msb.root)
    applied = msb("bundle", "suppress", str(msb.bundle), str(note))
    assert applied.exit_code == 0, applied.output
    assert "3 people in this bundle opted out since it was made and are left out" in (
        applied.output
    )
    again = msb("bundle", "suppress", str(msb.bundle), str(note))  # changes nothing more
    assert again.exit_code == 0 and "3 people" in again.output

    sent = msb.send()
    assert sent.exit_code == 0, sent.output
    got = msb.server.handler.recipients()
    assert sorted(got) == sorted(set(people) - {unsubscribed, bounced, forgotten})
    # The report stays importable: nobody left out is in it as sent.
    report = json.loads(msb.report().read_text())
    assert {p["email"] for p in report["people"]} == set(got)
    imported = coordinator("bundle", "import-report", str(msb.root / "report.json"))
    assert imported.exit_code == 0, imported.output + imported.stderr
    # The coordinator's journal has them as opted out, not as waiting for the member.
    status = json.loads(coordinator("status", "invitation-2", "--json").output)
    assert status["invitation-2"]["members"]["msb"]["suppressed"] == 2
    assert status["invitation-2"]["members"]["msb"].get("queued", 0) == 0
    shown = coordinator("status", "invitation-2").output
    assert "not sent by the member yet" not in shown and "MSB: report imported" in shown


def test_a_note_that_is_not_for_this_bundle_is_refused(coordinator, members, monkeypatch):
    msb, kau = members["msb"], members[KAU]
    export_bundle(coordinator, msb)
    export_bundle(coordinator, kau)
    note = note_for(coordinator, msb)
    monkeypatch.chdir(msb.root)

    other = kau("bundle", "suppress", str(kau.bundle), str(note))
    assert other.exit_code == 2
    assert "this opt-out note is for invitation-2 of msb, not this bundle's" in other.output

    altered = msb.root / "altered.json"
    data = json.loads(note.read_text())
    data["keep"] = data["keep"][1:]  # drops someone: would leave them out
    altered.write_text(json.dumps(data))
    refused = msb("bundle", "suppress", str(msb.bundle), str(altered))
    assert refused.exit_code == 2
    assert "signature does not match: it was altered" in refused.output

    not_json = msb("bundle", "suppress", str(msb.bundle), str(msb.channel))
    assert not_json.exit_code == 2 and "not an opt-out note" in not_json.output

    # A bundle exported after the note (valid for a week: another bundle, even within
    # the same second): the note does not cover it.
    later = msb.root / "later.zip"
    args = ("invitation", "2", "--org", "msb", "--valid-days", "7", "-o", str(later))
    assert coordinator("bundle", "export", *args).exit_code == 0
    newer = msb("bundle", "suppress", str(later), str(note))
    assert newer.exit_code == 2
    assert "made before this bundle and does not cover it" in newer.output
    with_nothing = coordinator("bundle", "opt-outs", "invitation-3", "--org", "msb")
    assert with_nothing.exit_code == 2 and "holds no bundle of invitation-3" in with_nothing.output


def test_the_members_own_opt_out_list_is_read_by_a_later_bundle(
    coordinator, workspace, members, monkeypatch
):
    """A bounce the member read in its mailbox keeps that person out of the member's next
    bundle, even one the coordinator exported before the member's report came back."""
    msb = members["msb"]
    export_bundle(coordinator, msb)
    monkeypatch.chdir(msb.root)
    assert msb.send().exit_code == 0
    first = received(workspace, msb.server)
    dead = first.people()[0]
    box = mailbox.Maildir(msb.root / "Maildir", create=True)
    box.add(first.fill("postfix.eml", dead))
    read = msb("bundle", "inbox", str(msb.bundle), str(msb.root / "Maildir"))
    assert read.exit_code == 0, read.output

    later = msb.root / "invitation-3-msb.zip"
    exported = coordinator("bundle", "export", "invitation", "3", "--org", "msb", "-o", str(later))
    assert exported.exit_code == 0, exported.output
    sent = msb.send(later)
    assert sent.exit_code == 0, sent.output
    got = msb.server.handler.recipients()
    assert dead not in got and sorted(got) == sorted(set(first.people()) - {dead})
    with Suppression.in_state_dir(msb.root / ".mailer" / "bundles" / "oppna-data-varmland") as s:
        assert s.entry(dead).reason == "bounced"
