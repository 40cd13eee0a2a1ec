"""Commands for the state folder itself: state reset."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli._common import reports_errors


@click.group()
def state() -> None:
    """The state folder (.mailer/): its journals and opt-out list."""


@state.command("reset")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@reports_errors
def reset(file: Path, yes: bool) -> None:
    """Start the store FILE anew, when mailer refused it as missing, empty or not its own.

    Restore it from a backup instead whenever you can (e.g. cp -a /backup/mailer-DATE/.
    .mailer/): a journal started anew mails everyone again, an opt-out list started anew
    mails the people who said no. The old file is kept beside, renamed *.set-aside-DATE.
    """
    from mailer.journal import FILENAME as JOURNAL_FILE
    from mailer.state import start_anew
    from mailer.suppression import FILENAME as SUPPRESSION_FILE

    if file.name not in (JOURNAL_FILE, SUPPRESSION_FILE):
        raise click.BadParameter(
            f"{file}: not a store (name the {JOURNAL_FILE} or {SUPPRESSION_FILE} mailer refused)",
            param_hint="FILE",
        )
    if not yes:
        what = (
            "everyone is mailed again"
            if file.name == JOURNAL_FILE
            else ("people who said no can be mailed again")
        )
        click.confirm(f"Start {file} anew? Without its records {what}", abort=True)
    aside = start_anew(file)
    kept = f"; the old file is kept as {aside}" if aside else ""
    click.echo(f"{file} starts anew at the next command{kept}.")
