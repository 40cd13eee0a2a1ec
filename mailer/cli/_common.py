"""What every command shares: the error contract, the console, the loaded network."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from mailer.config import Network

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_TEMPFAIL = 0, 1, 2, 75
F = TypeVar("F", bound=Callable[..., Any])


class Failure(click.ClickException):
    """A library error, shown as its one line with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]


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
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output (CI, logs, `| less`) gets a wide table rather than rich's 80 columns.
    width = None if stream.isatty() else 120
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


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
dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Send nothing; show the plan and one sample."
)
yes_option = click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (for scripts)."
)
resend_uncertain_option = click.option(
    "--resend-uncertain",
    is_flag=True,
    help="Send again the messages whose outcome is unknown (a run that stopped, or a server "
    "that took the whole message and never answered), with the same Message-ID, so "
    "receiving systems can drop a duplicate.",
)
retry_failed_option = click.option(
    "--retry-failed",
    is_flag=True,
    help="Try again the people a server refused for good in an earlier run.",
)
via_option = click.option(
    "--via",
    metavar="smtp://HOST:PORT",
    help="Rehearse: send everything through this local SMTP server, keeping the From. A "
    "rehearsal keeps its own journal: it never counts as sent, against a daily quota or on "
    "an opt-out list, and running it again resumes it (--resend: from the start). STARTTLS "
    "is used when the server offers it, with certificates checked (?cafile=PATH or "
    "MAILER_CAFILE trusts a test CA); ?security=none stays plain; smtps:// is TLS from the "
    "start.",
)
quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No plan and no progress; only the summary."
)
