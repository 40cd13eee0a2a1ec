"""The coordinator's side: a signed bundle of one member's share, and the journal's note of it.

A member that will not hand its mail password to the coordinator gets a *bundle*: a zip
holding what it needs to send its share and nothing more:

    manifest.json   format, network, mailing, member, people count, sha256 of every file
    signature.json  the manifest's signature (Ed25519 or HMAC-SHA256, see .signing)
    mailing.json    the network's branding, the coordinator, the seminar (and the next one),
                    the member's own entry (without the coordinator's channel settings)
    people.json     only this member's people (never the other members')
    templates/...   the network's templates, rendered on the member's machine
    summary.md      the seminar's summary, for a summary mailing
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailer.bundle.archive import pack, sign
from mailer.bundle.formats import (
    ARTICLE,
    ARTICLE_EN,
    DATA,
    FORMAT,
    PEOPLE,
    SUMMARY,
    SUMMARY_EN,
    now_text,
    sha256,
    tool,
    utcnow,
)
from mailer.bundle.signing import Key
from mailer.campaign.factory import MessageFactory, SignedLinks
from mailer.campaign.mailing import Mailing
from mailer.config import Member, Network
from mailer.errors import BundleError, ConfigError
from mailer.i18n import N_, _
from mailer.journal import Journal
from mailer.recipients import Person

VALID_FOR = dt.timedelta(days=14)


def default_name(mailing: Mailing | str, member: str) -> str:
    mailing_id = mailing if isinstance(mailing, str) else mailing.id
    return f"{mailing_id}-{member}.zip"


def member_entry(member: Member) -> dict[str, Any]:
    """The member as the bundle carries it: branding and sender, none of the coordinator's
    list paths or channel settings (the member brings its own channel)."""
    data = member.model_dump(mode="json", by_alias=True, exclude={"lists", "sheet", "columns"})
    channel = member.channel
    data["channel"] = {
        "type": "maildir",
        "path": "outbox",
        "from": channel.from_,
        "reply_to": channel.reply_to,
        "rate_per_minute": channel.rate_per_minute,
    }
    return data


def person_entry(
    person: Person, member: Member, links: SignedLinks, rehearsal: SignedLinks
) -> dict[str, Any]:
    """One person as people.json carries them."""
    data: dict[str, Any] = person._asdict()
    # Which other members listed this person is none of this member's business.
    data["listed_by"] = [member.id]
    data["tags"] = list(person.tags)
    # Signed here, so the key that signs registration and unsubscribe links stays with
    # the coordinator: a member holding it could unsubscribe anybody.
    # The member cannot sign, so its rehearsal (bundle send --via) needs links of its own:
    # the same URLs, signed so that no token in them is honoured (see tokens).
    data["links"] = {
        "one_click": links.one_click,
        "registration": links.registration,
        "rehearsal": {"one_click": rehearsal.one_click, "registration": rehearsal.registration},
    }
    return data


def _read_content(network: Network, relative: str, unreadable: str) -> bytes:
    """The file's bytes; ``unreadable`` is the catalogue's line for a file that cannot be
    read ('cannot read the summary: {reason}')."""
    path = network.resolve(relative)
    try:
        return path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(_(unreadable).format(reason=reason), path=path) from None


_SUMMARY = N_("cannot read the summary: {reason}")
_ARTICLE = N_("cannot read the article: {reason}")


def _content_files(
    network: Network, mailing: Mailing
) -> tuple[dict[str, bytes], dict[str, Any], list[dict[str, Any]]]:
    """The summary or article files, the seminar as carried, and the newsletter entries."""
    files: dict[str, bytes] = {}
    seminar = mailing.seminar
    seminar_data = seminar.model_dump(mode="json", by_alias=True)
    for key_name, inside in (("summary_file", SUMMARY), ("summary_file_en", SUMMARY_EN)):
        source = getattr(seminar, key_name)
        if source:
            files[inside] = _read_content(network, source, _SUMMARY)
            seminar_data[key_name] = inside
    newsletters = []
    if mailing.kind == "newsletter":
        item = network.newsletter(mailing.revision)
        files[ARTICLE] = _read_content(network, item.file, _ARTICLE)
        entry = {"number": item.number, "file": ARTICLE, "file_en": None}
        if item.file_en:
            files[ARTICLE_EN] = _read_content(network, item.file_en, _ARTICLE)
            entry["file_en"] = ARTICLE_EN
        newsletters.append(entry)
    return files, seminar_data, newsletters


def _mailing_data(network: Network, mailing: Mailing, member: Member) -> dict[str, bytes]:
    files, seminar_data, newsletters = _content_files(network, mailing)
    seminars = [seminar_data]
    following = network.next_seminar(mailing.seminar)
    if following is not None:
        seminars.append(
            following.model_dump(mode="json", by_alias=True)
            | {"summary_file": None, "summary_file_en": None}
        )
    data = {
        "network": network.network.model_dump(mode="json", by_alias=True),
        "coordinator": network.coordinator.model_dump(mode="json", by_alias=True),
        "series": network.series.model_dump(mode="json", by_alias=True),
        "member": member_entry(member),
        "seminars": seminars,
        "kind": mailing.kind,
        "seminar": mailing.seminar.number,
        "revision": mailing.revision,
        "audience": mailing.audience.spec,
        "newsletters": newsletters,
    }
    files[DATA] = json.dumps(data, ensure_ascii=False, indent=1).encode()
    return files


def _people_file(network: Network, mailing: Mailing, member: Member, people: list[Person]) -> bytes:
    factory = MessageFactory(network, mailing)
    entries = [
        person_entry(p, member, factory.signed_links(p), factory.signed_links(p, rehearsal=True))
        for p in people
    ]
    return json.dumps(entries, ensure_ascii=False, indent=1).encode()


def _templates(network: Network) -> Iterator[tuple[str, bytes]]:
    templates = network.root / "templates"
    for path in sorted(templates.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield f"templates/{path.relative_to(templates).as_posix()}", path.read_bytes()


def _manifest(
    network: Network, mailing: Mailing, member: Member, people: int, files: dict[str, bytes], *,
    valid_for: dt.timedelta,
) -> bytes:  # fmt: skip
    manifest = {
        "format": FORMAT,
        "tool": tool(),
        "created_at": now_text(),
        "expires_at": (utcnow() + valid_for).isoformat(timespec="seconds"),
        "network": {
            "id": network.network.id,
            "name": network.network.name,
            "language": network.network.language,
        },
        "mailing": {"id": mailing.id, "kind": mailing.kind, "seminar": mailing.seminar.number},
        "member": {"id": member.id, "name": member.name},
        "people": people,
        "files": {name: sha256(content) for name, content in sorted(files.items())},
    }
    return json.dumps(manifest, ensure_ascii=False, indent=1).encode()


def write_private(out: Path, data: bytes) -> None:
    """Write ``out`` owner-only (it holds personal data), whole or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    partial.replace(out)


def export_bundle(
    network: Network,
    mailing: Mailing,
    member: Member,
    people: Iterable[Person],
    key: Key,
    out: Path,
    *,
    valid_for: dt.timedelta = VALID_FOR,
) -> str:
    """Write ``out`` for this member's people; return the bundle's digest (its identity).

    The bundle can be sent until ``valid_for`` from now: people unsubscribe, and a bundle
    that lies around for months must not mail them.
    """
    people = [p for p in people if p.sender == member.id]
    if not people:
        raise BundleError(
            _("{member} has nobody left to send {mailing} to").format(
                member=member.id, mailing=mailing.id
            ),
            hint=_("see 'mailer status'; everybody on its list already has this mailing"),
        )
    if not key.can_sign:
        key.sign(b"")  # raises the readable error
    files = _mailing_data(network, mailing, member)
    files[PEOPLE] = _people_file(network, mailing, member, people)
    files.update(_templates(network))
    manifest = _manifest(network, mailing, member, len(people), files, valid_for=valid_for)
    signature = json.dumps(sign(key, manifest).model_dump(), indent=1).encode()
    write_private(out, pack(manifest, signature, files))
    return sha256(manifest)


@dataclass(frozen=True, slots=True)
class Exported:
    """One bundle written by :func:`export_bundles`, and what the line about it says."""

    path: Path
    member: Member
    people: int
    already_sent: int
    uncertain: int


def export_bundles(
    network: Network,
    mailing: Mailing,
    orgs: Iterable[str],
    key: Key,
    out: Path | None,
    *,
    valid_for: dt.timedelta = VALID_FOR,
) -> Iterator[Exported]:
    """Export each member's share of the mailing and record it in the journal.

    ``out`` is the file for a single member, else the folder (default: the current one).
    From then on ``mailer send`` leaves those members' shares alone.
    """
    from mailer.campaign.lock import SendLock, lock_path
    from mailer.campaign.plan import make_plan

    members = [network.member(org) for org in dict.fromkeys(orgs)]
    single_file = len(members) == 1 and out is not None and not out.is_dir()
    with Journal.in_state_dir(network.state_dir) as journal:
        # Not while a send of this mailing runs: it planned these people too, and would
        # mail the ones it has not reached yet, as the member would.
        lock = SendLock(lock_path(journal.path, mailing.id), mailing.id)
        if not lock.try_acquire():
            raise lock.busy(_("no bundle was made"), hint=_("export it after that send has ended"))
        try:
            plan = make_plan(network, mailing, journal, orgs=[m.id for m in members])
            shares = {c.member.id: c for c in plan.channels}
            for member in members:
                share = shares[member.id]
                target = (
                    out
                    if single_file and out
                    else (out or Path(".")) / default_name(mailing, member.id)
                )
                digest = export_bundle(
                    network, mailing, member, share.to_send, key, target, valid_for=valid_for
                )
                journal.add_bundle_export(
                    digest, mailing.id, member.id, [p.email for p in share.to_send]
                )
                yield Exported(
                    target,
                    member,
                    len(share.to_send),
                    len(share.already_sent),
                    len(share.uncertain),
                )
        finally:
            lock.release()
