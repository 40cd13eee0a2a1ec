"""The tables a send shows (the plan before it, the results after it, the pace during it),
and what every table of members shares: how a member is named, in which order, and how a
table fits the terminal.

A table fits the width it is printed at: when all its columns do not fit, the columns
that say nothing (every value 0 or empty) go first, and when it still does not fit, each
row is shown stacked, one "header: value" per line, so that no header is cut and nothing
wraps mid-word. ``mailer status`` and a member's ``mailer bundle status`` use the same
helpers (:func:`member_label`, :func:`in_network_order`, :func:`print_table`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mailer.cli._common import console
from mailer.i18n import _

if TYPE_CHECKING:
    from rich.console import Console

    from mailer.campaign.plan import ChannelPlan, Plan
    from mailer.campaign.run import ChannelResult
    from mailer.config import Member

T = TypeVar("T")


def member_label(member: Member) -> str:
    """How a member is named in every table: its short name, else its name."""
    return member.label


def in_network_order(
    by_id: Mapping[str, T], members: Sequence[Member] = ()
) -> list[tuple[str, str, T]]:
    """(id, label, value) per member in ``by_id``, in network.toml's order; ids the
    network does not name (a member removed since) last, by id, labelled by their id."""
    known = [(m.id, member_label(m), by_id[m.id]) for m in members if m.id in by_id]
    named = {m.id for m in members}
    rest = [(i, i, by_id[i]) for i in sorted(by_id) if i not in named]
    return known + rest


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header (already translated), and whether it may be left out
    when the table is too wide and every value in it is 0 or empty."""

    header: str
    right: bool = True
    optional: bool = False


def _table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    split_headers: bool = False,
) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        # A narrow table puts a header's words on lines of their own, never breaking one.
        header = col.header.replace(" ", "\n") if split_headers else col.header
        table.add_column(header, justify="right" if col.right else "left")
    for row in rows:
        table.add_row(*row)
    return table


def _fits(out: Console, table: Any) -> bool:
    from rich.measure import Measurement

    # Measured as if the console had no edge: the width the table wants unwrapped.
    unbounded = out.options.update(width=10_000, max_width=10_000)
    return Measurement.get(out, unbounded, table).maximum <= out.width


def _empty(value: str) -> bool:
    return value.strip() in ("", "0", "-")


def print_table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    out: Console | None = None,
) -> None:
    """Print a table that fits the console: all columns (headers on one line, else a
    word a line), else without the optional ones that say nothing, else stacked (one
    block per row)."""
    out = out or console()
    keep = [
        i
        for i, col in enumerate(columns)
        if not (col.optional and all(_empty(row[i]) for row in rows))
    ]
    fewer = [columns[i] for i in keep], [[r[i] for i in keep] for r in rows]
    for cols, cells in ((columns, rows), fewer):
        for split in (False, True):
            table = _table(title, cols, cells, split_headers=split)
            if _fits(out, table):
                out.print(table)
                return
    _print_stacked(out, title, *fewer)


def _print_stacked(
    out: Console, title: str | None, columns: Sequence[Column], rows: Iterable[Sequence[str]]
) -> None:
    """Each row as its first cell, then "header: value" indented: any width reads it."""
    if title:
        out.print(title, style="italic", markup=False)
    width = max((len(c.header) for c in columns[1:]), default=0)
    for row in rows:
        out.print(row[0], style="bold", markup=False)
        for col, value in zip(columns[1:], row[1:], strict=True):
            if value:
                out.print(f"  {col.header + ':':<{width + 1}} {value}", markup=False)


def plan_table(plan: Plan, title: str, tz: Any, *, server: str | None = None) -> None:
    """Two tables: who gets the mailing now, and how long each channel will take.

    ``server``: the host:port a rehearsal sends everything through, shown as each
    member's channel.
    """
    out = console()
    # In a rehearsal, "sent" means sent by an earlier rehearsal.
    done = _("rehearsed before") if server else _("already sent")
    who = [
        Column(_("member"), right=False),
        Column(_("channel"), right=False),
        Column(_("people")),
        Column(_("to send")),
        Column(done, optional=True),
        Column(_("uncertain"), optional=True),
        Column(_("failed"), optional=True),
    ]
    print_table(title, who, [_who_row(c, server) for c in plan.sending], out)
    pace = [
        Column(_("member"), right=False),
        Column(_("rate")),
        Column(_("quota left/day"), optional=True),
        Column(_("connections")),
        Column(_("est. time")),
        Column(_("completes")),
    ]
    now = dt.datetime.now(dt.UTC)
    rows = [_pace_row(c, now, tz) for c in plan.sending]
    print_table(_("Pace (per channel)"), pace, rows, out)


def _who_row(c: ChannelPlan, server: str | None) -> list[str]:
    return [
        member_label(c.member),
        server or c.member.channel.type,
        str(c.total),
        str(len(c.to_send)),
        str(len(c.already_sent)),
        str(len(c.uncertain)),
        str(len(c.failed)),
    ]


def _pace_row(c: ChannelPlan, now: dt.datetime, tz: Any) -> list[str]:
    limits = c.limits
    est = c.estimate(now)
    quota = "-"
    if limits.per_day:
        left = max(0, limits.per_day - c.quota_used)
        quota = _("{left} of {limit}").format(left=left, limit=limits.per_day)
    day = est.finishes.astimezone(tz).date()
    # ISO 8601: one form that reads the same in Swedish and in English.
    completes = day.isoformat() if day != now.astimezone(tz).date() else _("today")
    if not c.to_send:
        completes = "-"
    return [
        member_label(c.member),
        limits.describe_rate(),
        quota,
        str(limits.connections),
        _duration(est.seconds) if c.to_send else "-",
        completes,
    ]


def _duration(seconds: float) -> str:
    if seconds < 60:
        return _("{n} s").format(n=f"{seconds:.0f}")
    if seconds < 3600:
        return _("{n} min").format(n=f"{seconds / 60:.0f}")
    return _("{n} h").format(n=f"{seconds / 3600:.1f}")


def labelled(label: str, text: str) -> str:
    """A line under a table: its label (what happened), then what. Labels up to eight
    characters line up."""
    return f"{label:8} {text}"


def results_table(results: list[ChannelResult], title: str) -> None:
    rows = []
    for r in results:
        problem = ""
        if r.error:
            problem = _("channel stopped")
        elif r.quota:
            problem = _("daily quota reached")
        elif r.interrupted and r.not_attempted:
            problem = _("interrupted")
        rows.append(
            [
                member_label(r.member),
                str(r.sent),
                str(r.skipped),
                str(r.uncertain),
                str(len(r.deferred)),
                str(len(r.failed)),
                str(r.not_attempted),
                problem,
            ]
        )
    out = console()
    print_table(
        title,
        [
            Column(_("member"), right=False),
            Column(_("sent")),
            Column(_("skipped"), optional=True),
            Column(_("uncertain"), optional=True),
            Column(_("deferred"), optional=True),
            Column(_("failed"), optional=True),
            Column(_("not tried"), optional=True),
            Column(_("problem"), right=False, optional=True),
        ],
        rows,
        out,
    )
    for r in results:
        if r.error:
            out.print(labelled(_("channel"), r.error), markup=False)
        if r.quota:
            out.print(labelled(_("quota"), f"{member_label(r.member)}: {r.quota}"), markup=False)
        for email, reply in r.failed:
            out.print(labelled(_("failed"), f"{email}: {reply}"), markup=False)
        for email, reply in r.deferred:
            out.print(labelled(_("deferred"), f"{email}: {reply}"), markup=False)
        for email, reply in r.unanswered:
            out.print(labelled(_("uncertain"), f"{email}: {reply}"), markup=False)


def _rate_column_class() -> Any:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Messages per minute, measured."""

        def render(self, task: Task) -> Text:
            speed = task.speed
            return Text(_("{n}/min").format(n=f"{speed * 60:.0f}" if speed else "-"))

    return RateColumn


def rate_column() -> Any:
    return _rate_column_class()()
