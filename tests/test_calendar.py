"""The .ics of each kind, read back by a calendar parser and applied to a calendar."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.config import load_network
from mailer.recipients import merge
from tests.helpers import add_cancellation, add_change

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def message_for(workspace: Path, kind: str, number: int, email: str) -> EmailMessage:
    import email as email_lib
    from email import policy

    network = load_network(workspace / "network.toml")
    person = next(p for p in merge(network).people if p.email == email)
    factory = MessageFactory(network, mailing_for(network, kind, number))
    out = factory.build(person, network.member(person.sender))
    parsed = email_lib.message_from_bytes(out.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def calendar_parts(msg: EmailMessage) -> tuple[icalendar.Calendar, icalendar.Calendar]:
    """(the text/calendar alternative, the attached file), both parsed."""
    inline = attached = None
    for part in msg.walk():
        if part.get_content_type() != "text/calendar":
            continue
        cal = icalendar.Calendar.from_ical(part.get_content())
        if part.get_content_disposition() == "attachment":
            assert part.get_filename() == "seminarium.ics"
            attached = cal
        else:
            inline = cal
    assert inline is not None and attached is not None
    return inline, attached


class Store:
    """A minimal calendar: what Outlook or Google do with REQUEST and CANCEL, by UID."""

    def __init__(self) -> None:
        self.events: dict[str, icalendar.Event] = {}

    def receive(self, cal: icalendar.Calendar) -> None:
        method = str(cal["METHOD"])
        for event in cal.walk("VEVENT"):
            uid = str(event["UID"])
            known = self.events.get(uid)
            if known is not None and int(event["SEQUENCE"]) < int(known["SEQUENCE"]):
                continue  # an older copy arriving late changes nothing
            if method == "CANCEL":
                self.events.pop(uid, None)
            else:
                self.events[uid] = event


def test_invitation_ics_is_one_event_at_the_right_time(workspace):
    msg = message_for(workspace, "invitation", 2, "asa.bjork@lansstyrelsen-varmland.example")
    assert msg.get_content_type() == "multipart/mixed"
    inline, attached = calendar_parts(msg)
    assert inline.to_ical() == attached.to_ical()
    assert str(inline["METHOD"]) == "REQUEST"
    (event,) = inline.walk("VEVENT")
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start == dt.datetime(2027, 3, 16, 8, 0, tzinfo=STOCKHOLM)
    assert end == dt.datetime(2027, 3, 16, 10, 0, tzinfo=STOCKHOLM)
    assert start.utcoffset() == dt.timedelta(hours=1)  # CET in March before the switch
    assert event["DTSTART"].params["TZID"] == "Europe/Stockholm"
    (tz,) = inline.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/Stockholm"
    assert str(event["LOCATION"]).startswith("Karlstads universitet, Aula Magna")
    assert "mailto:oppnadata@lansstyrelsen-varmland.example" in str(event["ORGANIZER"])
    assert str(event["ATTENDEE"]) == "mailto:asa.bjork@lansstyrelsen-varmland.example"
    assert event["ATTENDEE"].params["RSVP"] == "FALSE"
    assert int(event["SEQUENCE"]) == 0
    assert "När: tisdag 16 mars 2027 kl. 08.00–10.00" in str(event["DESCRIPTION"])


def test_description_is_in_the_persons_language(workspace):
    msg = message_for(workspace, "invitation", 2, "tom.walker@msb.example")
    (event,) = calendar_parts(msg)[0].walk("VEVENT")
    assert str(event["SUMMARY"]) == "Open data – innovation"
    assert "When: Tuesday 16 March 2027, 8:00–10:00 AM CET" in str(event["DESCRIPTION"])
    assert "Innovation with open data" in str(event["DESCRIPTION"])


def test_summer_time_is_right(workspace):
    msg = message_for(workspace, "invitation", 3, "asa.bjork@lansstyrelsen-varmland.example")
    (event,) = calendar_parts(msg)[0].walk("VEVENT")
    start = event.decoded("DTSTART")
    assert start.astimezone(dt.UTC) == dt.datetime(2027, 5, 18, 6, 0, tzinfo=dt.UTC)


def test_uid_is_stable_and_a_change_updates_the_entry(workspace):
    store = Store()
    who = "asa.bjork@lansstyrelsen-varmland.example"
    invitation = calendar_parts(message_for(workspace, "invitation", 2, who))[0]
    add_change(workspace, 2, "Karlstads universitet, sal 21A", "Ny lokal: sal 21A.")
    change = calendar_parts(message_for(workspace, "change", 2, who))[0]
    reminder = calendar_parts(message_for(workspace, "reminder", 2, who))[0]
    (first,) = invitation.walk("VEVENT")
    (changed,) = change.walk("VEVENT")
    assert first["UID"] == changed["UID"] == next(iter(reminder.walk("VEVENT")))["UID"]
    assert int(changed["SEQUENCE"]) > int(first["SEQUENCE"])
    store.receive(invitation)
    store.receive(change)
    store.receive(invitation)  # a late copy of the old one does not undo the change
    (entry,) = store.events.values()
    assert str(entry["LOCATION"]).startswith("Karlstads universitet, sal 21A")
    assert int(entry["SEQUENCE"]) == 1


def test_a_cancellation_removes_the_entry(workspace):
    who = "tom.walker@msb.example"
    store = Store()
    store.receive(calendar_parts(message_for(workspace, "invitation", 2, who))[0])
    assert len(store.events) == 1
    add_cancellation(workspace, 2)
    cancel = calendar_parts(message_for(workspace, "cancellation", 2, who))[0]
    assert str(cancel["METHOD"]) == "CANCEL"
    (event,) = cancel.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"
    store.receive(cancel)
    assert store.events == {}


def test_summary_and_newsletter_carry_no_calendar(workspace):
    who = "tom.walker@msb.example"
    for kind, number in (("summary", 1), ("newsletter", 1)):
        msg = message_for(workspace, kind, number, who)
        assert msg.get_content_type() == "multipart/alternative"
        assert not [p for p in msg.walk() if p.get_content_type() == "text/calendar"]


def test_no_invitation_for_a_cancelled_seminar(workspace):
    add_cancellation(workspace, 2)
    network = load_network(workspace / "network.toml")
    from mailer.errors import ConfigError

    with pytest.raises(ConfigError, match="cancelled"):
        mailing_for(network, "invitation", 2)
