"""Who a mailing goes to: everybody, or those who (have not) registered or attended, narrowed
by segment or tag.

Written on the command line as ``--audience``, repeatable, all conditions must hold::

    --audience registered                      # the reminder's default
    --audience not-registered
    --audience attended --audience segment:public
    --audience tag:sme
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mailer.errors import ConfigError, MailerError
from mailer.fields import SEGMENTS
from mailer.i18n import _
from mailer.recipients import Person
from mailer.registrations import Status

STATUSES = ("all", "registered", "not-registered", "attended", "not-attended")


@dataclass(frozen=True, slots=True)
class Audience:
    status: str = "all"
    segments: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        """The canonical spelling, e.g. 'registered,segment:public'."""
        parts = [self.status] + [f"segment:{s}" for s in self.segments]
        return ",".join(parts + [f"tag:{t}" for t in self.tags])

    @property
    def needs_registrations(self) -> bool:
        return self.status != "all"

    def __str__(self) -> str:
        return self.spec


ALL = Audience()


def parse_audience(values: Iterable[str]) -> Audience:
    """``['attended', 'segment:public']`` (or one 'a,b' string) as an Audience."""
    status = "all"
    segments: list[str] = []
    tags: list[str] = []
    for value in values:
        for raw in value.split(","):
            item = raw.strip().lower()
            if not item:
                continue
            kind, _sep, name = item.partition(":")
            if kind == "segment" and name:
                segment = SEGMENTS.get(name)
                if segment is None:
                    known = ", ".join(sorted(set(SEGMENTS.values())))
                    raise MailerError(
                        _("unknown segment {name!r}").format(name=name),
                        hint=_("known: {names}").format(names=known),
                    )
                segments.append(segment)
            elif kind == "tag" and name:
                tags.append(name)
            elif item in STATUSES:
                if status != "all" and item != status:
                    raise MailerError(
                        _("two audiences that exclude each other: {first} and {second}").format(
                            first=status, second=item
                        ),
                        hint=_(
                            "give one of all, registered, not-registered, attended, not-attended"
                        ),
                    )
                status = item
            else:
                raise MailerError(
                    _("unknown audience {name!r}").format(name=raw.strip()),
                    hint=_("use one of {names}, segment:NAME or tag:NAME").format(
                        names=", ".join(STATUSES)
                    ),
                )
    return Audience(status, tuple(dict.fromkeys(segments)), tuple(dict.fromkeys(tags)))


def matcher(audience: Audience, known: Status | None, *, seminar: int) -> Callable[[Person], bool]:
    """A predicate for the people in ``audience``; ``known`` is the seminar's registrations."""
    if audience.needs_registrations:
        if known is None or (not known.registered and not known.attended):
            raise ConfigError(
                _("--audience {audience}: no registrations imported for seminar {seminar}").format(
                    audience=audience.status, seminar=seminar
                ),
                hint=_("run 'mailer registrations import FILE --seminar {seminar}' first").format(
                    seminar=seminar
                ),
            )
        if audience.status in ("attended", "not-attended") and not known.attendance_known:
            raise ConfigError(
                _("--audience {audience}: attendance is not known for seminar {seminar}").format(
                    audience=audience.status, seminar=seminar
                ),
                hint=_("import the form tool's export with an attended (närvarande) column"),
            )
    status = audience.status
    registered = known.registered if known else frozenset()
    attended = known.attended if known else frozenset()
    segments = set(audience.segments)
    tags = set(audience.tags)

    def keep(person: Person) -> bool:
        if segments and person.segment not in segments:
            return False
        if tags and not tags.intersection(t.lower() for t in person.tags):
            return False
        if status == "registered":
            return person.email in registered
        if status == "not-registered":
            return person.email not in registered
        if status == "attended":
            return person.email in attended
        if status == "not-attended":
            return person.email not in attended
        return True

    return keep
