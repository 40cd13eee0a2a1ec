"""The way back, by mail: what lands in each member's mailbox after a mailing.

:mod:`.sources` reads saved mail (Maildir, mbox, .eml) in bounded pieces; :mod:`.classify`
says what a message is (bounce, delay, auto-reply, unsubscribe, reply, loop, unknown) and
:mod:`.dsn` reads bounces (RFC 3464 reports and the common plain ones); :mod:`.handling`
matches each to the journal and acts (opt-out list, the journal row, counts);
:mod:`.hygiene` names the rows in the members' own list files that should go.
:mod:`.fetch` reads each member's own mailbox: over IMAP (:mod:`.imap`, a password or
XOAUTH2) or through Microsoft Graph (:mod:`.graph`); :mod:`.bundle` does all this on a
member's machine for the bundle it sent, and its report carries the result back.
"""

from mailer.errors import InboxError
from mailer.inbox.classify import KINDS, Classified, Unreadable, classify, parse
from mailer.inbox.handling import Handled, InboxRun, SoftBounces, import_mail
from mailer.inbox.hygiene import HygieneRow, hygiene
from mailer.inbox.sources import MAX_MESSAGE_BYTES, read_paths

__all__ = [
    "KINDS",
    "MAX_MESSAGE_BYTES",
    "Classified",
    "Handled",
    "HygieneRow",
    "InboxError",
    "InboxRun",
    "SoftBounces",
    "Unreadable",
    "classify",
    "hygiene",
    "import_mail",
    "parse",
    "read_paths",
]
