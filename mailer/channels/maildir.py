"""A local Maildir folder as a channel: each message one file, readable by any mail client."""

from __future__ import annotations

import mailbox
from pathlib import Path

from mailer.channels.base import Transport
from mailer.errors import ChannelError
from mailer.i18n import _
from mailer.message import Outgoing


class MaildirTransport(Transport):
    """Writes each message as a file in a Maildir folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"maildir {path}"
        self._box: mailbox.Maildir | None = None

    @property
    def is_open(self) -> bool:
        return self._box is not None

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._box = mailbox.Maildir(self.path, create=True)
        except OSError as exc:
            raise ChannelError(
                _("cannot use the Maildir: {reason}").format(reason=exc.strerror), path=self.path
            ) from None

    async def send(self, message: Outgoing) -> str:
        assert self._box is not None, "open() first"
        try:
            key = self._box.add(message.data)
        except OSError as exc:
            raise ChannelError(
                _("cannot write to the Maildir: {reason}").format(reason=exc.strerror),
                path=self.path,
            ) from None
        # The channel's "reply", kept in the journal and delivery.log like a server's: in no
        # language, since whoever reads it later (a person's access request) may read
        # another one than the coordinator who sent.
        return f"maildir: {key}"
