"""Commands for one person's rights (GDPR articles 15 and 17) and for retention."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from mailer.cli._common import (
    EXIT_FAILED,
    State,
    ask_yes_no,
    console,
    pass_state,
    reports_errors,
)
from mailer.cli.translated import Command, Group, option
from mailer.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from mailer.config import Network
    from mailer.privacy import Forgotten

# A delivery's state in the journal, as the person reads it in their export.
STATE_NAMES = {
    "queued": N_("queued"),
    "sending": N_("being sent"),
    "sent": N_("sent"),
    "deferred": N_("deferred, to be tried again"),
    "failed": N_("failed"),
    "suppressed": N_("not sent (on the opt-out list)"),
}

# The journal's tables that name a person (journal.PERSONAL), as the person reads them.
RECORD_NAMES = {
    "registrations": N_("Registrations and attendance"),
    "inbox_messages": N_("Mail from them or about them, read back"),
    "bounces": N_("Mail to them that came back (bounces)"),
    "signups": N_("Public sign-ups and consent"),
}


def _log_line(line: str, zone: ZoneInfo) -> str:
    """A delivery.log line (time, mailing, member, address, outcome, attempts, detail) as
    the person reads it; a line of another shape as it stands."""
    from mailer.dates import stored_moment

    fields = line.split("\t")
    if len(fields) < 5:
        return line
    when, mailing, member, _address, outcome, *rest = fields
    name = STATE_NAMES.get(outcome)
    text = _("{when}: {mailing} from {member}: {state}").format(
        when=stored_moment(when, zone),
        mailing=mailing,
        member=member,
        state=_(name) if name else outcome,
    )
    detail = rest[-1].strip() if len(rest) > 1 else ""
    return f"{text} ({detail})" if detail else text


@click.group(cls=Group)
def person() -> None:
    """What the workspace holds about one person: show it, or forget them."""


@person.command("export")
@click.argument("address")
@option("--json", "as_json", is_flag=True, help="Print everything as JSON (for the reply).")
@pass_state
@reports_errors
def person_export(state: State, address: str, as_json: bool) -> None:
    """Everything held about ADDRESS: the lists naming them, the mailings they got and when,
    registrations, their opt-out state and the log lines about them.

    The report is in the person's language (as their lists say), unless --language or
    MAILER_LANGUAGE chooses one.
    """
    from mailer import i18n
    from mailer.privacy import export

    data = export(state.network, address)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    language = i18n.current_language() if i18n.language_chosen() else data["language"]
    with i18n.speaking(language):
        _export_report(data, state.network.tz)


def _mailing_lines(m: dict[str, Any], zone: ZoneInfo) -> list[str]:
    """One mailing in a person's export: its state, and a bounce that came back later."""
    from mailer.dates import stored_moment

    name = STATE_NAMES.get(m["state"])
    values = {
        "mailing": m["mailing"],
        "state": _(name) if name else m["state"],
        "member": m["member"],
        "when": stored_moment(m["sent_at"], zone),
    }
    line = _("{mailing}: {state} from {member} on {when}") if m["sent_at"] else None
    line = (line or _("{mailing}: {state} from {member}")).format(**values)
    if m.get("rehearsal"):
        line += " " + _("(a rehearsal, to a test server)")
    lines = [f"  {line}"]
    if m.get("bounce"):
        bounced = _("bounced on {when}: {status} {diagnostic}").format(
            when=stored_moment(m["bounced_at"], zone),
            status=m["bounce"],
            diagnostic=m.get("bounce_note") or "",
        )
        lines.append(f"    {bounced.strip()}")
    return lines


def _export_report(data: dict[str, Any], zone: ZoneInfo) -> None:
    from mailer.dates import stored_moment
    from mailer.suppression import reason_name

    out = console()
    heading = _("Personal data about {address}").format(address=data["address"])
    out.print(heading, style="bold", markup=False)
    out.print("\n" + _("Named in these member lists:"), markup=False)
    for li in data["lists"]:
        out.print(f"  {li['file']}:{li['line']} ({li['member']})", markup=False)
    if not data["lists"]:
        out.print("  " + _("(none)"), markup=False)
    out.print("\n" + _("Mailings:"), markup=False)
    for m in data["mailings"]:
        for line in _mailing_lines(m, zone):
            out.print(line, markup=False)
    if not data["mailings"]:
        out.print("  " + _("(none)"), markup=False)
    s = data["suppression"]
    if s["suppressed"]:
        opt_out = _("On the opt-out list: yes ({reason}, since {since})").format(
            reason=reason_name(s["reason"]), since=stored_moment(s["since"], zone)
        )
    else:
        opt_out = _("On the opt-out list: no")
    out.print("\n" + opt_out, markup=False)
    if data["mail_copies"]:
        out.print(
            "\n" + _("Copies of mail to them in the outbox (a maildir channel):"), markup=False
        )
        for path in data["mail_copies"]:
            out.print(f"  {path}", markup=False)
    other = {k: v for k, v in data["state_records"].items() if not k.endswith(":deliveries")}
    for key, rows in other.items():
        store, _sep, table = key.rpartition(":")
        what = RECORD_NAMES.get(table)
        records = ngettext("{where}: {count} record", "{where}: {count} records", len(rows))
        where = f"{_(what)} ({store})" if what else key
        out.print("\n" + records.format(where=where, count=len(rows)), markup=False)
    for path, lines in data["log_lines"].items():
        found = ngettext("{file}: {count} line", "{file}: {count} lines", len(lines))
        out.print("\n" + found.format(file=path, count=len(lines)), markup=False)
        for line in lines:
            out.print(f"  {_log_line(line, zone)}", markup=False)
    out.print("\n" + _("Use --json for the complete record."), markup=False)


@person.command("forget")
@click.argument("address")
@option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@option(
    "--delete-mail-copies",
    is_flag=True,
    help="Also delete the copies of mail to them that a maildir channel keeps in the outbox.",
)
@pass_state
@reports_errors
def person_forget(state: State, address: str, yes: bool, delete_mail_copies: bool) -> None:
    """Forget ADDRESS: remove them from the journal and the logs, and keep only a salted
    hash on the opt-out list, so no list can bring them back. Members' own files are not
    changed: the command names the ones that still list the person. Copies of mail to them
    that a maildir channel keeps (outbox/MEMBER/new/...) are named, or deleted with
    --delete-mail-copies.

    Exits with 1 while a member's list, or a copy of a mail, still names them.
    """
    from mailer.privacy import address_of, forget

    email = address_of(address)
    if not yes:
        ask_yes_no(
            _("Remove every record of {email} from the state folder? This cannot be undone").format(
                email=email
            )
        )
    result = forget(state.network, email, delete_mail_copies=delete_mail_copies)
    _forget_report(result, state.network)
    if result.still_listed or result.leftovers or result.mail_copies:
        raise click.exceptions.Exit(EXIT_FAILED)


def _forget_report(result: Forgotten, network: Network) -> None:
    from mailer.privacy import workspace_path

    rows = ngettext(
        "{count} record removed from the state folder.",
        "{count} records removed from the state folder.",
        result.rows,
    ).format(count=result.rows)
    lines = ngettext(
        "{count} log line removed.", "{count} log lines removed.", result.log_lines
    ).format(count=result.log_lines)
    click.echo(
        _("Forgot {email}.").format(email=result.address)
        + f" {rows} {lines} "
        + _("The opt-out list keeps only a salted hash, so they will not be mailed again.")
    )
    if result.deleted_copies:
        deleted = ngettext(
            "Deleted {count} copy of mail to them from the outbox.",
            "Deleted {count} copies of mail to them from the outbox.",
            result.deleted_copies,
        )
        click.echo(deleted.format(count=result.deleted_copies))
    for path in result.leftovers:
        click.echo(_("still named in the state folder: {file}").format(file=path), err=True)
    if result.mail_copies:
        still = _("Copies of mail to them are still in the outbox (--delete-mail-copies):")
        click.echo(still, err=True)
        for path in result.mail_copies:
            click.echo(f"  {workspace_path(network, path)}", err=True)
    if result.still_listed:
        click.echo(
            _(
                "Still named in these member lists (ask each member to delete the row at the "
                "source):"
            ),
            err=True,
        )
        for listing in result.still_listed:
            click.echo(f"  {listing}", err=True)


@click.command(cls=Command)
@option(
    "--older-than",
    "age",
    required=True,
    metavar="AGE",
    help="Remove journal rows and log lines older than this: 18m, 2y, 90d, 6w.",
)
@option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
@reports_errors
def prune(state: State, age: str, yes: bool) -> None:
    """Delete journal detail (deliveries, registrations, bundles) and log lines older
    than AGE. The opt-out list is kept: it is what keeps people from being mailed again."""
    from mailer.dates import moment
    from mailer.privacy import cutoff
    from mailer.privacy import prune as prune_state

    before = cutoff(age)
    when = moment(before, state.network.tz)
    if not yes:
        ask_yes_no(_("Remove journal rows and log lines from before {when}?").format(when=when))
    result = prune_state(state.network, before)
    rows = ngettext(
        "Removed {count} journal row from before {when}.",
        "Removed {count} journal rows from before {when}.",
        result.rows,
    ).format(count=result.rows, when=when)
    lines = ngettext(
        "Removed {count} log line.", "Removed {count} log lines.", result.log_lines
    ).format(count=result.log_lines)
    click.echo(f"{rows} {lines}")
