"""The soft-bounce rule over time: three soft bounces of one address, in different
mailings, the first and the last at least two weeks apart, count as permanent.

Real data throughout: three mailings really sent through a real aiosmtpd, each bounce a
report that answers the message that server took, dated as the report says (the rule
counts the reports' own dates, so an old mailbox read late still counts right).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailer.suppression import Suppression
from tests.helpers import use_smtp_everywhere
from tests.inbox_corpus import Sent, send

MAILINGS = [("invitation", "2"), ("invitation", "3"), ("newsletter", "1")]
FULL = b"'552 5.2.2 STOREDRV.Deliver; mailbox full'"
POLICY = b"'550 5.7.1 Service unavailable; client host blocked by policy'"


@pytest.fixture
def three(cli: Any, workspace: Path, smtp_servers: Any) -> list[Sent]:
    server = smtp_servers()
    use_smtp_everywhere(workspace, server.port)
    return [send(cli, workspace, server, *mailing) for mailing in MAILINGS]


def ndr(sent: Sent, to: str, day: int, n: int, *, status: bytes = FULL) -> bytes:
    """Exchange Online's report that ``to``'s message in ``sent`` bounced, written on
    December ``day``, 2026; ``n`` tells the reports apart (their own Message-ID)."""
    date = f"{['Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun', 'Mon'][(day - 1) % 7]}, "
    date += f"{day:02} Dec 2026 09:00:00 +0100"
    data = sent.fill("exchange-online-no-dsn.eml", to, date=date)
    return data.replace(b"e5f6-ndr-nodsn", f"soft-{n}".encode()).replace(FULL, status)


def read(cli: Any, tmp_path: Path, data: bytes, *extra: str) -> dict[str, Any]:
    path = tmp_path / f"{hash(data)}.eml"
    path.write_bytes(data)
    result = cli("inbox", "import", str(path), "--json", *extra)
    assert result.exit_code == 0, result.output + result.stderr
    (record,) = [json.loads(line) for line in result.output.splitlines()]
    return record


def opted_out(workspace: Path, email: str) -> str | None:
    with Suppression.in_state_dir(workspace / ".mailer") as opt_out:
        entry = opt_out.entry(email)
    return entry.note if entry else None


def test_three_in_different_mailings_over_two_weeks_are_permanent(cli, workspace, three, tmp_path):
    to = three[0].people()[0]
    first = read(cli, tmp_path, ndr(three[0], to, 1, 1))
    assert first["outcome"] == "soft-counted" and "(1 of 3 mailings)" in first["action"]
    second = read(cli, tmp_path, ndr(three[1], to, 9, 2))
    assert second["outcome"] == "soft-counted" and "(2 of 3 mailings)" in second["action"]
    assert opted_out(workspace, to) is None
    third = read(cli, tmp_path, ndr(three[2], to, 16, 3))
    assert third["outcome"] == "soft-opted-out"
    assert "opted out (3 soft bounces over 15 days)" in third["action"]
    assert opted_out(workspace, to) == "3 soft bounces, last 5.2.2"
    listed = cli("suppressed", "--json")
    assert listed.exit_code == 0, listed.output
    assert to in listed.output and "bounced" in listed.output


def test_three_within_two_weeks_or_in_one_mailing_are_not(cli, workspace, three, tmp_path):
    quick, same = three[0].people()[1:3]
    # Three mailings, but all within ten days: counted, the address stays.
    for n, (sent, day) in enumerate(zip(three, (1, 5, 11), strict=True)):
        record = read(cli, tmp_path, ndr(sent, quick, day, 10 + n))
    assert record["outcome"] == "soft-counted" and "(3 of 3 mailings)" in record["action"]
    assert opted_out(workspace, quick) is None
    # Three weeks apart, but all about one mailing (the same message, bounced again).
    for n, day in enumerate((1, 12, 22)):
        record = read(cli, tmp_path, ndr(three[0], same, day, 20 + n))
    assert record["outcome"] == "soft-counted" and "(1 of 3 mailings)" in record["action"]
    assert opted_out(workspace, same) is None


def test_policy_refusals_are_not_soft_bounces(cli, workspace, three, tmp_path):
    """A 5.7.x refusal says the receiving system refused this message, not that the
    address is failing: two of them and one soft bounce do not make three."""
    to = three[0].people()[3]
    for n, (sent, day) in enumerate(zip(three[:2], (1, 8), strict=True)):
        record = read(cli, tmp_path, ndr(sent, to, day, 30 + n, status=POLICY))
        assert record["outcome"] == "bounce-recorded"
    record = read(cli, tmp_path, ndr(three[2], to, 20, 32))
    assert record["outcome"] == "soft-counted" and "(1 of 3 mailings)" in record["action"]
    assert opted_out(workspace, to) is None


def test_the_rule_is_configurable(cli, workspace, three, tmp_path):
    to = three[0].people()[4]
    read(cli, tmp_path, ndr(three[0], to, 1, 40))
    # Two in different mailings over at least three days, as the coordinator chose.
    record = read(
        cli, tmp_path, ndr(three[1], to, 5, 41), "--soft-bounces", "2", "--soft-days", "3"
    )
    assert record["outcome"] == "soft-opted-out"
    assert "opted out (2 soft bounces over 4 days)" in record["action"]
    assert opted_out(workspace, to) == "2 soft bounces, last 5.2.2"
