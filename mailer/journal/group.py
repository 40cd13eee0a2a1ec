"""The journal's writes while sending, committed in groups."""

from __future__ import annotations

import asyncio

from mailer.errors import StateError
from mailer.journal.database import STATES, Journal, timestamp
from mailer.redaction import redact

# Never re-creates a forgotten person: the NOT EXISTS runs inside the group's transaction,
# after `mailer person forget` (in another process, say) has committed or before it starts.
_START = """
    INSERT INTO deliveries (mailing, email, member, state, message_id, attempts,
                            created_at, updated_at, channel)
    SELECT ?, ?, ?, 'sending', ?, 1, ?, ?, ?
    WHERE NOT EXISTS (SELECT 1 FROM forgotten WHERE digest=?)
    ON CONFLICT (mailing, email) DO UPDATE SET
        member=excluded.member, state='sending', message_id=excluded.message_id,
        attempts=attempts + 1, updated_at=excluded.updated_at, channel=excluded.channel
"""
# An UPDATE, never an INSERT: a row forgotten meanwhile stays gone.
_FINISH = """
    UPDATE deliveries SET state=?, last_reply=?, updated_at=?,
           sent_at=CASE WHEN ?='sent' THEN ? ELSE sent_at END
    WHERE mailing=? AND email=?
"""


class GroupCommit:
    """The journal's writes while sending, committed in groups.

    Dozens of connections finish transactions at about the same moment. Instead of a
    commit per write (two per message, 0.1-0.2 ms each), the writes queued during one turn
    of the event loop are committed by one transaction early in the next. The order of
    events is unchanged: start() returns only once 'sending' is committed, so the record
    still comes before the SMTP transaction. An outcome goes with the next group; a crash
    before that leaves its row in 'sending' (uncertain), which is still true.

    Forget wins: once ``mailer person forget`` has committed, start() records nothing for
    that person and returns False (the caller must then not send), and finish() writes
    nothing, since it only updates a row that still exists.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._writes: list[tuple[str, tuple[object, ...], asyncio.Future[bool] | None]] = []
        self._scheduled = False
        self._error: StateError | None = None

    async def start(
        self, mailing: str, email: str, member: str, message_id: str, channel: str | None = None
    ) -> bool:
        """Record 'sending' before the SMTP transaction begins; returns once committed.

        False when the person was forgotten meanwhile: nothing was recorded, send nothing.
        """
        if self._error is not None:
            raise self._error
        stamp = timestamp()
        row = (mailing, email, member, message_id, stamp, stamp, channel)
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._add(_START, (*row, self.journal.digest(email)), waiter)
        return await waiter

    def finish(self, mailing: str, email: str, state: str, reply: str | None) -> None:
        """Record the server's answer (committed with the next group)."""
        if state not in STATES:
            raise ValueError(state)
        reply = redact(reply) if reply else reply  # a server may echo what it was sent
        stamp = timestamp()
        self._add(_FINISH, (state, reply, stamp, state, stamp, mailing, email), None)

    def flush(self) -> None:
        """Commit what is queued now; raises StateError when the journal cannot be written."""
        self._commit()
        if self._error is not None:
            raise self._error

    def _add(self, sql: str, row: tuple[object, ...], waiter: asyncio.Future[bool] | None) -> None:
        self._writes.append((sql, row, waiter))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        # Runs as a loop callback: it never raises, its waiters get the error instead.
        self._scheduled = False
        writes, self._writes = self._writes, []
        recorded: dict[int, bool] = {}  # id(waiter) -> whether its row was written
        if writes and self._error is None:
            try:
                with self.journal.transaction() as db:
                    for sql, row, waiter in writes:
                        count = db.execute(sql, row).rowcount
                        if waiter is not None:
                            recorded[id(waiter)] = count > 0
            except StateError as exc:
                self._error = exc
        for _, _, waiter in writes:
            if waiter is None or waiter.done():  # done: its worker was cancelled
                continue
            if self._error is not None:
                waiter.set_exception(self._error)
            else:
                waiter.set_result(recorded[id(waiter)])
