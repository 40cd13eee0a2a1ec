"""A newsletter article: Markdown with TOML front matter between ``+++`` lines.

TOML (as in Hugo) rather than YAML, so the article reads like network.toml and needs no
further parser. The front matter::

    +++
    subject = "Nytt från Öppna data Värmland – våren 2027"
    date = 2027-02-01
    preheader = "Två nya dataset, ett nytt seminarium och en ny medlem."
    [[images]]
    src = "https://oppnadata-varmland.example/img/nyhetsbrev-1.jpg"
    alt = "Deltagare vid seminariet i mars"
    width = 536
    height = 300
    +++
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mailer.errors import TemplateError
from mailer.i18n import _

FENCE = "+++"


class Image(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    src: Annotated[str, Field(pattern=r"^https?://\S+$")]
    alt: Annotated[str, Field(min_length=1)]
    width: Annotated[int, Field(gt=0, le=536)]
    height: Annotated[int, Field(gt=0)]
    caption: str = ""


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: Annotated[str, Field(min_length=1)]
    date: dt.date
    preheader: str = ""
    images: list[Image] = []


class Article(BaseModel):
    model_config = ConfigDict(frozen=True)

    meta: FrontMatter
    body: str


def read_article(path: Path) -> Article:
    """Read and check one article; TemplateError with the file and line when it is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(
            _("no such article"), path=path, hint=_("check newsletters in network.toml")
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(
            _("cannot read the article: {problem}").format(problem=exc), path=path
        ) from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != FENCE:
        raise TemplateError(
            _("the article has no front matter"),
            path=path,
            line=1,
            hint=_(
                "start it with a '{fence}' line, subject = \"...\", date = ..., and '{fence}'"
            ).format(fence=FENCE),
        )
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == FENCE)
    except StopIteration:
        raise TemplateError(
            _("the front matter is not closed by a '{fence}' line").format(fence=FENCE),
            path=path,
            line=1,
        ) from None
    try:
        data = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(
            _("front matter is not valid TOML: {problem}").format(problem=exc), path=path
        ) from None
    try:
        meta = FrontMatter.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        raise TemplateError(
            _("front matter: {key}: {problem}").format(key=key, problem=err["msg"]),
            path=path,
            hint=_("see the example article in newsletters/"),
        ) from None
    body = "\n".join(lines[end + 1 :]).strip() + "\n"
    return Article(meta=meta, body=body)
