"""Channel passwords: from an environment variable or the system keyring, never a file.

A password is looked up only when its channel is about to connect, and is registered with
:mod:`mailer.redaction` the moment it is read, so no error line, log record, traceback or
journal row can show it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from mailer import redaction
from mailer.errors import ConfigError

if TYPE_CHECKING:
    from mailer.config import SmtpChannel


def channel_password(channel: SmtpChannel) -> str | None:
    """The channel's password; None when it logs in with none; ConfigError when missing."""
    if channel.password_env:
        value = os.environ.get(channel.password_env)
        if value:
            redaction.remember(value, username=channel.username)
            return value
        if not channel.password_keyring:
            raise ConfigError(
                f"the password for {channel.host} is not set",
                hint=f"export {channel.password_env}=... before sending",
            )
    if channel.password_keyring:
        assert channel.username is not None  # the config requires it with a keyring
        value = keyring_password(channel.password_keyring, channel.username)
        redaction.remember(value, username=channel.username)
        return value
    return None


def keyring_password(service: str, username: str) -> str:
    """The password stored in the system keyring for (service, username)."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        raise ConfigError(
            f"password_keyring = {service!r} needs the keyring library",
            hint="pip install keyring, or use password_env",
        ) from None
    try:
        value = keyring.get_password(service, username)
    except KeyringError as exc:
        raise ConfigError(
            f"the system keyring cannot be read: {exc}", hint="or use password_env"
        ) from None
    if not value:
        raise ConfigError(
            f"no password in the system keyring for {username!r} at {service!r}",
            hint=f"store it with: keyring set {service} {username}",
        )
    return value
