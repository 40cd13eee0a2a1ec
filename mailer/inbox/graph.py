"""Reading a Graph channel's mailbox through Microsoft Graph (``mailer inbox fetch``)."""

from __future__ import annotations

from mailer.config import Member
from mailer.inbox.handling import InboxRun, Reader
from mailer.journal import Journal


def read_graph(
    member: Member, reader: Reader, journal: Journal, run: InboxRun, move_to: str | None
) -> None:
    raise NotImplementedError
