"""CSS inlining with premailer, remembered in the state folder.

premailer takes 20-100 ms a document (cssutils parses the stylesheet in pure Python), and
the mailer inlines one document per variant: 18 for one mailing of the example network,
several hundred for ``mailer check``. What comes out depends only on the document, the
options and the library versions, so it is stored under a digest of all of them: after a
check, a dry run or a preview, the real send has nothing left to inline, and a template
edit re-inlines only the documents it changed. Documents hold placeholders, never a
person's values, so the cache holds no personal data.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailer.journal import private_dir

if TYPE_CHECKING:
    from mailer.config import Network

CACHE_FOLDER = "inlined"  # in the state folder
MAX_ENTRIES = 2000  # ~30 KB each; the least recently used go first

OPTIONS: dict[str, Any] = {
    "strip_important": False,  # keep !important in the @media rules that stay in <style>
    "keep_style_tags": False,
    "remove_classes": False,
    "disable_validation": True,
    "allow_network": False,
    # Keep the templates' pixel width/height attributes (Outlook sizes images by them): by
    # default an inline 'width: 100%' would overwrite width="536" with "100%".
    "disable_basic_attributes": ["width", "height"],
    "cssutils_logging_level": logging.CRITICAL,
}


def inline_cache(network: Network) -> Path:
    """Where a network's inlined documents are kept."""
    return network.state_dir / CACHE_FOLDER


def inline_css(document: str, cache: Path | None = None) -> str:
    """Move the <style> rules onto the elements (what Outlook and Gmail need); with
    ``cache``, reuse what an earlier run inlined for the same document."""
    if cache is None:
        return _premailer(document)
    path = cache / f"{_digest(document)}.html"
    try:
        inlined = path.read_text(encoding="utf-8")
        os.utime(path)  # recently used: kept when the cache is trimmed
        return inlined
    except OSError:
        pass  # not there yet, or unreadable: inline again
    inlined = _premailer(document)
    _store(cache, path, inlined)
    return inlined


def _premailer(document: str) -> str:
    import premailer

    logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
    return str(premailer.Premailer(document, **OPTIONS).transform())


@functools.cache
def _versions() -> str:
    names = ("premailer", "cssutils", "cssselect", "lxml")
    return " ".join(f"{name}={metadata.version(name)}" for name in names) + repr(OPTIONS)


def _digest(document: str) -> str:
    digest = hashlib.sha256(_versions().encode())
    digest.update(document.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _store(cache: Path, path: Path, inlined: str) -> None:
    """Write atomically (another run may be reading); a cache that cannot be written
    only costs the next run some time."""
    try:
        private_dir(cache)
        fd, temporary = tempfile.mkstemp(dir=cache, suffix=".tmp")  # created 0600
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(inlined)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        return
    _trim(cache)


def _trim(cache: Path) -> None:
    entries = list(cache.glob("*.html"))
    if len(entries) <= MAX_ENTRIES:
        return
    used = {}
    for entry in entries:
        try:
            used[entry] = entry.stat().st_mtime
        except OSError:
            continue  # another run trimmed it
    for old in sorted(used, key=used.__getitem__)[: len(used) - MAX_ENTRIES * 4 // 5]:
        old.unlink(missing_ok=True)
