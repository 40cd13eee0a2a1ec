"""The delivery log: every SMTP outcome of a send, one tab-separated line each, in the
state folder (``delivery.log``, owner-only: it names every recipient).

No bodies and no secrets go in it. Every field passes :func:`mailer.escaping.printable`,
so a server's reply cannot put an escape sequence in front of whoever reads the log in a
terminal, nor a tab or newline that forges a column or a line.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from mailer.escaping import printable
from mailer.journal import private_dir
from mailer.redaction import redact

FILENAME = "delivery.log"


class DeliveryLog:
    """Appends lines to one state folder's delivery log; a context manager."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILENAME
        self._fd: int | None = None

    def __enter__(self) -> DeliveryLog:
        private_dir(self.path.parent)
        # O_APPEND: each line is one write, so two processes' lines never interleave.
        self._fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        os.chmod(self.path, 0o600)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, *fields: object) -> None:
        """One line: the time, then the fields (mailing, member, email, outcome, ...)."""
        if self._fd is None:
            return
        when = dt.datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
        text = "\t".join(printable(redact(str(f))) for f in fields)
        os.write(self._fd, f"{when}\t{text}\n".encode("utf-8", "surrogateescape"))
