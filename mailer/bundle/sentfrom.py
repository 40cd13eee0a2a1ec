"""Where on this machine a member's share of a mailing is sent from.

A member's journal lives in a state folder beside the bundle (or ``--state``). A copy of
the bundle in another folder would find no journal there and mail everybody again. So the
first real send of a share records, per user, which state folder holds its journal; a send
of the same share (network, mailing, member: also from a newer bundle of it) from another
state folder is refused, naming the folder to use.

The record is one small JSON file per share under ``$MAILER_HOME`` (default
``$XDG_STATE_HOME/mailer``, else ``~/.local/state/mailer``). A rehearsal records nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mailer.errors import BundleError, StateError
from mailer.i18n import _, genitive
from mailer.state import private_dir

HOME_ENV = "MAILER_HOME"


def home() -> Path:
    """This user's mailer folder (not a workspace's state folder)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mailer"


def _record(network_id: str, mailing: str, member: str) -> Path:
    # A hash for a file name that no id can turn into a path.
    key = hashlib.sha256(f"{network_id}\0{mailing}\0{member}".encode()).hexdigest()[:32]
    return home() / "shares" / f"{key}.json"


def claim(
    network_id: str, mailing: str, member: str, state_dir: Path, *, name: str | None = None
) -> None:
    """Record ``state_dir`` as where this share is sent from; BundleError when an earlier
    send of it used another state folder (its journal is there, not here). ``name``: the
    member as people read it (default: its id)."""
    record = _record(network_id, mailing, member)
    here = str(state_dir.resolve())
    try:
        earlier = json.loads(record.read_text(encoding="utf-8")).get("state")
    except FileNotFoundError:
        earlier = None
    except (OSError, ValueError, AttributeError):
        earlier = None  # a damaged record: the journals still say what was sent
    if earlier and earlier != here:
        raise BundleError(
            _(
                "{member} share of {mailing} was sent from another folder before, with its "
                "journal in {folder}: sending it from here would mail its people twice"
            ).format(member=genitive(name or member), mailing=mailing, folder=earlier),
            hint=_(
                "run it with --state {folder}, or restore that folder; if it is truly gone, "
                "delete {record} to start anew"
            ).format(folder=earlier, record=record),
        )
    if earlier is None:
        try:
            private_dir(record.parent)
            record.write_text(json.dumps({"state": here}), encoding="utf-8")
        except OSError as exc:
            raise StateError(
                _("cannot record where this share is sent from: {reason}").format(
                    reason=exc.strerror or exc
                ),
                path=record,
                hint=_("set {variable} to a folder of yours that can be written").format(
                    variable=HOME_ENV
                ),
            ) from None
