"""The network's own models: the network, its coordinator, members, seminars, newsletters."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from mailer.config.channels import Channel
from mailer.config.values import (
    MAX_COUNT,
    MAX_NUMBER,
    MAX_PIXELS,
    SLUG,
    ConfigModel,
    colour,
    domain_name,
    mailbox,
    web_url,
)
from mailer.errors import ConfigError
from mailer.i18n import _

DEFAULT_CONFIG = "network.toml"
STATE_DIR = ".mailer"


class Colours(ConfigModel):
    primary: str = "#1f5f8b"
    accent: str = "#e8a33d"
    text: str = "#1a1a1a"
    background: str = "#f4f4f2"

    _check = field_validator("primary", "accent", "text", "background")(colour)


class NetworkInfo(ConfigModel):
    id: str = Field(pattern=SLUG)
    name: str
    language: Literal["sv", "en"] = "sv"
    timezone: str = "Europe/Stockholm"
    website: str | None = None
    logo: str | None = None
    logo_width: int = Field(default=160, ge=1, le=MAX_PIXELS)
    logo_height: int = Field(default=48, ge=1, le=MAX_PIXELS)
    colours: Colours = Colours()
    list_domain: str = Field(description="domain part of the List-Id header")
    unsubscribe_url: str | None = None
    postal_address: str | None = None
    # The environment variable holding the key that signs per-person links (registration,
    # one-click unsubscribe). The key itself never lives in network.toml.
    token_key_env: str = Field(default="MAILER_TOKEN_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                _("unknown time zone {value} (use e.g. 'Europe/Stockholm')").format(
                    value=repr(value)
                )
            ) from None
        return value

    _urls = field_validator("website", "logo")(lambda v: None if v is None else web_url(v))

    @field_validator("unsubscribe_url")
    @classmethod
    def _one_click(cls, value: str | None) -> str | None:
        # RFC 8058: a one-click unsubscribe URL must be HTTPS.
        if value is not None and not re.match(r"^https://[^\s<>\"?#]+(\?[^\s<>\"#]*)?$", value):
            raise ValueError(
                _("{value} is not an https:// address (one-click needs HTTPS)").format(
                    value=repr(value)
                )
            )
        return value

    _list_domain = field_validator("list_domain")(domain_name)


class Web(ConfigModel):
    """Where ``mailer serve`` answers, as the world sees it (behind the HTTPS proxy).

    The personal links in the mails (``network.unsubscribe_url``, each seminar's
    ``registration_url``) belong under ``base_url``: the server answers exactly the paths
    those URLs name, and ``mailer check`` says when one points elsewhere.
    """

    base_url: str

    @field_validator("base_url")
    @classmethod
    def _https_root(cls, value: str) -> str:
        if not re.match(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s<>\"?#]*)?$", value):
            raise ValueError(
                _("{value} is not an https:// address without a query").format(value=repr(value))
            )
        return value.rstrip("/")


class Coordinator(ConfigModel):
    member: str
    name: str
    email: str
    phone: str | None = None

    _email = field_validator("email")(mailbox)


class ColumnMap(ConfigModel):
    """Per-member column names for lists whose headers the aliases don't cover."""

    email: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organisation: str | None = None
    title: str | None = None
    language: str | None = None
    segment: str | None = None
    tags: str | None = None


Segment = Literal["public", "management", "business"]


class Member(ConfigModel):
    id: str = Field(pattern=SLUG)
    name: str
    short_name: str | None = None
    domains: list[str] = Field(default_factory=list)
    lists: list[str] = Field(default_factory=list)
    sheet: str | None = None
    columns: ColumnMap = ColumnMap()
    default_language: Literal["sv", "en"] | None = None
    default_segment: Segment = "public"
    logo: str | None = None
    logo_width: int = Field(default=140, ge=1, le=MAX_PIXELS)
    logo_height: int = Field(default=40, ge=1, le=MAX_PIXELS)
    colour: str | None = None
    signature: str = ""
    channel: Channel

    _colour = field_validator("colour")(lambda v: None if v is None else colour(v))
    _logo = field_validator("logo")(lambda v: None if v is None else web_url(v))

    @field_validator("domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower() for d in value]

    @property
    def label(self) -> str:
        """How a person reads the member's name in a line or a table: its short name, else
        its name (never its id)."""
        return self.short_name or self.name


class Speaker(ConfigModel):
    name: str
    role: str = ""
    organisation: str = ""
    topic: str = ""
    role_en: str | None = None
    topic_en: str | None = None


class Video(ConfigModel):
    title: str
    url: str
    thumbnail: str | None = None

    _urls = field_validator("url", "thumbnail")(lambda v: None if v is None else web_url(v))


class Link(ConfigModel):
    title: str
    url: str

    _url = field_validator("url")(web_url)


class Attendance(ConfigModel):
    people: int = Field(ge=0, le=MAX_COUNT)
    organisations: int = Field(ge=0, le=MAX_COUNT)
    text: str | None = None


class Change(ConfigModel):
    """One change to a seminar after the invitation went out, said in one line."""

    what: str
    what_en: str | None = None


class Cancellation(ConfigModel):
    reason: str
    reason_en: str | None = None


class Seminar(ConfigModel):
    number: int = Field(ge=1, le=MAX_NUMBER)
    title: str
    theme: str
    description: str
    # English texts for people whose list says English; the Swedish ones stand in when unset.
    title_en: str | None = None
    theme_en: str | None = None
    description_en: str | None = None
    date: dt.date
    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(10, 0)
    place: str
    address: str
    breakfast: str = ""
    breakfast_en: str | None = None
    programme: list[Speaker] = Field(default_factory=list)
    registration_url: str | None = None
    registration_deadline: dt.date | None = None
    # Changes after the invitation, oldest first: each raises the calendar SEQUENCE.
    changes: list[Change] = Field(default_factory=list)
    cancelled: Cancellation | None = None
    # After the event:
    summary_file: str | None = None
    summary_file_en: str | None = None
    videos: list[Video] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    attendance: Attendance | None = None

    _reg = field_validator("registration_url")(lambda v: None if v is None else web_url(v))

    @model_validator(mode="after")
    def _times(self) -> Seminar:
        if self.end <= self.start:
            raise ValueError(_("end must be after start"))
        return self

    @property
    def held(self) -> bool:
        return self.summary_file is not None or bool(self.videos) or self.attendance is not None

    def title_in(self, language: str) -> str:
        """The title a reader of ``language`` reads: the English one when there is one."""
        return (self.title_en if language == "en" else None) or self.title


class Series(ConfigModel):
    title: str
    title_en: str | None = None

    def title_in(self, language: str) -> str:
        """The series' title a reader of ``language`` reads (as :meth:`Seminar.title_in`)."""
        return (self.title_en if language == "en" else None) or self.title


class Newsletter(ConfigModel):
    """A free article in Markdown with TOML front matter, in the workspace."""

    number: int = Field(ge=1, le=MAX_NUMBER)
    file: str
    file_en: str | None = None


def label_of(members: Sequence[Member], member_id: str) -> str:
    """How the member with ``member_id`` is named among ``members``; the id itself for a
    member no longer there (its rows outlive it in the journal)."""
    found = next((m for m in members if m.id == member_id), None)
    return found.label if found is not None else member_id


class Network(ConfigModel):
    network: NetworkInfo
    coordinator: Coordinator
    series: Series
    members: list[Member]
    seminars: list[Seminar] = Field(default_factory=list)
    newsletters: list[Newsletter] = Field(default_factory=list)
    web: Web | None = None

    _root: Path = PrivateAttr(default=Path("."))
    _path: Path = PrivateAttr(default=Path(DEFAULT_CONFIG))
    _state_dir: Path | None = PrivateAttr(default=None)

    # -- paths -----------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The workspace folder: where network.toml lives; relative paths start here."""
        return self._root

    @property
    def path(self) -> Path:
        return self._path

    @property
    def state_dir(self) -> Path:
        return self._state_dir or self._root / STATE_DIR

    def keep_state_in(self, folder: Path) -> None:
        """For the network a member's bundle carries (its root is where the bundle was
        unpacked, for a moment): the member's own state folder, whose opt-out list the
        send reads."""
        self._state_dir = folder

    def resolve(self, relative: str) -> Path:
        return (self._root / relative).resolve()

    def place(self, path: Path) -> None:
        """Say where this network's config lives (``root`` is its folder)."""
        self.locate(path.parent.resolve(), path)

    def locate(self, root: Path, path: Path) -> None:
        """Set where relative paths start and which file this network came from, apart:
        for a network not read by load_network (the one a member's bundle carries)."""
        self._root = root
        self._path = path

    # -- look-ups --------------------------------------------------------------

    def member(self, member_id: str) -> Member:
        for m in self.members:
            if m.id == member_id:
                return m
        raise ConfigError(
            _("unknown organisation {member}").format(member=repr(member_id)),
            path=self._path,
            hint=_("known: {ids}").format(ids=", ".join(m.id for m in self.members)),
        )

    def member_label(self, member_id: str) -> str:
        """The member's label; the id itself for a member no longer in network.toml."""
        return label_of(self.members, member_id)

    def seminar(self, number: int) -> Seminar:
        for s in self.seminars:
            if s.number == number:
                return s
        known = ", ".join(str(s.number) for s in self.seminars) or _("none")
        raise ConfigError(
            _("there is no seminar {number}").format(number=number),
            path=self._path,
            hint=_("known: {ids}").format(ids=known),
        )

    def newsletter(self, number: int) -> Newsletter:
        for n in self.newsletters:
            if n.number == number:
                return n
        known = ", ".join(str(n.number) for n in self.newsletters) or _("none")
        raise ConfigError(
            _("there is no newsletter {number}").format(number=number),
            path=self._path,
            hint=_("known: {ids}; add [[newsletters]] with number and file").format(ids=known),
        )

    def next_seminar(self, after: Seminar) -> Seminar | None:
        """The next seminar that takes place: a cancelled one is no invitation to come."""
        later = [s for s in self.seminars if s.date > after.date and not s.cancelled]
        return min(later, key=lambda s: s.date) if later else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.network.timezone)
