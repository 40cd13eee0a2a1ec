"""What the journal hands out: rows as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReportedOutcome:
    """One person's outcome learnt elsewhere: from a member's report."""

    email: str
    state: str
    message_id: str | None
    reply: str | None
    sent_at: str | None
    attempts: int
    # A bounce that came back to the member's mailbox later ('mailer bundle inbox'):
    # its status code, diagnostic and time, and whether it was for good.
    bounce: str | None = None
    bounce_note: str | None = None
    bounced_at: str | None = None
    bounce_permanent: bool = False


@dataclass(frozen=True, slots=True)
class BundleExport:
    digest: str
    mailing: str
    member: str
    people: list[str]
    exported_at: str
    reported_at: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    mailing: str
    email: str
    member: str
    state: str
    message_id: str | None
    attempts: int
    last_reply: str | None
    created_at: str
    updated_at: str
    sent_at: str | None
    channel: str | None = None
    bounce: str | None = None  # the status code of a bounce report (mailer.inbox)
    bounce_note: str | None = None
    bounced_at: str | None = None

    @property
    def uncertain(self) -> bool:
        """A run stopped while this message was with the server: it may have arrived."""
        return self.state == "sending"


@dataclass(frozen=True, slots=True)
class Registration:
    """One person's registration for a seminar, as the journal keeps it."""

    email: str
    registered: bool
    attended: bool | None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Bounce:
    """One address's failure as a bounce report gave it (mailer.inbox)."""

    email: str
    mailing: str
    status: str
    diagnostic: str
    permanent: bool
    at: str  # when the report says it happened, UTC ISO 8601


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """One message read from a mailbox, and what was done about it."""

    message_id: str
    kind: str
    mailing: str | None
    email: str | None
    action: str


@dataclass(frozen=True, slots=True)
class Signup:
    """A public sign-up from a seminar's web page; ``confirmed_at`` None until its link
    is used; ``consent_text`` what they agreed to for later invitations (None: nothing)."""

    seminar: int
    email: str
    name: str
    organisation: str
    language: str
    consent_text: str | None
    requested_at: str
    confirmed_at: str | None
