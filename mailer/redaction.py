"""Keep secrets out of everything the mailer shows or writes.

Every secret the mailer loads (a channel password, a token) is registered here, and every
line that leaves the process through an error, a log record, a traceback or the journal
passes through :func:`redact`, which replaces the secret, and the encodings in which SMTP
sends it (base64 for AUTH LOGIN, AUTH PLAIN and XOAUTH2), with ``***``. This module imports
nothing from the mailer, so the error classes can use it.
"""

from __future__ import annotations

import base64
import logging
import sys
import traceback
import urllib.parse
from types import TracebackType

MASK = "***"
_forms: set[str] = set()
_installed = False


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def remember(secret: str, *, username: str | None = None) -> None:
    """Register a secret (and its wire encodings) so that :func:`redact` hides it."""
    if len(secret) < 4:
        # Masking every "a" in every message would make the output unreadable; a secret
        # this short protects nothing anyway.
        return
    forms = {secret, _b64(secret), urllib.parse.quote(secret, safe="")}
    if username is not None:
        forms.add(_b64(f"\0{username}\0{secret}"))  # AUTH PLAIN
        forms.add(_b64(f"user={username}\1auth=Bearer {secret}\1\1"))  # XOAUTH2
    _forms.update(f for f in forms if f)
    _install()


def forget_all() -> None:
    """Forget every registered secret (for tests)."""
    _forms.clear()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    if not _forms or not text:
        return text
    # Longest first, so a secret that contains another is masked whole.
    for form in sorted(_forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    if not _forms:
        return
    message = record.getMessage()
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))


def _install() -> None:
    """Mask secrets in every log record and in tracebacks, once a secret is known.

    A filter on one handler would miss handlers added later (the log file, a --verbose
    handler), so the record factory itself redacts: every record, every handler.
    """
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
