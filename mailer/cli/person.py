"""Commands for one person's rights (GDPR articles 15 and 17) and for retention."""

from __future__ import annotations

import json

import click

from mailer.cli._common import EXIT_FAILED, State, console, pass_state, reports_errors


@click.group()
def person() -> None:
    """What the workspace holds about one person: show it, or forget them."""


@person.command("export")
@click.argument("address")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON (for the reply).")
@pass_state
@reports_errors
def person_export(state: State, address: str, as_json: bool) -> None:
    """Everything held about ADDRESS: the lists naming them, the mailings they got and when,
    registrations, their opt-out state and the log lines about them."""
    from mailer.privacy import export

    data = export(state.network, address)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    out = console()
    out.print(f"Personal data about {data['address']}", style="bold", markup=False)
    out.print("\nNamed in these member lists:", markup=False)
    for li in data["lists"] or [{"file": "(none)", "line": "", "member": ""}]:
        where = f"{li['file']}:{li['line']} ({li['member']})" if li["line"] else li["file"]
        out.print(f"  {where}", markup=False)
    out.print("\nMailings:", markup=False)
    for m in data["mailings"] or [{"mailing": "(none)"}]:
        if "state" not in m:
            out.print("  (none)", markup=False)
            continue
        out.print(
            f"  {m['mailing']}: {m['state']} from {m['member']}"
            + (f" at {m['sent_at']}" if m["sent_at"] else "")
            + (" (a rehearsal, to a test server)" if m.get("rehearsal") else ""),
            markup=False,
        )
    s = data["suppression"]
    opt_out = f"yes ({s['reason']}, since {s['since']})" if s["suppressed"] else "no"
    out.print(f"\nOn the opt-out list: {opt_out}", markup=False)
    other = {k: v for k, v in data["state_records"].items() if not k.endswith(":deliveries")}
    for key, rows in other.items():
        out.print(f"\n{key}: {len(rows)} record(s)", markup=False)
    for path, lines in data["log_lines"].items():
        out.print(f"\n{path}: {len(lines)} line(s)", markup=False)
        for line in lines:
            out.print(f"  {line}", markup=False)
    out.print("\nUse --json for the complete record.", markup=False)


@person.command("forget")
@click.argument("address")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
@reports_errors
def person_forget(state: State, address: str, yes: bool) -> None:
    """Forget ADDRESS: remove them from the journal and the logs, and keep only a salted
    hash on the opt-out list, so no list can bring them back. Members' own files are not
    changed: the command names the ones that still list the person.

    Exits with 1 while a member's list still names them.
    """
    from mailer.privacy import address_of, forget

    email = address_of(address)
    if not yes:
        click.confirm(
            f"Remove every record of {email} from the state folder? This cannot be undone",
            abort=True,
        )
    result = forget(state.network, email)
    click.echo(
        f"Forgot {email}: {result.rows} record(s) and {result.log_lines} log line(s) removed; "
        "the opt-out list keeps only a salted hash, so they will not be mailed again."
    )
    for path in result.leftovers:
        click.echo(f"still named in the state folder: {path}", err=True)
    if result.still_listed:
        click.echo(
            "Still named in these member lists (ask each member to delete the row at the source):",
            err=True,
        )
        for listing in result.still_listed:
            click.echo(f"  {listing}", err=True)
    if result.still_listed or result.leftovers:
        raise click.exceptions.Exit(EXIT_FAILED)


@click.command()
@click.option(
    "--older-than",
    "age",
    required=True,
    metavar="AGE",
    help="Remove journal rows and log lines older than this: 18m, 2y, 90d, 6w.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
@reports_errors
def prune(state: State, age: str, yes: bool) -> None:
    """Delete journal detail (deliveries, registrations, bundles) and log lines older
    than AGE. The opt-out list is kept: it is what keeps people from being mailed again."""
    from mailer.privacy import cutoff
    from mailer.privacy import prune as prune_state

    before = cutoff(age)
    if not yes:
        click.confirm(
            f"Remove journal rows and log lines from before {before:%Y-%m-%d}?", abort=True
        )
    result = prune_state(state.network, before)
    click.echo(
        f"Removed {result.rows} journal row(s) and {result.log_lines} log line(s) from before "
        f"{before:%Y-%m-%d %H:%M} UTC."
    )
