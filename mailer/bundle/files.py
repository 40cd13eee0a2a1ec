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

# O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one before the
# fstat below could refuse it. O_NOCTTY: a terminal device never becomes ours.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def _megabytes(limit: int) -> str:
    return f"{limit / 1_000_000:g} MB" if limit >= 1_000_000 else f"{limit // 1000} KB"


def read_bounded(path: Path, limit: int, *, what: str) -> bytes:
    """The content of the regular file ``path``, refused when it is over ``limit`` bytes.

    The size is checked before reading and again after (a file can grow in between):
    never more than ``limit + 1`` bytes are read.
    """
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise BundleError("no such file", path=path) from None
    except OSError as exc:
        raise BundleError(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None
    too_big = BundleError(f"the {what} is larger than {_megabytes(limit)}; refusing it", path=path)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"not a regular file; refusing to read the {what} from it", path=path)
        if info.st_size > limit:
            raise too_big
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise BundleError(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise too_big
    return data
