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

import os
from typing import Any

import click

from mailer import i18n
from mailer.cli._common import State
from mailer.cli.translated import Group, Option, language_option, option


class MailerGroup(Group):
    """The top command: settles the language before Click parses or prints anything."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.insert(0, language_option(top=True))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        chosen = i18n.supported(os.environ.get(i18n.LANGUAGE_ENV))
        language = chosen or i18n.network_language() or i18n.DEFAULT_LANGUAGE
        i18n.set_language(language, chosen=bool(chosen))
        return super().main(*args, **kwargs)


@click.group(cls=MailerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@option(
    "--network",
    "network_path",
    metavar="PATH",
    envvar="MAILER_NETWORK",
    help="The network's network.toml (default: ./network.toml; env MAILER_NETWORK).",
)
@click.version_option(package_name="mailer", cls=Option, help="Show the version and exit.")
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
    if network_path:
        i18n.follow_network(i18n.network_language(network_path))
    ctx.obj = State(network_path)


# Commands live in one module per group; register them here.
from mailer.cli import (  # noqa: E402
    bundle,
    bundle_coordinator,  # noqa: F401 - its commands join the bundle group
    bundle_inbox,
    hygiene,
    inbox,
    person,
    recipients,
    registrations,
    sending,
    serve,
    signups,
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
bundle.bundle.add_command(bundle_inbox.bundle_inbox)
main.add_command(registrations.registrations)
main.add_command(registrations.registrations)
main.add_command(person.person)
main.add_command(person.prune)
main.add_command(state.state)
main.add_command(serve.serve)
main.add_command(signups.signups)
