"""Opt-outs that happen after a bundle was exported reach the member: the opt-out note.

A bundle holds the member's people as the coordinator's opt-out list stood at the export.
Someone who unsubscribes afterwards (on the web, by mail, by asking), bounces for good in
another member's mailing, or asks to be forgotten is still in it. Before the member sends,
the coordinator runs ``mailer bundle opt-outs MAILING --org ID``: a note, signed with the
network's key like a bundle, saying who of that member's bundles of the mailing may
*still* be mailed, as salted digests (an address is never in the note). The member runs
``mailer bundle suppress BUNDLE NOTE``: everybody in the bundle the note does not keep
goes on the member's own opt-out list (``STATE/bundles/NETWORK/suppression.sqlite3``),
which ``mailer bundle send`` reads before planning and again before each message.

A note that keeps people rather than naming those who left also covers people forgotten
since the export, whom the coordinator can no longer name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from mailer.bundle.archive import sign
from mailer.bundle.files import read_bounded
from mailer.bundle.formats import (
    MAX_OPT_OUTS,
    OPT_OUTS_FORMAT,
    OPT_OUTS_TYPE,
    Header,
    OptOutsFile,
    canonical,
    check_format,
    now_text,
    refuse,
    tool,
    validate,
)
from mailer.bundle.member import Bundle, member_state_dir
from mailer.bundle.signing import Key
from mailer.config import Network
from mailer.errors import BundleError
from mailer.i18n import N_, _
from mailer.journal import Journal
from mailer.suppression import Suppression, suppressed_checker

_NOT_A_NOTE = N_("pass the note 'mailer bundle opt-outs' wrote")


def _digest(salt: bytes, email: str) -> str:
    return hmac.new(salt, email.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class NoteWritten:
    path: Path
    bundles: int
    people: int  # in the member's bundles of the mailing
    kept: int  # of them, still to be mailed


def write_note(network: Network, mailing: str, member: str, key: Key, out: Path) -> NoteWritten:
    """Write the signed opt-out note for ``member``'s bundles of ``mailing`` to ``out``."""
    network.member(member)  # an unknown id is one line naming the known ones
    with Journal.in_state_dir(network.state_dir) as journal:
        exports = [e for e in journal.bundle_exports(mailing) if e.member == member]
    if not exports:
        raise BundleError(
            _("{member} holds no bundle of {mailing}: no opt-out note to write").format(
                member=member, mailing=mailing
            ),
            hint=_("see 'mailer status {mailing}'").format(mailing=mailing),
        )
    people = sorted({email for e in exports for email in e.people})
    suppressed = suppressed_checker(network.state_dir)
    salt = secrets.token_bytes(16)
    keep = sorted(_digest(salt, email) for email in people if not suppressed(email))
    body = {
        "format": OPT_OUTS_FORMAT,
        "type": OPT_OUTS_TYPE,
        "tool": tool(),
        "network": network.network.id,
        "mailing": mailing,
        "member": member,
        "made_at": now_text(),
        "bundles": sorted(e.digest for e in exports),
        "salt": salt.hex(),
        "keep": keep,
    }
    signature = sign(key, canonical(body)).model_dump()
    data = json.dumps(body | {"signature": signature}, ensure_ascii=False, indent=1).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return NoteWritten(out, len(exports), len(people), len(keep))


def read_note(path: Path, key: Key) -> OptOutsFile:
    """An opt-out note, its format and signature checked against the network's key."""
    raw = read_bounded(path, MAX_OPT_OUTS, what="opt-out note")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise refuse(path, _("not an opt-out note (not JSON)"), hint=_(_NOT_A_NOTE)) from None
    if not isinstance(data, dict) or Header.model_validate(data).type != OPT_OUTS_TYPE:
        raise refuse(path, _("not an opt-out note"), hint=_(_NOT_A_NOTE))
    check_format(path, Header.model_validate(data).format, "opt-out note", OPT_OUTS_FORMAT)
    note = validate(OptOutsFile, data, path=path, problem=_("the opt-out note is incomplete"))
    matches = key.signed(
        canonical({k: v for k, v in data.items() if k != "signature"}), note.signature
    )
    if matches is None:
        raise refuse(
            path,
            _("the opt-out note is not signed with the network's key"),
            hint=_("use the key the coordinator gave you for this network"),
        )
    if not matches:
        raise refuse(path, _("the opt-out note's signature does not match: it was altered"))
    return note


@dataclass(frozen=True, slots=True)
class Applied:
    made_at: dt.datetime
    left_out: list[str]  # the bundle's people the note does not keep
    added: int  # of them, new on the member's opt-out list


def apply_note(bundle: Bundle, note_path: Path, key: Key, state_dir: Path) -> Applied:
    """Put everybody in ``bundle`` whom the note does not keep on the member's own opt-out
    list; BundleError for a note of another network, mailing or member, or one made
    before this bundle (it does not cover it)."""
    note = read_note(note_path, key)
    ours = (bundle.network_id, bundle.mailing.id, bundle.member.id)
    if (note.network, note.mailing, note.member) != ours:
        raise refuse(
            note_path,
            _("this opt-out note is for {mailing} of {member}, not this bundle's").format(
                mailing=note.mailing, member=note.member
            ),
            hint=_("ask the coordinator for the note of {mailing} for {member}").format(
                mailing=bundle.mailing.id, member=bundle.member.id
            ),
        )
    if bundle.digest not in note.bundles:
        raise refuse(
            note_path,
            _("this opt-out note was made before this bundle and does not cover it"),
            hint=_("the bundle is newer than the note: ask the coordinator for a new note"),
        )
    salt = bytes.fromhex(note.salt)
    keep = set(note.keep)
    left_out = [p.email for p in bundle.people if _digest(salt, p.email) not in keep]
    where = member_state_dir(state_dir, bundle.network_id)
    made = note.made_at.astimezone(dt.UTC).isoformat(timespec="seconds")
    with Suppression.in_state_dir(where) as opt_out:
        added = opt_out.add_many(left_out, reason="other", note=f"opt-out note {made}")
    return Applied(note.made_at, left_out, added)
