"""What one mailing is: its kind, seminar and audience, and its stable identity.

A mailing has a stable identity (``invitation-2``), so running the same command again
resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.article import read_article
from mailer.audience import ALL, Audience
from mailer.config import Network, Seminar
from mailer.errors import (
    ConfigError,
)
from mailer.i18n import _
from mailer.render import KINDS

# Who a kind goes to when --audience is not given.
DEFAULT_AUDIENCE = {"reminder": Audience("registered")}


@dataclass(frozen=True, slots=True)
class Mailing:
    """One mailing. ``revision`` is the change's number (change) or the newsletter's number
    (newsletter, whose ``seminar`` is the next one, shown at the end of the article)."""

    kind: str
    seminar: Seminar
    revision: int = 0
    audience: Audience = ALL
    # The people were chosen already (a member's bundle holds only its audience): the plan
    # keeps the audience for the wording but does not filter again.
    preselected: bool = False

    @property
    def id(self) -> str:
        if self.kind == "newsletter":
            return f"newsletter-{self.revision}"
        if self.kind == "change":
            return f"change-{self.seminar.number}.{self.revision}"
        return f"{self.kind}-{self.seminar.number}"


def mailing_for(
    network: Network, kind: str, number: int, audience: Audience | None = None
) -> Mailing:
    """The mailing KIND for seminar NUMBER (for a newsletter: newsletter NUMBER)."""
    if kind not in KINDS:
        raise ConfigError(
            _("unknown mail kind {kind}").format(kind=repr(kind)),
            hint=_("known: {kinds}").format(kinds=", ".join(KINDS)),
        )
    audience = audience or DEFAULT_AUDIENCE.get(kind, ALL)
    if kind == "newsletter":
        return Mailing(kind, _seminar_after_newsletter(network, number), number, audience)
    seminar = network.seminar(number)
    revision = 0
    if kind == "summary" and not seminar.held:
        raise ConfigError(
            _("seminar {number} has no summary yet").format(number=number),
            path=network.path,
            hint=_("add summary_file, videos or attendance to the seminar first"),
        )
    if kind == "change":
        if not seminar.changes:
            raise ConfigError(
                _("seminar {number} has no changes").format(number=number),
                path=network.path,
                hint=_(
                    'add [[seminars.changes]] with what = "..." (one line) and change '
                    "the seminar's time, place or programme"
                ),
            )
        revision = len(seminar.changes)
    if kind == "cancellation" and not seminar.cancelled:
        raise ConfigError(
            _("seminar {number} is not cancelled").format(number=number),
            path=network.path,
            hint=_('set cancelled = {{ reason = "..." }} on the seminar first').format(),
        )
    if kind in ("invitation", "reminder", "change") and seminar.cancelled:
        raise ConfigError(
            _("seminar {number} is cancelled: no {kind} can go out for it").format(
                number=number, kind=kind
            ),
            path=network.path,
            hint=_("send the cancellation instead"),
        )
    return Mailing(kind, seminar, revision, audience)


def kinds_for(seminar: Seminar) -> list[str]:
    """The seminar kinds that can be sent for this seminar as configured now."""
    if seminar.cancelled:
        return ["cancellation"]
    kinds = ["invitation", "reminder"]
    if seminar.changes:
        kinds.append("change")
    if seminar.held:
        kinds.append("summary")
    return kinds


def _seminar_after_newsletter(network: Network, number: int) -> Seminar:
    item = network.newsletter(number)
    article = read_article(network.resolve(item.file))
    live = [s for s in network.seminars if not s.cancelled]
    if not live:
        raise ConfigError(
            _("a newsletter ends with the next seminar, but there is none"),
            path=network.path,
            hint=_("add a [[seminars]] entry"),
        )
    coming = [s for s in live if s.date >= article.meta.date]
    return min(coming, key=lambda s: s.date) if coming else max(live, key=lambda s: s.date)
