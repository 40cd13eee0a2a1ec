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
    """A ``help`` (and ``short_help``) attribute kept as its msgid, read translated."""

    _help_msgid: str | None = None
    _short_help_msgid: str | None = None

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


class Option(_TranslatedHelp, click.Option):
    pass


class Command(_TranslatedHelp, click.Command):
    pass


class Group(_TranslatedHelp, click.Group):
    command_class = Command
    group_class = type  # subgroups are Groups too


# Use these instead of click.option / click.group / click.command.
option = functools.partial(click.option, cls=Option)


def group(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Group]:
    made: Callable[[Callable[..., Any]], Group] = click.group(*args, cls=Group, **kwargs)
    return made


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Command]:
    made: Callable[[Callable[..., Any]], Command] = click.command(*args, cls=Command, **kwargs)
    return made
