"""``mailer status``: where mailings stand, from the journal (or a rehearsal's)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailer.cli._common import State, console, pass_state, reports_errors, say

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from mailer.config import Member
    from mailer.journal import Journal


@click.command()
@click.argument("mailing", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option(
    "--rehearsal",
    is_flag=True,
    help="Show the rehearsals ('mailer send ... --via') instead of the real mailings.",
)
@pass_state
@reports_errors
def status(state: State, mailing: str | None, as_json: bool, rehearsal: bool) -> None:
    """Where mailings stand: per member and state, from the journal.

    Lists the failed, deferred and uncertain messages with the server's last reply.
    Uncertain: a run stopped while the message was with the server; it may have arrived
    ('mailer send ... --resend-uncertain' sends it again with the same Message-ID).
    Only real mailings are shown: rehearsals keep their own journal (--rehearsal).
    """
    show_status(state.network.state_dir, mailing, as_json=as_json, rehearsal=rehearsal)


def show_status(
    state_dir: Path,
    mailing: str | None,
    *,
    as_json: bool,
    rehearsal: bool,
    members: Sequence[Member] = (),
    zone: ZoneInfo | None = None,
) -> None:
    """Print where the mailings (or one) in a state folder's journal stand, or in its
    rehearsals' journal: ``mailer status``, and a member's ``mailer bundle status``.

    ``members``: named and ordered as in network.toml (a member's bundle: its one member).
    ``zone``: the network's time zone (not used here yet).
    """
    from mailer.journal import Journal, rehearsal_path

    if rehearsal and not rehearsal_path(state_dir).exists():
        say("{}" if as_json else "No rehearsals yet.")
        return
    opened = (Journal.for_rehearsal if rehearsal else Journal.in_state_dir)(state_dir)
    with opened as journal:
        _print_status(journal, mailing, as_json=as_json, rehearsal=rehearsal, members=members)


def _print_status(
    journal: Journal,
    mailing: str | None,
    *,
    as_json: bool,
    rehearsal: bool,
    members: Sequence[Member] = (),
) -> None:
    from rich.table import Table

    from mailer.journal import STATES

    mailings = [mailing] if mailing else journal.mailings()
    data = {m: journal.counts(m) for m in mailings}
    exports = {m: journal.bundle_exports(m) for m in mailings}
    problems = {
        m: [
            d
            for d in journal.deliveries(m).values()
            # A bounce came back later (mailer inbox): the row stays 'sent', the bounce is shown.
            if d.state in ("failed", "sending", "deferred") or d.bounce
        ]
        for m in mailings
    }
    if as_json:
        # say(): JSON escapes C0 control characters, not C1 ones (a CSI in some terminals).
        say(_status_json(mailings, data, exports, problems))
        return
    if not mailings:
        say("No rehearsals yet." if rehearsal else "No mailings yet.")
        return
    out = console()
    for m in mailings:
        title = f"Rehearsal of mailing {m}" if rehearsal else f"Mailing {m}"
        table = Table(title=title, title_justify="left")
        table.add_column("member")
        for s in STATES:
            # At rest, 'sending' means a run stopped mid-transaction: say what it means.
            table.add_column("uncertain" if s == "sending" else s, justify="right")
        for label, counts in _in_order(data[m], members):
            table.add_row(label, *(str(counts.get(s, 0)) for s in STATES))
        out.print(table)
        for d in problems[m]:
            label = "uncertain" if d.state == "sending" else d.state
            reply = d.last_reply or ""
            if d.bounce and d.state == "sent":
                label, reply = "bounced", f"{d.bounce} {d.bounce_note or ''}".strip()
            out.print(f"{label:9} {d.email} ({d.member}): {reply}", markup=False)
        for member_id, info in _bundle_states(exports[m]).items():
            if info["reported_at"]:
                line = f"bundle    {member_id}: report imported {info['reported_at']}"
                queued = data[m].get(member_id, {}).get("queued", 0)
                if queued:
                    line += f"; {queued} not sent by the member yet"
            else:
                line = (
                    f"bundle    {member_id}: no report yet (bundle exported {info['exported_at']})"
                )
            out.print(line, markup=False)


def _in_order(
    by_id: dict[str, dict[str, int]], members: Sequence[Member]
) -> list[tuple[str, dict[str, int]]]:
    """(name, counts) per member, in network.toml's order; ids it does not name last."""
    order = {member.id: i for i, member in enumerate(members)}
    names = {member.id: member.short_name or member.name for member in members}
    ids = sorted(by_id, key=lambda i: (order.get(i, len(order)), i))
    return [(names.get(i, i), by_id[i]) for i in ids]


def _status_json(
    mailings: list[str],
    data: dict[str, Any],
    exports: dict[str, list[Any]],
    problems: dict[str, list[Any]],
) -> str:
    return json.dumps(
        {
            m: {
                "members": data[m],
                "problems": [
                    {
                        "email": d.email,
                        "member": d.member,
                        "state": "uncertain" if d.uncertain else d.state,
                        "reply": d.last_reply,
                        "attempts": d.attempts,
                        "message_id": d.message_id,
                        "channel": d.channel,
                        "updated_at": d.updated_at,
                        "bounce": d.bounce,
                    }
                    for d in problems[m]
                ],
                "bundles": _bundle_states(exports[m]),
            }
            for m in mailings
        },
        ensure_ascii=False,
        indent=2,
    )


def _bundle_states(exports: list[Any]) -> dict[str, dict[str, str | None]]:
    """Per bundled member: when its latest bundle left, and when it last reported."""
    out: dict[str, dict[str, str | None]] = {}
    for e in exports:  # oldest first, so the latest export wins
        out[e.member] = {"exported_at": e.exported_at, "reported_at": e.reported_at}
    return dict(sorted(out.items()))
