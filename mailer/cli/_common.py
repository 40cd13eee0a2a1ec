"""What every command shares: the error contract, the console, the loaded network.

Everything a command prints goes through :func:`console` or :func:`say`, and every error
line through :func:`reports_errors`: there, text from outside (a server's reply, a file
name, a list cell) loses its control characters, so an escape sequence in it never
reaches the terminal.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mailer.cli.translated import option

if TYPE_CHECKING:
    from rich.console import Console

    from mailer.config import Network

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_TEMPFAIL = 0, 1, 2, 75
F = TypeVar("F", bound=Callable[..., Any])
# Kept on screen: the line breaks and tabs of a multi-line text (a message preview).
_KEEP = "\n\t"


class Failure(click.ClickException):
    """A library error, shown as its one line with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        from mailer.escaping import printable

        super().__init__(printable(message))
        self.exit_code = exit_code  # type: ignore[misc]


def finish(code: int) -> None:
    """End the command with this exit code; Click's ``main`` turns it into the exit."""
    if code != EXIT_OK:
        raise click.exceptions.Exit(code)


def say(text: str, *, err: bool = False) -> None:
    """One message line (or several) without control characters."""
    from mailer.escaping import printable

    click.echo(printable(text, keep=_KEEP), err=err)


def ask_yes_no(question: str) -> None:
    """Ask a yes/no question in the person's language (Click's own confirm says "[y/N]"
    and knows only "y" and "yes"); anything but yes, or no answer at all, aborts."""
    from mailer.i18n import _

    yes = _("y")
    answer = click.prompt(
        f"{question} [{yes}/N]", default="", show_default=False, prompt_suffix=" "
    )
    if answer.strip().lower() not in {yes.lower(), _("yes").lower(), "y", "yes"}:
        raise click.Abort()


def reports_errors(func: F) -> F:
    """Turn the library's MailerError into one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mailer.errors import MailerError

        try:
            return func(*args, **kwargs)
        except MailerError as exc:
            raise Failure(str(exc), exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def console(stderr: bool = False) -> Console:
    """A rich console whose every string (printed, or a table's cell or title) loses its
    control characters on the way to the terminal."""
    stream = sys.stderr if stderr else sys.stdout
    # Piped output (CI, logs, `| less`) gets a wide table rather than rich's 80 columns,
    # unless COLUMNS says how wide the reader is.
    width = None if stream.isatty() else _columns(120)
    return _console_class()(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def _columns(default: int) -> int:
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return default


@functools.cache
def _console_class() -> type[Console]:
    # Built on first use: rich stays out of 'mailer --help'.
    from rich.console import Console
    from rich.text import Text

    from mailer.escaping import printable

    class PrintableConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Text:
            return super().render_str(printable(text, keep=_KEEP), **kwargs)

    return PrintableConsole


class State:
    def __init__(self, network_path: str | None) -> None:
        self.network_path = network_path
        self._network: Network | None = None

    @property
    def network(self) -> Network:
        if self._network is None:
            from mailer.config import load_network

            self._network = load_network(self.network_path)
        return self._network


pass_state = click.make_pass_decorator(State)


# The options that 'mailer send' and a member's 'mailer bundle send' share: one send path,
# so one wording.
dry_run_option = option(
    "--dry-run", is_flag=True, help="Send nothing; show the plan and one sample."
)
yes_option = option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (for scripts).")
resend_uncertain_option = option(
    "--resend-uncertain",
    is_flag=True,
    help="Send again the messages whose outcome is unknown (a run that stopped, or a server "
    "that took the whole message and never answered), with the same Message-ID, so "
    "receiving systems can drop a duplicate.",
)
retry_failed_option = option(
    "--retry-failed",
    is_flag=True,
    help="Try again the people a server refused for good in an earlier run.",
)
via_option = option(
    "--via",
    metavar="smtp://HOST:PORT",
    help="Rehearse: send everything through this local SMTP server, keeping the From. A "
    "rehearsal keeps its own journal: it never counts as sent, against a daily quota or on "
    "an opt-out list, and running it again resumes it (--resend: from the start). STARTTLS "
    "is used when the server offers it, with certificates checked (?cafile=PATH or "
    "MAILER_CAFILE trusts a test CA); ?security=none stays plain; smtps:// is TLS from the "
    "start.",
)
quiet_option = option(
    "--quiet", "-q", is_flag=True, help="No plan and no progress; only the summary."
)
wait_option = option(
    "--wait",
    is_flag=True,
    help="When another process is sending this mailing, wait for it to finish, then send "
    "what it left (default: stop at once with exit code 75).",
)
