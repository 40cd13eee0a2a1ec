"""The delivery log: every SMTP outcome of a send, one tab-separated line each, in the
state folder (``delivery.log``, owner-only: it names every recipient).

No bodies and no secrets go in it. Every field passes :func:`mailer.escaping.printable`,
so a server's reply cannot put an escape sequence in front of whoever reads the log in a
terminal, nor a tab or newline that forges a column or a line.

``mailer person forget`` and ``mailer prune`` rewrite the log into a new file while a send
may be running. So each line is written under a shared ``flock`` of the file, to the file
that has the log's name now (reopened when it was replaced): the rewrite holds the lock
exclusively from reading the old file until the new one has its name, so no line is lost.
"""

from __future__ import annotations

import datetime as dt
import fcntl
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
        self._open()
        return self

    def _open(self) -> int:
        # O_APPEND: each line is one write, so two processes' lines never interleave.
        self._fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        os.chmod(self.path, 0o600)
        return self._fd

    def _replaced(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino != os.stat(self.path).st_ino
        except FileNotFoundError:
            return True

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, *fields: object) -> None:
        """One line: the time, then the fields (mailing, member, email, outcome, ...)."""
        fd = self._fd
        if fd is None:
            return
        when = dt.datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
        text = "\t".join(printable(redact(str(f))) for f in fields)
        line = f"{when}\t{text}\n".encode("utf-8", "surrogateescape")
        while True:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if not self._replaced(fd):
                break
            os.close(fd)  # the rewritten log has the name now: write there
            self._fd = None
            fd = self._open()
        try:
            os.write(fd, line)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
