"""Click's commands and options, speaking the catalogue's language.

Help texts stay plain English literals in the code (the docstring of a command, the
``help=`` of an option), which are the catalogue's msgids; these classes look them up
when the help is shown, after the language is known, not when the module is imported.
Click's own words ("Usage:", "Error:", "Show this message and exit.") come through the
standard gettext domain that :func:`mailer.i18n.set_language` points at the catalogue.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import click

from mailer.i18n import LANGUAGE_ENV, LANGUAGES, N_, gettext, set_language


class _TranslatedHelp:
    """``help``, ``short_help`` and ``epilog`` kept as their msgids, read translated."""

    _help_msgid: str | None = None
    _short_help_msgid: str | None = None
    _epilog_msgid: str | None = None

    @property
    def help(self) -> str | None:
        return gettext(self._help_msgid) if self._help_msgid else self._help_msgid

    @help.setter
    def help(self, value: str | None) -> None:
        self._help_msgid = inspect.cleandoc(value) if value else value

    @property
    def short_help(self) -> str | None:
        msgid = self._short_help_msgid
        return gettext(msgid) if msgid else msgid

    @short_help.setter
    def short_help(self, value: str | None) -> None:
        self._short_help_msgid = inspect.cleandoc(value) if value else value

    # An epilog (a command's exit codes) is marked with N_() where it is written.
    @property
    def epilog(self) -> str | None:
        return gettext(self._epilog_msgid) if self._epilog_msgid else self._epilog_msgid

    @epilog.setter
    def epilog(self, value: str | None) -> None:
        self._epilog_msgid = value


class Option(_TranslatedHelp, click.Option):
    pass


def _fresh(option: click.Option | None) -> click.Option | None:
    """Click builds a command's --help option once and keeps it, with its help text in
    the language of that moment: say it in the language of this one."""
    if option is not None:
        option.help = gettext("Show this message and exit.")
    return option


def _choose_language(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        set_language(value, chosen=True)


def language_option(*, top: bool) -> Option:
    """``--language``: on ``mailer`` itself (also from MAILER_LANGUAGE), and on every
    command, so that ``mailer bundle status FILE --language en`` works as a person types
    it. Eager: it is settled before any other option is checked or --help is shown."""
    return Option(
        ["--language"],
        type=click.Choice(LANGUAGES),
        envvar=LANGUAGE_ENV if top else None,
        is_eager=True,
        expose_value=False,
        callback=_choose_language,
        help=N_(
            "The language of every line the tool prints (default: env MAILER_LANGUAGE, then "
            "the network's language)."
        )
        if top
        else N_("The language of every line the tool prints (as 'mailer --language')."),
    )


class Command(_TranslatedHelp, click.Command):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(language_option(top=False))

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        return _fresh(super().get_help_option(ctx))


class Group(_TranslatedHelp, click.Group):
    command_class = Command
    group_class = type  # subgroups are Groups too

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        return _fresh(super().get_help_option(ctx))


# Use these instead of click.option / click.group / click.command.
option = functools.partial(click.option, cls=Option)


def group(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Group]:
    made: Callable[[Callable[..., Any]], Group] = click.group(*args, cls=Group, **kwargs)
    return made


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Command]:
    made: Callable[[Callable[..., Any]], Command] = click.command(*args, cls=Command, **kwargs)
    return made
