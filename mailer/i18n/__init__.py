"""One message catalogue for every line a person reads (gettext, compiled by Babel).

Code writes its messages in English, marked for the catalogue: ``_("Sent {n}.")``,
``ngettext("{n} address", "{n} addresses", n)``, or ``N_("...")`` where the text is only
named now and translated when shown. The translations live in
``mailer/locale/<language>/LC_MESSAGES/mailer.po`` (``python -m mailer.i18n.catalog
update`` keeps them in step with the code; a test fails on a message left untranslated).

Which language speaks is a context variable, so one process can serve several people:
the CLI sets it once per run (``--language``, then ``MAILER_LANGUAGE``, then the
network's language), the web service per request, the mail per person.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext as _gettext
import os
from collections.abc import Iterator

from mailer.i18n.compiled import DOMAIN, locale_dir

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
LANGUAGE_ENV = "MAILER_LANGUAGE"

_language: contextvars.ContextVar[str] = contextvars.ContextVar(
    "mailer_language", default=DEFAULT_LANGUAGE
)
# Whether a person chose the language (--language, MAILER_LANGUAGE) rather than it coming
# from a network: a member opening a bundle gets the bundle's language unless they chose.
_chosen: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mailer_language_chosen", default=False
)


def supported(language: str | None) -> str | None:
    """``language`` when the catalogue speaks it ('sv', 'en'; 'sv-SE' counts as 'sv')."""
    if not language:
        return None
    short = language.strip().lower().replace("_", "-").split("-")[0]
    return short if short in LANGUAGES else None


def current_language() -> str:
    return _language.get()


def language_chosen() -> bool:
    """True when the person chose the language, so no network's language overrides it."""
    return _chosen.get()


def set_language(language: str, *, chosen: bool = False) -> None:
    """Speak ``language`` from now on in this context (and in Click's own messages)."""
    checked = supported(language) or DEFAULT_LANGUAGE
    _language.set(checked)
    _chosen.set(chosen)
    # Click translates its own words ("Usage:", "Error:") through the standard gettext
    # functions, which read the domain and the LANGUAGE variable of the process.
    _gettext.bindtextdomain(DOMAIN, str(locale_dir()))
    _gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = checked


def follow_network(language: str | None) -> None:
    """The network's language, unless the person chose one."""
    if not language_chosen() and supported(language):
        set_language(language or DEFAULT_LANGUAGE)


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Speak ``language`` inside the block only (one web request, one person's mail)."""
    token = _language.set(supported(language) or DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


@functools.cache
def translator(language: str) -> _gettext.NullTranslations:
    return _gettext.translation(DOMAIN, str(locale_dir()), languages=[language], fallback=True)


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return translator(_language.get()).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message that fits the number ``n``: '1 adress', '2 adresser'."""
    return translator(_language.get()).ngettext(singular, plural, n)


def translate(message: str, language: str) -> str:
    """``message`` in a given language, whatever the current one is."""
    return translator(supported(language) or DEFAULT_LANGUAGE).gettext(message)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it yet."""
    return message


def network_language(explicit: str | None = None) -> str | None:
    """The network's language, read before anything else so that even ``--help`` and an
    error about the file itself speak it. The file is found as ``config.find_config``
    finds it (``--network``, ``$MAILER_NETWORK``, ``./network.toml``); None when it cannot
    tell (loading the network then says why). Plain tomllib: no pydantic before --help.
    """
    import tomllib
    from pathlib import Path

    path = Path(explicit or os.environ.get("MAILER_NETWORK") or "network.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    network = data.get("network")
    language = network.get("language") if isinstance(network, dict) else None
    return supported(language) if isinstance(language, str) else None


def genitive(name: str, language: str | None = None) -> str:
    """A name in the genitive: 'MSB:s', 'Lars', 'Karlstads', "Region's".

    Swedish adds a colon before the s after an abbreviation or a digit ('MSB:s'), and
    nothing after a name that ends in s, x or z ('Lars', 'Max'), following the
    Swedish Language Council's rules.
    """
    language = supported(language) or _language.get()
    if not name:
        return name
    if language == "sv":
        if name[-1].lower() in "sxz":
            return name
        if name[-1].isdigit() or (len(name) > 1 and name.isupper()):
            return f"{name}:s"
        return f"{name}s"
    return f"{name}'" if name.endswith("s") else f"{name}'s"
