"""The bundle's files and the notes around it, as pydantic models, and what they share.

Everything a bundle, a report or a revocation note holds is read through a model here,
never by picking at parsed JSON: a file of the wrong shape is one :class:`BundleError`
line naming the file and the first thing wrong with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from mailer.config import Coordinator, Member, NetworkInfo, Newsletter, Seminar, Series
from mailer.errors import BundleError
from mailer.i18n import N_, _
from mailer.recipients import Person

FORMAT = 1  # bundle format this tool writes and reads; a newer one is refused
REPORT_FORMAT = 1
REVOCATION_FORMAT = 1
REPORT_TYPE = "mailer-bundle-report"
REVOCATION_TYPE = "mailer-bundle-revocation"
OPT_OUTS_FORMAT = 1
OPT_OUTS_TYPE = "mailer-bundle-opt-outs"
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
DATA = "mailing.json"
PEOPLE = "people.json"
SUMMARY = "summary.md"
SUMMARY_EN = "summary.en.md"
ARTICLE = "newsletter.md"
ARTICLE_EN = "newsletter.en.md"
# Far above any real file (a bundle of 5,000 people is about 3 MB, its report 1 MB, a
# note 1 KB), so anything near them is hostile or broken.
MAX_UNPACKED = 50_000_000
MAX_BUNDLE = MAX_UNPACKED + 10_000_000  # the zip's own headers come on top
MAX_REPORT = 20_000_000
MAX_NOTE = 64_000
MAX_OPT_OUTS = 5_000_000  # an opt-out note names a digest per person of the share
REPORT_STATES = ("sent", "failed", "deferred", "sending", "queued")

M = TypeVar("M", bound=BaseModel)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(data: object) -> bytes:
    """The one byte form of a JSON value that a signature or a digest covers."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def now_text() -> str:
    return utcnow().isoformat(timespec="seconds")


def tool() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"mailer {version('mailer')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "mailer"


def refuse(path: Path, message: str, hint: str | None = None) -> BundleError:
    return BundleError(message, path=path, hint=hint)


def load_json(path: Path, name: str, data: bytes) -> object:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = _("{name} is not valid JSON: {problem}").format(name=name, problem=exc)
        raise refuse(path, message) from None


def first_problem(exc: ValidationError) -> str:
    """The first thing pydantic found wrong, on one short line."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in err["loc"])
    text = f"{where}: {err['msg']}" if where else str(err["msg"])
    return " ".join(text.split())[:200]


def validate(
    model: type[M], value: object, *, path: Path, problem: str, hint: str | None = None
) -> M:
    """``value`` as ``model``; else BundleError 'PROBLEM: what is wrong' (``problem`` in
    the language of the moment; what is wrong is pydantic's English)."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise refuse(path, f"{problem}: {first_problem(exc)}", hint=hint) from None


class Lenient(BaseModel):
    """A file another mailer of the same format wrote: keys this one does not know are
    left alone (a change that matters raises the format instead)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Header(Lenient):
    """What is read before anything else: which kind of file, in which format."""

    format: object = None
    type: object = None


# Per kind of file: no format at all, and a format newer than this mailer reads.
_FORMAT_PROBLEMS = {
    "bundle": (
        N_("not a mailer bundle: no format version"),
        N_("this bundle has format {found}, newer than this mailer reads ({newest})"),
    ),
    "report": (
        N_("not a mailer report: no format version"),
        N_("this report has format {found}, newer than this mailer reads ({newest})"),
    ),
    "revocation note": (
        N_("not a mailer revocation note: no format version"),
        N_("this revocation note has format {found}, newer than this mailer reads ({newest})"),
    ),
    "opt-out note": (
        N_("not a mailer opt-out note: no format version"),
        N_("this opt-out note has format {found}, newer than this mailer reads ({newest})"),
    ),
}


def check_format(path: Path, value: object, what: str, newest: int) -> None:
    """Refuse a file of kind ``what`` ('bundle', 'report', 'revocation note', 'opt-out
    note') without a format, or with one newer than ``newest``."""
    missing, newer = _FORMAT_PROBLEMS[what]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise refuse(path, _(missing))
    if value > newest:
        raise refuse(
            path,
            _(newer).format(found=value, newest=newest),
            hint=_("upgrade: pip install --upgrade mailer"),
        )


class Signature(Lenient):
    algorithm: str
    key_id: str
    value: str


# -- the bundle -------------------------------------------------------------------------


class Ref(Lenient):
    id: str
    name: str = ""


class NetworkRef(Ref):
    # The network's language, so a member's mailer speaks it from the first line (even a
    # refusal); None in a bundle made before it was carried (mailing.json has it too).
    language: str | None = None


class MailingRef(Lenient):
    id: str
    kind: str
    seminar: int


class Manifest(Lenient):
    format: int
    tool: str = ""
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    network: NetworkRef
    mailing: MailingRef
    member: Ref
    people: int
    files: dict[str, str]


class Links(Lenient):
    one_click: str | None = None
    registration: str | None = ""


class PersonLinks(Links):
    # None in a bundle made before rehearsals had links of their own.
    rehearsal: Links | None = None


class PersonEntry(BaseModel):
    """One person in people.json: the merged person, and the links signed for them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str
    name: str = ""
    organisation: str = ""
    title: str = ""
    language: str = "sv"
    segment: str = "public"
    tags: list[str] = []
    listed_by: list[str] = []
    sender: str = ""
    links: PersonLinks | None = None

    def person(self) -> Person:
        return Person(
            self.email,
            self.name,
            self.organisation,
            self.title,
            self.language,
            self.segment,
            tuple(self.tags),
            tuple(self.listed_by),
            self.sender,
        )


# Straight from the bytes: a third of the time of json.loads and a model per person.
PEOPLE_FILE: TypeAdapter[list[PersonEntry]] = TypeAdapter(list[PersonEntry])


class ArticleEntry(Lenient):
    number: int
    file: str
    file_en: str | None = None


class MailingData(Lenient):
    """mailing.json: what the member's machine needs of network.toml for this mailing."""

    network: NetworkInfo
    coordinator: Coordinator
    series: Series
    member: Member
    seminars: list[Seminar]
    kind: str
    seminar: int
    revision: int = 0
    audience: str = "all"
    newsletters: list[Newsletter] = []


# -- the member's report ----------------------------------------------------------------


class ReportEntry(Lenient):
    email: str
    state: str
    message_id: str | None = None
    reply: str | None = None
    sent_at: str | None = None
    attempts: int | None = 0
    # A bounce read later from the member's mailbox; absent in a report of an older mailer.
    bounce: str | None = None
    bounce_note: str | None = None
    bounced_at: str | None = None


class ReportFile(Lenient):
    format: int
    type: Literal["mailer-bundle-report"]
    tool: str = ""
    network: str
    mailing: str
    member: str
    bundle: str
    created_at: str
    people: list[ReportEntry]
    unsubscribed: list[str] = []
    bounced: list[str] = []
    signature: Signature | None = None


# -- the coordinator's revocation note --------------------------------------------------


class RevocationFile(Lenient):
    format: int
    type: Literal["mailer-bundle-revocation"]
    tool: str = ""
    network: str
    mailing: str
    member: str
    revoked_at: dt.datetime
    bundles: list[str]  # the digests of the bundles the coordinator had exported
    signature: Signature | None = None


# -- the coordinator's opt-out note -----------------------------------------------------


class OptOutsFile(Lenient):
    """Who of a member's bundles of one mailing may still be mailed, as the coordinator's
    opt-out list stood at ``made_at``: ``keep`` holds HMAC-SHA256(salt, address) of each
    (the first 32 hex digits), so the note names nobody to anyone without the bundle."""

    format: int
    type: Literal["mailer-bundle-opt-outs"]
    tool: str = ""
    network: str
    mailing: str
    member: str
    made_at: dt.datetime
    bundles: list[str]  # the digests of the bundles it covers
    salt: str
    keep: list[str]
    signature: Signature | None = None
