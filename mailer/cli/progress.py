"""Running a send from the terminal: the event loop, the progress bars and Ctrl-C."""

from __future__ import annotations

import asyncio
import functools
import signal
from typing import TYPE_CHECKING

from mailer.cli._common import console, say
from mailer.cli.tables import member_label, rate_column
from mailer.i18n import _

if TYPE_CHECKING:
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.plan import Plan
    from mailer.campaign.run import SendReport
    from mailer.channels.smtp import SmtpSettings
    from mailer.errors import BusyError
    from mailer.journal import Journal


def run_send(
    plan: Plan,
    factory: MessageFactory,
    journal: Journal,
    *,
    via: SmtpSettings | None,
    quiet: bool,
    wait: bool = False,
) -> SendReport:
    """Send the plan (the library's send_plan) with progress bars unless ``quiet``.

    Ctrl-C once: the transactions in flight finish and are recorded, then it returns.
    Twice: KeyboardInterrupt at once.
    """
    return asyncio.run(_send(plan, factory, journal, via, quiet=quiet, wait=wait))


async def _send(
    plan: Plan,
    factory: MessageFactory,
    journal: Journal,
    via: SmtpSettings | None,
    *,
    quiet: bool,
    wait: bool,
) -> SendReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from mailer.campaign.run import send_plan

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None

    def interrupt() -> None:
        if stop.is_set():
            main_task.cancel()
            return
        stop.set()
        say(
            "\n" + _("Stopping after the messages in flight (Ctrl-C again to stop at once)..."),
            err=True,
        )

    def waiting(busy: BusyError) -> None:
        say(_("Waiting: {reason}").format(reason=busy.message), err=True)

    send = functools.partial(
        send_plan, plan, factory, journal, via=via, stop=stop, wait=wait, on_wait=waiting
    )
    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        if quiet:
            return await send()
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            rate_column(),
            TimeRemainingColumn(),
            console=console(stderr=True),
        ) as progress:
            tasks = {
                c.member.id: progress.add_task(member_label(c.member), total=len(c.to_send))
                for c in plan.sending
                if c.to_send
            }

            def advance(member_id: str, email: str, outcome: str) -> None:
                progress.advance(tasks[member_id])

            return await send(on_progress=advance)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)
