"""The journal: one SQLite row per (mailing, person), written before and after each send.

``sending`` is recorded (and committed) before the SMTP transaction starts and replaced by
the outcome when the server answers, so a crash at any moment leaves a true record: a row
still in ``sending`` is *uncertain*: the server may or may not have taken it. While
sending, these writes go through :class:`GroupCommit`, which commits the writes of many
connections together. Message bodies are never stored.

This package owns every SQL statement against ``journal.sqlite3``: :mod:`.database` (the
:class:`Journal`), :mod:`.inbox` (what came back by mail, a part of it), :mod:`.limits` (recent
attempts, for rate limits), :mod:`.group`
(:class:`GroupCommit`), :mod:`.schema` (the migrations) and :mod:`.records` (the rows it
hands out).
"""

from mailer.journal.database import (
    DATED,
    FILENAME,
    PERSONAL,
    REHEARSAL_DIR,
    STATES,
    Journal,
    is_rehearsal,
    rehearsal_path,
)
from mailer.journal.group import GroupCommit
from mailer.journal.records import (
    Bounce,
    BundleExport,
    Delivery,
    InboxRecord,
    Registration,
    ReportedOutcome,
    Signup,
)
from mailer.journal.schema import MIGRATIONS
from mailer.state import private_dir

__all__ = [
    "DATED",
    "FILENAME",
    "MIGRATIONS",
    "PERSONAL",
    "REHEARSAL_DIR",
    "STATES",
    "Bounce",
    "BundleExport",
    "Delivery",
    "GroupCommit",
    "InboxRecord",
    "Journal",
    "Registration",
    "ReportedOutcome",
    "Signup",
    "is_rehearsal",
    "private_dir",
    "rehearsal_path",
]
