"""Send a mailing end to end as ``mailer send --via smtp://127.0.0.1:PORT --yes`` does it:
merge the lists, plan against the journal, render, then ``send_plan`` over every channel
(the journal written before and after each transaction, every outcome logged)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def send_mailing(
    config: Path,
    port: int,
    *,
    connections: int | None = None,
    members: tuple[str, ...] = (),
    limit: int | None = None,
    whole: bool = True,
    warm: bool = False,
) -> dict[str, Any]:
    """Send the invitation to seminar 2 (``limit`` people per channel at most), through
    the sink at ``port``; ``connections`` per channel overrides the config. The journal
    (the rehearsal's, as with ``--via``) starts empty each time, and so does the inlined
    CSS unless ``warm`` (as after a dry run). Returns the messages sent and the seconds it
    took: from reading the lists (``whole``), or of ``send_plan`` alone."""
    os.environ.setdefault("MAILER_TOKEN_KEY", "bench-signing-key-0123456789abcdef")
    from bench._network import without_inlined
    from mailer import addresses
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.campaign.plan import make_plan
    from mailer.campaign.run import send_plan
    from mailer.channels.smtp import SmtpSettings
    from mailer.config import load_network
    from mailer.journal import FILENAME, REHEARSAL_DIR, Journal

    addresses.clear_caches()
    network = load_network(config)
    for folder in (network.state_dir, network.state_dir / REHEARSAL_DIR):
        for name in (FILENAME, f"{FILENAME}-wal", f"{FILENAME}-shm"):
            (folder / name).unlink(missing_ok=True)
    if not warm:
        without_inlined(config)
    via = SmtpSettings(host=HOST, port=port, security="none")
    log = logging.getLogger("mailer.delivery")
    handler = logging.FileHandler(network.state_dir.parent / "delivery.log", encoding="utf-8")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    start, start_cpu = time.perf_counter(), time.process_time()
    try:
        mailing = mailing_for(network, "invitation", 2)
        # As with --via: planned against, and recorded in, the rehearsal's own journal.
        with (
            Journal.in_state_dir(network.state_dir) as journal,
            Journal.for_rehearsal(network.state_dir) as rehearsal,
        ):
            plan = make_plan(network, mailing, journal, orgs=members, rehearsal=rehearsal)
            for channel in plan.channels:
                if limit is not None:
                    channel.to_send = channel.to_send[:limit]
                if connections is not None:
                    c = channel.member.channel.model_copy(update={"max_connections": connections})
                    channel.member = channel.member.model_copy(update={"channel": c})
            factory = MessageFactory(network, mailing, rehearsal=True)
            factory.prepare(plan)
            if not whole:
                start, start_cpu = time.perf_counter(), time.process_time()
            results = asyncio.run(send_plan(plan, factory, rehearsal, via=via))
    finally:
        log.removeHandler(handler)
        handler.close()
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    sent = sum(r.sent for r in results)
    problems = [r.error or r.failed[:1] or r.deferred[:1] for r in results if not r.ok]
    assert sent == plan.to_send and not problems, (sent, plan.to_send, problems)
    return {"messages": sent, "seconds": seconds, "cpu_seconds": cpu}
