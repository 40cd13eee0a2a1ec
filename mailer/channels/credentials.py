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
from mailer.i18n import _

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
                _("the password for {host} is not set").format(host=channel.host),
                hint=_("export {variable}=... before sending").format(
                    variable=channel.password_env
                ),
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
            _("password_keyring = {service} needs the keyring library").format(
                service=repr(service)
            ),
            hint=_("pip install keyring, or use password_env"),
        ) from None
    try:
        value = keyring.get_password(service, username)
    except KeyringError as exc:
        raise ConfigError(
            _("the system keyring cannot be read: {reason}").format(reason=exc),
            hint=_("or use password_env"),
        ) from None
    if not value:
        raise ConfigError(
            _("no password in the system keyring for {username} at {service}").format(
                username=repr(username), service=repr(service)
            ),
            hint=_("store it with: keyring set {service} {username}").format(
                service=service, username=username
            ),
        )
    return value
