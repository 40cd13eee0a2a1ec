"""Times the stores keep, as people read them (mailer.dates)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from mailer.dates import moment, stored_moment
from mailer.i18n import speaking

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.mark.parametrize(
    ("stamp", "sv", "en"),
    [
        # The stores keep UTC: 10:48 UTC is 11:48 in Stockholm in December.
        ("2026-12-04T10:48:00+00:00", "fredag 4 december 2026 kl. 11.48", "11:48"),
        ("2026-12-04T10:48:00.123", "fredag 4 december 2026 kl. 11.48", "11:48"),  # naive: UTC
        ("2026-12-04T11:48:00+01:00", "fredag 4 december 2026 kl. 11.48", "11:48"),
    ],
)
def test_a_stored_time_reads_as_a_moment_in_the_network_zone(stamp: str, sv: str, en: str):
    assert stored_moment(stamp, STOCKHOLM) == moment(dt.datetime.fromisoformat(stamp), STOCKHOLM)
    with speaking("sv"):
        assert stored_moment(stamp, STOCKHOLM) == sv
    with speaking("en"):
        assert en in stored_moment(stamp, STOCKHOLM)


def test_no_zone_is_utc_and_no_stamp_is_nothing():
    with speaking("sv"):
        assert stored_moment("2026-12-04T10:48:00+00:00", None) == (
            "fredag 4 december 2026 kl. 10.48"
        )
    assert stored_moment(None, STOCKHOLM) == ""
    assert stored_moment("", STOCKHOLM) == ""


def test_a_stamp_that_is_not_iso_8601_is_shown_as_it_is():
    # Edited by hand or written by another version: one odd row must not stop a listing.
    assert stored_moment("igår kväll", STOCKHOLM) == "igår kväll"
