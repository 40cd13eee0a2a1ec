"""Load and validate ``network.toml``: the network, its members, their channels, the seminars.

Validation is eager and strict: an unknown key, a missing field or a wrong type stops the
run with one line naming the file, the line and the key. Secrets never live here: an SMTP
channel names the *environment variable* that holds its password.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mailer.errors import ConfigError

DEFAULT_CONFIG = "network.toml"
CONFIG_ENV = "MAILER_NETWORK"
STATE_DIR = ".mailer"

_SLUG = r"^[a-z0-9][a-z0-9-]*$"
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_SECRET_KEYS = {"password", "passwd", "pass", "pwd", "secret", "token", "api_key", "apikey"}
_SECRET_SUFFIXES = ("_password", "_passwd", "_secret", "_token", "_api_key", "_apikey")
# scheme://user:password@host: a password hidden in a URL is still a password.
_URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _colour(value: str) -> str:
    if not _HEX_COLOUR.match(value):
        raise ValueError(f"{value!r} is not a colour like '#1f5f8b'")
    return value.lower()


def _web_url(value: str) -> str:
    from mailer.escaping import UnsafeURLError, safe_url

    try:
        return safe_url(value, schemes=("http", "https"))
    except UnsafeURLError as exc:
        raise ValueError(f"{value!r} is not an http(s) address: {exc}") from None


def _mailbox(value: str | None) -> str | None:
    """'Name <a@b.example>' or 'a@b.example', with an address that can be mailed."""
    if value is None:
        return None
    from email.utils import parseaddr

    from email_validator import EmailNotValidError, validate_email

    if any(not c.isprintable() for c in value):
        raise ValueError(f"{value!r} holds control characters or line breaks")
    address = parseaddr(value)[1]
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not an address like 'Name <a@b.example>': {exc}") from None
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value.lower()):
        raise ValueError(f"{value!r} is not a domain name like 'network.example'")
    return value.lower()


class Colours(_Model):
    primary: str = "#1f5f8b"
    accent: str = "#e8a33d"
    text: str = "#1a1a1a"
    background: str = "#f4f4f2"

    _check = field_validator("primary", "accent", "text", "background")(_colour)


class NetworkInfo(_Model):
    id: str = Field(pattern=_SLUG)
    name: str
    language: Literal["sv", "en"] = "sv"
    timezone: str = "Europe/Stockholm"
    website: str | None = None
    logo: str | None = None
    logo_width: int = 160
    logo_height: int = 48
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
            raise ValueError(f"unknown time zone {value!r} (use e.g. 'Europe/Stockholm')") from None
        return value

    _urls = field_validator("website", "logo")(lambda v: None if v is None else _web_url(v))

    @field_validator("unsubscribe_url")
    @classmethod
    def _one_click(cls, value: str | None) -> str | None:
        # RFC 8058: a one-click unsubscribe URL must be HTTPS.
        if value is not None and not re.match(r"^https://[^\s<>\"?#]+(\?[^\s<>\"#]*)?$", value):
            raise ValueError(f"{value!r} is not an https:// address (one-click needs HTTPS)")
        return value

    _list_domain = field_validator("list_domain")(_domain)


class Coordinator(_Model):
    member: str
    name: str
    email: str
    phone: str | None = None

    _email = field_validator("email")(_mailbox)


def is_loopback(host: str) -> bool:
    """localhost or a loopback IP address: where plain SMTP may go."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _ChannelBase(_Model):
    from_: str = Field(alias="from")
    reply_to: str | None = None
    # Limits of the sending mailbox. A rate is given per minute or per second (not both);
    # the sender never exceeds it over any window of that length.
    rate_per_minute: float | None = Field(default=None, gt=0)
    rate_per_second: float | None = Field(default=None, gt=0)
    recipients_per_day: int | None = Field(default=None, gt=0)  # rolling 24 hours
    max_connections: int = Field(default=1, ge=1, le=64)
    retries: int = Field(default=3, ge=0, le=20)  # transient failures per message, then deferred
    retry_backoff: float = Field(default=1.0, ge=0, le=600)  # seconds, doubled per retry

    _addresses = field_validator("from_", "reply_to")(_mailbox)

    @model_validator(mode="after")
    def _one_rate(self) -> _ChannelBase:
        if self.rate_per_minute is not None and self.rate_per_second is not None:
            raise ValueError("give rate_per_minute or rate_per_second, not both")
        return self

    @property
    def rate(self) -> float | None:
        """Messages per second, or None for unlimited."""
        if self.rate_per_second is not None:
            return self.rate_per_second
        if self.rate_per_minute is not None:
            return self.rate_per_minute / 60
        return None


# Exchange Online's limits per mailbox: 30 messages a minute, 10,000 recipients in any
# 24 hours, at most 3 concurrent SMTP connections (a 4th gets 432 4.3.2).
PRESETS: dict[str, dict[str, object]] = {
    "microsoft365": {
        "host": "smtp.office365.com",
        "port": 587,
        "security": "starttls",
        "rate_per_minute": 30,
        "recipients_per_day": 10_000,
        "max_connections": 3,
    },
}


class SmtpChannel(_ChannelBase):
    type: Literal["smtp"]
    preset: Literal["microsoft365"] | None = None
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "starttls"
    max_connections: int = Field(default=4, ge=1, le=64)
    auth: Literal["password", "oauth2"] = "password"
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    # OAuth2 (XOAUTH2) with the client-credentials flow of an Entra ID app registration.
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = Field(default=None, pattern=_ENV_NAME)
    # The system keyring (``pip install keyring``): service name; the username is the key.
    password_keyring: str | None = None
    # A CA bundle to trust besides the system's (a member's own CA); relative to the config.
    ca_file: str | None = None
    authority: str = "https://login.microsoftonline.com"
    oauth_scope: str = "https://outlook.office365.com/.default"
    # None of these may be infinite: a silent server must not hang a mailing.
    timeout: float = Field(default=30.0, gt=0, le=3600)  # each SMTP command
    connect_timeout: float = Field(default=15.0, gt=0, le=3600)
    data_timeout: float = Field(default=120.0, gt=0, le=3600)
    # The name said in EHLO (servers write it into the Received header); default: this
    # machine's fully qualified name.
    helo_name: str | None = Field(
        default=None, max_length=253, pattern=r"^(\[[0-9.:a-fA-F]+\]|[A-Za-z0-9.-]+)$"
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("preset") in PRESETS:
            return {**PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _plain_only_locally(self) -> SmtpChannel:
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(
                f"security = 'none' is only allowed for localhost, not {self.host!r}; "
                "use 'starttls' or 'tls'"
            )
        if (
            self.auth == "password"
            and self.username
            and not (self.password_env or self.password_keyring)
        ):
            raise ValueError("username is set but neither password_env nor password_keyring is")
        if self.password_keyring and not self.username:
            raise ValueError("password_keyring needs username (the keyring looks it up by both)")
        if self.auth == "oauth2":
            missing = [
                k
                for k in ("username", "tenant_id", "client_id", "client_secret_env")
                if not getattr(self, k)
            ]
            if missing:
                raise ValueError(f"auth = 'oauth2' needs {', '.join(missing)}")
        return self

    def password(self) -> str | None:
        """The password from the environment or the keyring; None when none is needed."""
        if self.auth != "password":
            return None
        from mailer.channels.credentials import channel_password

        return channel_password(self)

    def client_secret(self) -> str:
        """The OAuth2 client secret from the environment."""
        assert self.client_secret_env is not None
        return _secret(self.client_secret_env, f"the OAuth2 client secret for {self.host}")


def _secret(variable: str, what: str) -> str:
    from mailer import redaction

    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"{what} is not set", hint=f"export {variable}=... before sending")
    redaction.remember(value)
    return value


class MaildirChannel(_ChannelBase):
    type: Literal["maildir"]
    path: str


Channel = Annotated[SmtpChannel | MaildirChannel, Field(discriminator="type")]


class ColumnMap(_Model):
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


class Member(_Model):
    id: str = Field(pattern=_SLUG)
    name: str
    short_name: str | None = None
    domains: list[str] = []
    lists: list[str] = []
    sheet: str | None = None
    columns: ColumnMap = ColumnMap()
    default_language: Literal["sv", "en"] | None = None
    default_segment: Segment = "public"
    logo: str | None = None
    logo_width: int = 140
    logo_height: int = 40
    colour: str | None = None
    signature: str = ""
    channel: Channel

    _colour = field_validator("colour")(lambda v: None if v is None else _colour(v))
    _logo = field_validator("logo")(lambda v: None if v is None else _web_url(v))

    @field_validator("domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower() for d in value]


class Speaker(_Model):
    name: str
    role: str = ""
    organisation: str = ""
    topic: str = ""
    role_en: str | None = None
    topic_en: str | None = None


class Video(_Model):
    title: str
    url: str
    thumbnail: str | None = None

    _urls = field_validator("url", "thumbnail")(lambda v: None if v is None else _web_url(v))


class Link(_Model):
    title: str
    url: str

    _url = field_validator("url")(_web_url)


class Attendance(_Model):
    people: int = Field(ge=0)
    organisations: int = Field(ge=0)
    text: str | None = None


class Change(_Model):
    """One change to a seminar after the invitation went out, said in one line."""

    what: str
    what_en: str | None = None


class Cancellation(_Model):
    reason: str
    reason_en: str | None = None


class Seminar(_Model):
    number: int = Field(ge=1)
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
    programme: list[Speaker] = []
    registration_url: str | None = None
    registration_deadline: dt.date | None = None
    # Changes after the invitation, oldest first: each raises the calendar SEQUENCE.
    changes: list[Change] = []
    cancelled: Cancellation | None = None
    # After the event:
    summary_file: str | None = None
    summary_file_en: str | None = None
    videos: list[Video] = []
    links: list[Link] = []
    attendance: Attendance | None = None

    _reg = field_validator("registration_url")(lambda v: None if v is None else _web_url(v))

    @model_validator(mode="after")
    def _times(self) -> Seminar:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    @property
    def held(self) -> bool:
        return self.summary_file is not None or bool(self.videos) or self.attendance is not None


class Series(_Model):
    title: str
    title_en: str | None = None


class Newsletter(_Model):
    """A free article in Markdown with TOML front matter, in the workspace."""

    number: int = Field(ge=1)
    file: str
    file_en: str | None = None


class Network(_Model):
    network: NetworkInfo
    coordinator: Coordinator
    series: Series
    members: list[Member]
    seminars: list[Seminar] = []
    newsletters: list[Newsletter] = []

    _root: Path = PrivateAttr(default=Path("."))
    _path: Path = PrivateAttr(default=Path(DEFAULT_CONFIG))

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
        return self._root / STATE_DIR

    def resolve(self, relative: str) -> Path:
        return (self._root / relative).resolve()

    def locate(self, root: Path, path: Path) -> None:
        """Set where relative paths start and which file this network came from: for a
        network not read by load_network (the one a member's bundle carries)."""
        self._root = root
        self._path = path

    # -- look-ups --------------------------------------------------------------

    def member(self, member_id: str) -> Member:
        for m in self.members:
            if m.id == member_id:
                return m
        raise ConfigError(
            f"unknown organisation {member_id!r}",
            path=self._path,
            hint=f"known: {', '.join(m.id for m in self.members)}",
        )

    def seminar(self, number: int) -> Seminar:
        for s in self.seminars:
            if s.number == number:
                return s
        known = ", ".join(str(s.number) for s in self.seminars) or "none"
        raise ConfigError(f"there is no seminar {number}", path=self._path, hint=f"known: {known}")

    def newsletter(self, number: int) -> Newsletter:
        for n in self.newsletters:
            if n.number == number:
                return n
        known = ", ".join(str(n.number) for n in self.newsletters) or "none"
        raise ConfigError(
            f"there is no newsletter {number}",
            path=self._path,
            hint=f"known: {known}; add [[newsletters]] with number and file",
        )

    def next_seminar(self, after: Seminar) -> Seminar | None:
        later = [s for s in self.seminars if s.date > after.date]
        return min(later, key=lambda s: s.date) if later else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.network.timezone)


def find_config(explicit: Path | str | None = None) -> Path:
    """The config to use: ``--network``, else ``$MAILER_NETWORK``, else ``./network.toml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path(DEFAULT_CONFIG)


def read_config_toml(path: Path, *, missing_hint: str) -> tuple[str, dict[str, Any]]:
    """The text and data of a TOML config file (network.toml, a member's CHANNEL.toml).

    Refuses an unreadable file, broken TOML and any secret in clear text, each with one
    line naming the file (and the line where it can be found).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", path=path, hint=missing_hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", path=path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise ConfigError(f"not valid TOML: {exc}", path=path, line=line) from None
    secret = _find_secret(data)
    if secret:
        raise ConfigError(
            f"{_format_loc(secret)} holds a secret in clear text",
            path=path,
            line=locate_key(text, secret),
            hint="remove it (and change the password: it has been on disk); put the password "
            "in an environment variable named by password_env, or in the system keyring "
            "named by password_keyring",
        )
    return text, data


def load_network(path: Path | str | None = None) -> Network:
    """Read and validate a network.toml; raise ConfigError with file and line on any problem."""
    path = find_config(path)
    text, data = read_config_toml(
        path, missing_hint="run 'mailer init DIR' to create a workspace, or pass --network PATH"
    )
    try:
        network = Network.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, path, text) from None
    _check_references(network, path, text)
    network._root = path.parent.resolve()
    network._path = path
    return network


def _check_references(network: Network, path: Path, text: str) -> None:
    """Cross-references pydantic cannot see: unique ids, the coordinator among the members."""
    ids = [m.id for m in network.members]
    for i, member_id in enumerate(ids):
        if member_id in ids[:i]:
            raise ConfigError(
                f"member id {member_id!r} is used twice",
                path=path,
                line=locate_key(text, ("members", i, "id")),
                hint="every member needs its own id",
            )
    if network.coordinator.member not in ids:
        raise ConfigError(
            f"coordinator.member {network.coordinator.member!r} is not a member",
            path=path,
            line=locate_key(text, ("coordinator", "member")),
            hint=f"members: {', '.join(ids)}",
        )
    numbers = [s.number for s in network.seminars]
    for i, number in enumerate(numbers):
        if number in numbers[:i]:
            raise ConfigError(
                f"seminar number {number} is used twice",
                path=path,
                line=locate_key(text, ("seminars", i, "number")),
            )


def _line_from_message(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _is_secret_key(key: str) -> bool:
    key = key.lower()
    return key in _SECRET_KEYS or key.endswith(_SECRET_SUFFIXES)


def _find_secret(data: object, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The key path of the first value that looks like a secret written into the file."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and (
                (_is_secret_key(key) and value) or _URL_CREDENTIALS.match(value)
            ):
                return (*loc, key)
            found = _find_secret(value, (*loc, key))
            if found:
                return found
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, str) and _URL_CREDENTIALS.match(value):
                return (*loc, i)
            found = _find_secret(value, (*loc, i))
            if found:
                return found
    return None


def _config_error(exc: ValidationError, path: Path, text: str) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("smtp", "maildir")))
    key = _format_loc(loc)
    kind = err["type"]
    line_loc = (*loc, "type") if kind == "union_tag_invalid" else loc
    if kind == "extra_forbidden":
        message = f"unknown key {key!r}"
        hint = "check the spelling; see the bundled network.toml for every key"
    elif kind == "missing":
        message = f"missing {key!r}"
        hint = "add it"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ")
        message = f"{key}: {msg}" if key else msg
        if "input" in err and kind not in ("model_type",) and not isinstance(err["input"], dict):
            message += f" (got {err['input']!r})"
        hint = None
    return ConfigError(message, path=path, line=locate_key(text, line_loc), hint=hint)


def config_error(exc: ValidationError, path: Path, text: str) -> ConfigError:
    """The one line for a TOML config file read by read_config_toml that does not
    validate (network.toml, a member's CHANNEL.toml)."""
    return _config_error(exc, path, text)


def _format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+(?:\s*\.\s*[A-Za-z0-9_\-\"']+)*)\s*=")


def locate_key(text: str, loc: Sequence[str | int]) -> int | None:
    """Best-effort line number of a key path such as ``members[2].channel.port``.

    tomllib gives no positions, so walk the table headers counting array-of-tables
    entries, and return the line of the longest prefix of ``loc`` that is found.
    """
    target = tuple(loc)
    best: tuple[int, int] | None = None  # (matched length, line)
    counters: dict[tuple[str | int, ...], int] = {}
    current: tuple[str | int, ...] = ()

    def consider(path: tuple[str | int, ...], lineno: int) -> None:
        nonlocal best
        n = 0
        while n < len(path) and n < len(target) and path[n] == target[n]:
            n += 1
        if n == len(path) and n > 0 and (best is None or n > best[0]):
            best = (n, lineno)

    for lineno, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            names = [p.strip().strip("\"'") for p in header.group(2).split(".")]
            path: tuple[str | int, ...] = ()
            for i, name in enumerate(names):
                path = (*path, name)
                is_last = i == len(names) - 1
                if is_last and header.group(1) == "[[":
                    index = counters.get(path, -1) + 1
                    counters[path] = index
                    # A new parent entry resets the counters of its children.
                    for k in [k for k in counters if len(k) > len(path) and k[: len(path)] == path]:
                        del counters[k]
                    path = (*path, index)
                elif path in counters:
                    path = (*path, counters[path])
            current = path
            consider(current, lineno)
            continue
        key = _KEY.match(raw)
        if key:
            parts = tuple(p.strip().strip("\"'") for p in key.group(1).split("."))
            consider((*current, *parts), lineno)
    return best[1] if best else None
