"""The member's side: an opened, verified bundle, CHANNEL.toml, and the member's journals.

The member sends with the same plan, journal and send path as the coordinator, through
the channel in its own ``CHANNEL.toml``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from mailer.audience import parse_audience
from mailer.bundle import formats
from mailer.bundle.archive import digest_of, verify
from mailer.bundle.formats import (
    DATA,
    PEOPLE,
    PEOPLE_FILE,
    Links,
    MailingData,
    Manifest,
    PersonEntry,
    load_json,
    refuse,
)
from mailer.bundle.signing import Key
from mailer.campaign.factory import MessageFactory, SignedLinks
from mailer.campaign.mailing import Mailing
from mailer.config import (
    Channel,
    GraphChannel,
    MaildirChannel,
    Member,
    Network,
    config_error,
    read_config_toml,
)
from mailer.errors import BundleError
from mailer.i18n import N_, _, follow_network
from mailer.journal import Journal
from mailer.recipients import Merge, Person
from mailer.render import Renderer

MEMBER_STATE = "bundles"  # member-side journals live in STATE/bundles/<network id>/
_TOOL_MISMATCH = N_("make sure coordinator and member use the same mailer version")


@dataclass(slots=True)
class Bundle:
    """A verified bundle, unpacked in a temporary folder while it is open."""

    path: Path
    digest: str
    manifest: Manifest
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
                    _(
                        "this bundle was made by an older mailer, so a rehearsal would carry "
                        "unsubscribe and registration links that work for real people"
                    ),
                    path=self.path,
                    hint=_("ask the coordinator for a new bundle to rehearse with"),
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
        return self.manifest.expires_at

    def ensure_current(self) -> None:
        """Refuse to send an expired bundle: people may have unsubscribed since it was made."""
        expires = self.expires_at
        if expires is not None and formats.utcnow() >= expires:
            raise refuse(
                self.path,
                _("this bundle expired on {moment}; nothing was sent").format(
                    moment=self.moment(expires)
                ),
                hint=_("ask the coordinator for a fresh one: people may have unsubscribed since"),
            )

    def moment(self, when: dt.datetime) -> str:
        """A time as the member reads it: in the network's time zone and language."""
        from zoneinfo import ZoneInfo

        from mailer.dates import moment

        return moment(when, ZoneInfo(self.network.network.timezone))

    def with_channel(self, channel: Channel) -> Network:
        """The bundle's network with the member's own channel in place of the placeholder."""
        member = self.member.model_copy(update={"channel": channel})
        network = self.network.model_copy(update={"members": [member]})
        network.locate(self.root, self.path)
        self.member = member
        self.network = network
        return network


def _signed(links: Links) -> SignedLinks:
    return SignedLinks(links.one_click, links.registration or "")


def _links(
    entries: list[PersonEntry],
) -> tuple[dict[str, SignedLinks], dict[str, SignedLinks] | None]:
    """Each person's live links, and their rehearsal links (None for an older bundle)."""
    live: dict[str, SignedLinks] = {}
    rehearsal: dict[str, SignedLinks] | None = {}
    for entry in entries:
        if entry.links is None:
            continue
        live[entry.email] = _signed(entry.links)
        if entry.links.rehearsal is not None:
            if rehearsal is not None:
                rehearsal[entry.email] = _signed(entry.links.rehearsal)
        elif live[entry.email] != SignedLinks():
            rehearsal = None  # an older bundle: its only links are live ones
    return live, rehearsal


def _contents(path: Path, files: dict[str, bytes]) -> tuple[MailingData, list[PersonEntry]]:
    try:
        data = MailingData.model_validate(load_json(path, DATA, files[DATA]))
        entries = PEOPLE_FILE.validate_json(files[PEOPLE])
    except ValidationError as exc:
        # Signed by the coordinator, so this is a tool mismatch rather than tampering.
        raise refuse(
            path,
            _("the bundle's data cannot be read: {problem}").format(
                problem=formats.first_problem(exc)
            ),
            hint=_(_TOOL_MISMATCH),
        ) from None
    return data, entries


def load_contents(path: Path, files: dict[str, bytes], manifest: Manifest, root: Path) -> Bundle:
    """The verified files of a bundle unpacked at ``root``, as a :class:`Bundle`."""
    data, entries = _contents(path, files)
    # A bundle made before the manifest carried the language: its network still says it.
    follow_network(data.network.language)
    network = Network.model_construct(
        network=data.network,
        coordinator=data.coordinator,
        series=data.series,
        members=[data.member],
        seminars=data.seminars,
        newsletters=data.newsletters,
    )
    network.locate(root, path)
    people = [e.person() for e in entries]
    if any(p.sender != data.member.id for p in people):
        raise refuse(path, _("the bundle holds people of another member"))
    seminar = network.seminar(data.seminar)
    audience = parse_audience([data.audience])
    mailing = Mailing(data.kind, seminar, data.revision, audience, preselected=True)
    if mailing.id != manifest.mailing.id:
        raise refuse(path, _("the manifest and the bundle's data name different mailings"))
    live, rehearsal = _links(entries)
    return Bundle(
        path=path,
        digest=digest_of(files),
        manifest=manifest,
        network=network,
        mailing=mailing,
        member=data.member,
        people=people,
        links=live,
        rehearsal_links=rehearsal,
        root=root,
    )


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
        for name in manifest.files:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[name])
        yield load_contents(path, files, manifest, root)


# -- the member's channel file -----------------------------------------------------------


class ChannelFileModel(BaseModel):
    """CHANNEL.toml as written: as strict as network.toml, so a typo is a line, not a guess."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
        path, missing_hint=_("write one: see 'Sending your own share' in docs/guide.md")
    )
    try:
        parsed = ChannelFileModel.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, path, text) from None
    channel = parsed.channel
    if isinstance(channel, MaildirChannel):
        # Relative to the channel file, wherever the command runs from.
        folder = (path.parent / channel.path).resolve()
        channel = channel.model_copy(update={"path": str(folder)})
    elif isinstance(channel, GraphChannel) and channel.client_certificate:
        certificate = (path.parent / channel.client_certificate).resolve()
        channel = channel.model_copy(update={"client_certificate": str(certificate)})
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
