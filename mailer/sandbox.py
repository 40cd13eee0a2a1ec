"""The one Jinja2 environment templates run in, and what it turns their failures into.

A member's template is input like any other: it may loop, recurse, multiply a string by
ten billion or call ``programme.append``. Here each of those ends as one
:class:`~mailer.errors.TemplateError` naming the template file and line, never a
traceback, a hang or changed data:

* Jinja2's ``ImmutableSandboxedEnvironment``: no Python internals, no secrets, and no
  method that changes a list, dict or set (the context is shared by every variant);
* ``*`` and ``**`` whose result would be huge, and widths or counts over the output limit
  (``'x' | center(10**9)``, ``'%999999999d'``), are refused before Python computes them;
* a template's output over :data:`MAX_OUTPUT_CHARS` stops the rendering;
* a rendering that runs past :data:`MAX_RENDER_SECONDS` stops: every ``{% for %}`` step
  and every call (a macro calling itself twice per level needs no loop to run for ever)
  checks the clock, and a template can neither catch the error nor reach the clock. One
  C-level operation runs to its end between two checks, so the few that could run long
  are refused before they start (the sizes above; ``sum`` of lists or texts);
* a macro or include loop (RecursionError) and whatever a filter raises name the line.
"""

from __future__ import annotations

import contextvars
import functools
import numbers
import operator
import re
import string
import time
import typing
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any, Literal

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailer.errors import MailerError, TemplateError
from mailer.i18n import N_, _, ngettext

# Far above any real mail (Gmail clips HTML at ~102 KB) and far below what hurts the machine.
MAX_OUTPUT_CHARS = 5_000_000
# About 1,200 decimal digits: no mail needs a longer number, and Python computes and prints
# this size at once (it refuses to print more than 4,300 digits anyway).
MAX_INT_BITS = 4_096
# A rendering takes milliseconds (a variant is rendered once, not once a person); this is
# for a template that would otherwise hang the send, with room for a busy machine.
MAX_RENDER_SECONDS = 10
# The filter every ``{% for %}`` iterates through; a name no template can write.
_LOOP_FILTER = "for loop clock"
# When the rendering under way must stop (time.monotonic()); None outside render_template.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "template_deadline", default=None
)
# Never the number itself in the message: it would be a thousand digits on one line.
_TOO_LARGE = N_("a number over 1,200 digits")


class PersonalValueCondition(Exception):
    """Raised (by a personal placeholder) when a template branches on a personal value."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class OutputTooLarge(Exception):
    """Thrown into a template whose output has passed :data:`MAX_OUTPUT_CHARS`."""


class RenderTimeout(Exception):
    """Raised inside a template whose rendering has passed :data:`MAX_RENDER_SECONDS`."""


def _check_clock() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        # Raised again at every later check: nothing in a template can swallow it for good.
        raise RenderTimeout()


@jinja2.pass_context  # also keeps Jinja from calling it while it compiles (constant folding)
def _clocked(context: jinja2.runtime.Context, iterable: Iterable[Any]) -> Iterator[Any]:
    """What a ``{% for %}`` loop iterates: the same items, checking the clock at each."""
    for item in iterable:
        _check_clock()
        yield item


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, and no secrets, pydantic machinery or huge numbers either.

    The sandbox stops templates reaching Python internals, but public methods stay
    callable, and ``member.channel.password()`` is one: a template could otherwise put a
    member's password into every message.
    """

    _DENIED = ("password", "secret", "token", "keyring", "credential")
    # Only these make a result much larger than their operands (``%`` through a width);
    # intercepting an operator costs a call each use, and the bundled templates use none.
    intercepted_binops = frozenset({"*", "**", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        name = attr.lower()
        if name.startswith("model_") or any(word in name for word in self._DENIED):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in ("center", "indent", "batch", "slice"):
            self.filters[name] = _sized(self.filters[name], _check_arguments)
        self.filters["format"] = _sized(self.filters["format"], _check_format_filter)
        self.filters["sum"] = _numbers_only(self.filters["sum"])
        self.globals["lipsum"] = _lipsum
        self.filters[_LOOP_FILTER] = _clocked

    @typing.overload
    def compile(
        self,
        source: str | nodes.Template,
        name: str | None = None,
        filename: str | None = None,
        raw: Literal[False] = False,
        defer_init: bool = False,
    ) -> CodeType: ...

    @typing.overload
    def compile(
        self,
        source: str | nodes.Template,
        name: str | None = None,
        filename: str | None = None,
        raw: Literal[True] = ...,
        defer_init: bool = False,
    ) -> str: ...

    def compile(
        self,
        source: str | nodes.Template,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> str | CodeType:
        """Compile as Jinja does, with every ``{% for %}`` iterating through the clock:
        the loop itself is plain Python, which no sandbox hook sees."""
        tree = self.parse(source, name, filename) if isinstance(source, str) else source
        for loop in tree.find_all(nodes.For):
            clocked = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None)
            loop.iter = clocked.set_lineno(loop.iter.lineno).set_environment(self)
        if raw:
            return super().compile(tree, name, filename, raw=True, defer_init=defer_init)
        return super().compile(tree, name, filename, raw=False, defer_init=defer_init)

    def call_binop(self, context: jinja2.runtime.Context, op: str, left: Any, right: Any) -> Any:
        if op == "**":
            _check_power(left, right)
            return operator.pow(left, right)
        if op == "%":
            if isinstance(left, str):
                _check_percent(left, right)
            return operator.mod(left, right)
        _check_product(left, right)
        return operator.mul(left, right)

    def call(self, context: jinja2.runtime.Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_clock()  # every macro call: recursion that doubles at each level needs no loop
        # str methods that pad to a width, and str.format (which Jinja wraps), by name.
        method = getattr(obj, "__wrapped__", obj)
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            name = getattr(method, "__name__", "")
            if name in _PADDING:
                _check_sizes(args, kwargs)
            elif name in ("format", "format_map"):
                _check_format(owner)
        return super().call(context, obj, *args, **kwargs)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_power(base: Any, exponent: Any) -> None:
    # Only int ** int grows without end; a float overflows at once (OverflowError).
    if _is_int(base) and _is_int(exponent) and abs(base).bit_length() * exponent > MAX_INT_BITS:
        raise SecurityError(_(_TOO_LARGE))


def _check_product(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and _is_int(times):
            if len(seq) * times > MAX_OUTPUT_CHARS:
                raise SecurityError(
                    _("a {type} repeated {times} times is too long").format(
                        type=type(seq).__name__, times=times
                    )
                )
            return
    if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise SecurityError(_(_TOO_LARGE))


# Filters and str methods whose output grows with a number argument (a width, a count).
_PADDING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")


def _check_sizes(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if _is_int(value) and value > MAX_OUTPUT_CHARS:
            raise SecurityError(_("{value} is too large a width or count").format(value=value))


_Check = Callable[[Any, tuple[Any, ...], dict[str, Any]], None]


def _sized(func: Callable[..., Any], check: _Check) -> Callable[..., Any]:
    """``func`` (a filter or global) with ``check`` run on its arguments first."""

    @functools.wraps(func)  # keeps Jinja's marks (pass_environment and the like)
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        check(value, args, kwargs)
        return func(value, *args, **kwargs)

    return checked


def _numbers_only(func: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja's ``sum`` filter for numbers only: from a list or text ``start`` it adds up
    lists or texts, each addition copying all before it, so that a few million items keep
    one C call busy for hours, between two checks of the clock."""

    @functools.wraps(func)  # keeps pass_environment
    def checked(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if not isinstance(start, numbers.Number):
            raise SecurityError(_("sum adds up numbers only"))
        return func(environment, iterable, attribute, start)

    return checked


def _check_arguments(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # Not the value the filter works on: only a width or count makes the output grow.
    _check_sizes(args, kwargs)


def _check_format_filter(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if isinstance(value, str):
        _check_percent(value, args or kwargs)


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's ``lipsum()`` global, bounded: up to ``max`` words a paragraph."""
    if _is_int(n) and _is_int(max) and n * max > MAX_OUTPUT_CHARS // 10:
        raise SecurityError(
            _("lipsum of {n} paragraphs of up to {max} words is too long").format(n=n, max=max)
        )
    return str(jinja2.utils.generate_lorem_ipsum(n, html, min, max))


def _check_percent(fmt: str, values: Any) -> None:
    """Widths in a printf-style format, and the values a ``*`` width takes."""
    for match in _PERCENT.finditer(fmt):
        _check_sizes(tuple(int(g) for g in match.groups() if g and g.isdigit()), {})
    if "*" in fmt:
        _check_sizes(values if isinstance(values, tuple) else (values,), {})


def _check_format(fmt: str) -> None:
    """Widths in a str.format string (``{:>10000000000}``)."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format itself says what is wrong
    for _text, _field, spec, _conversion in fields:
        _check_sizes(tuple(int(n) for n in re.findall(r"\d+", spec or "")), {})


def environment(folder: Path, *, html: bool) -> Sandbox:
    """The environment for ``.html`` templates (autoescaped) or ``.txt`` templates."""
    common: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(str(folder)),
        "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True,
    }
    if html:
        return Sandbox(autoescape=True, **common)
    return Sandbox(autoescape=False, trim_blocks=True, lstrip_blocks=True, **common)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template's output and the variables it sets at its top level (``subject``)."""

    body: str
    exports: dict[str, Any]


def render_template(env: Sandbox, name: str, ctx: dict[str, Any], *, folder: Path) -> Rendered:
    """Render ``folder/name``; every way it can fail is a TemplateError naming file and line."""
    path = folder / name
    clock = _deadline.set(time.monotonic() + MAX_RENDER_SECONDS)
    try:
        template = env.get_template(name)
        context = template.new_context(ctx)
        try:
            body = "".join(_bounded(template.root_render_func(context)))
        except Exception:
            # Re-raise with the traceback rewritten to template lines, for the message.
            env.handle_exception()
        return Rendered(body, context.get_exported())
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            _("syntax error: {problem}").format(problem=exc.message),
            path=exc.filename or path,
            line=exc.lineno,
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(
            _("template not found: {name}").format(name=exc.name),
            path=folder,
            hint=_("every mail kind needs a .html and a .txt template"),
        ) from None
    except MailerError:
        raise
    except Exception as exc:
        raise _template_error(exc, path) from None
    finally:
        _deadline.reset(clock)


def _bounded(chunks: Iterator[str]) -> Iterator[str]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            if isinstance(chunks, Generator):
                # Thrown into the template, so the traceback (and the message) has its line.
                chunks.throw(OutputTooLarge())
            raise OutputTooLarge()
        yield chunk


def _template_error(exc: Exception, path: Path) -> TemplateError:
    """The one line for an exception raised while a template ran."""
    where = _where(exc)
    line = None
    if where is not None:
        path, line = Path(where[0]), where[1]
    if isinstance(exc, PersonalValueCondition):
        return TemplateError(
            _(
                "person.{field} is used in a condition, but templates are rendered once "
                "for everybody"
            ).format(field=exc.field),
            path=path,
            line=line,
            hint=_("use person.greeting, or show the value without a condition"),
        )
    if isinstance(exc, SecurityError | OverflowError):
        what = _("not allowed in a template: {problem}").format(problem=exc)
        return TemplateError(what, path=path, line=line)
    if isinstance(exc, jinja2.UndefinedError):
        what = _("undefined variable: {problem}").format(problem=exc.message)
        return TemplateError(what, path=path, line=line)
    if isinstance(exc, jinja2.TemplateError):
        return TemplateError(
            _("template error: {problem}").format(problem=exc), path=path, line=line
        )
    if isinstance(exc, RecursionError):
        return TemplateError(
            _("the template calls itself without end"),
            path=path,
            line=line,
            hint=_("a macro that calls itself, or templates that include or extend each other"),
        )
    if isinstance(exc, OutputTooLarge):
        return TemplateError(
            _("the template writes more than {size} MB").format(size=MAX_OUTPUT_CHARS // 1_000_000),
            path=path,
            line=line,
            hint=_("look for a loop that does not end where it should"),
        )
    if isinstance(exc, RenderTimeout):
        return TemplateError(
            ngettext(
                "the template ran for more than {n} second",
                "the template ran for more than {n} seconds",
                MAX_RENDER_SECONDS,
            ).format(n=MAX_RENDER_SECONDS),
            path=path,
            line=line,
            hint=_("look for loops inside loops, or a macro that calls itself more than once"),
        )
    if isinstance(exc, MemoryError):
        what = _("the template needs more memory than there is")
        return TemplateError(what, path=path, line=line)
    # A filter or an operation that raised (1 / 0, int('x'), a method on the wrong type).
    what = _("template error: {problem}").format(problem=f"{type(exc).__name__}: {exc}")
    return TemplateError(what, path=path, line=line)


def _template_frames(exc: BaseException) -> list[tuple[str, int]]:
    """(file, line) of each template frame in the traceback, outermost first."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        # Jinja's debug machinery gives template frames the template's file and line.
        if name.endswith((".html", ".txt")):
            frames.append((name, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _where(exc: BaseException) -> tuple[str, int] | None:
    """The template file and line to name: the innermost template frame; for a recursion,
    the line that starts the loop again (the include, or the macro calling itself)."""
    frames = _template_frames(exc)
    if isinstance(exc, RecursionError):
        seen = set()
        for i, frame in enumerate(frames):
            if frame in seen:
                return frames[i - 1]
            seen.add(frame)
    return frames[-1] if frames else None
