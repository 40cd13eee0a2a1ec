"""Reading the files a bundle's users are handed: bounded, and regular files only.

A bundle, a report, a revocation note and a key all come from someone else, by mail or
on a stick. Each is read with a limit far above any real one, so a hostile or broken
file costs a line, never the machine's memory; and only from a regular file, because a
FIFO or a device (also behind a symlink) could block the read forever or never end it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mailer.errors import BundleError
from mailer.i18n import N_, _

# O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one before the
# fstat below could refuse it. O_NOCTTY: a terminal device never becomes ours.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


# What each file is called in an error line, as a whole phrase for the catalogue (Swedish
# says "paketet", not "the" and a noun).
NAMES = {
    "bundle": N_("the bundle"),
    "report": N_("the report"),
    "revocation note": N_("the revocation note"),
    "opt-out note": N_("the opt-out note"),
    "key file": N_("the key file"),
}


def _named(what: str) -> str:
    known = NAMES.get(what)
    return _(known) if known else _("the {what}").format(what=what)


def _megabytes(limit: int) -> str:
    return f"{limit / 1_000_000:g} MB" if limit >= 1_000_000 else f"{limit // 1000} KB"


def _unreadable(path: Path, what: str, exc: OSError) -> BundleError:
    reason = exc.strerror or str(exc)
    return BundleError(
        _("cannot read {what}: {reason}").format(what=what, reason=reason), path=path
    )


def read_bounded(path: Path, limit: int, *, what: str) -> bytes:
    """The content of the regular file ``path``, refused when it is over ``limit`` bytes.

    ``what`` names the file in errors ("bundle", "report"): :data:`NAMES` says it in the
    language of the moment.

    The size is checked before reading and again after (a file can grow in between):
    never more than ``limit + 1`` bytes are read.
    """
    what = _named(what)
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise BundleError(_("no such file"), path=path) from None
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    too_big = BundleError(
        _("{what} is larger than {size}; refusing it").format(what=what, size=_megabytes(limit)),
        path=path,
    )
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(
                _("not a regular file; refusing to read {what} from it").format(what=what),
                path=path,
            )
        if info.st_size > limit:
            raise too_big
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise too_big
    return data
