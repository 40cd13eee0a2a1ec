"""Bundles that must no longer be sent: revoked by the coordinator, or replaced by a newer one.

When a seminar changes after its bundles went out, the coordinator runs ``mailer bundle
revoke MAILING --org ID``: it writes a *revocation note*, signed with the network's key
like a bundle, keeps a copy under ``STATE/bundles/revoked/`` and sends the note to the
member. Given the note (``bundle check/send --revocation NOTE``), the member's mailer
refuses every bundle of that mailing for that member made before the revocation. A newer
bundle of the same mailing and member, signed with the same key, given the same way,
supersedes the older ones just as well.

A note holds no addresses: only network, mailing, member, time and bundle digests.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from mailer.bundle.archive import sign, verify
from mailer.bundle.files import read_bounded
from mailer.bundle.formats import (
    MAX_NOTE,
    REVOCATION_FORMAT,
    REVOCATION_TYPE,
    Header,
    Manifest,
    RevocationFile,
    canonical,
    check_format,
    now_text,
    refuse,
    tool,
    validate,
)
from mailer.bundle.member import Bundle
from mailer.bundle.signing import Key
from mailer.config import Network
from mailer.errors import BundleError
from mailer.i18n import N_, _
from mailer.journal import Journal

REVOKED = Path("bundles") / "revoked"  # under the coordinator's state folder
_NOT_A_NOTE = N_("pass the note 'mailer bundle revoke' wrote, or a newer bundle (.zip)")


@dataclass(frozen=True, slots=True)
class Supersession:
    """What stops older bundles of one mailing for one member: a note, or a newer bundle."""

    source: Path
    network: str
    mailing: str
    member: str
    since: dt.datetime  # bundles made before this are superseded
    bundles: frozenset[str]  # and these, whenever they were made (the revoked ones)
    revoked: bool  # a coordinator's note; False: a newer bundle

    def supersedes(self, manifest: Manifest, digest: str) -> bool:
        ours = (manifest.network.id, manifest.mailing.id, manifest.member.id)
        if ours != (self.network, self.mailing, self.member):
            return False
        return digest in self.bundles or manifest.created_at < self.since

    def refusal(self, bundle: Bundle) -> BundleError:
        """Why ``bundle`` is refused, its times in its network's zone and language."""
        if self.revoked:
            return refuse(
                bundle.path,
                _(
                    "the coordinator revoked this bundle on {moment} ({note}); nothing was sent"
                ).format(moment=bundle.moment(self.since), note=self.source.name),
                hint=_("send the newer bundle the coordinator gave you, or ask for one"),
            )
        return refuse(
            bundle.path,
            _(
                "{newer} is a newer bundle of {mailing} for {member} (made {moment}); "
                "nothing was sent"
            ).format(
                newer=self.source.name,
                mailing=self.mailing,
                member=self.member,
                moment=bundle.moment(self.since),
            ),
            hint=_("send that one instead"),
        )


@dataclass(frozen=True, slots=True)
class Revoked:
    note: Path  # for the member
    record: Path  # the coordinator's copy, in the state folder
    bundles: int


def revoke(network: Network, mailing: str, member: str, key: Key, out: Path) -> Revoked:
    """Revoke every bundle of ``mailing`` exported for ``member``: write the signed note
    to ``out`` (for the member) and keep a copy in the state folder."""
    network.member(member)  # an unknown id is one line naming the known ones
    with Journal.in_state_dir(network.state_dir) as journal:
        exports = [e for e in journal.bundle_exports(mailing) if e.member == member]
    if not exports:
        raise BundleError(
            _("{member} holds no bundle of {mailing}: nothing to revoke").format(
                member=network.member_label(member), mailing=mailing
            ),
            hint=_("see 'mailer status {mailing}'").format(mailing=mailing),
        )
    body = {
        "format": REVOCATION_FORMAT,
        "type": REVOCATION_TYPE,
        "tool": tool(),
        "network": network.network.id,
        "mailing": mailing,
        "member": member,
        "revoked_at": now_text(),
        "bundles": sorted(e.digest for e in exports),
    }
    signature = sign(key, canonical(body)).model_dump()  # a public key: one readable line
    data = json.dumps(body | {"signature": signature}, ensure_ascii=False, indent=1).encode()
    folder = network.state_dir / REVOKED
    folder.mkdir(parents=True, exist_ok=True)
    stamp = str(body["revoked_at"]).replace(":", "").replace("+0000", "Z")
    record = folder / f"{mailing}-{member}-{stamp}.json"
    record.write_bytes(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return Revoked(note=out, record=record, bundles=len(exports))


def _parse_note(path: Path) -> tuple[dict[str, object], RevocationFile]:
    raw = read_bounded(path, MAX_NOTE, what="revocation note")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise refuse(path, _("not a revocation note (not JSON)"), hint=_(_NOT_A_NOTE)) from None
    if not isinstance(data, dict) or Header.model_validate(data).type != REVOCATION_TYPE:
        raise refuse(path, _("not a revocation note"), hint=_(_NOT_A_NOTE))
    check_format(path, Header.model_validate(data).format, "revocation note", REVOCATION_FORMAT)
    note = validate(RevocationFile, data, path=path, problem=_("the revocation note is incomplete"))
    return data, note


def read_note(path: Path, key: Key | None) -> Supersession:
    """A revocation note, its signature checked against ``key`` (None: the coordinator's
    own copy, read from its state folder)."""
    data, note = _parse_note(path)
    if key is not None:
        body = canonical({k: v for k, v in data.items() if k != "signature"})
        matches = key.signed(body, note.signature)
        if matches is None:
            raise refuse(
                path,
                _("the revocation note is not signed with the network's key"),
                hint=_("use the key the coordinator gave you for this network"),
            )
        if not matches:
            raise refuse(path, _("the revocation note's signature does not match: it was altered"))
    return Supersession(
        source=path,
        network=note.network,
        mailing=note.mailing,
        member=note.member,
        since=note.revoked_at,
        bundles=frozenset(note.bundles),
        revoked=True,
    )


def newer_bundle(path: Path, key: Key) -> Supersession:
    """A bundle, verified in full, as what supersedes the older ones of its mailing."""
    _files, manifest = verify(path, key)
    return Supersession(
        source=path,
        network=manifest.network.id,
        mailing=manifest.mailing.id,
        member=manifest.member.id,
        since=manifest.created_at,
        bundles=frozenset(),
        revoked=False,
    )


def load_supersessions(paths: list[Path], key: Key) -> list[Supersession]:
    """Each path as a revocation note, or as a newer bundle when it is a .zip."""
    return [newer_bundle(p, key) if p.suffix == ".zip" else read_note(p, key) for p in paths]


def ensure_not_superseded(bundle: Bundle, by: list[Supersession]) -> None:
    """Refuse a bundle that a revocation note or a newer bundle supersedes."""
    for supersession in by:
        if supersession.supersedes(bundle.manifest, bundle.digest):
            raise supersession.refusal(bundle)


def recorded_revocations(state_dir: Path) -> list[Supersession]:
    """The revocations the coordinator made from this state folder."""
    folder = state_dir / REVOKED
    if not folder.is_dir():
        return []
    return [read_note(p, None) for p in sorted(folder.glob("*.json"))]
