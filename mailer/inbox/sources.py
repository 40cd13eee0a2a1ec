"""Saved mail on disk: a Maildir folder, an mbox file, .eml files (or a folder of them).

Each message comes out as raw bytes with a label saying where it was (``PATH`` for a
single file, ``PATH#N`` for the Nth message of an mbox or a Maildir), or as a
:class:`Skipped` line when it cannot be read or is too big. An mbox is split while it is
read, a line at a time, rather than through :class:`mailbox.mbox`, which loads each
message whole: a mailbox export may hold one message of a gigabyte, and it must cost no
more memory than the limit.
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mailer.errors import InboxError
from mailer.i18n import _

# Bounce reports carry at most the original's headers or the original itself; real mail
# to a coordinator is rarely bigger than a few megabytes. Anything larger is skipped.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
_MBOXRD_QUOTED = re.compile(rb"^>+From ")


@dataclass(frozen=True, slots=True)
class Raw:
    where: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Skipped:
    where: str
    why: str


def too_big(size: int | None) -> str:
    """Why a message was skipped for its size (None: an mbox's, not measured to the end)."""
    if size is None:
        return _("too big (over the limit of {limit} bytes)").format(limit=MAX_MESSAGE_BYTES)
    return _("too big ({size} bytes; the limit is {limit})").format(
        size=size, limit=MAX_MESSAGE_BYTES
    )


def _unreadable(why: str | None) -> str:
    return _("cannot be read ({error})").format(error=why or "?")


def read_paths(paths: Iterable[Path]) -> Iterator[Raw | Skipped]:
    """Every message under the paths, in order; InboxError for a path that is not there."""
    paths = list(paths)
    for path in paths:
        if not path.exists():
            raise InboxError(
                _("no such file or folder"),
                path=path,
                hint=_("give a Maildir folder, an mbox file or .eml files"),
            )
    for path in paths:
        yield from _read_path(path)


def _read_path(path: Path) -> Iterator[Raw | Skipped]:
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            yield from _read_maildir(path)
        else:
            for file in sorted(path.glob("*.eml")):
                yield _read_single(file)
        return
    try:
        with path.open("rb") as stream:
            first = stream.read(5)
            stream.seek(0)
            if first == b"From " and path.suffix.lower() != ".eml":
                yield from read_mbox(stream, str(path))
                return
    except OSError as exc:
        yield Skipped(str(path), _unreadable(exc.strerror))
        return
    yield _read_single(path)


def _read_single(path: Path) -> Raw | Skipped:
    try:
        size = path.stat().st_size
        if size > MAX_MESSAGE_BYTES:
            return Skipped(str(path), too_big(size))
        return Raw(str(path), path.read_bytes())
    except OSError as exc:
        return Skipped(str(path), _unreadable(exc.strerror))


def _read_maildir(path: Path) -> Iterator[Raw | Skipped]:
    box = mailbox.Maildir(path, factory=None, create=False)
    for number, key in enumerate(sorted(box.keys()), 1):
        where = f"{path}#{number}"
        try:
            with box.get_file(key) as file:
                file.seek(0, 2)
                size = file.tell()  # before reading it: the limit holds
                if size > MAX_MESSAGE_BYTES:
                    yield Skipped(where, too_big(size))
                    continue
                file.seek(0)
                data = file.read()
        except (OSError, KeyError) as exc:
            yield Skipped(where, _unreadable(str(exc)))
            continue
        yield Raw(where, data)


def read_mbox(stream: BinaryIO, name: str) -> Iterator[Raw | Skipped]:
    """Split an mbox (mboxo or mboxrd) into messages, never holding more than the limit."""
    number = 0
    chunks: list[bytes] = []
    size = 0
    oversized = False

    def done() -> Raw | Skipped:
        where = f"{name}#{number}"
        if oversized:
            return Skipped(where, too_big(None))
        return Raw(where, b"".join(chunks))

    for line in stream:
        if line.startswith(b"From "):
            if number:
                yield done()
            number += 1
            chunks, size, oversized = [], 0, False
            continue
        if oversized or not number:
            continue
        if line.startswith(b">") and _MBOXRD_QUOTED.match(line):
            line = line[1:]
        size += len(line)
        if size > MAX_MESSAGE_BYTES:
            oversized, chunks = True, []
        else:
            chunks.append(line)
    if number:
        yield done()
