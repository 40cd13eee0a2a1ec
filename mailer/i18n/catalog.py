"""Keep the .po files in step with the code: ``python -m mailer.i18n.catalog update|check``.

``update`` collects every message the code marks (``_``, ``gettext``, ``N_``,
``ngettext``, ``translate``; a Click command's docstring and every ``help=`` text in
``mailer/cli``; ``{% trans %}``/``_()`` in the web templates), adds the new ones to each
language's .po file, drops the ones no longer used and keeps every translation made.
English is the language of the code, so ``en.po`` translates each message to itself
unless someone wrote a better English one. ``check`` fails (exit 1) on a message that is
missing, untranslated, fuzzy, or whose ``{placeholders}`` differ from the original.

``merge BASE OURS THEIRS`` is a git merge driver (see CONTRIBUTING in docs/architecture.md):
two branches that each added messages merge into the union instead of a conflict.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import string
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from mailer.i18n.compiled import DOMAIN, SOURCE_DIR

PACKAGE = SOURCE_DIR.parent
CALLS = {"_": 1, "gettext": 1, "N_": 1, "translate": 1, "ngettext": 2}
HELP_KEYWORDS = {"help", "short_help"}
# A msgid is the English text; an entry is its plural, if any.
Entry = tuple[str, str | None]


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_click_command(func: ast.FunctionDef) -> bool:
    for decorator in func.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _name(target) in {"command", "group"}:
            return True
    return False


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def extract_python(source: str, *, cli: bool) -> Iterator[Entry]:
    """The messages one Python module marks."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            count = CALLS.get(name or "")
            texts = [_text(arg) for arg in node.args[: count or 0]]
            if count and texts and all(texts):
                yield texts[0] or "", texts[1] if count == 2 else None
            if cli:
                for keyword in node.keywords:
                    help_text = _text(keyword.value)
                    if keyword.arg in HELP_KEYWORDS and help_text:
                        yield inspect.cleandoc(help_text), None
        elif cli and isinstance(node, ast.FunctionDef) and _is_click_command(node):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                yield doc, None


def extract_templates(paths: Iterable[Path]) -> Iterator[Entry]:
    """The messages of Jinja templates (``{% trans %}``, ``_()``, ``ngettext()``)."""
    from jinja2.ext import babel_extract

    for path in paths:
        with path.open("rb") as handle:
            for _line, _func, message, _comments in babel_extract(
                handle, list(CALLS), [], {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
            ):
                if isinstance(message, str):
                    yield message, None
                elif message and message[0]:
                    yield message[0], message[1] if len(message) > 1 else None


def extract(package: Path = PACKAGE) -> dict[str, str | None]:
    """Every message of the package, msgid → plural (None for a message without one)."""
    found: dict[str, str | None] = {}
    for path in sorted(package.rglob("*.py")):
        cli = "cli" in path.relative_to(package).parts
        for msgid, plural in extract_python(path.read_text(encoding="utf-8"), cli=cli):
            found[msgid] = plural if plural is not None else found.get(msgid)
    templates = sorted(p for p in package.rglob("*.html") if "example" not in p.parts)
    for msgid, plural in extract_templates(templates):
        found[msgid] = plural if plural is not None else found.get(msgid)
    return found


def read(path: Path) -> Catalog:
    # <language>/LC_MESSAGES/mailer.po names its language; a merge driver's temporary
    # copy does not, and the file's own "Language:" header tells it then.
    language = path.parent.parent.name if path.parent.name == "LC_MESSAGES" else None
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def write(catalog: Catalog, path: Path) -> None:
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, no_location=True, sort_output=True, omit_header=False)


# Fixed dates keep the header still, so an update changes only the messages.
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _new_catalog(language: str) -> Catalog:
    return Catalog(
        creation_date=_EPOCH,
        revision_date=_EPOCH,
        locale=language,
        domain=DOMAIN,
        project="mailer",
        version="1",
        header_comment=f"# mailer's messages ({language}); python -m mailer.i18n.catalog update",
        msgid_bugs_address="",
        copyright_holder="",
        last_translator="mailer",
        language_team=language,
        fuzzy=False,
    )


def updated(old: Catalog | None, language: str, messages: dict[str, str | None]) -> Catalog:
    """A catalogue with exactly ``messages``, keeping every translation ``old`` had."""
    catalog = _new_catalog(language)
    for msgid, plural in messages.items():
        key: str | tuple[str, str] = (msgid, plural) if plural else msgid
        previous = old.get(msgid) if old is not None else None
        translation: Any = previous.string if previous is not None else ""
        if plural and not isinstance(translation, tuple | list):
            translation = (translation, translation) if translation else ("", "")
        if not plural and isinstance(translation, tuple | list):
            translation = translation[0]
        if language == "en" and not any(translation if plural else [translation]):
            translation = (msgid, plural) if plural else msgid
        catalog.add(key, translation)
    return catalog


def _fields(text: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def problems(catalog: Catalog, messages: dict[str, str | None]) -> list[str]:
    """What is wrong with one language's catalogue, one line each."""
    found: list[str] = []
    lang = str(catalog.locale)
    for msgid in messages:
        message: Message | None = catalog.get(msgid)
        if message is None:
            found.append(f"{lang}: missing: {msgid!r}")
            continue
        strings: list[str] = (
            list(message.string or ()) if message.pluralizable else [str(message.string or "")]
        )
        if message.fuzzy or not all(strings):
            found.append(f"{lang}: untranslated: {msgid!r}")
            continue
        original = _fields(msgid) | (_fields(messages[msgid] or "") if messages[msgid] else set())
        for text in strings:
            if _fields(text) - original:
                found.append(f"{lang}: placeholders differ: {msgid!r} → {text!r}")
    for message in catalog:
        if message.id and (message.id[0] if message.pluralizable else message.id) not in messages:
            found.append(f"{lang}: no longer used (run update): {message.id!r}")
    return found


def _msgid(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def merge(base: Path, ours: Path, theirs: Path) -> int:
    """The union of two changed catalogues. A message only one side changed takes that
    side's translation; where both changed it, ours wins (``check`` still judges it)."""
    original, mine, other = read(base), read(ours), read(theirs)
    for message in other:
        if not message.id:
            continue
        current = mine.get(_msgid(message))
        before = original.get(_msgid(message))
        unchanged_here = (
            before is not None and current is not None and current.string == before.string
        )
        if current is None:
            mine[message.id] = message
        elif unchanged_here:
            # Catalog's item assignment keeps an existing message's translation: set it.
            current.string = message.string
    write(mine, ours)
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "merge":
        return merge(*(Path(arg) for arg in argv[1:4]))
    messages = extract()
    failed: list[str] = []
    for language in ("sv", "en"):
        path = SOURCE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        old = read(path) if path.exists() else None
        if command == "update":
            path.parent.mkdir(parents=True, exist_ok=True)
            write(updated(old, language, messages), path)
            old = read(path)
        failed += problems(old or _new_catalog(language), messages)
    for line in failed:
        print(line)
    print(f"{len(messages)} messages; {len(failed)} problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
