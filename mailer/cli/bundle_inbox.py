"""``mailer bundle inbox``: a member reads what came back to its own mailbox after
``mailer bundle send``, so that its report carries the bounces to the coordinator."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli._common import reports_errors
from mailer.cli.bundle import bundle_argument, key_option, state_option
from mailer.cli.inbox import show, soft_options
from mailer.cli.translated import Command, option
from mailer.i18n import _


@click.command("inbox", cls=Command)
@bundle_argument
@click.argument("paths", metavar="[PATH]...", nargs=-1, type=click.Path(path_type=Path))
@option(
    "--channel",
    "channel_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your CHANNEL.toml: read the mailbox it reaches (IMAP or Microsoft Graph) "
    "instead of saved mail.",
)
@option(
    "--move-to",
    metavar="FOLDER",
    help="File each message handled into this folder of the mailbox (it must exist).",
)
@state_option
@option("--json", "as_json", is_flag=True, help="One JSON record per message read.")
@soft_options
@key_option
@reports_errors
def bundle_inbox(
    bundle_file: Path,
    paths: tuple[Path, ...],
    channel_file: Path | None,
    move_to: str | None,
    state_dir: Path | None,
    as_json: bool,
    soft_bounces: int,
    soft_days: int,
    key_file: Path | None,
) -> None:
    """Read what came back to your mailbox after 'mailer bundle send': bounces,
    unsubscribes, auto-replies, replies.

    PATH is saved mail (a Maildir folder, an mbox file, .eml files); without it,
    --channel reads the mailbox your CHANNEL.toml reaches (IMAP, or Microsoft Graph),
    only what is new since the last time, never deleting anything. Addresses that bounced
    for good and people who unsubscribed by mail go into your next 'mailer bundle
    report', which carries them to the coordinator. Reading the same mail twice changes
    nothing. Exits with 1 when some messages could not be read (each is named).
    """
    from mailer.bundle.signing import load_key
    from mailer.inbox import SoftBounces
    from mailer.inbox.bundle import bundle_inbox as read

    run = read(
        bundle_file,
        load_key(key_file),
        paths=paths,
        channel_file=channel_file,
        state_dir=state_dir,
        move_to=move_to,
        soft=SoftBounces(count=soft_bounces, days=soft_days),
    )
    then = _("Then write your report: mailer bundle report {bundle}").format(bundle=bundle_file)
    show(run, as_json, then)
