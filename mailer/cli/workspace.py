"""Commands for a workspace as a whole: create one, check one."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli._common import State, pass_state, reports_errors, say


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@reports_errors
def init(directory: Path, force: bool) -> None:
    """Create a new network workspace in DIRECTORY from the bundled example.

    Copies network.toml, templates/, recipients/ and seminars/; edit them for your network.
    """
    from mailer.workspace import create_workspace

    create_workspace(directory, force=force)
    click.echo(f"Created a workspace in {directory}. Next:")
    click.echo(f"  cd {directory} && mailer check && mailer send invitation 2 --dry-run")


@click.command()
@click.option(
    "--online",
    is_flag=True,
    help="Also ask Microsoft Graph whether each Graph channel's app may send as its mailbox "
    "(sends no mail).",
)
@pass_state
@reports_errors
def check(state: State, online: bool) -> None:
    """Check network.toml, every member's list and every template, sending nothing.

    With --online, each channel of type graph gets a token from Entra ID and asks Graph
    whether the app may send as the mailbox; exit code 1 if any may not.
    """
    from mailer.workspace import check_workspace

    network = state.network
    s = check_workspace(network)
    for link in s.outside_web:
        say(
            f"Warning: not under [web] base_url, so mailer serve does not answer it: {link}",
            err=True,
        )
    click.echo(
        f"{network.path}: {s.members} members, {s.seminars} seminars, {s.people} people "
        f"({s.invalid_rows} invalid rows: see 'mailer recipients merge'; "
        f"{s.suppressed} on the opt-out list), "
        f"{s.sending_members} sending members, {s.variants} mail variants rendered. OK"
    )
    if online:
        _check_online(state)


def _check_online(state: State) -> None:
    import asyncio

    from mailer.channels.online import check_online

    checks = asyncio.run(check_online(state.network))
    if not checks:
        click.echo("No Graph channels to check online.")
    for c in checks:
        click.echo(f"{'OK' if c.ok else 'NOT OK'}  {c.line}")
    if not all(c.ok for c in checks):
        raise click.exceptions.Exit(1)
