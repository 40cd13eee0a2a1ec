"""Building: complete message bytes per second for the example invitation (with its .ics).

- naive: what a first program does for every person: render the Jinja templates, inline the
  CSS with premailer, build the .ics with icalendar and the MIME message with the standard
  library's EmailMessage, then ``as_bytes`` (measured on fewer people: it is slow);
- reference: the CSS inlined once per variant, the message built by ``message.build_message``
  per person (the standard library; what the fast path must equal);
- mailer: ``MessageFactory.build`` as a mailing runs it (``mailer.assembly``), starting
  with no inlined CSS (a mailing's first run);
- the same after a dry run, which left the inlined CSS in the state folder.

All of them build for the same people (spread over the nine members, a quarter in English) and
their figures are messages per second. Target: the mailer >= 3,000/s and >= 50x naive.
"""

from __future__ import annotations

import os
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

TITLE = "build: complete invitations (HTML, text, .ics) for 10,000 people"
PEOPLE = 10_000
NAIVE = 40  # people: ~50 ms each
REFERENCE = 300


def prepare(data: Path) -> None:
    from bench._network import workspace

    workspace(data, PEOPLE)


def _setup(data: Path) -> tuple[Any, Any, list[Any]]:
    os.environ.setdefault("MAILER_TOKEN_KEY", "bench-signing-key-0123456789abcdef")
    from bench._network import without_inlined, workspace
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.config import load_network
    from mailer.recipients import merge

    config = workspace(data, PEOPLE)
    without_inlined(config)
    network = load_network(config)
    people = merge(network).people
    return network, MessageFactory(network, mailing_for(network, "invitation", 2)), people


def _built(factory: Any, network: Any, people: list[Any], fresh: bool = False) -> dict[str, Any]:
    """Build every person's message; the clock starts after the lists are read (that is the
    merge benchmark) and includes rendering the variants."""
    size = 0
    members = {m.id: m for m in network.members}
    start = time.perf_counter()
    for person in people:
        if fresh:  # nothing shared between people: render, inline and build the .ics again
            factory.renderer._cache.clear()
            factory._ics.clear()
        size += len(factory.build(person, members[person.sender]).data)
    seconds = time.perf_counter() - start
    return {"messages": len(people), "seconds": seconds, "bytes": size}


def naive(data: Path) -> dict[str, Any]:
    from mailer.message import build_message

    network, factory, people = _setup(data)
    factory.assembler = types.SimpleNamespace(build=build_message)
    factory.renderer.inline_cache = None  # premailer for every person, as a first program does
    return _built(factory, network, people[:NAIVE], fresh=True)


def reference(data: Path) -> dict[str, Any]:
    from mailer.message import build_message

    network, factory, people = _setup(data)
    factory.assembler = types.SimpleNamespace(build=build_message)
    return _built(factory, network, people[:REFERENCE])


def mailer(data: Path) -> dict[str, Any]:
    network, factory, people = _setup(data)
    return _built(factory, network, people)


def mailer_warm(data: Path) -> dict[str, Any]:
    """As after a dry run or ``mailer check``: the variants' CSS is inlined already."""
    network, factory, people = _setup(data)
    members = {m.id: m for m in network.members}
    for person in people:  # untimed: what the dry run left in .mailer/inlined/
        factory.build(person, members[person.sender])
    from mailer.campaign.factory import MessageFactory

    fresh = MessageFactory(network, factory.mailing)  # nothing in memory, the files on disk
    return _built(fresh, network, people)


MAILER = f"mailer: MessageFactory.build, fast assembly ({PEOPLE:,})"
CASES: dict[str, Callable[[Path], object]] = {
    f"naive: Jinja + premailer + icalendar + EmailMessage per person ({NAIVE})": naive,
    f"reference: CSS once, message.build_message per person ({REFERENCE})": reference,
    MAILER: mailer,
    "the same, after a dry run (CSS already inlined)": mailer_warm,
}
GOALS = {MAILER: {"rate": 3000, "ratio": 50}}
