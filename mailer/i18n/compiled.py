"""Where the compiled catalogues (.mo) are, compiling them from the .po files when needed.

A wheel ships them compiled (``hatch_build.py``). A checkout compiles them on first use,
and again whenever a .po file is newer than its .mo, so an edited translation shows at
once; where the package folder cannot be written, they go to a private temp folder.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

DOMAIN = "mailer"
SOURCE_DIR = Path(__file__).resolve().parent.parent / "locale"


def catalogues(root: Path = SOURCE_DIR) -> list[Path]:
    """The .po files, one per language."""
    return sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _stale(po: Path, mo: Path) -> bool:
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def compile_catalogue(po: Path, mo: Path) -> None:
    """Compile one .po into a .mo, replacing the old one in one step."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name, domain=DOMAIN)
    mo.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".mailer-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.replace(tmp, mo)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def locale_dir() -> Path:
    """A folder with an up-to-date ``<language>/LC_MESSAGES/mailer.mo`` for each language."""
    sources = catalogues()
    stale = [po for po in sources if _stale(po, po.with_suffix(".mo"))]
    if not stale:
        return SOURCE_DIR
    try:
        for po in stale:
            compile_catalogue(po, po.with_suffix(".mo"))
        return SOURCE_DIR
    except OSError:
        pass
    # A read-only install without compiled catalogues: compile them once per content.
    digest = hashlib.sha256(b"".join(po.read_bytes() for po in sources)).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"mailer-locale-{os.getuid()}-{digest}"
    for po in sources:
        mo = target / po.relative_to(SOURCE_DIR).with_suffix(".mo")
        if not mo.exists():
            compile_catalogue(po, mo)
    return target
