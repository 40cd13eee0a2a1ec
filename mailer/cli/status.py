"""``mailer status``: where mailings stand, from the journal (or a rehearsal's)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailer.cli._common import State, console, pass_state, reports_errors, say
from mailer.cli.translated import command, option
from mailer.i18n import _

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from mailer.config import Member
    from mailer.journal import Journal


@command()
@click.argument("mailing", required=False)
@option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@option(
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
    network = state.network
    show_status(
        network.state_dir,
        mailing,
        as_json=as_json,
        rehearsal=rehearsal,
        members=network.members,
        zone=network.tz,
    )


@dataclass(frozen=True, slots=True)
class _Shown:
    """How the status reads: which members (network.toml's order and names), which zone."""

    rehearsal: bool
    members: Sequence[Member]
    zone: ZoneInfo | None

    def label(self, member_id: str) -> str:
        from mailer.config.network import label_of

        return label_of(self.members, member_id)


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

    ``members``: the network's, so that members are named and ordered as in network.toml
    (as the send's tables do); ``zone``: the network's time zone for the dates shown.
    """
    from mailer.journal import Journal, rehearsal_path

    if rehearsal and not rehearsal_path(state_dir).exists():
        say("{}" if as_json else _("No rehearsals yet."))
        return
    opened = (Journal.for_rehearsal if rehearsal else Journal.in_state_dir)(state_dir)
    with opened as journal:
        shown = _Shown(rehearsal, members, zone)
        if as_json:
            _print_json(journal, mailing)
        else:
            _print_status(journal, mailing, shown)


def _problems(journal: Journal, mailing: str) -> list[Any]:
    return [
        d
        for d in journal.deliveries(mailing).values()
        # A bounce came back later (mailer inbox): the row stays 'sent', the bounce is shown.
        if d.state in ("failed", "sending", "deferred") or d.bounce
    ]


def _print_json(journal: Journal, mailing: str | None) -> None:
    mailings = [mailing] if mailing else journal.mailings()
    data = {m: journal.counts(m) for m in mailings}
    exports = {m: journal.bundle_exports(m) for m in mailings}
    problems = {m: _problems(journal, m) for m in mailings}
    # say(): JSON escapes C0 control characters, not C1 ones (a CSI in some terminals).
    say(_status_json(mailings, data, exports, problems))


def _state_header(state: str) -> str:
    # At rest, 'sending' means a run stopped mid-transaction: say what it means.
    headers = {
        "queued": _("queued"),
        "sending": _("uncertain"),
        "sent": _("sent"),
        "deferred": _("deferred"),
        "failed": _("failed"),
        "suppressed": _("suppressed"),
    }
    return headers.get(state, state)


def _print_status(journal: Journal, mailing: str | None, shown: _Shown) -> None:
    from mailer.cli.tables import Column, in_network_order, labelled, print_table
    from mailer.dates import stored_moment
    from mailer.journal import STATES

    mailings = [mailing] if mailing else journal.mailings()
    # A mailing named but not begun (a member's share before 'bundle send'): one line, not
    # a table of headers with no row under them.
    if mailing and not journal.counts(mailing) and not journal.bundle_exports(mailing):
        mailings = []
    if not mailings:
        say(_("No rehearsals yet.") if shown.rehearsal else _("No mailings yet."))
        return
    out = console()
    columns = [Column(_("member"), right=False)]
    columns += [Column(_state_header(s), optional=s != "sent") for s in STATES]
    for m in mailings:
        counts = journal.counts(m)
        if shown.rehearsal:
            title = _("Rehearsal of mailing {mailing}").format(mailing=m)
        else:
            title = _("Mailing {mailing}").format(mailing=m)
        rows = [
            [label, *(str(c.get(s, 0)) for s in STATES)]
            for _id, label, c in in_network_order(counts, shown.members)
        ]
        print_table(title, columns, rows, out)
        sent = [d.sent_at for d in journal.deliveries(m).values() if d.sent_at]
        if sent:
            last = stored_moment(max(sent), shown.zone)
            out.print(_("Last sent: {when}").format(when=last), markup=False)
        for d in _problems(journal, m):
            label = _state_header(d.state)
            reply = d.last_reply or ""
            if d.bounce and d.state == "sent":
                label, reply = _("bounced"), f"{d.bounce} {d.bounce_note or ''}".strip()
            out.print(f"{label:9} {d.email} ({shown.label(d.member)}): {reply}", markup=False)
        for member_id, info in _bundle_states(journal.bundle_exports(m)).items():
            out.print(labelled(_("bundle"), _bundle_line(member_id, info, counts, shown)))


def _bundle_line(
    member_id: str, info: dict[str, str | None], counts: dict[str, Any], shown: _Shown
) -> str:
    from mailer.dates import stored_moment

    if not info["reported_at"]:
        return _("{member}: no report yet (bundle exported {when})").format(
            member=shown.label(member_id), when=stored_moment(info["exported_at"], shown.zone)
        )
    queued = counts.get(member_id, {}).get("queued", 0)
    if queued:
        return _("{member}: report imported {when}; {n} not sent by the member yet").format(
            member=shown.label(member_id),
            when=stored_moment(info["reported_at"], shown.zone),
            n=queued,
        )
    return _("{member}: report imported {when}").format(
        member=shown.label(member_id), when=stored_moment(info["reported_at"], shown.zone)
    )


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
