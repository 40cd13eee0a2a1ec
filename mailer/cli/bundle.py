"""``mailer bundle``: members who keep their mail credentials send their own share.

The coordinator exports a signed bundle per member and imports the reports; the member
checks, sends and reports with nothing but the tool, the bundle, the network's key and its
own CHANNEL.toml.
"""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli._common import (
    EXIT_BAD_INPUT,
    Failure,
    State,
    console,
    dry_run_option,
    pass_state,
    quiet_option,
    reports_errors,
    resend_uncertain_option,
    retry_failed_option,
    via_option,
    yes_option,
)
from mailer.cli.sending import KIND, _audience, audience_option

key_option = click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILER_BUNDLE_KEY_FILE",
    help="The network's key (env MAILER_BUNDLE_KEY_FILE); else the key text in $MAILER_BUNDLE_KEY.",
)
state_option = click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The member's state folder (default: .mailer beside the bundle). Keep it: it is "
    "what stops a second run from mailing people twice.",
)
bundle_argument = click.argument(
    "bundle_file", metavar="BUNDLE", type=click.Path(dir_okay=False, path_type=Path)
)


def _member_state(bundle_file: Path, state_dir: Path | None) -> Path:
    return state_dir or bundle_file.resolve().parent / ".mailer"


@click.group()
def bundle() -> None:
    """Mailing bundles: a member sends its own share through its own mail account.

    \b
    Coordinator:  mailer bundle export invitation 2 --org msb -o msb.zip
                  mailer bundle import-report msb-report.json
    Member:       mailer bundle check msb.zip
                  mailer bundle send msb.zip --channel CHANNEL.toml
                  mailer bundle report msb.zip -o msb-report.json
    """


@bundle.command()
@click.option(
    "--type",
    "algorithm",
    type=click.Choice(["ed25519", "hmac"]),
    default="ed25519",
    show_default=True,
    help="ed25519: members get a public key that can check, not sign. hmac: one shared secret.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the key (ed25519 also writes OUT.pub for the members).",
)
@reports_errors
def keygen(algorithm: str, out: Path) -> None:
    """Make a new key for signing bundles.

    Keep the key out of git and backed up; give the members only the .pub file.
    """
    import os

    from mailer.signing import HMAC, generate_key

    private, public = generate_key(HMAC if algorithm == "hmac" else "ed25519")
    if out.exists():
        raise Failure(f"{out}: exists already; refusing to overwrite a key", EXIT_BAD_INPUT)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(private)
    click.echo(f"Key written to {out} (readable by you only).")
    if public is not None:
        pub = out.with_name(out.name + ".pub")
        pub.write_text(public, encoding="utf-8")
        click.echo(f"Public key for the members: {pub}")
    else:
        click.echo("Give the members this key over a safe channel; it also signs bundles.")


@bundle.command()
@click.argument("kind", type=KIND)
@click.argument("seminar", type=int)
@click.option(
    "--org",
    "orgs",
    multiple=True,
    required=True,
    metavar="ID",
    help="The member whose share to export (repeatable).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    help="The bundle file (one --org), or a folder for several (default: the current one).",
)
@audience_option
@click.option(
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

    from mailer.bundle import default_name, export_bundle
    from mailer.campaign.mailing import mailing_for
    from mailer.campaign.plan import make_plan
    from mailer.journal import Journal
    from mailer.signing import load_key

    network = state.network
    mailing = mailing_for(network, kind, seminar, _audience(audience))
    key = load_key(key_file)
    members = [network.member(org) for org in dict.fromkeys(orgs)]
    single_file = len(members) == 1 and out is not None and not out.is_dir()
    with Journal.in_state_dir(network.state_dir) as journal:
        plan = make_plan(network, mailing, journal, orgs=[m.id for m in members])
        shares = {c.member.id: c for c in plan.channels}
        for member in members:
            share = shares[member.id]
            target = (
                out
                if single_file and out
                else (out or Path(".")) / default_name(mailing, member.id)
            )
            digest = export_bundle(
                network,
                mailing,
                member,
                share.to_send,
                key,
                target,
                valid_for=dt.timedelta(days=valid_days),
            )
            journal.add_bundle_export(
                digest, mailing.id, member.id, [p.email for p in share.to_send]
            )
            note = f", {len(share.already_sent)} already had it" if share.already_sent else ""
            if share.uncertain:
                note += f", {len(share.uncertain)} uncertain left out (see mailer status)"
            click.echo(
                f"{target}: {member.short_name or member.name}, {len(share.to_send)} people{note}"
            )
    click.echo(
        "Give each member its bundle, the network's public key and docs/guide.md "
        "('Sending your own share'); then import the reports with 'mailer bundle import-report'."
    )


@bundle.command()
@bundle_argument
@click.option(
    "--channel",
    "channel_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your CHANNEL.toml: also checks the bundle is for your network and member.",
)
@click.option("--to", "address", metavar="ADDRESS", help="Show this person's message.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the sample's HTML part to this file, for a browser.",
)
@key_option
@reports_errors
def check(
    bundle_file: Path,
    channel_file: Path | None,
    address: str | None,
    html_file: Path | None,
    key_file: Path | None,
) -> None:
    """Verify a bundle and show what it would send.

    Checks the signature, every file's checksum and the time limit, then shows the seminar,
    how many people and one message as they will get it. Sends nothing.
    """
    from mailer.bundle import load_channel_file, open_bundle
    from mailer.preview import describe, find_person
    from mailer.signing import load_key

    key = load_key(key_file)
    channel = load_channel_file(channel_file) if channel_file else None
    with open_bundle(
        bundle_file,
        key,
        network_id=channel.network if channel else None,
        member_id=channel.member if channel else None,
    ) as b:
        b.ensure_current()
        network = b.with_channel(channel.channel) if channel else b.network
        seminar = b.mailing.seminar
        languages = sorted({p.language for p in b.people})
        out = console()
        expires = f"{b.expires_at:%Y-%m-%d %H:%M} UTC" if b.expires_at else "no limit"
        out.print(
            f"Bundle {bundle_file}: signature and checksums OK\n"
            f"Made:     {b.manifest['created_at']}; send it before {expires}\n"
            f"Network:  {network.network.name} ({b.network_id})\n"
            f"Member:   {b.member.name} ({b.member.id})\n"
            f"Mailing:  {b.mailing.id}: {seminar.title}, {seminar.date.isoformat()}\n"
            f"People:   {len(b.people)} (languages: {', '.join(languages)})",
            markup=False,
        )
        person = find_person(b.people, address)
        factory = b.factory(network)
        view = describe(factory.build(person, b.member), b.member)
        text = view.text
        if channel is None:
            # The bundle only carries the sender's address; the channel is the member's own.
            rest = text.partition("\n")[2]
            text = "Channel:  yours, from CHANNEL.toml (pass --channel to check it too)\n" + rest
        out.print("\nSample message:", style="bold")
        out.print(text, markup=False)
        if html_file:
            html_file.write_text(view.html, encoding="utf-8")
            click.echo(f"HTML written to {html_file}")
    click.echo(
        f"\nTo send: mailer bundle send {bundle_file} --channel "
        f"{channel_file or 'CHANNEL.toml'} --dry-run, then without --dry-run."
    )


@bundle.command()
@bundle_argument
@click.option(
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
@click.option(
    "--resend",
    is_flag=True,
    help="With --via: rehearse from the start, also to people an earlier rehearsal reached.",
)
@resend_uncertain_option
@retry_failed_option
@quiet_option
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
    quiet: bool,
    key_file: Path | None,
) -> None:
    """Send your share of the mailing through your own channel.

    The same send path as the coordinator's `mailer send`: plan, dry run, confirmation,
    rate and daily limits, retries, journal, resume, delivery log. Running it again never
    sends anyone a second copy. With --via it is a rehearsal against a local test server,
    which the report to the coordinator never counts.
    """
    import contextlib

    from mailer.bundle import load_channel_file, member_journal, member_rehearsal, open_bundle
    from mailer.campaign.plan import make_plan
    from mailer.channels.factory import parse_via
    from mailer.cli.sending import carry_out, rehearsed
    from mailer.signing import load_key

    if resend and not via:
        # A real share goes to each person once; only a rehearsal starts again.
        raise click.UsageError("--resend only rehearses again: use it with --via")

    via_settings = parse_via(via) if via else None
    key = load_key(key_file)
    channel = load_channel_file(channel_file)
    real = f"mailer bundle send {bundle_file} --channel {channel_file}"
    if state_dir:
        real += f" --state {state_dir}"
    again = real + (f" --via {via}" if via else "")
    status = f"mailer bundle status {bundle_file}" + (f" --state {state_dir}" if state_dir else "")
    with open_bundle(bundle_file, key, network_id=channel.network, member_id=channel.member) as b:
        b.ensure_current()
        network = b.with_channel(channel.channel)
        factory = b.factory(network, rehearsal=via_settings is not None)
        state = _member_state(bundle_file, state_dir)
        with contextlib.ExitStack() as stack:
            journal = stack.enter_context(member_journal(state, b.network_id))
            # As with 'mailer send --via': the rehearsal records only in its own journal.
            rehearsal = (
                stack.enter_context(member_rehearsal(state, b.network_id))
                if via_settings is not None
                else None
            )
            plan = make_plan(
                network,
                b.mailing,
                journal,
                merged=b.merged,
                orgs=[b.member.id],
                resend=resend,
                resend_uncertain=resend_uncertain,
                retry_failed=retry_failed,
                rehearsal=rehearsal,
            )
            carry_out(
                plan,
                factory,
                rehearsal or journal,
                state_dir=journal.path.parent,
                via=via_settings,
                dry_run=dry_run,
                yes=yes,
                quiet=quiet,
                again=again,
                status=status,
                epilogue=rehearsed(via_settings, real)
                if via_settings is not None
                else f"Then send the coordinator your report: mailer bundle report "
                f"{bundle_file} -o {b.mailing.id}-{b.member.id}-report.json",
            )


@bundle.command()
@bundle_argument
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option(
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
    from mailer.cli.sending import show_status
    from mailer.signing import load_key

    key = load_key(key_file)
    with open_bundle(bundle_file, key) as b:
        state = member_state_dir(_member_state(bundle_file, state_dir), b.network_id)
        show_status(state, b.mailing.id, as_json=as_json, rehearsal=rehearsal)


@bundle.command()
@bundle_argument
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The report file (default: MAILING-MEMBER-report.json in the current folder).",
)
@state_option
@click.option(
    "--unsubscribed",
    multiple=True,
    metavar="ADDRESS",
    help="Someone in the bundle asked you to stop mailing them (repeatable).",
)
@click.option(
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
    from mailer.bundle import make_report, member_journal, open_bundle
    from mailer.signing import load_key

    key = load_key(key_file)
    with open_bundle(bundle_file, key) as b:
        with member_journal(_member_state(bundle_file, state_dir), b.network_id) as journal:
            data = make_report(b, journal, key, unsubscribed=unsubscribed, bounced=bounced)
            counts = journal.counts(b.mailing.id).get(b.member.id, {})
        target = out or Path(f"{b.mailing.id}-{b.member.id}-report.json")
        target.write_bytes(data)
    done = sum(counts.values())
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing sent yet"
    click.echo(f"{target}: {done} of {len(b.people)} people ({summary}).")
    click.echo("Send this file to the coordinator. It holds addresses and outcomes, no mail text.")


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
    merged.
    """
    from mailer.bundle import import_report, read_report
    from mailer.journal import Journal
    from mailer.signing import load_key

    network = state.network
    key = load_key(key_file)
    parsed = [read_report(p) for p in reports]
    with Journal.in_state_dir(network.state_dir) as journal:
        for r in parsed:
            result = import_report(network, journal, r, key)
            merged = ", ".join(f"{n} {s}" for s, n in sorted(result.merged.items())) or "nothing"
            line = f"{r.path}: {result.member}, {result.mailing}: merged {merged}"
            if result.kept_sent:
                line += f"; {result.kept_sent} already sent, kept"
            if result.suppressed:
                line += f"; {result.suppressed} added to the suppression list"
            click.echo(line)
            for email in result.twice:
                click.echo(f"twice    {email}: sent by the member and by another", err=True)
