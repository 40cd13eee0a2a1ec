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

from mailer.i18n import gettext


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


class Command(_TranslatedHelp, click.Command):
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
