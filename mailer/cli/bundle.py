"""``mailer bundle``: members who keep their mail credentials send their own share.

The coordinator exports a signed bundle per member and imports the reports
(:mod:`mailer.cli.bundle_coordinator`); the member checks, sends and reports (here) with
nothing but the tool, the bundle, the network's key and its own CHANNEL.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click

from mailer.cli._common import (
    console,
    dry_run_option,
    quiet_option,
    reports_errors,
    resend_uncertain_option,
    retry_failed_option,
    say,
    via_option,
    wait_option,
    yes_option,
)
from mailer.cli.translated import group, option
from mailer.i18n import _, ngettext

key_option = option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILER_BUNDLE_KEY_FILE",
    help="The network's key (env MAILER_BUNDLE_KEY_FILE); else the key text in $MAILER_BUNDLE_KEY.",
)
state_option = option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The member's state folder (default: .mailer beside the bundle). Keep it: it is "
    "what stops a second run from mailing people twice.",
)
bundle_argument = click.argument(
    "bundle_file", metavar="BUNDLE", type=click.Path(dir_okay=False, path_type=Path)
)
revocation_option = option(
    "--revocation",
    "revocations",
    multiple=True,
    metavar="NOTE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A revocation note from the coordinator, or a newer bundle (.zip) of the same "
    "mailing: refuses this bundle if it is superseded (repeatable).",
)


@group()
def bundle() -> None:
    """Mailing bundles: a member sends its own share through its own mail account.

    \b
    Coordinator:  mailer bundle export invitation 2 --org msb -o msb.zip
                  mailer bundle opt-outs invitation-2 --org msb
                  mailer bundle import-report msb-report.json
                  mailer bundle revoke invitation-2 --org msb
    Member:       mailer bundle check msb.zip
                  mailer bundle suppress msb.zip invitation-2-msb-opt-outs.json
                  mailer bundle send msb.zip --channel CHANNEL.toml
                  mailer bundle report msb.zip -o msb-report.json
    """


@bundle.command()
@bundle_argument
@click.argument("note", metavar="NOTE", type=click.Path(dir_okay=False, path_type=Path))
@state_option
@key_option
@reports_errors
def suppress(bundle_file: Path, note: Path, state_dir: Path | None, key_file: Path | None) -> None:
    """Leave out the people who opted out since the bundle was made.

    NOTE is the opt-out note the coordinator wrote ('mailer bundle opt-outs'), signed with
    the network's key. Everybody in the bundle it does not keep goes on your own opt-out
    list, which 'mailer bundle send' reads: they are not mailed, now or in a later run.
    """
    from mailer.bundle.commands import apply_opt_outs
    from mailer.bundle.signing import load_key

    applied, made = apply_opt_outs(bundle_file, note, load_key(key_file), state_dir)
    n = len(applied.left_out)
    say(
        ngettext(
            "{note} (made {moment}): {count} person in this bundle opted out since it was "
            "made and is left out.",
            "{note} (made {moment}): {count} people in this bundle opted out since it was "
            "made and are left out.",
            n,
        ).format(note=note, moment=made, count=n)
    )


@bundle.command()
@bundle_argument
@option(
    "--channel",
    "channel_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your CHANNEL.toml: also checks the bundle is for your network and member.",
)
@option("--to", "address", metavar="ADDRESS", help="Show this person's message.")
@option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the sample's HTML part to this file, for a browser.",
)
@revocation_option
@key_option
@reports_errors
def check(
    bundle_file: Path,
    channel_file: Path | None,
    address: str | None,
    html_file: Path | None,
    revocations: tuple[Path, ...],
    key_file: Path | None,
) -> None:
    """Verify a bundle and show what it would send.

    Checks the signature, every file's checksum, the time limit and (with --revocation)
    that the coordinator has not revoked it, then shows the seminar, how many people and
    one message as they will get it. Sends nothing.
    """
    from mailer.bundle.commands import inspect_bundle
    from mailer.bundle.signing import load_key

    seen = inspect_bundle(
        bundle_file,
        load_key(key_file),
        channel_file=channel_file,
        address=address,
        revocations=revocations,
    )
    out = console()
    out.print(seen.summary, markup=False)
    out.print("\n" + _("Sample message:"), style="bold")
    out.print(seen.sample, markup=False)
    if html_file:
        html_file.write_text(seen.html, encoding="utf-8")
        click.echo(_("HTML written to {path}").format(path=html_file))
    command = f"mailer bundle send {bundle_file} --channel {channel_file or 'CHANNEL.toml'}"
    click.echo(
        "\n" + _("To send: {command} --dry-run, then without --dry-run.").format(command=command)
    )


@bundle.command()
@bundle_argument
@option(
    "--channel",
    "channel_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Your CHANNEL.toml: how your mail leaves (SMTP or a Maildir).",
)
@state_option
@dry_run_option
@yes_option
@via_option
@option(
    "--resend",
    is_flag=True,
    help="With --via: rehearse from the start, also to people an earlier rehearsal reached.",
)
@resend_uncertain_option
@retry_failed_option
@revocation_option
@quiet_option
@wait_option
@key_option
@reports_errors
def send(
    bundle_file: Path,
    channel_file: Path,
    state_dir: Path | None,
    dry_run: bool,
    yes: bool,
    via: str | None,
    resend: bool,
    resend_uncertain: bool,
    retry_failed: bool,
    revocations: tuple[Path, ...],
    quiet: bool,
    wait: bool,
    key_file: Path | None,
) -> None:
    """Send your share of the mailing through your own channel.

    The same send path as the coordinator's `mailer send`: plan, dry run, confirmation,
    rate and daily limits, retries, journal, resume, delivery log. Running it again never
    sends anyone a second copy. With --via it is a rehearsal against a local test server,
    which the report to the coordinator never counts.
    """
    from mailer.bundle.commands import credentials_ready, prepare_send
    from mailer.bundle.signing import load_key
    from mailer.channels.factory import parse_via
    from mailer.cli import flow

    if resend and not via:
        # A real share goes to each person once; only a rehearsal starts again.
        raise click.UsageError(_("--resend only rehearses again: use it with --via"))

    via_settings = parse_via(via) if via else None
    real, again, status = _commands(bundle_file, channel_file, state_dir, via)
    with prepare_send(
        bundle_file,
        load_key(key_file),
        channel_file,
        state_dir=state_dir,
        rehearsal=via_settings is not None,
        resend=resend,
        resend_uncertain=resend_uncertain,
        retry_failed=retry_failed,
        revocations=revocations,
        dry_run=dry_run,
    ) as ready:
        b = ready.bundle
        report = f"mailer bundle report {bundle_file} -o {b.mailing.id}-{b.member.id}-report.json"
        epilogue = _("Then send the coordinator your report: {command}").format(command=report)
        if via_settings is not None:
            epilogue = flow.rehearsed(via_settings, real)
            status += " --rehearsal"
        done = flow.Flow(again=again, status=status, via=via_settings, epilogue=epilogue)
        opts = flow.Options(dry_run=dry_run, yes=yes, quiet=quiet, wait=wait)
        flow.send(ready.plan, ready.factory, ready.journal, done, opts)
        if dry_run and via_settings is None:
            # The plan is shown; now whether the real send could log in (exit code 2 when
            # its password or secret is not set).
            say(credentials_ready(ready.bundle.member.channel) or "")


def _commands(
    bundle_file: Path, channel_file: Path, state_dir: Path | None, via: str | None
) -> tuple[str, str, str]:
    """The commands a send names: the real send, this one again, and its status."""
    state = f" --state {state_dir}" if state_dir else ""
    real = f"mailer bundle send {bundle_file} --channel {channel_file}{state}"
    again = real + (f" --via {via}" if via else "")
    return real, again, f"mailer bundle status {bundle_file}{state}"


@bundle.command()
@bundle_argument
@state_option
@option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@option(
    "--rehearsal",
    is_flag=True,
    help="Show your rehearsals ('bundle send --via') instead of the real sending.",
)
@key_option
@reports_errors
def status(
    bundle_file: Path, state_dir: Path | None, as_json: bool, rehearsal: bool, key_file: Path | None
) -> None:
    """Where your share of the mailing stands: per state, from your own journal.

    Lists the failed, deferred and uncertain messages with the server's last reply.
    Uncertain: a run stopped while the message was with your server; it may have arrived
    ('bundle send ... --resend-uncertain' sends it again with the same Message-ID).
    """
    from mailer.bundle import member_state_dir, open_bundle
    from mailer.bundle.commands import member_state
    from mailer.bundle.signing import load_key
    from mailer.cli.sending import show_status

    with open_bundle(bundle_file, load_key(key_file)) as b:
        state = member_state_dir(member_state(bundle_file, state_dir), b.network_id)
        show_status(
            state,
            b.mailing.id,
            as_json=as_json,
            rehearsal=rehearsal,
            members=b.network.members,
            zone=b.network.tz,
        )


@bundle.command()
@bundle_argument
@option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The report file (default: MAILING-MEMBER-report.json in the current folder).",
)
@state_option
@option(
    "--unsubscribed",
    multiple=True,
    metavar="ADDRESS",
    help="Someone in the bundle asked you to stop mailing them (repeatable).",
)
@option(
    "--bounced",
    multiple=True,
    metavar="ADDRESS",
    help="A bounce for someone in the bundle reached your mailbox later (repeatable).",
)
@key_option
@reports_errors
def report(
    bundle_file: Path,
    out: Path | None,
    state_dir: Path | None,
    unsubscribed: tuple[str, ...],
    bounced: tuple[str, ...],
    key_file: Path | None,
) -> None:
    """Write the report for the coordinator.

    Per person the outcome, the Message-ID and the server's reply; never the mail's text.
    """
    from mailer.bundle.commands import write_report
    from mailer.bundle.signing import load_key

    written = write_report(
        bundle_file,
        load_key(key_file),
        out=out,
        state_dir=state_dir,
        unsubscribed=unsubscribed,
        bounced=bounced,
    )
    done = sum(written.counts.values())
    summary = state_counts(written.counts) or _("nothing sent yet")
    say(
        ngettext(
            "{path}: {done} of {count} person ({summary}).",
            "{path}: {done} of {count} people ({summary}).",
            written.people,
        ).format(path=written.path, done=done, count=written.people, summary=summary)
    )
    click.echo(
        _("Send this file to the coordinator. It holds addresses and outcomes, no mail text.")
    )


def state_counts(counts: Mapping[str, int]) -> str:
    """'3 sent, 1 failed': the journal's states with their counts, in the journal's order."""
    from mailer.journal import STATES

    order = {s: i for i, s in enumerate(STATES)}
    return ", ".join(
        _state_count(s, n) for s, n in sorted(counts.items(), key=lambda i: order.get(i[0], 99))
    )


def _state_count(state: str, n: int) -> str:
    match state:
        case "queued":
            text = ngettext("{count} queued", "{count} queued", n)
        case "sending":
            text = ngettext("{count} uncertain", "{count} uncertain", n)
        case "sent":
            text = ngettext("{count} sent", "{count} sent", n)
        case "deferred":
            text = ngettext("{count} deferred", "{count} deferred", n)
        case "failed":
            text = ngettext("{count} failed", "{count} failed", n)
        case "suppressed":
            text = ngettext("{count} on the opt-out list", "{count} on the opt-out list", n)
        case _:
            return f"{n} {state}"
    return text.format(count=n)
