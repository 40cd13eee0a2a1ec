"""The ``mailer`` command: a thin Click layer over the library.

Only this package prints, prompts, exits or runs the event loop; one module per group
of commands. Heavy libraries (premailer, lxml, aiosmtplib, pydantic) are
imported inside the commands that need them, so ``mailer --help`` starts fast.

Exit codes: 0 all done; 1 some messages or channels failed; 2 bad input (config, list,
template, usage); 75 work left for a later run (deferred messages), or another process is
sending the same mailing. Nothing below this module calls ``sys.exit``: a command raises a
library error (its ``exit_code``) or ``click.exceptions.Exit`` with the code its result
earned (``_common.finish``), and :func:`main` (Click's standalone mode) turns either into
the process's exit.
"""

from __future__ import annotations

import click

from mailer.cli._common import State


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--network",
    "network_path",
    metavar="PATH",
    envvar="MAILER_NETWORK",
    help="The network's network.toml (default: ./network.toml; env MAILER_NETWORK).",
)
@click.version_option(package_name="mailer")
@click.pass_context
def main(ctx: click.Context, network_path: str | None) -> None:
    """Invite people to the network's seminars and tell them afterwards what was said.

    Merges the member organisations' recipient lists, renders branded mail in Swedish and
    English, and sends each person's message through their own organisation's channel,
    never twice.

    \b
    Exit codes: 0 done; 1 some messages or channels failed; 2 bad input;
                75 work left for a later run (run the same command again).
    """
    ctx.obj = State(network_path)


# Commands live in one module per group; register them here.
from mailer.cli import (  # noqa: E402
    bundle,
    hygiene,
    inbox,
    person,
    recipients,
    registrations,
    sending,
    serve,
    state,
    status,
    suppression,
    workspace,
)

main.add_command(workspace.init)
main.add_command(workspace.check)
main.add_command(recipients.recipients)
recipients.recipients.add_command(hygiene.recipients_hygiene)
main.add_command(inbox.inbox)
main.add_command(sending.preview)
main.add_command(sending.send)
main.add_command(status.status)
main.add_command(suppression.unsubscribe)
main.add_command(suppression.suppressed)
main.add_command(bundle.bundle)
main.add_command(registrations.registrations)
main.add_command(registrations.registrations)
main.add_command(person.person)
main.add_command(person.prune)
main.add_command(state.state)
main.add_command(serve.serve)
