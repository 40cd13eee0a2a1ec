"""Mailing bundles: one member's share of a mailing, sent from the member's own machine.

A member that will not hand its mail password to the coordinator gets a *bundle*: a zip
holding what it needs to send its share and nothing more:

    manifest.json   format, network, mailing, member, people count, sha256 of every file
    signature.json  the manifest's signature (Ed25519 or HMAC-SHA256, see mailer.signing)
    mailing.json    the network's branding, the coordinator, the seminar (and the next one),
                    the member's own entry (without the coordinator's channel settings)
    people.json     only this member's people (never the other members')
    templates/...   the network's templates, rendered on the member's machine
    summary.md      the seminar's summary, for a summary mailing

Opening a bundle checks, in this order, that it is a whole zip, that its format is one
this tool reads, that it is for the expected network and member, that the signature
matches, and that every file matches its checksum and none was added: anything else is a
:class:`BundleError` (one line, exit code 2) before anything is rendered or sent.

The member sends with the same plan, journal and send path as the coordinator, through
the channel in its own ``CHANNEL.toml``, and returns a *report*: per person the outcome,
the Message-ID and the server's reply, never a body. The report is bound to the bundle
(its digest names mailing and member) and signed when the member holds an HMAC key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from mailer.audience import parse_audience
from mailer.campaign.factory import MessageFactory, SignedLinks
from mailer.campaign.mailing import Mailing
from mailer.config import (
    Channel,
    ConfigModel,
    Coordinator,
    MaildirChannel,
    Member,
    Network,
    NetworkInfo,
    Newsletter,
    Seminar,
    Series,
    config_error,
    read_config_toml,
)
from mailer.errors import BundleError, ConfigError, RecipientRefusedError
from mailer.journal import Journal, Outcome
from mailer.recipients import Merge, Person
from mailer.render import Renderer
from mailer.signing import Key
from mailer.suppression import Suppression

FORMAT = 1  # bundle format this tool writes and reads; a newer one is refused
REPORT_FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
DATA = "mailing.json"
PEOPLE = "people.json"
SUMMARY = "summary.md"
SUMMARY_EN = "summary.en.md"
ARTICLE = "newsletter.md"
ARTICLE_EN = "newsletter.en.md"
MAX_UNPACKED = 50_000_000  # bytes; a bundle is a few hundred KB, so anything near this is hostile
REPORT_STATES = ("sent", "failed", "deferred", "sending", "queued")
VALID_FOR = dt.timedelta(days=14)
MEMBER_STATE = "bundles"  # member-side journals live in STATE/bundles/<network id>/


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _now() -> str:
    return _utcnow().isoformat(timespec="seconds")


def _tool() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"mailer {version('mailer')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "mailer"


def default_name(mailing: Mailing | str, member: str) -> str:
    mailing_id = mailing if isinstance(mailing, str) else mailing.id
    return f"{mailing_id}-{member}.zip"


# -- export ----------------------------------------------------------------------------


def _member_entry(member: Member) -> dict[str, Any]:
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


def _person_entry(
    person: Person, member: Member, links: SignedLinks, rehearsal: SignedLinks
) -> dict[str, Any]:
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
            f"{member.id} has nobody left to send {mailing.id} to",
            hint="see 'mailer status'; everybody on its list already has this mailing",
        )
    if not key.can_sign:
        key.sign(b"")  # raises the readable error
    files: dict[str, bytes] = {}
    seminar = mailing.seminar
    seminar_data = seminar.model_dump(mode="json", by_alias=True)
    for key_name, inside in (("summary_file", SUMMARY), ("summary_file_en", SUMMARY_EN)):
        source = getattr(seminar, key_name)
        if source:
            files[inside] = _read_content(network, source, "summary")
            seminar_data[key_name] = inside
    newsletters = []
    if mailing.kind == "newsletter":
        item = network.newsletter(mailing.revision)
        files[ARTICLE] = _read_content(network, item.file, "article")
        entry = {"number": item.number, "file": ARTICLE, "file_en": None}
        if item.file_en:
            files[ARTICLE_EN] = _read_content(network, item.file_en, "article")
            entry["file_en"] = ARTICLE_EN
        newsletters.append(entry)
    seminars = [seminar_data]
    following = network.next_seminar(seminar)
    if following is not None:
        seminars.append(
            following.model_dump(mode="json", by_alias=True)
            | {"summary_file": None, "summary_file_en": None}
        )
    data = {
        "network": network.network.model_dump(mode="json", by_alias=True),
        "coordinator": network.coordinator.model_dump(mode="json", by_alias=True),
        "series": network.series.model_dump(mode="json", by_alias=True),
        "member": _member_entry(member),
        "seminars": seminars,
        "kind": mailing.kind,
        "seminar": seminar.number,
        "revision": mailing.revision,
        "audience": mailing.audience.spec,
        "newsletters": newsletters,
    }
    files[DATA] = json.dumps(data, ensure_ascii=False, indent=1).encode()
    factory = MessageFactory(network, mailing)
    files[PEOPLE] = json.dumps(
        [
            _person_entry(
                p, member, factory.signed_links(p), factory.signed_links(p, rehearsal=True)
            )
            for p in people
        ],
        ensure_ascii=False,
        indent=1,
    ).encode()
    templates = network.root / "templates"
    for path in sorted(templates.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            files[f"templates/{path.relative_to(templates).as_posix()}"] = path.read_bytes()

    manifest = {
        "format": FORMAT,
        "tool": _tool(),
        "created_at": _now(),
        "expires_at": (_utcnow() + valid_for).isoformat(timespec="seconds"),
        "network": {"id": network.network.id, "name": network.network.name},
        "mailing": {"id": mailing.id, "kind": mailing.kind, "seminar": seminar.number},
        "member": {"id": member.id, "name": member.name},
        "people": len(people),
        "files": {name: _sha256(content) for name, content in sorted(files.items())},
    }
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    signature = {
        "algorithm": key.algorithm,
        "key_id": key.key_id,
        "value": key.sign(manifest_bytes),
    }
    signature_bytes = json.dumps(signature, indent=1).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data
    with os.fdopen(fd, "wb") as f:
        f.write(_pack(manifest_bytes, signature_bytes, files))
    partial.replace(out)
    return _sha256(manifest_bytes)


def _read_content(network: Network, relative: str, what: str) -> bytes:
    path = network.resolve(relative)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", path=path) from None


def _pack(manifest: bytes, signature: bytes, files: dict[str, bytes]) -> bytes:
    """The one byte sequence a bundle with this content may have.

    The signature covers the manifest and the manifest the files, but a zip also has
    timestamps, attributes, comments and gaps that no checksum sees. Writing it the same
    way every time (stored, fixed dates and attributes, fixed order) lets a reader rebuild
    it and refuse a file that differs in any byte.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, content in [(MANIFEST, manifest), (SIGNATURE, signature), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3  # Unix, wherever it was written
            info.external_attr = 0o600 << 16
            zf.writestr(info, content)
    return buffer.getvalue()


# -- opening and checking --------------------------------------------------------------


@dataclass(slots=True)
class Bundle:
    """A verified bundle, unpacked in a temporary folder while it is open."""

    path: Path
    digest: str
    manifest: dict[str, Any]
    network: Network  # just this member, with the bundle's placeholder channel
    mailing: Mailing
    member: Member
    people: list[Person]
    links: dict[str, SignedLinks]  # each person's links, signed by the coordinator
    # The links a rehearsal shows; None in a bundle made before rehearsals had their own.
    rehearsal_links: dict[str, SignedLinks] | None
    root: Path

    @property
    def network_id(self) -> str:
        return self.network.network.id

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    def factory(self, network: Network | None = None, *, rehearsal: bool = False) -> MessageFactory:
        """Builds this bundle's messages with the links the coordinator signed; with
        ``rehearsal``, with the links signed for a rehearsal."""
        links = self.links
        if rehearsal:
            if self.rehearsal_links is None:
                raise BundleError(
                    f"{self.path}: this bundle was made by an older mailer, so a rehearsal "
                    "would carry unsubscribe and registration links that work for real people",
                    hint="ask the coordinator for a new bundle to rehearse with",
                )
            links = self.rehearsal_links
        return MessageFactory(
            network or self.network,
            self.mailing,
            Renderer(network or self.network, self.templates),
            signed_links=links,
        )

    @property
    def merged(self) -> Merge:
        return Merge(people=list(self.people), reports=[], conflicts=[])

    @property
    def expires_at(self) -> dt.datetime | None:
        value = self.manifest.get("expires_at")
        try:
            return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    def ensure_current(self) -> None:
        """Refuse to send an expired bundle: people may have unsubscribed since it was made."""
        expires = self.expires_at
        if expires is not None and _utcnow() >= expires:
            raise _refuse(
                self.path,
                f"this bundle expired on {expires:%Y-%m-%d %H:%M} UTC; nothing was sent",
                hint="ask the coordinator for a fresh one: people may have unsubscribed since",
            )

    def with_channel(self, channel: Channel) -> Network:
        """The bundle's network with the member's own channel in place of the placeholder."""
        member = self.member.model_copy(update={"channel": channel})
        network = self.network.model_copy(update={"members": [member]})
        network._root = self.root
        network._path = self.path
        self.member = member
        self.network = network
        return network


def _refuse(path: Path, message: str, hint: str | None = None) -> BundleError:
    return BundleError(message, path=path, hint=hint)


def _read_zip(path: Path) -> tuple[bytes, dict[str, bytes]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _refuse(path, "no such file") from None
    except OSError as exc:
        raise _refuse(path, f"cannot read the bundle: {exc.strerror or exc}") from None
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
            if sum(i.file_size for i in infos) > MAX_UNPACKED:
                raise _refuse(path, "the bundle unpacks to more than 50 MB; refusing it")
            return raw, {i.filename: zf.read(i) for i in infos if not i.is_dir()}
    except BundleError:
        raise
    except Exception as exc:
        # zipfile parses damaged headers into many kinds of error (BadZipFile, zlib.error,
        # EOFError; NotImplementedError for an unknown compression method; RuntimeError
        # for a flipped "encrypted" flag; ValueError, struct.error...). From an untrusted
        # file, every one of them means the same: this is not the bundle that was signed.
        raise _refuse(
            path,
            f"not a complete bundle: {' '.join(str(exc).split())[:160] or type(exc).__name__}",
            hint="the file is truncated or damaged: ask the coordinator for it again",
        ) from None


def _json(path: Path, name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(path, f"{name} is not valid JSON: {exc}") from None


def _check_format(path: Path, value: object, what: str, newest: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _refuse(path, f"not a mailer {what}: no format version")
    if value > newest:
        raise _refuse(
            path,
            f"this {what} has format {value}, newer than this mailer reads ({newest})",
            hint="upgrade: pip install --upgrade mailer",
        )


def read_manifest(path: Path) -> tuple[bytes, dict[str, bytes], dict[str, Any]]:
    """The file, its entries and its manifest, checked for completeness and format only."""
    raw, files = _read_zip(path)
    if MANIFEST not in files:
        raise _refuse(path, "not a mailer bundle: it has no manifest.json")
    manifest = _json(path, MANIFEST, files[MANIFEST])
    if not isinstance(manifest, dict):
        raise _refuse(path, "not a mailer bundle: the manifest is not an object")
    _check_format(path, manifest.get("format"), "bundle", FORMAT)
    return raw, files, manifest


def _field(manifest: dict[str, Any], *keys: str) -> str:
    value: Any = manifest
    for k in keys:
        value = value.get(k) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def _verify_signature(path: Path, files: dict[str, bytes], key: Key) -> None:
    if SIGNATURE not in files:
        raise _refuse(path, "the bundle is not signed (no signature.json); refusing it")
    sig = _json(path, SIGNATURE, files[SIGNATURE])
    if not isinstance(sig, dict):
        raise _refuse(path, "signature.json is not an object")
    if sig.get("algorithm") != key.algorithm:
        raise _refuse(
            path,
            f"the bundle is signed with {sig.get('algorithm')!r} but your key is {key.algorithm}",
            hint="use the key the coordinator gave you for this network",
        )
    if sig.get("key_id") != key.key_id:
        raise _refuse(
            path,
            f"the bundle is signed with another key (key id {sig.get('key_id')}, yours is "
            f"{key.key_id})",
            hint="is it from another network, or has the coordinator changed keys?",
        )
    if not key.verify(files[MANIFEST], str(sig.get("value", ""))):
        raise _refuse(
            path,
            "the signature does not match: the bundle was changed after it was signed",
            hint="do not send it; ask the coordinator for a new bundle",
        )


def _safe_name(name: str) -> bool:
    pure = PurePosixPath(name)
    return (
        bool(name)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and "\\" not in name
        and ":" not in name
    )


def _verify_files(path: Path, files: dict[str, bytes], manifest: dict[str, Any]) -> None:
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise _refuse(path, "the manifest lists no files")
    present = set(files) - {MANIFEST, SIGNATURE}
    for name in sorted(present - set(listed)):
        raise _refuse(
            path, f"the bundle holds {name}, which its manifest does not list: it was altered"
        )
    for name, digest in sorted(listed.items()):
        if not _safe_name(name):
            raise _refuse(path, f"the manifest names an unsafe path {name!r}")
        if name not in files:
            raise _refuse(path, f"{name} is missing from the bundle", hint="ask for it again")
        if _sha256(files[name]) != digest:
            raise _refuse(
                path,
                f"{name} does not match its checksum: the bundle was altered",
                hint="do not send it; ask the coordinator for a new bundle",
            )


def verify(
    path: Path,
    key: Key,
    *,
    network_id: str | None = None,
    member_id: str | None = None,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every check short of unpacking; BundleError on the first that fails."""
    raw, files, manifest = read_manifest(path)
    bundle_network = _field(manifest, "network", "id")
    if network_id is not None and bundle_network != network_id:
        raise _refuse(
            path,
            f"this bundle is for the network {bundle_network!r}, not {network_id!r}",
            hint="check that you have the right file",
        )
    bundle_member = _field(manifest, "member", "id")
    if member_id is not None and bundle_member != member_id:
        raise _refuse(
            path,
            f"this bundle is for the member {bundle_member!r}, but the channel file is "
            f"for {member_id!r}",
            hint="send each member's bundle through that member's own channel",
        )
    _verify_signature(path, files, key)
    _verify_files(path, files, manifest)
    content = {name: files[name] for name in manifest["files"]}
    if _pack(files[MANIFEST], files[SIGNATURE], content) != raw:
        raise _refuse(
            path,
            "the zip around the signed files was changed (dates, attributes or extra bytes)",
            hint="do not send it; ask the coordinator for a new bundle",
        )
    return files, manifest


def _load_contents(
    path: Path, files: dict[str, bytes], manifest: dict[str, Any], root: Path
) -> Bundle:
    data = _json(path, DATA, files[DATA])
    raw_people = _json(path, PEOPLE, files[PEOPLE])
    try:
        member = Member.model_validate(data["member"])
        seminars = [Seminar.model_validate(s) for s in data["seminars"]]
        network = Network.model_construct(
            network=NetworkInfo.model_validate(data["network"]),
            coordinator=Coordinator.model_validate(data["coordinator"]),
            series=Series.model_validate(data["series"]),
            members=[member],
            seminars=seminars,
            newsletters=[Newsletter.model_validate(n) for n in data.get("newsletters", [])],
        )
        links: dict[str, SignedLinks] = {}
        rehearsal_links: dict[str, SignedLinks] | None = {}
        for p in raw_people:
            if not isinstance(p.get("links"), dict):
                continue
            email = str(p["email"])
            links[email] = _links(p["links"])
            if "rehearsal" in p["links"]:
                if rehearsal_links is not None:
                    rehearsal_links[email] = _links(p["links"]["rehearsal"])
            elif links[email] != SignedLinks():
                rehearsal_links = None  # an older bundle: its only links are live ones
        people = [
            Person(
                **(
                    {k: v for k, v in p.items() if k != "links"}
                    | {"tags": tuple(p["tags"]), "listed_by": tuple(p["listed_by"])}
                )
            )
            for p in raw_people
        ]
        kind, number = str(data["kind"]), int(data["seminar"])
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        # Signed by the coordinator, so this is a tool mismatch rather than tampering.
        raise _refuse(
            path,
            f"the bundle's data cannot be read: {' '.join(str(exc).split())[:200]}",
            hint="make sure coordinator and member use the same mailer version",
        ) from None
    network._root = root
    network._path = path
    if any(p.sender != member.id for p in people):
        raise _refuse(path, "the bundle holds people of another member")
    seminar = network.seminar(number)
    audience = parse_audience([str(data.get("audience", "all"))])
    mailing = Mailing(kind, seminar, int(data.get("revision", 0)), audience, preselected=True)
    if mailing.id != _field(manifest, "mailing", "id"):
        raise _refuse(path, "the manifest and the bundle's data name different mailings")
    return Bundle(
        path=path,
        digest=_sha256(files[MANIFEST]),
        manifest=manifest,
        network=network,
        mailing=mailing,
        member=member,
        people=people,
        links=links,
        rehearsal_links=rehearsal_links,
        root=root,
    )


def _links(data: dict[str, Any]) -> SignedLinks:
    return SignedLinks(data.get("one_click"), str(data.get("registration") or ""))


@contextmanager
def open_bundle(
    path: Path,
    key: Key,
    *,
    network_id: str | None = None,
    member_id: str | None = None,
) -> Iterator[Bundle]:
    """Verify the bundle, unpack it into a private temporary folder, and clean up after."""
    files, manifest = verify(path, key, network_id=network_id, member_id=member_id)
    with tempfile.TemporaryDirectory(prefix="mailer-bundle-") as tmp:
        root = Path(tmp)
        for name in manifest["files"]:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[name])
        yield _load_contents(path, files, manifest, root)


# -- the member's channel file -----------------------------------------------------------


class _ChannelFile(ConfigModel):
    network: str
    member: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelFile:
    """CHANNEL.toml: which network and member it belongs to, and how its mail leaves."""

    path: Path
    network: str
    member: str
    channel: Channel


def load_channel_file(path: Path) -> ChannelFile:
    """Read a member's CHANNEL.toml, as strictly as network.toml (same channel keys)."""
    text, data = read_config_toml(
        path, missing_hint="write one: see 'Sending your own share' in docs/guide.md"
    )
    try:
        parsed = _ChannelFile.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, path, text) from None
    channel = parsed.channel
    if isinstance(channel, MaildirChannel):
        # Relative to the channel file, wherever the command runs from.
        folder = (path.parent / channel.path).resolve()
        channel = channel.model_copy(update={"path": str(folder)})
    return ChannelFile(path, parsed.network, parsed.member, channel)


def member_state_dir(state_dir: Path, network_id: str) -> Path:
    """Where a member keeps one network's journals: per network, so two networks'
    mailings never mix."""
    return state_dir / MEMBER_STATE / network_id


def member_journal(state_dir: Path, network_id: str) -> Journal:
    """The member's own journal."""
    return Journal.in_state_dir(member_state_dir(state_dir, network_id))


def member_rehearsal(state_dir: Path, network_id: str) -> Journal:
    """The member's rehearsals (``bundle send --via``), beside its journal but apart from
    it: a rehearsal never counts as sent, so the report never carries it."""
    return Journal.for_rehearsal(member_state_dir(state_dir, network_id))


# -- reports -----------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    path: Path
    digest: str  # of the report's content: recognises a second import
    network: str
    mailing: str
    member: str
    bundle: str
    created_at: str
    outcomes: list[Outcome]
    unsubscribed: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    signature: dict[str, Any] | None = None
    body: bytes = b""


def make_report(
    bundle: Bundle,
    journal: Journal,
    key: Key | None,
    *,
    unsubscribed: Iterable[str] = (),
    bounced: Iterable[str] = (),
) -> bytes:
    """The member's report for the coordinator: outcomes from its journal, no bodies."""
    from mailer.addresses import AddressError, normalise_address

    share = {p.email for p in bundle.people}
    extra: dict[str, list[str]] = {"unsubscribed": [], "bounced": []}
    for label, values in (("unsubscribed", unsubscribed), ("bounced", bounced)):
        for raw in values:
            try:
                email = normalise_address(raw)
            except AddressError as exc:
                raise BundleError(f"--{label} {raw!r}: {exc}") from None
            if email not in share:
                raise BundleError(
                    f"--{label} {raw}: not one of the people in this bundle",
                    path=bundle.path,
                )
            extra[label].append(email)
    done = journal.deliveries(bundle.mailing.id)
    people = []
    for person in bundle.people:
        d = done.get(person.email)
        if d is None or d.member != bundle.member.id:
            continue
        people.append(
            {
                "email": d.email,
                "state": d.state,
                "message_id": d.message_id,
                "reply": d.last_reply,
                "sent_at": d.sent_at,
                "attempts": d.attempts,
            }
        )
    body = {
        "format": REPORT_FORMAT,
        "type": "mailer-bundle-report",
        "tool": _tool(),
        "network": bundle.network_id,
        "mailing": bundle.mailing.id,
        "member": bundle.member.id,
        "bundle": bundle.digest,
        "created_at": _now(),
        "people": people,
        "unsubscribed": sorted(set(extra["unsubscribed"])),
        "bounced": sorted(set(extra["bounced"])),
    }
    signature = None
    if key is not None and key.can_sign:
        signature = {
            "algorithm": key.algorithm,
            "key_id": key.key_id,
            "value": key.sign(_canonical(body)),
        }
    return json.dumps(body | {"signature": signature}, ensure_ascii=False, indent=1).encode()


def read_report(path: Path) -> Report:
    """Parse a report; its shape and format only (binding is checked on import)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _refuse(path, "no such file") from None
    except OSError as exc:
        raise _refuse(path, f"cannot read the report: {exc.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _refuse(
            path,
            "not a mailer report (not JSON)",
            hint="pass the file 'mailer bundle report' wrote, not the bundle",
        ) from None
    if not isinstance(data, dict) or data.get("type") != "mailer-bundle-report":
        raise _refuse(path, "not a mailer report")
    _check_format(path, data.get("format"), "report", REPORT_FORMAT)
    signature = data.pop("signature", None)
    try:
        outcomes = [
            Outcome(
                email=str(p["email"]),
                state=str(p["state"]),
                message_id=p.get("message_id"),
                reply=p.get("reply"),
                sent_at=p.get("sent_at"),
                attempts=int(p.get("attempts") or 0),
            )
            for p in data["people"]
        ]
        report = Report(
            path=path,
            digest=_sha256(_canonical(data)),
            network=str(data["network"]),
            mailing=str(data["mailing"]),
            member=str(data["member"]),
            bundle=str(data["bundle"]),
            created_at=str(data["created_at"]),
            outcomes=outcomes,
            unsubscribed=[str(e) for e in data.get("unsubscribed", [])],
            bounced=[str(e) for e in data.get("bounced", [])],
            signature=signature if isinstance(signature, dict) else None,
            body=_canonical(data),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _refuse(path, f"the report is incomplete: {exc}") from None
    for o in outcomes:
        if o.state not in REPORT_STATES:
            raise _refuse(path, f"{o.email}: unknown outcome {o.state!r}")
    return report


@dataclass(slots=True)
class ImportResult:
    member: str
    mailing: str
    merged: dict[str, int] = field(default_factory=dict)  # state -> people
    kept_sent: int = 0  # the journal already had them as sent
    twice: list[str] = field(default_factory=list)  # sent by the member and by someone else
    suppressed: int = 0  # new on the opt-out list (hard bounces, unsubscribes)


def _hard_bounce(reply: str | None) -> bool:
    # The same rule as a direct send: the reply says the address does not exist.
    return RecipientRefusedError(reply or "").hard_bounce


def import_report(network: Network, journal: Journal, report: Report, key: Key) -> ImportResult:
    """Merge a member's report into the network's journal (and suppression list).

    Refused as a whole, with nothing merged, when it is for another network, for a bundle
    this workspace never exported, for a mailing or member other than its bundle's, names
    people outside that member's share, fails its signature, or was imported before.
    """
    path = report.path
    if report.network != network.network.id:
        raise _refuse(
            path,
            f"this report is for the network {report.network!r}, not {network.network.id!r}",
        )
    exports = {e.digest: e for e in journal.bundle_exports()}
    export = exports.get(report.bundle)
    if export is None:
        raise _refuse(
            path,
            "this report is for a bundle this workspace never exported",
            hint="import it in the workspace that exported the bundle",
        )
    if report.mailing != export.mailing:
        raise _refuse(
            path,
            f"this report says mailing {report.mailing!r}, but its bundle was for "
            f"{export.mailing!r}: it was altered",
        )
    if report.member != export.member:
        raise _refuse(
            path,
            f"this report says member {report.member!r}, but its bundle was for "
            f"{export.member!r}: it was altered",
        )
    if key.algorithm == "hmac-sha256" or report.signature is not None:
        sig = report.signature or {}
        if sig.get("algorithm") != key.algorithm or sig.get("key_id") != key.key_id:
            raise _refuse(
                path,
                "the report is not signed with the network's key",
                hint="the member runs 'mailer bundle report' with the key it was given",
            )
        if not key.verify(report.body, str(sig.get("value", ""))):
            raise _refuse(path, "the report's signature does not match: it was altered")
    share = set(export.people)
    for email in [o.email for o in report.outcomes] + report.unsubscribed + report.bounced:
        if email not in share:
            raise _refuse(
                path,
                f"the report names {email}, who is not in {export.member}'s share: it was altered",
            )
    imported_at = journal.bundle_report_imported(report.digest)
    if imported_at is not None:
        raise _refuse(
            path,
            f"this report was already imported at {imported_at}; nothing changed",
        )

    result = ImportResult(member=report.member, mailing=report.mailing)
    current = journal.deliveries(report.mailing)
    outcomes = []
    for o in report.outcomes:
        before = current.get(o.email)
        if o.state == "queued":
            continue  # the member never tried: the export already queued them
        if before is not None and before.state == "sent":
            if before.member != report.member and o.state == "sent":
                result.twice.append(o.email)
            if o.state != "sent" or before.member != report.member:
                result.kept_sent += 1
                continue
        outcomes.append(o)
        result.merged[o.state] = result.merged.get(o.state, 0) + 1
    journal.add_bundle_report(report.digest, report.bundle, report.mailing, report.member, outcomes)
    bounced = set(report.bounced) | {
        o.email for o in outcomes if o.state == "failed" and _hard_bounce(o.reply)
    }
    result.suppressed = _suppress(
        network, bounced, set(report.unsubscribed), f"{report.member} {report.mailing}"
    )
    return result


def _suppress(network: Network, bounced: set[str], unsubscribed: set[str], note: str) -> int:
    """Add hard bounces and unsubscribes to the network's opt-out list; how many were new."""
    with Suppression.in_state_dir(network.state_dir) as s:
        added = s.add_many(sorted(bounced), reason="bounced", note=note)
        added += s.add_many(sorted(unsubscribed - bounced), reason="unsubscribed", note=note)
    return added
