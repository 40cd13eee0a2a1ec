"""The seminar as an iCalendar event (RFC 5545/5546), built with the icalendar library.

One seminar is one event with one stable UID, so every message about it (invitation,
reminder, change, cancellation) lands on the *same* calendar entry: a change carries a
higher SEQUENCE and replaces it, a cancellation (METHOD:CANCEL) removes it. Times are local
to the network's zone and the VTIMEZONE is included, so clients never guess the offset.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import icalendar

from mailer.config import Network, Seminar

PRODID = "-//Oppna data Varmland//mailer//SV"
REQUEST, CANCEL = "REQUEST", "CANCEL"


@dataclass(frozen=True, slots=True)
class EventText:
    """What the event says, already in the person's language."""

    summary: str
    description: str
    location: str


def uid(network: Network, seminar: Seminar) -> str:
    """Stable across runs and message kinds: the calendar's key for this seminar."""
    return f"{network.network.id}-seminar-{seminar.number}@{network.network.list_domain}"


def sequence(seminar: Seminar, method: str) -> int:
    """0 for the invitation, +1 per change; a cancellation outranks the last change."""
    return len(seminar.changes) + (1 if method == CANCEL else 0)


def build_ics(
    network: Network,
    seminar: Seminar,
    text: EventText,
    *,
    method: str,
    organiser: tuple[str, str],
    attendee: tuple[str, str] | None = None,
    stamp: dt.datetime | None = None,
) -> bytes:
    """The .ics for one seminar; ``organiser`` and ``attendee`` are (name, address)."""
    if method not in (REQUEST, CANCEL):
        raise ValueError(method)
    zone = network.tz
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)

    event = icalendar.Event()
    event.add("uid", uid(network, seminar))
    event.add("sequence", sequence(seminar, method))
    event.add("dtstamp", (stamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    event.add("dtstart", dt.datetime.combine(seminar.date, seminar.start, tzinfo=zone))
    event.add("dtend", dt.datetime.combine(seminar.date, seminar.end, tzinfo=zone))
    event.add("summary", text.summary)
    event.add("description", text.description)
    event.add("location", text.location)
    if network.network.website:
        event.add("url", network.network.website)
    event.add("status", "CANCELLED" if method == CANCEL else "CONFIRMED")
    event.add("transp", "OPAQUE")
    org = icalendar.vCalAddress(f"mailto:{organiser[1]}")
    org.params["cn"] = icalendar.vText(organiser[0])
    event.add("organizer", org)
    if attendee is not None:
        event.add("attendee", _attendee(*attendee))
    cal.add_component(event)
    # Only the transitions of the seminar's year: the full 1970-2038 table is 3 KB per mail.
    year = seminar.date.year
    cal.add_missing_timezones(first_date=dt.date(year, 1, 1), last_date=dt.date(year + 1, 1, 1))
    return bytes(cal.to_ical())


def _attendee(name: str, email: str) -> icalendar.vCalAddress:
    # RFC 5546 wants an ATTENDEE in a REQUEST; RSVP=FALSE so nobody's client sends a reply
    # to the member's mailbox: registration happens through the form.
    who = icalendar.vCalAddress(f"mailto:{email}")
    if name:
        who.params["cn"] = icalendar.vText(name)
    who.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    who.params["partstat"] = icalendar.vText("NEEDS-ACTION")
    who.params["rsvp"] = icalendar.vText("FALSE")
    return who


_PLACEHOLDER = ("Attendee", "attendee@placeholder.invalid")
# What the ATTENDEE line can carry without escaping, quoting or a parameter encoding.
_PLAIN_NAME = re.compile(r"[^\x00-\x1f\x7f\\^,;:'\"’]*")
_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+")


def _fold(line: str, limit: int = 75) -> bytes:
    """RFC 5545 folding as icalendar does it: greedy chunks under ``limit`` octets, never
    splitting a character."""
    data = line.encode("utf-8")
    step = limit - 1
    chunks = []
    start = 0
    while len(data) - start > step:
        cut = start + step
        while data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: the character's middle
            cut -= 1
        chunks.append(data[start:cut])
        start = cut
    chunks.append(data[start:])
    return b"\r\n ".join(chunks)


class IcsTemplate:
    """``build_ics`` for many attendees of one seminar, language and organiser: everything
    but the ATTENDEE line is made once (building it whole costs milliseconds, most of it
    time zones and folding). ``for_attendee`` returns what ``build_ics`` would, given the
    same ``stamp``."""

    def __init__(
        self,
        network: Network,
        seminar: Seminar,
        text: EventText,
        *,
        method: str,
        organiser: tuple[str, str],
        stamp: dt.datetime | None = None,
    ) -> None:
        whole = build_ics(
            network,
            seminar,
            text,
            method=method,
            organiser=organiser,
            attendee=_PLACEHOLDER,
            stamp=stamp or dt.datetime.now(dt.UTC),
        )
        line = self._line(*_PLACEHOLDER)
        self._head, found, self._tail = whole.partition(line)
        if not found or line in self._tail or not self._head.endswith(b"\r\n"):
            raise AssertionError("the placeholder ATTENDEE is not one line of the .ics")

    @staticmethod
    def _line(name: str, email: str) -> bytes:
        """The ATTENDEE line exactly as ``Component.to_ical`` writes it (sorted parameters,
        folded at 75 octets); by hand when nothing in it needs escaping or quoting."""
        if not (_PLAIN_NAME.fullmatch(name) and _PLAIN_EMAIL.fullmatch(email)):
            event = icalendar.Event()
            line = event.content_line("ATTENDEE", _attendee(name, email), sorted=True)
            return bytes(line.to_ical()) + b"\r\n"
        cn = (f';CN="{name}"' if " " in name else f";CN={name}") if name else ""
        text = f"ATTENDEE{cn};PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=FALSE:mailto:{email}"
        return _fold(text) + b"\r\n"

    def for_attendee(self, name: str, email: str) -> bytes:
        return self._head + self._line(name, email) + self._tail
