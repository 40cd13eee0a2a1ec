"""Dependencies (the standard library included) are used through their public API only:
no ``from x import _y``, no ``import x._y``, no ``x._y`` on an imported module. A private
name can change or vanish in any release (``email._encoded_words`` is one)."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import REPO

OURS = {"mailer", "tests", "bench", "hatch_build"}
# namedtuple's public methods carry an underscore so as not to clash with field names.
NAMEDTUPLE = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in NAMEDTUPLE


def _theirs(module: str) -> bool:
    return module.split(".")[0] not in OURS


def private_uses(source: str, filename: str = "<probe>") -> list[str]:
    """``file:line: what`` for every private name of a dependency that ``source`` uses."""
    found: list[str] = []
    modules: set[str] = set()  # names this file imports from a dependency
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _theirs(alias.name):
                    continue
                modules.add(alias.asname or alias.name.split(".")[0])
                if any(map(_private, alias.name.split("."))):
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if not _theirs(node.module):
                continue
            for alias in node.names:
                if any(map(_private, [*node.module.split("."), alias.name])):
                    found.append(
                        f"{filename}:{node.lineno}: from {node.module} import {alias.name}"
                    )
                else:
                    modules.add(alias.asname or alias.name)  # a module, class or function
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root: ast.expr = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in modules:
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


SOURCES = [
    *REPO.glob("mailer/**/*.py"),
    *REPO.glob("bench/*.py"),
    *(p for p in REPO.glob("tests/*.py") if p.name != "test_public_api.py"),
    REPO / "hatch_build.py",
]


def test_no_dependency_is_used_through_a_private_name() -> None:
    found = [
        use
        for path in SOURCES
        for use in private_uses(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    ]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "from email import _encoded_words",
        "import email._encoded_words as ew",
        "from email._header_value_parser import get_address_list",
        "import email\nemail._encoded_words.encode('x')",
        "import click\nclick.core._complete_visible_commands",
        "from click import core\ncore._split_opt('-x')",
        "from email.headerregistry import Address\nAddress._display_name",
    ],
)
def test_the_probe_sees_a_private_use(source: str) -> None:
    assert private_uses(source) != []


def test_the_probe_leaves_our_own_and_public_names_alone() -> None:
    source = (
        "from mailer.cli._common import say\nfrom mailer.i18n import _\nimport collections\n"
        "p = collections.namedtuple('P', 'a')(1)._replace(a=2)\nself._x = 1\n"
    )
    assert private_uses(source) == []
