"""The mailer's errors.

Every error the library raises on purpose derives from :class:`MailerError`, whose
``str()`` is one readable line: ``path:line: what is wrong (how to fix it)``. The CLI
prints that line and exits with :attr:`MailerError.exit_code`; nothing else is shown.

    MailerError                      bad input; exit code 2
    ├── ConfigError                  network.toml or a channel file
    ├── ListError                    a recipient list that cannot be read at all
    ├── TemplateError                a template that does not parse or render
    ├── StateError                   the state folder (journal, suppression list)
    │   ├── BusyError                another process is sending this mailing; exit code 75
    │   └── StateLockedError         another process holds a store's lock; exit code 75
    ├── BundleError                  a mailing bundle or member report: damaged, altered, not ours
    ├── TokenError (tokens)          a link's token: malformed, forged, or for another purpose
    │   ├── RehearsalTokenError      genuine, but from a rehearsal: it acts for nobody
    │   └── ExpiredTokenError        genuine, but past its expiry (confirmation, undo)
    ├── InboxError                   saved mail to read that is not there
    └── DeliveryError                something went wrong talking to a mail server
        ├── TransientError           4xx, dropped connection, timeout: try again later
        │   ├── TooManyConnectionsError  432 4.3.2: try again over fewer connections
        │   └── ThrottledError       Graph's 429/503: try again after its Retry-After
        ├── UncertainError           handed over, then no answer: it may have arrived
        ├── RecipientRefusedError    5xx for one recipient: record it, go on
        └── ChannelError             fatal for one channel: auth, TLS, unreachable
"""

from __future__ import annotations

import re
from pathlib import Path

from mailer.redaction import redact


class MailerError(Exception):
    """Base class; carries where the problem is and how to fix it."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        # One line, always: a value quoted from bad input must not break it; and never a
        # password, even one a server echoed back.
        return redact(" ".join(text.split()))


class ConfigError(MailerError):
    """The network configuration (or a channel file) is invalid."""


class ListError(MailerError):
    """A recipient list cannot be read at all (as opposed to one bad row)."""


class TemplateError(MailerError):
    """A mail template fails to parse or render: a syntax error, an undefined name, a
    loop without end, a number or text too large, a change to its data, a filter that
    raised. ``path`` and ``line`` name the template line."""


class StateError(MailerError):
    """The state folder cannot be used."""


class BusyError(StateError):
    """Another process is sending this mailing from the same journal: sending it at the
    same time would mail everyone twice, so this one stops (run it again later)."""

    exit_code = 75


class StateLockedError(StateError):
    """Another process kept a store locked longer than the busy timeout: run again later."""

    exit_code = 75


class BundleError(MailerError):
    """A mailing bundle or a member's report that must not be used: nothing is sent or merged."""


class InboxError(MailerError):
    """A path given to ``mailer inbox import`` that is missing (mailer.inbox)."""


class DeliveryError(MailerError):
    """A mail server (or the local Maildir) did not take a message."""

    exit_code = 1

    def __init__(self, message: str, *, smtp_code: int | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.smtp_code = smtp_code


class TransientError(DeliveryError):
    """Worth retrying later: 4xx replies, dropped connections, timeouts."""


class UncertainError(DeliveryError):
    """The whole message was handed over and then no answer came (a timeout, a dropped
    connection): the server may have taken it. Sending again could deliver it twice, so it
    is left to the coordinator (``--resend-uncertain``)."""


class TooManyConnectionsError(TransientError):
    """The server limits concurrent connections (Exchange Online: 432 4.3.2)."""


class ThrottledError(TransientError):
    """The service asks us to slow down (Microsoft Graph: 429 or 503); ``retry_after`` is
    how many seconds it asked us to wait (None: it did not say)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


# Enhanced status codes that say the address does not exist (RFC 3463; 5.1.10 is Exchange
# Online's "recipient not found"): a hard bounce, never worth sending to again.
_HARD_BOUNCE = re.compile(r"\b5\.1\.(?:1|2|10)\b")


class RecipientRefusedError(DeliveryError):
    """The server refused this one recipient for good (5xx)."""

    @property
    def hard_bounce(self) -> bool:
        return bool(_HARD_BOUNCE.search(self.message))


class ChannelError(DeliveryError):
    """This channel cannot send at all: wrong password, TLS failure, host unreachable."""
