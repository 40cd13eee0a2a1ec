"""``mailer bundle``'s coordinator side: the network's key, a member's bundle, the members'
reports back, and revoking bundles after a seminar changed. The member's side (check,
send, status, report) is in :mod:`mailer.cli.bundle`, whose group these join.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailer.cli._common import State, pass_state, reports_errors, say
from mailer.cli.bundle import bundle, key_option, state_counts
from mailer.cli.sending import KIND, audience_option
from mailer.cli.translated import option
from mailer.i18n import _, ngettext

if TYPE_CHECKING:
    from mailer.bundle import ImportResult


@bundle.command()
@option(
    "--type",
    "algorithm",
    type=click.Choice(["ed25519", "hmac"]),
    default="ed25519",
    show_default=True,
    help="ed25519: members get a public key that can check, not sign. hmac: one shared secret.",
)
@option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the key (ed25519 also writes OUT.pub for the members).",
)
@reports_errors
def keygen(algorithm: str, out: Path) -> None:
    """Make a new key for signing bundles.

    Keep the key out of git and backed up; give the members only the .pub file. The folder
    must exist: a mistyped path would put the private key where nobody meant it.
    """
    from mailer.bundle.signing import HMAC, write_key

    public = write_key(out, HMAC if algorithm == "hmac" else "ed25519")
    click.echo(_("Key written to {path} (readable by you only).").format(path=out))
    if public is not None:
        click.echo(_("Public key for the members: {path}").format(path=public))
    else:
        click.echo(_("Give the members this key over a safe channel; it also signs bundles."))


@bundle.command()
@click.argument("kind", type=KIND)
@click.argument("seminar", type=int)
@option(
    "--org",
    "orgs",
    multiple=True,
    required=True,
    metavar="ID",
    help="The member whose share to export (repeatable).",
)
@option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    help="The bundle file (one --org), or a folder for several (default: the current one).",
)
@audience_option
@option(
    "--valid-days",
    type=click.IntRange(1, 365),
    default=14,
    show_default=True,
    help="The member can send it for this many days; then it asks for a fresh one.",
)
@key_option
@pass_state
@reports_errors
def export(
    state: State,
    kind: str,
    seminar: int,
    orgs: tuple[str, ...],
    out: Path | None,
    audience: tuple[str, ...],
    valid_days: int,
    key_file: Path | None,
) -> None:
    """Write a signed bundle: one member's share, to send itself.

    The bundle holds the seminar, the templates and only that member's people who have not
    had the mailing yet. From then on `mailer send` leaves that member's share alone.
    """
    import datetime as dt

    from mailer.audience import parse_audience
    from mailer.bundle import export_bundles
    from mailer.bundle.signing import load_key
    from mailer.campaign.mailing import mailing_for

    network = state.network
    mailing = mailing_for(network, kind, seminar, parse_audience(audience) if audience else None)
    key = load_key(key_file)
    valid_for = dt.timedelta(days=valid_days)
    for done in export_bundles(network, mailing, orgs, key, out, valid_for=valid_for):
        name = done.member.short_name or done.member.name
        n = done.people
        clauses = [
            ngettext(
                "{path}: {member}, {count} person", "{path}: {member}, {count} people", n
            ).format(path=done.path, member=name, count=n)
        ]
        if done.already_sent:
            n = done.already_sent
            clauses.append(ngettext("{count} already had it", "{count} already had it", n))
            clauses[-1] = clauses[-1].format(count=n)
        if done.uncertain:
            n = done.uncertain
            clauses.append(
                ngettext(
                    "{count} uncertain left out (see mailer status)",
                    "{count} uncertain left out (see mailer status)",
                    n,
                ).format(count=n)
            )
        say(", ".join(clauses))
    click.echo(
        _(
            "Give each member its bundle, the network's public key and docs/guide.md "
            "('Sending your own share'); then import the reports with "
            "'mailer bundle import-report'."
        )
    )


@bundle.command("import-report")
@click.argument(
    "reports", metavar="REPORT...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@key_option
@pass_state
@reports_errors
def import_report_command(state: State, reports: tuple[Path, ...], key_file: Path | None) -> None:
    """Merge members' reports into the journal.

    Hard bounces and unsubscribes also go on the opt-out list. A report that is altered,
    for another network, mailing or member, or imported before is refused with nothing
    merged. People forgotten since the export ('mailer person forget') are skipped, with a line.
    """
    from mailer.bundle import import_reports
    from mailer.bundle.signing import load_key

    for r, result in import_reports(state.network, reports, load_key(key_file)):
        say("; ".join(_imported(r.path, result, state.network.member_label(result.member))))
        if result.forgotten:
            n = result.forgotten
            say(
                ngettext(
                    "skipped  {count} forgotten since the export ('mailer person forget'): "
                    "their outcome is not recorded",
                    "skipped  {count} forgotten since the export ('mailer person forget'): "
                    "their outcome is not recorded",
                    n,
                ).format(count=n),
                err=True,
            )
        for email in result.twice:
            say(
                _("twice    {email}: sent by the member and by another").format(email=email),
                err=True,
            )


@bundle.command()
@click.argument("mailing", metavar="MAILING")
@option("--org", "org", required=True, metavar="ID", help="The member whose bundles to revoke.")
@option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The note for the member (default: MAILING-ID-revocation.json here).",
)
@key_option
@pass_state
@reports_errors
def revoke(state: State, mailing: str, org: str, out: Path | None, key_file: Path | None) -> None:
    """Revoke a member's bundles of MAILING (say invitation-3) after the seminar changed.

    Writes a note signed with the network's key, and keeps a copy in the state folder.
    Send the note to the member: 'mailer bundle check/send BUNDLE --revocation NOTE' then
    refuses every bundle of that mailing made before now. Mail already sent stays sent.
    """
    from mailer.bundle import revoke as revoke_bundles
    from mailer.bundle.signing import load_key

    target = out or Path(f"{mailing}-{org}-revocation.json")
    done = revoke_bundles(state.network, mailing, org, load_key(key_file), target)
    name = state.network.member_label(org)
    n = done.bundles
    say(
        ngettext(
            # "bundle(s)": the line scripts and tests have always matched.
            "{note}: revokes {count} bundle(s) of {mailing} for {member}.",
            "{note}: revokes {count} bundles of {mailing} for {member}.",
            n,
        ).format(note=done.note, count=n, mailing=mailing, member=name)
    )
    say(
        _(
            "Send it to {member}; export a fresh bundle if its people should still get a mailing."
        ).format(member=name)
    )


@bundle.command("opt-outs")
@click.argument("mailing", metavar="MAILING")
@option("--org", "org", required=True, metavar="ID", help="The member whose bundles it is for.")
@option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The note for the member (default: MAILING-ID-opt-outs.json here).",
)
@key_option
@pass_state
@reports_errors
def opt_outs(state: State, mailing: str, org: str, out: Path | None, key_file: Path | None) -> None:
    """Write the opt-out note for a member's bundles of MAILING (say invitation-2).

    People who opted out after the bundle was exported (on the web, by mail, bounced for
    good, forgotten) are still in it. The note, signed with the network's key, says who of
    them may still be mailed (as salted digests: it names nobody). Send it to the member
    just before they send: 'mailer bundle suppress BUNDLE NOTE' leaves out everybody else.
    """
    from mailer.bundle.optouts import write_note
    from mailer.bundle.signing import load_key

    target = out or Path(f"{mailing}-{org}-opt-outs.json")
    done = write_note(state.network, mailing, org, load_key(key_file), target)
    member = state.network.member_label(org)
    left = done.people - done.kept
    say(
        ngettext(
            "{note}: {count} of {people} person in the bundles of {mailing} for {member} "
            "opted out since.",
            "{note}: {count} of {people} people in the bundles of {mailing} for {member} "
            "opted out since.",
            done.people,
        ).format(note=done.path, people=done.people, mailing=mailing, member=member, count=left)
    )
    say(
        _("Send it to {member} before they send: 'mailer bundle suppress BUNDLE NOTE'.").format(
            member=member
        )
    )


def _imported(path: Path, result: ImportResult, member: str) -> list[str]:
    """The clauses of one report's line: what was merged, kept, and put on the opt-out list."""
    merged = state_counts(result.merged) or _("nothing")
    clauses = [
        _("{path}: {member}, {mailing}: merged {counts}").format(
            path=path, member=member, mailing=result.mailing, counts=merged
        )
    ]
    if result.kept_sent:
        n = result.kept_sent
        clauses.append(
            ngettext("{count} already sent, kept", "{count} already sent, kept", n).format(count=n)
        )
    if result.suppressed:
        n = result.suppressed
        clauses.append(
            ngettext(
                "{count} added to the suppression list",
                "{count} added to the suppression list",
                n,
            ).format(count=n)
        )
    return clauses
