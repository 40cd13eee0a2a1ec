"""The tables a send shows: the plan before it, the results after it, the pace during it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailer.cli._common import console

if TYPE_CHECKING:
    from mailer.campaign.plan import Plan
    from mailer.campaign.run import ChannelResult


def plan_table(plan: Plan, title: str, tz: Any, *, server: str | None = None) -> None:
    """Two tables: who gets the mailing now, and how long each channel will take.

    ``server``: the host:port a rehearsal sends everything through, shown as each
    member's channel.
    """
    import datetime as dt

    from rich.table import Table

    who = Table(title=title, title_justify="left")
    # In a rehearsal, "sent" means sent by an earlier rehearsal.
    done = "rehearsed before" if server else "already sent"
    for col in ("member", "channel", "people", "to send", done, "uncertain", "failed"):
        who.add_column(col, justify="left" if col in ("member", "channel") else "right")
    when = Table(title="Pace (per channel)", title_justify="left")
    for col in ("member", "rate", "quota left/day", "connections", "est. time", "completes"):
        when.add_column(col, justify="left" if col == "member" else "right")
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(tz).date()
    for c in plan.sending:
        name = c.member.short_name or c.member.name
        who.add_row(
            name,
            server or c.member.channel.type,
            str(c.total),
            str(len(c.to_send)),
            str(len(c.already_sent)),
            str(len(c.uncertain)),
            str(len(c.failed)),
        )
        limits = c.limits
        est = c.estimate(now)
        quota = "-"
        if limits.per_day:
            quota = f"{max(0, limits.per_day - c.quota_used)} of {limits.per_day}"
        day = est.finishes.astimezone(tz).date()
        completes = "-" if not c.to_send else ("today" if day == today else day.isoformat())
        when.add_row(
            name,
            limits.describe_rate(),
            quota,
            str(limits.connections),
            _duration(est.seconds) if c.to_send else "-",
            completes,
        )
    out = console()
    out.print(who)
    out.print(when)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def results_table(results: list[ChannelResult], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in (
        "member",
        "sent",
        "skipped",
        "uncertain",
        "deferred",
        "failed",
        "not tried",
        "problem",
    ):
        table.add_column(col, justify="left" if col in ("member", "problem") else "right")
    for r in results:
        problem = ""
        if r.error:
            problem = "channel stopped"
        elif r.quota:
            problem = "daily quota reached"
        elif r.interrupted and r.not_attempted:
            problem = "interrupted"
        table.add_row(
            r.member.short_name or r.member.name,
            str(r.sent),
            str(r.skipped),
            str(r.uncertain),
            str(len(r.deferred)),
            str(len(r.failed)),
            str(r.not_attempted),
            problem,
        )
    out = console()
    out.print(table)
    for r in results:
        label = r.member.short_name or r.member.name
        if r.error:
            out.print(f"channel  {r.error}", markup=False)
        if r.quota:
            out.print(f"quota    {label}: {r.quota}", markup=False)
        for email, reply in r.failed:
            out.print(f"failed   {email}: {reply}", markup=False)
        for email, reply in r.deferred:
            out.print(f"deferred {email}: {reply}", markup=False)
        for email, reply in r.unanswered:
            out.print(f"uncertain {email}: {reply}", markup=False)


def _rate_column_class() -> Any:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Messages per minute, measured."""

        def render(self, task: Task) -> Text:
            speed = task.speed
            return Text(f"{speed * 60:.0f}/min" if speed else "-/min")

    return RateColumn


def rate_column() -> Any:
    return _rate_column_class()()
