"""Dates and times as people read them, in Swedish or English (Babel)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

_LOCALES = {"sv": "sv_SE", "en": "en_GB"}


def long_date(day: dt.date, language: str) -> str:
    """'tisdag 16 mars 2027' / 'Tuesday 16 March 2027'."""
    return format_date(day, "EEEE d MMMM y", locale=_LOCALES[language])


def short_date(day: dt.date, language: str) -> str:
    """'9 mars' / '9 March'."""
    return format_date(day, "d MMMM", locale=_LOCALES[language])


def time_span(day: dt.date, start: dt.time, end: dt.time, zone: ZoneInfo, language: str) -> str:
    """'kl. 08.00–10.00' / '8:00–10:00 AM CET' (the zone's abbreviation on that day)."""
    begin = dt.datetime.combine(day, start, tzinfo=zone)
    finish = dt.datetime.combine(day, end, tzinfo=zone)
    if language == "sv":
        return (
            f"kl. {format_time(begin, 'HH.mm', locale='sv_SE')}–"
            f"{format_time(finish, 'HH.mm', locale='sv_SE')}"
        )
    same_half = (begin.hour < 12) == (finish.hour < 12)
    first = format_time(begin, "h:mm" if same_half else "h:mm a", locale="en_GB")
    last = format_time(finish, "h:mm a", locale="en_US")
    return f"{first}–{last} {begin.tzname()}"


def when(day: dt.date, start: dt.time, end: dt.time, zone: ZoneInfo, language: str) -> str:
    """'tisdag 16 mars 2027 kl. 08.00–10.00' / 'Tuesday 16 March 2027, 8:00–10:00 AM CET'."""
    sep = " " if language == "sv" else ", "
    return f"{long_date(day, language)}{sep}{time_span(day, start, end, zone, language)}"


def moment(when: dt.datetime, zone: ZoneInfo, language: str | None = None) -> str:
    """A point in time as a person reads it, in the network's time zone:
    'fredag 4 december 2026 kl. 11.48' / 'Friday 4 December 2026 at 11:48'.

    The pattern is in the catalogue, so each language writes its own. A naive datetime is
    taken as UTC (the stores keep UTC). ``--json`` output keeps ISO 8601 instead.
    """
    from babel.dates import format_datetime

    from mailer.i18n import current_language, translate

    language = language or current_language()
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    pattern = translate("EEEE d MMMM y 'at' HH:mm", language)
    return format_datetime(when.astimezone(zone), pattern, locale=_LOCALES[language])


def stored_moment(stamp: str | None, zone: ZoneInfo | None) -> str:
    """A time a store keeps (ISO 8601, UTC) as :func:`moment` shows it, in ``zone`` (UTC
    without one); "" for none. A stamp that is not ISO 8601 (edited by hand, or written by
    another version) is shown as it is: a listing should not stop at one odd row."""
    if not stamp:
        return ""
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return moment(when, zone or ZoneInfo("UTC"))
