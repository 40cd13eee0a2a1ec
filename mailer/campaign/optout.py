"""The opt-out list as it stands now, asked just before each person's transaction.

A send can run for hours, and meanwhile someone unsubscribes, asks to be forgotten or
bounces in another member's run: the list read when the plan was made is not enough.
Opening the list costs more than a message (its salt, its schema), so it is opened once
and opened again only when its files changed since: the SQLite header's change counter
(rollback journal) and the size and times of the file and of a WAL beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from mailer.suppression import FILENAME, Suppression

Signature = tuple[object, ...]


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _signature(path: Path) -> Signature | None:
    if not path.exists():
        return None
    try:
        with open(path, "rb") as file:
            header = file.read(28)[24:]  # the file change counter, bumped by every commit
    except FileNotFoundError:
        return None
    return (header, _stat(path), _stat(path.with_name(path.name + "-wal")))


class LiveOptOut:
    """``email in opt_out``: is this normalised address on the list at this moment?"""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILENAME
        self._list: Suppression | None = None
        self._seen: Signature | None = None

    def __contains__(self, email: object) -> bool:
        signature = _signature(self.path)
        if signature is None:  # no list yet: nobody has opted out; create nothing
            return False
        if self._list is None or signature != self._seen:
            self.close()
            self._list = Suppression(self.path)
            # After opening (which may write its schema) and before the first look-up
            # reads the list: a change after this signature is seen by the next check.
            self._seen = _signature(self.path)
        return email in self._list

    def forgotten(self, email: str) -> bool:
        """Asked to be forgotten (``mailer person forget``) by now?"""
        if email not in self:  # also brings the list up to date
            return False
        assert self._list is not None
        entry = self._list.entry(email)
        return entry is not None and entry.reason == "forgotten"

    def close(self) -> None:
        if self._list is not None:
            self._list.close()
            self._list = None
