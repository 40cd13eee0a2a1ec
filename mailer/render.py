"""Render the network's Jinja2 templates into finished mail bodies.

Premailer costs 20-100 ms a call, so CSS is inlined once per *variant* (mail kind, seminar,
language, sending member), never per person, and kept between runs (``mailer.inlining``).
A variant is rendered with placeholders (``%%person.name%%``) where personal values go;
after inlining, the HTML is split at the placeholders and each person's values are joined
in, HTML-escaped. Because the variant is rendered once for everybody, a template cannot
branch on a personal value: doing so is a template error that says so (use
``person.greeting``, which is computed per person).

Templates run in Jinja2's immutable sandbox with StrictUndefined (``mailer.sandbox``): a
member's template cannot reach Python internals or change the data it is given, and a
misspelt variable is an error, never an empty string.
"""

from __future__ import annotations

import html
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from mailer import dates, i18n
from mailer.article import Article, read_article
from mailer.calendar import EventText
from mailer.config import Member, Network, Seminar
from mailer.errors import MailerError, TemplateError
from mailer.escaping import UnsafeURLError, safe_url
from mailer.fields import clean_text
from mailer.i18n import _
from mailer.inlining import inline_css
from mailer.plaintext import markdown_text, wrap
from mailer.recipients import Person
from mailer.sandbox import PersonalValueCondition, Rendered, environment, render_template

KINDS = ("invitation", "reminder", "change", "cancellation", "summary", "newsletter")
# Kinds that carry the seminar's .ics (the summary comes after the event: nothing to add).
CALENDAR_KINDS = ("invitation", "reminder", "change", "cancellation")
PERSON_FIELDS = (
    "name",
    "first_name",
    "greeting",
    "email",
    "organisation",
    "title",
    "unsubscribe_url",
    "registration_url",
    "listed_by",
)
MAX_HTML_BYTES = 100_000  # Gmail clips messages at about 102 KB
_SLOT = re.compile(r"%%person\.([a-z_]+)%%")
# A personal address: its length is known only per person, so it gets a line of its own.
_URL_SLOT = re.compile(r"%%person\.[a-z_]*url%%")


class _Slot(str):
    """A placeholder for one personal value; refuses to be used as a condition."""

    field: str

    def __new__(cls, field: str) -> _Slot:
        slot = super().__new__(cls, f"%%person.{field}%%")
        slot.field = field
        return slot

    def __bool__(self) -> bool:
        raise PersonalValueCondition(self.field)


class _PersonSlots:
    def __getattr__(self, name: str) -> _Slot:
        if name not in PERSON_FIELDS:
            raise AttributeError(name)
        return _Slot(name)


@dataclass(frozen=True, slots=True)
class Variant:
    """One kind x seminar x language x member (x revision x audience), rendered and inlined once.

    ``revision`` is the change number for a change and the newsletter number for a newsletter;
    ``audience`` lets a reminder speak differently to the registered and the not-registered.
    """

    kind: str
    seminar: int
    language: str
    member: str
    subject: str
    preheader: str
    html: tuple[str, ...]  # static pieces and field names, alternating (split by _SLOT)
    text: tuple[str, ...]

    def fill_html(self, values: Mapping[str, str]) -> str:
        check_urls(values)
        return _fill(self.html, {k: html.escape(v, quote=True) for k, v in values.items()})

    def fill_text(self, values: Mapping[str, str]) -> str:
        check_urls(values)
        return _fill(self.text, values)

    @property
    def html_size(self) -> int:
        return sum(len(p.encode()) for p in self.html[::2])


def web_version_url(
    network: Network,
    kind: str,
    seminar: Seminar,
    language: str = "",
    member: str = "",
    revision: int = 0,
) -> str:
    """The mail's non-personal version on ``mailer serve`` (``/view/<mailing>/<language>/
    <member>``: the same templates, nobody's name or links); "" without ``[web]``."""
    from mailer.web import mailing_id, view_url

    return view_url(network, mailing_id(kind, seminar.number, revision), language, member)


def check_urls(values: Mapping[str, str]) -> None:
    # Escaping keeps a URL inside its attribute; only the scheme keeps it from running.
    for key, value in values.items():
        if key.endswith("url") and value:
            try:
                safe_url(value)
            except UnsafeURLError as exc:
                raise MailerError(
                    _("person.{key} {value}: {problem}").format(
                        key=key, value=repr(value), problem=exc
                    )
                ) from None


def _fill(pieces: tuple[str, ...], values: Mapping[str, str]) -> str:
    out = list(pieces)
    for i in range(1, len(out), 2):
        out[i] = values[out[i]]
    return "".join(out)


def _markdown(text: str) -> Markup:
    from markdown_it import MarkdownIt

    # html=False: raw HTML in a summary file is shown as text, never passed through.
    return Markup(MarkdownIt("commonmark", {"html": False}).render(text))


@jinja2.pass_context
def _wrap(context: jinja2.runtime.Context, text: str) -> str:
    """The ``wrap`` filter of text templates: lines wrapped for a mail client
    (``mailer.plaintext.wrap``), a template's choice, so a table it lays out stays as it is.

    Wrapped once a variant, with the placeholders in: a personal value is a name (short) or
    an address, and an address gets a line of its own or follows a short label. A date is
    never broken over two lines.
    """
    when = context.get("when") or {}
    together = [when.get(key, "") for key in ("full", "date", "time")]
    together.append(context.get("next_when") or "")
    return wrap(str(text), placeholders=_URL_SLOT, together=together)


@jinja2.pass_context
def _genitive(context: jinja2.runtime.Context, name: str) -> str:
    """The ``genitive`` filter: a name in the genitive of the mail's language ("MSB:s")."""
    return i18n.genitive(str(name), str(context.get("lang") or ""))


class Renderer:
    """Renders variants for one network; caches them, since a mailing reuses a few."""

    def __init__(
        self, network: Network, templates: Path | None = None, *, inline_cache: Path | None = None
    ) -> None:
        """``inline_cache``: a folder where inlined documents are kept between runs."""
        self.network = network
        self.templates = templates or network.root / "templates"
        self.inline_cache = inline_cache
        if not self.templates.is_dir():
            raise TemplateError(
                _("no templates folder"),
                path=self.templates,
                hint=_("run 'mailer init' or copy the bundled templates/"),
            )
        self._html_env = environment(self.templates, html=True)
        self._text_env = environment(self.templates, html=False)
        # One name in both: the text part gets the same Markdown as text, not as markup.
        self._html_env.filters["markdown"] = _markdown
        self._text_env.filters["markdown"] = markdown_text
        self._text_env.filters["wrap"] = _wrap
        for env in (self._html_env, self._text_env):
            env.filters["genitive"] = _genitive
        self._strings = self._load_strings()
        self._cache: dict[tuple[str, int, str, str, int, str], Variant] = {}
        self._articles: dict[Path, Article] = {}

    def _load_strings(self) -> dict[str, dict[str, Any]]:
        path = self.templates / "strings.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TemplateError(_("no strings.toml beside the templates"), path=path) from None
        except tomllib.TOMLDecodeError as exc:
            raise TemplateError(
                _("not valid TOML: {problem}").format(problem=exc), path=path
            ) from None
        for lang in ("sv", "en"):
            if lang not in data:
                raise TemplateError(
                    _("no [{language}] table").format(language=lang),
                    path=path,
                    hint=_("every string must exist in Swedish and English"),
                )
        missing = set(data["sv"]) ^ set(data["en"])
        if missing:
            raise TemplateError(
                _("strings not in both languages: {keys}").format(keys=", ".join(sorted(missing))),
                path=path,
            )
        return data

    def strings(self, language: str) -> dict[str, Any]:
        return self._strings[language]

    # -- variants --------------------------------------------------------------

    def variant(
        self,
        kind: str,
        seminar: Seminar,
        language: str,
        member: Member,
        *,
        revision: int = 0,
        audience: str = "all",
    ) -> Variant:
        key = (kind, seminar.number, language, member.id, revision, audience)
        cached = self._cache.get(key)
        if cached is None:
            ctx = self.context(
                kind, seminar, language, member, revision=revision, audience=audience
            )
            cached = self._cache[key] = self._render_variant(kind, seminar, language, member, ctx)
        return cached

    def prepare(
        self,
        kind: str,
        seminar: Seminar,
        pairs: Iterable[tuple[str, Member]],
        *,
        revision: int = 0,
        audience: str = "all",
    ) -> None:
        """Render every (language, member) variant up front, so a broken template stops the
        run before the first message leaves rather than halfway through."""
        for language, member in pairs:
            self.variant(kind, seminar, language, member, revision=revision, audience=audience)

    def article(self, number: int, language: str) -> Article:
        """The newsletter's article in this language (the Swedish one when there is no other)."""
        item = self.network.newsletter(number)
        name = item.file_en if language == "en" and item.file_en else item.file
        path = self.network.resolve(name)
        cached = self._articles.get(path)
        if cached is None:
            cached = self._articles[path] = read_article(path)
        return cached

    def _summary(self, seminar: Seminar, language: str) -> str:
        name = seminar.summary_file_en if language == "en" else None
        name = name or seminar.summary_file
        if not name:
            return ""
        path = self.network.resolve(name)
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateError(
                _("cannot read the summary: {problem}").format(problem=exc.strerror), path=path
            ) from None

    def programme(self, seminar: Seminar, language: str) -> list[dict[str, str]]:
        en = language == "en"
        return [
            {
                "name": s.name,
                "role": (s.role_en if en else None) or s.role,
                "organisation": s.organisation,
                "topic": (s.topic_en if en else None) or s.topic,
            }
            for s in seminar.programme
        ]

    def texts(self, seminar: Seminar, language: str) -> dict[str, str]:
        """The seminar's own words in the language, falling back to Swedish."""
        en = language == "en"
        return {
            "breakfast": (seminar.breakfast_en if en else None) or seminar.breakfast,
            "title": seminar.title_in(language),
            "theme": (seminar.theme_en if en else None) or seminar.theme,
            "description": " ".join(
                ((seminar.description_en if en else None) or seminar.description).split()
            ),
            "series": self.network.series.title_in(language),
        }

    def event_text(self, seminar: Seminar, language: str) -> EventText:
        """Summary, description and location of the .ics, in the person's language."""
        t = self._strings[language]
        words = self.texts(seminar, language)
        tz = self.network.tz
        lines = [f"{words['series']}: {words['theme']}", "", words["description"], ""]
        lines.append(
            f"{t['when']}: {dates.when(seminar.date, seminar.start, seminar.end, tz, language)}"
        )
        lines.append(f"{t['where']}: {seminar.place}, {seminar.address}")
        if seminar.programme:
            lines += ["", f"{t['programme']}:"]
            for sp in self.programme(seminar, language):
                who = ", ".join(x for x in (sp["name"], sp["organisation"]) if x)
                lines.append(f"- {who}: {sp['topic']}" if sp["topic"] else f"- {who}")
        if seminar.registration_url and not seminar.cancelled:
            lines += ["", f"{t['register']}: {seminar.registration_url}"]
        coordinator = self.network.coordinator
        lines += ["", t["contact"].format(name=coordinator.name, email=coordinator.email)]
        summary = words["title"]
        if seminar.cancelled:
            summary = f"{t['cancelled_prefix']} {summary}"
        return EventText(
            summary=summary,
            description="\n".join(lines),
            location=f"{seminar.place}, {seminar.address}",
        )

    def context(
        self,
        kind: str,
        seminar: Seminar,
        language: str,
        member: Member,
        *,
        revision: int = 0,
        audience: str = "all",
    ) -> dict[str, Any]:
        net = self.network
        tz = net.tz
        nxt = net.next_seminar(seminar)
        en = language == "en"
        change = seminar.changes[revision - 1] if kind == "change" and revision else None
        cancelled = seminar.cancelled
        article = self.article(revision, language) if kind == "newsletter" else None
        return {
            "kind": kind,
            "lang": language,
            "t": self._strings[language],
            "network": net.network,
            "series": net.series,
            "coordinator": net.coordinator,
            "member": member,
            "colour": member.colour or net.network.colours.primary,
            "seminar": seminar,
            "s": self.texts(seminar, language),
            "programme": self.programme(seminar, language),
            "audience": audience,
            "change": ((change.what_en if en else None) or change.what) if change else "",
            "cancel_reason": ((cancelled.reason_en if en else None) or cancelled.reason)
            if cancelled
            else "",
            "article": article,
            "article_date": dates.long_date(article.meta.date, language) if article else "",
            "has_calendar": kind in CALENDAR_KINDS,
            "when": {
                "date": dates.long_date(seminar.date, language),
                "time": dates.time_span(seminar.date, seminar.start, seminar.end, tz, language),
                "full": dates.when(seminar.date, seminar.start, seminar.end, tz, language),
                "deadline": dates.short_date(seminar.registration_deadline, language)
                if seminar.registration_deadline
                else "",
            },
            "next_seminar": nxt,
            "next_s": self.texts(nxt, language) if nxt else None,
            "next_when": dates.when(nxt.date, nxt.start, nxt.end, tz, language) if nxt else "",
            "summary": self._summary(seminar, language),
            "person": _PersonSlots(),
            "web_url": web_version_url(net, kind, seminar, language, member.id, revision),
        }

    def _render_variant(
        self, kind: str, seminar: Seminar, language: str, member: Member, ctx: dict[str, Any]
    ) -> Variant:
        text_out = self._render(f"{kind}.txt", ctx)
        subject = " ".join(str(text_out.exports.get("subject", "")).split())
        preheader = " ".join(str(text_out.exports.get("preheader", "")).split())
        if not subject:
            raise TemplateError(
                _("the template sets no subject"),
                path=self.templates / f"{kind}.txt",
                hint=_("add {tag} at the top").format(tag="{% set subject %}...{% endset %}"),
            )
        if _SLOT.search(subject):
            raise TemplateError(
                _("the subject cannot hold personal values"), path=self.templates / f"{kind}.txt"
            )
        text = text_out.body
        html_out = self._render(
            f"{kind}.html", {**ctx, "subject": subject, "preheader": preheader}
        ).body
        for name in _SLOT.findall(text) + _SLOT.findall(html_out):
            if name not in PERSON_FIELDS:
                raise TemplateError(
                    _("unknown personal field {field}").format(field=f"%%person.{name}%%"),
                    path=self.templates / f"{kind}.html",
                    hint=_("known: {fields}").format(fields=", ".join(PERSON_FIELDS)),
                )
        inlined = inline_css(html_out, self.inline_cache)
        if len(inlined.encode()) > MAX_HTML_BYTES:
            raise TemplateError(
                _("the HTML is {size} KB; Gmail clips mail over ~102 KB").format(
                    size=len(inlined.encode()) // 1000
                ),
                path=self.templates / f"{kind}.html",
                hint=_("shorten the text or the CSS"),
            )
        return Variant(
            kind,
            seminar.number,
            language,
            member.id,
            subject,
            preheader,
            tuple(_SLOT.split(inlined)),
            tuple(_SLOT.split(text)),
        )

    def _render(self, name: str, ctx: dict[str, Any]) -> Rendered:
        env = self._html_env if name.endswith(".html") else self._text_env
        return render_template(env, name, ctx, folder=self.templates)

    # -- people ----------------------------------------------------------------

    def personal_values(
        self,
        person: Person,
        member: Member,
        language: str,
        unsubscribe_url: str,
        registration_url: str = "",
    ) -> dict[str, str]:
        t = self._strings[language]
        first = person.first_name
        greeting = t["greeting_named"].format(name=first) if first else t["greeting"]
        # Cleaned again here, not only when lists are merged: a Person can also come from
        # a registration import, and a value must never bring a line break into the text.
        return {
            "name": clean_text(person.name),
            "first_name": clean_text(first),
            "greeting": clean_text(greeting),
            "email": person.email,
            "organisation": clean_text(person.organisation),
            "title": clean_text(person.title),
            "unsubscribe_url": unsubscribe_url,
            "registration_url": registration_url,
            "listed_by": member.name,
        }
