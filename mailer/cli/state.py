"""Commands for the state folder itself: state reset."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli._common import ask_yes_no, reports_errors, say
from mailer.cli.translated import group, option
from mailer.i18n import _


@group()
def state() -> None:
    """The state folder (.mailer/): its journals and opt-out list."""


@state.command("reset")
@click.argument("file", type=click.Path(path_type=Path))
@option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@reports_errors
def reset(file: Path, yes: bool) -> None:
    """Start the store FILE anew, when mailer refused it as missing, empty or not its own.

    Restore it from a backup instead whenever you can (e.g. cp -a /backup/mailer-DATE/.
    .mailer/): a journal started anew mails everyone again, an opt-out list started anew
    mails the people who said no. The old file is kept beside, renamed *.set-aside-DATE.
    FILE may also be the folder's identity.json, when only it was lost: it is rebuilt from
    the stores the folder still holds.
    """
    from mailer.journal import FILENAME as JOURNAL_FILE
    from mailer.state import IDENTITY, rebuild_identity, start_anew
    from mailer.suppression import FILENAME as SUPPRESSION_FILE

    if file.name == IDENTITY:
        if not yes:
            ask_yes_no(
                _(
                    "Rebuild {file} from the stores in its folder? A store lost with it "
                    "is then taken for a new, empty one"
                ).format(file=file)
            )
        rebuilt = rebuild_identity(file.parent)
        stores = ", ".join(sorted(rebuilt.stores)) or _("none")
        say(_("{file} is rebuilt; the stores it names: {stores}.").format(file=file, stores=stores))
        return
    if file.name not in (JOURNAL_FILE, SUPPRESSION_FILE):
        raise click.BadParameter(
            _("{file}: not a store (name the {journal} or {suppression} mailer refused)").format(
                file=file, journal=JOURNAL_FILE, suppression=SUPPRESSION_FILE
            ),
            param_hint="FILE",
        )
    if not yes:
        if file.name == JOURNAL_FILE:
            question = _("Start {file} anew? Without its records everyone is mailed again")
        else:
            question = _(
                "Start {file} anew? Without its records people who said no can be mailed again"
            )
        ask_yes_no(question.format(file=file))
    aside = start_anew(file)
    if aside:
        say(
            _("{file} starts anew at the next command; the old file is kept as {aside}.").format(
                file=file, aside=aside
            )
        )
    else:
        say(_("{file} starts anew at the next command.").format(file=file))
