"""Commands for a workspace as a whole: create one, check one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailer.cli._common import State, pass_state, reports_errors, say
from mailer.cli.translated import command, option
from mailer.i18n import _, ngettext

if TYPE_CHECKING:
    from mailer.config import Network
    from mailer.workspace import CheckSummary


@command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@option("--force", is_flag=True, help="Overwrite files that already exist.")
@reports_errors
def init(directory: Path, force: bool) -> None:
    """Create a new network workspace in DIRECTORY from the bundled example.

    Copies network.toml, templates/, recipients/ and seminars/; edit them for your network.
    """
    from mailer.config import load_network
    from mailer.tokens import missing_key
    from mailer.workspace import create_workspace

    network = load_network(str(create_workspace(directory, force=force)))
    say(_("Created a workspace in {folder}. Next:").format(folder=directory))
    if missing_key(network, why="every personal link in the mails") is not None:
        # Without it the dry run below stops at the first personal link.
        variable = network.network.token_key_env
        say("  " + _("the key that signs the links in the mails (keep it, and keep it secret):"))
        say(f"  export {variable}=\"$(python3 -c 'import secrets; print(secrets.token_hex(32))')\"")
    say(f"  cd {directory} && mailer check && mailer send invitation 2 --dry-run")


@command()
@option(
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
    summary = check_workspace(network)
    for link in summary.outside_web:
        say(
            _(
                "Warning: not under [web] base_url, so mailer serve does not answer it: {link}"
            ).format(link=link),
            err=True,
        )
    if summary.token_key:
        say(_("Warning: {problem}").format(problem=summary.token_key), err=True)
    for line in report_lines(network, summary):
        say(line)
    if online:
        _check_online(state)


def report_lines(network: Network, s: CheckSummary) -> list[str]:
    """What 'mailer check' found, a line per subject; the first says it is OK."""
    lines = [
        _("{path}: OK").format(path=network.path),
        ngettext(
            "{count} member, {sending} of them with people to send to",
            "{count} members, {sending} of them with people to send to",
            s.members,
        ).format(count=s.members, sending=s.sending_members),
        ngettext("{count} seminar", "{count} seminars", s.seminars).format(count=s.seminars),
    ]
    people = [
        ngettext("{count} person to send to", "{count} people to send to", s.people).format(
            count=s.people
        ),
        ngettext("{count} on the opt-out list", "{count} on the opt-out list", s.suppressed).format(
            count=s.suppressed
        ),
    ]
    if s.invalid_rows:
        people.append(
            ngettext(
                "{count} invalid row: see 'mailer recipients merge'",
                "{count} invalid rows: see 'mailer recipients merge'",
                s.invalid_rows,
            ).format(count=s.invalid_rows)
        )
    lines.append("; ".join(people))
    lines.append(
        ngettext(
            "{count} mail variant rendered", "{count} mail variants rendered", s.variants
        ).format(count=s.variants)
    )
    if s.links_under:
        lines.append(
            _("The links in the mails point under {url}: mailer serve answers them.").format(
                url=s.links_under
            )
        )
    elif s.links_without_web:
        lines.append(
            _(
                "The links in the mails need a web service: add [web] base_url for mailer serve, "
                "or answer them elsewhere."
            )
        )
    return ["  " + line if i else line for i, line in enumerate(lines)]


def _check_online(state: State) -> None:
    import asyncio

    from mailer.channels.online import check_online

    checks = asyncio.run(check_online(state.network))
    if not checks:
        say(_("No Graph channels to check online."))
    for c in checks:
        say(f"{_('OK') if c.ok else _('NOT OK')}  {c.line}")
    if not all(c.ok for c in checks):
        raise click.exceptions.Exit(1)
