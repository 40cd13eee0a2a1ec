"""Reading a member's mailbox: a 10,000-message mbox of bounces, auto-replies and replies.

The mix is what comes back after a large mailing: Postfix and Exchange Online delivery
status notifications (about 40%), Exchange NDRs without the report part, Swedish and
English out-of-office replies, replies quoting the invitation, and unrelated mail. The
baseline is the least any reader pays: :class:`mailbox.mbox` and the standard library's
parser (``policy.default``) on every message, classifying nothing. The mailer's cases
read, parse and classify; the last one also matches every message against the journal
and records it (``mailer inbox import`` on a fresh state folder).
"""

from __future__ import annotations

import contextlib
import mailbox
import random
import shutil
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path

from bench import _network

TITLE = "inbox: classify a 10,000-message mbox (bounces, auto-replies, replies)"
MESSAGES = 10_000
VERSION = "1"

_DSN = """From: MAILER-DAEMON@mx{n}.example (Mail Delivery System)
To: MSB <seminarier@msb.example>
Date: Fri, 04 Dec 2026 10:15:00 +0100
Subject: Undelivered Mail Returned to Sender
Message-Id: <bounce{n}@mx.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b{n}"

--b{n}
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

<person{n}@kau.example>: host mail.kau.example[192.0.2.25] said: 550 5.1.1 User unknown

--b{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; person{n}@kau.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <person{n}@kau.example>: User unknown

--b{n}
Content-Type: text/rfc822-headers

From: MSB <seminarier@msb.example>
To: person{n}@kau.example
Subject: Inbjudan
Message-ID: <invitation-2.{n:020x}@msb.example>

--b{n}--
"""
_NDR = """From: Microsoft Outlook <postmaster@msb.example>
To: MSB <seminarier@msb.example>
Date: Fri, 04 Dec 2026 10:15:00 +0100
Subject: Olevererbart: Inbjudan
Message-ID: <ndr{n}@exchangelabs.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="m{n}"

--m{n}
Content-Type: text/html; charset="utf-8"

<html><body><p>Det gick inte att leverera meddelandet till person{n}@kau.example.</p>
<p>Remote Server returned '552 5.2.2 STOREDRV.Deliver; mailbox full'</p></body></html>

--m{n}
Content-Type: text/rfc822-headers

Message-ID: <invitation-2.{n:020x}@msb.example>

--m{n}--
"""
_OOF = """From: person{n}@kau.example
To: MSB <seminarier@msb.example>
Date: Fri, 04 Dec 2026 10:15:00 +0100
Subject: =?utf-8?q?Fr=C3=A5nvaromeddelande=3A?= Inbjudan
Message-ID: <oof{n}@kau.example>
In-Reply-To: <invitation-2.{n:020x}@msb.example>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset="utf-8"

Jag är på semester till och med den 6 januari.
"""
_REPLY = """From: person{n}@kau.example
To: MSB <seminarier@msb.example>
Date: Fri, 04 Dec 2026 10:15:00 +0100
Subject: SV: Inbjudan
Message-ID: <reply{n}@kau.example>
In-Reply-To: <invitation-2.{n:020x}@msb.example>
Content-Type: text/plain; charset="utf-8"

Tack, jag kommer gärna.

Den 4 dec. 2026 skrev MSB:
> Välkommen till frukostseminariet.
"""
_OTHER = """From: news@vendor.example
To: MSB <seminarier@msb.example>
Date: Fri, 04 Dec 2026 10:15:00 +0100
Subject: Veckans erbjudanden
Message-ID: <news{n}@vendor.example>
Content-Type: text/plain; charset="utf-8"

Nya produkter.
"""
_MIX = [(_DSN, 40), (_NDR, 10), (_OOF, 20), (_REPLY, 20), (_OTHER, 10)]


def prepare(data: Path) -> None:
    stamp = data / "version"
    if stamp.exists() and stamp.read_text() == VERSION:
        return
    rng = random.Random(5)
    kinds = [template for template, weight in _MIX for _ in range(weight)]
    box = mailbox.mbox(data / "inbox.mbox")
    box.lock()
    for n in range(MESSAGES):
        box.add(rng.choice(kinds).format(n=n).encode("utf-8"))
    box.flush()
    box.unlock()
    box.close()
    _network.workspace(data, 100)
    stamp.write_text(VERSION)


def _timed(run: Callable[[Path], int]) -> Callable[[Path], object]:
    def case(data: Path) -> object:
        start = time.perf_counter()
        cpu = time.process_time()
        count = run(data)
        used = time.process_time() - cpu
        # The figure is CPU time: on the shared machine the wall time mostly measures the
        # other users (it is kept in the JSON beside it).
        return {
            "messages": count,
            "seconds": used,
            "cpu_seconds": used,
            "wall_seconds": time.perf_counter() - start,
        }

    return case


def _stdlib_parse(data: Path) -> int:
    parser = BytesParser(policy=policy.default)
    box = mailbox.mbox(data / "inbox.mbox", create=False)
    count = 0
    for key in box.iterkeys():
        parser.parsebytes(box.get_bytes(key))
        count += 1
    return count


def _classify(data: Path) -> int:
    from mailer.inbox import Unreadable, classify, parse
    from mailer.inbox.sources import Raw, read_mbox

    count = 0
    with (data / "inbox.mbox").open("rb") as stream:
        for item in read_mbox(stream, "inbox.mbox"):
            if isinstance(item, Raw):
                with contextlib.suppress(Unreadable):
                    classify(parse(item.data))
                count += 1
    return count


def _import(data: Path) -> int:
    from mailer.config import load_network
    from mailer.inbox import import_mail

    config = data / "network-100" / "network.toml"
    shutil.rmtree(config.parent / ".mailer", ignore_errors=True)  # a first read, every run
    run = import_mail(load_network(config), [data / "inbox.mbox"])
    return len(run.messages)


CASES: dict[str, Callable[[Path], object]] = {
    "stdlib: mailbox.mbox + parse (policy.default)": _timed(_stdlib_parse),
    "mailer: read + parse + classify": _timed(_classify),
    "mailer inbox import (journal, fresh state)": _timed(_import),
}
REPEAT = 3
