"""What every part of network.toml is built from: a strict model, and checks of one value.

Numbers are bounded where they are read (``Field(ge=..., le=...)``), and no float may be
``inf`` or ``nan`` (TOML allows both): a value no run could mean stops at load time with
one line naming its key, not later as an overflow or a hung sender.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from mailer.i18n import _

SLUG = r"^[a-z0-9][a-z0-9-]*$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
# Bounds for counts and sizes: far beyond any real network, far below what overflows
# SQLite's 64-bit integers or a date calculation.
MAX_NUMBER = 99_999  # seminar and newsletter numbers
MAX_PIXELS = 4_000  # logo width and height
MAX_COUNT = 10_000_000  # people or organisations at a seminar


class ConfigModel(BaseModel):
    """A part of the config: unknown keys refused, values frozen, no inf or nan."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


def colour(value: str) -> str:
    if not _HEX_COLOUR.match(value):
        raise ValueError(_("{value} is not a colour like '#1f5f8b'").format(value=repr(value)))
    return value.lower()


def web_url(value: str) -> str:
    from mailer.escaping import UnsafeURLError, safe_url

    try:
        return safe_url(value, schemes=("http", "https"))
    except UnsafeURLError as exc:
        raise ValueError(
            _("{value} is not an http(s) address: {reason}").format(value=repr(value), reason=exc)
        ) from None


def mailbox(value: str | None) -> str | None:
    """'Name <a@b.example>' or 'a@b.example', with an address that can be mailed."""
    if value is None:
        return None
    from email.utils import parseaddr

    from mailer.addresses import AddressError, validate_address

    if any(not c.isprintable() for c in value):
        raise ValueError(
            _("{value} holds control characters or line breaks").format(value=repr(value))
        )
    address = parseaddr(value)[1]
    try:
        validate_address(address)
    except AddressError as exc:  # our reason, in the reader's language
        raise ValueError(
            _("{value} is not an address like 'Name <a@b.example>': {reason}").format(
                value=repr(value), reason=exc
            )
        ) from None
    return value


def domain_name(value: str) -> str:
    if not _DOMAIN.match(value.lower()):
        raise ValueError(
            _("{value} is not a domain name like 'network.example'").format(value=repr(value))
        )
    return value.lower()
