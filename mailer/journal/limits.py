"""The journal's record of recent attempts, for rate limits that hold across restarts and
across processes (``mailer serve``'s public sign-up: per client, per address).

A key is kept only as a salted hash (the journal's own salt): the table never names an
address or a client, and a row older than its window is deleted by the next attempt.
A mixin of :class:`mailer.journal.Journal`, which opens the file and owns transactions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3


class AttemptRecords:
    db: sqlite3.Connection

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # Journal's

    def digest(self, email: str) -> str:
        raise NotImplementedError  # Journal's

    def attempt(self, kind: str, key: str, *, limit: int, window: dt.timedelta) -> bool:
        """Count one attempt of ``kind`` by ``key`` and say whether it is allowed: False
        (nothing counted) when ``limit`` attempts were counted within ``window`` already.
        One transaction, so two processes never both take the last place."""
        now = dt.datetime.now(dt.UTC)
        since = (now - window).isoformat(timespec="milliseconds")
        digest = self.digest(f"attempt\n{kind}\n{key}")
        with self.transaction() as db:
            db.execute("DELETE FROM attempts WHERE kind=? AND at < ?", (kind, since))
            (count,) = db.execute(
                "SELECT COUNT(*) FROM attempts WHERE kind=? AND digest=?", (kind, digest)
            ).fetchone()
            if count >= limit:
                return False
            db.execute(
                "INSERT INTO attempts (kind, digest, at) VALUES (?, ?, ?)",
                (kind, digest, now.isoformat(timespec="milliseconds")),
            )
        return True
