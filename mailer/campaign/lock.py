"""One sender per mailing and journal: two sends of one mailing at once would mail everyone
twice, because each plans from the journal before the other has recorded anything.

The lock is an ``fcntl.flock`` on a file beside the journal. The kernel drops it when its
process ends, however it ends (SIGKILL included), so a crashed send never blocks the next
one. The file also says who holds it, for the message the second sender shows; it is never
deleted, since removing a file another process has open and locked would let a third one
lock a new file of the same name while the second still holds the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
import socket
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from mailer.errors import BusyError, StateError
from mailer.i18n import _
from mailer.journal import private_dir

POLL_SECONDS = 0.2  # how often a waiting sender tries again


def lock_path(journal_path: Path, mailing: str) -> Path:
    """The lock of one mailing in one journal (a rehearsal's journal has its own)."""
    return journal_path.parent / f"sending-{mailing}.lock"


class SendLock:
    """Held while one process sends one mailing from one journal."""

    def __init__(self, path: Path, mailing: str, zone: ZoneInfo | None = None) -> None:
        self.path = path
        self.mailing = mailing
        self.zone = zone  # the network's, for the time a person reads in busy()
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another process holds it."""
        try:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(
                _("cannot create the send lock: {reason}").format(reason=exc.strerror),
                path=self.path,
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\t{socket.gethostname()}\t{since}\n".encode())
        self._fd = fd
        return True

    async def acquire(
        self, *, wait: bool = False, on_wait: Callable[[BusyError], None] | None = None
    ) -> None:
        """Take the lock; BusyError when another process holds it, unless ``wait``: then
        ``on_wait`` hears once who holds it, and this waits until it is free."""
        told = False
        while not self.try_acquire():
            if not wait:
                raise self.busy()
            if on_wait is not None and not told:
                on_wait(self.busy())
                told = True
            await asyncio.sleep(POLL_SECONDS)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def busy(self, outcome: str | None = None, hint: str | None = None) -> BusyError:
        """The error that names the process sending now. ``outcome`` (default: nothing
        was sent) and ``hint`` are already in the person's language."""
        try:
            holder = self.path.read_text(encoding="utf-8").strip().split("\t")
        except OSError:
            holder = []
        if len(holder) == 3:
            pid, host, since = holder
            # In the network's time zone, to the minute; ISO order reads the same in every
            # language (and the UTC stamp in the file is kept for the logs).
            with contextlib.suppress(ValueError):
                local = dt.datetime.fromisoformat(since).astimezone(self.zone or ZoneInfo("UTC"))
                since = f"{local:%Y-%m-%d %H:%M}"
            who = _("process {pid} on {host} since {when}").format(pid=pid, host=host, when=since)
        else:  # it has only just taken the lock and not yet written its name
            who = _("another process")
        return BusyError(
            _("mailing {mailing} is being sent by {who}; {outcome}").format(
                mailing=self.mailing, who=who, outcome=outcome or _("nothing was sent")
            ),
            hint=hint or _("wait for it to finish, or add --wait to start right after it"),
        )
