"""Scale: a dry run over 10,000 and 100,000 people, and every message of a mailing built the
way a send builds them (one at a time, handed on, never kept), with each process's peak
memory: it must stay well under 250 MB and grow with the list only by the people themselves.

- dry run: ``mailer send invitation 2 --dry-run`` in the process (read and merge the nine
  lists, plan against the journal, render every variant, one sample message); target for
  100,000 people: under 10 s;
- build: the dry run's work, then every person's complete message (the send path's build
  loop without the network), in messages/s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TITLE = "scale: dry run and building every message, 10,000 vs 100,000 people"
SIZES = (10_000, 100_000)
REPEAT = 1  # the 100,000-person cases take a minute or more each


def prepare(data: Path) -> None:
    from bench._network import workspace

    for size in SIZES:
        workspace(data, size)


def _cold(config: Path) -> None:
    """Empty the merge's caches and the inlined CSS, so every run does all its work afresh."""
    from bench._network import without_inlined
    from mailer import addresses

    without_inlined(config)

    addresses.clear_caches()


def _dry_run(size: int) -> Callable[[Path], object]:
    def case(data: Path) -> object:
        os.environ.setdefault("MAILER_TOKEN_KEY", "bench-signing-key-0123456789abcdef")
        from bench._network import dry_run, workspace

        config = workspace(data, size)
        _cold(config)
        start = time.perf_counter()
        dry_run(config)
        return {"seconds": time.perf_counter() - start, "people": size}

    return case


def _build_all(size: int) -> Callable[[Path], object]:
    def case(data: Path) -> object:
        os.environ.setdefault("MAILER_TOKEN_KEY", "bench-signing-key-0123456789abcdef")
        from bench._network import workspace
        from mailer.campaign.factory import MessageFactory
        from mailer.campaign.mailing import mailing_for
        from mailer.campaign.plan import make_plan
        from mailer.config import load_network
        from mailer.journal import Journal

        network = load_network(workspace(data, size))
        _cold(network.path)
        start = time.perf_counter()
        mailing = mailing_for(network, "invitation", 2)
        factory = MessageFactory(network, mailing)
        count = size_bytes = 0
        with Journal.in_state_dir(network.state_dir) as journal:
            plan = make_plan(network, mailing, journal)
        factory.prepare(plan)
        for channel in plan.channels:
            for person in channel.to_send:
                message: Any = factory.build(person, channel.member)
                count += 1
                size_bytes += len(message.data)
        seconds = time.perf_counter() - start
        return {"messages": count, "seconds": seconds, "bytes": size_bytes}

    return case


CASES: dict[str, Callable[[Path], object]] = {
    "dry run, 10,000 people": _dry_run(10_000),
    "dry run, 100,000 people": _dry_run(100_000),
    "merge, plan and build every message, 10,000 people": _build_all(10_000),
    "merge, plan and build every message, 100,000 people": _build_all(100_000),
}
GOALS = {
    "dry run, 100,000 people": {"seconds": 10, "mb": 250},
    "merge, plan and build every message, 10,000 people": {"mb": 250},
    "merge, plan and build every message, 100,000 people": {"mb": 250},
}
