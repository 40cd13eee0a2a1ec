"""Reading network.toml: one line naming the file, the line and the key on any problem.

Secrets never live in the file: an SMTP channel names the *environment variable* (or the
keyring entry) that holds its password, and a secret written in clear text is refused.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mailer.config.network import DEFAULT_CONFIG, Network
from mailer.errors import ConfigError
from mailer.i18n import _

CONFIG_ENV = "MAILER_NETWORK"
_SECRET_KEYS = {"password", "passwd", "pass", "pwd", "secret", "token", "api_key", "apikey"}
_SECRET_SUFFIXES = ("_password", "_passwd", "_secret", "_token", "_api_key", "_apikey")
# scheme://user:password@host: a password hidden in a URL is still a password.
_URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)


def find_config(explicit: Path | str | None = None) -> Path:
    """The config to use: ``--network``, else ``$MAILER_NETWORK``, else ``./network.toml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path(DEFAULT_CONFIG)


def read_config_toml(path: Path, *, missing_hint: str) -> tuple[str, dict[str, Any]]:
    """The text and data of a TOML config file (network.toml, a member's CHANNEL.toml).

    Refuses an unreadable file, broken TOML and any secret in clear text, each with one
    line naming the file (and the line where it can be found).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(_("no such file"), path=path, hint=missing_hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("cannot read the file: {reason}").format(reason=exc), path=path
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise ConfigError(
            _("not valid TOML: {reason}").format(reason=exc), path=path, line=line
        ) from None
    secret = _find_secret(data)
    if secret:
        raise ConfigError(
            _("{key} holds a secret in clear text").format(key=_format_loc(secret)),
            path=path,
            line=locate_key(text, secret),
            hint=_(
                "remove it (and change the password: it has been on disk); put the password "
                "in an environment variable named by password_env, or in the system keyring "
                "named by password_keyring"
            ),
        )
    return text, data


def load_network(path: Path | str | None = None) -> Network:
    """Read and validate a network.toml; raise ConfigError with file and line on any problem."""
    path = find_config(path)
    text, data = read_config_toml(
        path,
        missing_hint=_("run 'mailer init DIR' to create a workspace, or pass --network PATH"),
    )
    try:
        network = Network.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, path, text) from None
    _check_references(network, path, text)
    network.place(path)
    return network


def _check_references(network: Network, path: Path, text: str) -> None:
    """Cross-references pydantic cannot see: unique ids, the coordinator among the members."""
    ids = [m.id for m in network.members]
    for i, member_id in enumerate(ids):
        if member_id in ids[:i]:
            raise ConfigError(
                _("member id {member} is used twice").format(member=repr(member_id)),
                path=path,
                line=locate_key(text, ("members", i, "id")),
                hint=_("every member needs its own id"),
            )
    if network.coordinator.member not in ids:
        raise ConfigError(
            _("coordinator.member {member} is not a member").format(
                member=repr(network.coordinator.member)
            ),
            path=path,
            line=locate_key(text, ("coordinator", "member")),
            hint=_("members: {ids}").format(ids=", ".join(ids)),
        )
    numbers = [s.number for s in network.seminars]
    for i, number in enumerate(numbers):
        if number in numbers[:i]:
            raise ConfigError(
                _("seminar number {number} is used twice").format(number=number),
                path=path,
                line=locate_key(text, ("seminars", i, "number")),
            )


def _line_from_message(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _is_secret_key(key: str) -> bool:
    key = key.lower()
    return key in _SECRET_KEYS or key.endswith(_SECRET_SUFFIXES)


def _find_secret(data: object, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The key path of the first value that looks like a secret written into the file."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and (
                (_is_secret_key(key) and value) or _URL_CREDENTIALS.match(value)
            ):
                return (*loc, key)
            found = _find_secret(value, (*loc, key))
            if found:
                return found
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, str) and _URL_CREDENTIALS.match(value):
                return (*loc, i)
            found = _find_secret(value, (*loc, i))
            if found:
                return found
    return None


def config_error(exc: ValidationError, path: Path, text: str) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("smtp", "maildir")))
    key = _format_loc(loc)
    kind = err["type"]
    line_loc = (*loc, "type") if kind == "union_tag_invalid" else loc
    hint = None
    if kind == "extra_forbidden":
        message = _("unknown key {key}").format(key=repr(key))
        hint = _("check the spelling; see the bundled network.toml for every key")
    elif kind == "missing":
        message = _("missing {key}").format(key=repr(key))
        hint = _("add it")
    else:
        msg = problem(err)
        message = f"{key}: {msg}" if key else msg
        shown = "input" in err and kind != "model_type" and not isinstance(err["input"], dict)
        # Said once: a message of our own that already quotes the value gets no "(got ...)".
        if shown and repr(err["input"]) not in message:
            message = _("{problem} (got {value})").format(problem=message, value=repr(err["input"]))
    return ConfigError(message, path=path, line=locate_key(text, line_loc), hint=hint)


def problem(err: Any) -> str:
    """What pydantic found wrong with one value, in the person's language: our validators'
    own words, or a sentence for each kind of error a person is likely to make."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    simple = {
        "int_type": _("must be a whole number"),
        "int_parsing": _("must be a whole number"),
        "int_from_float": _("must be a whole number"),
        "float_type": _("must be a number"),
        "float_parsing": _("must be a number"),
        "bool_type": _("must be true or false"),
        "bool_parsing": _("must be true or false"),
        "string_type": _("must be text in quotes"),
        "list_type": _("must be a list in [brackets]"),
        "dict_type": _("must be a table"),
        "model_type": _("must be a table"),
        "date_type": _("must be a date like 2026-03-16"),
        "date_parsing": _("must be a date like 2026-03-16"),
        "date_from_datetime_parsing": _("must be a date like 2026-03-16"),
        "time_type": _("must be a time like 09:30"),
        "time_parsing": _("must be a time like 09:30"),
        "string_pattern_mismatch": _("has characters that are not allowed here"),
        "string_too_short": _("must not be empty"),
        "too_short": _("must not be empty"),
    }
    if kind in simple:
        return simple[kind]
    limits = {
        "greater_than": _("must be greater than {limit}"),
        "greater_than_equal": _("must be at least {limit}"),
        "less_than": _("must be less than {limit}"),
        "less_than_equal": _("must be at most {limit}"),
    }
    if kind in limits:
        limit = next(iter(ctx.values()), "")
        return limits[kind].format(limit=limit)
    if kind == "literal_error":
        # pydantic says "'a', 'b' or 'c'": said again with the person's "or".
        choices = re.split(r", | or ", str(ctx.get("expected", "")))
        listed = choices[0]
        if len(choices) > 1:
            listed = _("{items} or {last}").format(items=", ".join(choices[:-1]), last=choices[-1])
        return _("must be one of {expected}").format(expected=listed)
    if kind == "union_tag_invalid":
        return _("unknown type {tag}; the types are {expected}").format(
            tag=repr(ctx.get("tag", "")), expected=ctx.get("expected_tags", "")
        )
    return str(err["msg"])


def _format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+(?:\s*\.\s*[A-Za-z0-9_\-\"']+)*)\s*=")


def locate_key(text: str, loc: Sequence[str | int]) -> int | None:
    """Best-effort line number of a key path such as ``members[2].channel.port``.

    tomllib gives no positions, so walk the table headers counting array-of-tables
    entries, and return the line of the longest prefix of ``loc`` that is found.
    """
    target = tuple(loc)
    best: tuple[int, int] | None = None  # (matched length, line)
    counters: dict[tuple[str | int, ...], int] = {}
    current: tuple[str | int, ...] = ()

    def consider(path: tuple[str | int, ...], lineno: int) -> None:
        nonlocal best
        n = 0
        while n < len(path) and n < len(target) and path[n] == target[n]:
            n += 1
        if n == len(path) and n > 0 and (best is None or n > best[0]):
            best = (n, lineno)

    for lineno, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            names = [p.strip().strip("\"'") for p in header.group(2).split(".")]
            path: tuple[str | int, ...] = ()
            for i, name in enumerate(names):
                path = (*path, name)
                is_last = i == len(names) - 1
                if is_last and header.group(1) == "[[":
                    index = counters.get(path, -1) + 1
                    counters[path] = index
                    # A new parent entry resets the counters of its children.
                    for k in [k for k in counters if len(k) > len(path) and k[: len(path)] == path]:
                        del counters[k]
                    path = (*path, index)
                elif path in counters:
                    path = (*path, counters[path])
            current = path
            consider(current, lineno)
            continue
        key = _KEY.match(raw)
        if key:
            parts = tuple(p.strip().strip("\"'") for p in key.group(1).split("."))
            consider((*current, *parts), lineno)
    return best[1] if best else None
