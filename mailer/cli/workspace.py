"""Commands for a workspace as a whole: create one, check one."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from mailer.cli._common import EXIT_BAD_INPUT, Failure, State, pass_state, reports_errors


def example_workspace() -> Path:
    """The bundled example network: inside the wheel, or the repository in a checkout."""
    packaged = Path(__file__).parent / "example"
    if (packaged / "network.toml").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Create a new network workspace in DIRECTORY from the bundled example.

    Copies network.toml, templates/, recipients/ and seminars/; edit them for your network.
    """
    source = example_workspace()
    target = directory / "network.toml"
    if target.exists() and not force:
        raise Failure(f"{target}: already exists (use --force to overwrite)", EXIT_BAD_INPUT)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "network.toml", target)
    for folder in ("templates", "recipients", "seminars"):
        shutil.copytree(source / folder, directory / folder, dirs_exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text(
            "# personal data and generated mail: never commit\n.mailer/\noutbox/\n",
            encoding="utf-8",
        )
    click.echo(f"Created a workspace in {directory}. Next:")
    click.echo(f"  cd {directory} && mailer check && mailer send invitation 2 --dry-run")


@click.command()
@pass_state
@reports_errors
def check(state: State) -> None:
    """Check network.toml, every member's list and every template, sending nothing."""
    from mailer.campaign import MessageFactory, mailing_for
    from mailer.recipients import merge

    network = state.network
    merged = merge(network)
    people = merged.by_member()
    for seminar in network.seminars:
        kinds = ["invitation", "summary"] if seminar.held else ["invitation"]
        for kind in kinds:
            factory = MessageFactory(network, mailing_for(network, kind, seminar.number))
            for member in network.members:
                for lang in ("sv", "en"):
                    factory.renderer.variant(kind, seminar, lang, member)
    invalid = sum(len(r.invalid) for r in merged.reports)
    click.echo(
        f"{network.path}: {len(network.members)} members, {len(network.seminars)} "
        f"seminars, {len(merged.people)} people "
        f"({invalid} invalid rows; see 'mailer recipients merge'), "
        f"{sum(1 for m in network.members if people.get(m.id))} sending members. OK"
    )
