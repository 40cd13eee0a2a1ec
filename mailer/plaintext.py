"""The plain-text part as a person reads it: Markdown rendered to text, lines wrapped.

A mail client that shows the text part (or a reader that reads it aloud) gets sentences,
not markup: no ``**``, ``##`` or ``[text](url)``. Links become numbered references
(``the portal [1]``, the list at the end of the text) unless the text is the address
itself; every line is wrapped at :data:`WIDTH` columns, because RFC 5322 asks for lines of
at most 78 and many clients do not wrap text they are given. An address is never broken
(it would stop working when clicked): it gets a line of its own instead, or stays after a
short label ("Anmäl dig: https://..."): the one kind of line that may be longer.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it.tree import SyntaxTreeNode

WIDTH = 78  # RFC 5322: at most 78 characters a line
# The longest text kept on the line of an address that follows it ("Visa i webbläsare:").
LABEL = 24
# An address that must not be broken: on a line of its own when the line is too long.
URL = re.compile(r"(?:https?://|mailto:)\S+")
# The signature separator (RFC 3676 4.3): its space is what mail clients know it by.
SIGNATURE_SEPARATOR = "-- "
# A list item's marker, or an indent: what a wrapped line's continuation lines align to.
# Stands for a space that must not break while lines are wrapped (textwrap breaks at
# ASCII whitespace only); a control character, so never in the text itself.
_GLUE = "\x00"
_LEAD = re.compile(r"^(\s*(?:[-*+•]|\d{1,3}[.)]|>)?\s+|\s+)")


def wrap(
    text: str,
    *,
    width: int = WIDTH,
    placeholders: re.Pattern[str] | None = None,
    together: Iterable[str] = (),
) -> str:
    """Every line of ``text`` longer than ``width`` wrapped at spaces, never in a word.

    An address in a line too long is put on a line of its own, or after a short label
    ("Anmäl dig: https://..."), so only such a line can be longer. What ``placeholders``
    matches (an address not filled in yet, whose length is not known) is placed the same
    way, whatever the line's length. A list item's continuation lines line up
    under its text. The phrases ``together`` (a date: "tisdag 16 mars 2027") are not
    broken over two lines.
    """
    for phrase in sorted(filter(None, together), key=len, reverse=True):
        if len(phrase) <= width // 2:
            text = text.replace(phrase, phrase.replace(" ", _GLUE))
    own_line = URL
    if placeholders is not None:
        # With what follows it up to a space ("%%url%%."), as an address keeps its stop.
        own_line = re.compile(rf"{URL.pattern}|(?:{placeholders.pattern})\S*")
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width and not (placeholders and placeholders.search(line)):
            out.append(line if line == SIGNATURE_SEPARATOR else line.rstrip())
        else:
            out.extend(_wrap_line(line.rstrip(), width, own_line))
    return "\n".join(out).replace(_GLUE, " ")


def _wrap_line(line: str, width: int, own_line: re.Pattern[str]) -> list[str]:
    found = list(own_line.finditer(line))
    lead = _LEAD.match(line)
    first = lead.group(1) if lead else ""
    rest = " " * len(first)
    out: list[str] = []
    position = len(first)
    prefix = first
    for match in [*found, None]:
        end = match.start() if match else len(line)
        words = line[position:end].strip()
        if words:
            out += _fill(words, width, prefix, rest)
            prefix = rest
        if match and words and len(out[-1].strip()) <= LABEL:
            out[-1] += " " + match.group()
            prefix = rest
            position = match.end()
        elif match:
            out.append(prefix + match.group())
            prefix = rest
            position = match.end()
    if not out and first.strip():
        out.append(first.rstrip())
    return out


def _fill(words: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        words,
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def markdown_text(source: str, *, width: int = WIDTH) -> str:
    """``source`` (CommonMark) as plain text wrapped at ``width``, with its links as
    numbered references listed at the end."""
    from markdown_it import MarkdownIt
    from markdown_it.tree import SyntaxTreeNode

    tree = SyntaxTreeNode(MarkdownIt("commonmark", {"html": False}).parse(source))
    writer = _Writer()
    lines = writer.blocks(tree.children, width)
    if writer.references:
        lines += ["", *(f"[{n}] {url}" for n, url in enumerate(writer.references, start=1))]
    return "\n".join(lines)


class _Writer:
    """Walks markdown-it's syntax tree; keeps the links it has numbered."""

    def __init__(self) -> None:
        self.references: list[str] = []

    def blocks(self, nodes: list[SyntaxTreeNode], width: int, *, tight: bool = False) -> list[str]:
        out: list[str] = []
        for node in nodes:
            lines = self.block(node, width)
            if out and lines and not tight:
                out.append("")
            out += lines
        return out

    def block(self, node: SyntaxTreeNode, width: int) -> list[str]:
        kind = node.type
        if kind == "paragraph":
            return self.paragraph(node, width)
        if kind == "heading":
            lines = self.paragraph(node, width)
            rule = "=" if node.tag == "h1" else "-"
            return [*lines, rule * min(width, max(map(len, lines), default=0))]
        if kind in ("bullet_list", "ordered_list"):
            return self.items(node, width)
        if kind == "blockquote":
            return [f"> {line}".rstrip() for line in self.blocks(node.children, width - 2)]
        if kind in ("fence", "code_block"):
            return ["    " + line for line in node.content.rstrip("\n").split("\n")]
        if kind == "hr":
            return ["* * *"]
        if kind == "html_block":  # not made with html=False; shown as it is if it ever is
            return node.content.rstrip("\n").split("\n")
        return self.blocks(node.children, width)

    def paragraph(self, node: SyntaxTreeNode, width: int) -> list[str]:
        text = "".join(self.inline(child) for child in _inline_children(node))
        out: list[str] = []
        for line in text.split("\n"):  # a hard line break stays one
            out += _fill(" ".join(line.split()), width, "", "")
        return out

    def items(self, node: SyntaxTreeNode, width: int) -> list[str]:
        ordered = node.type == "ordered_list"
        start = int(str(node.attrs.get("start", 1))) if ordered else 1
        last = start + len(node.children) - 1
        marker_width = len(f"{last}. ") if ordered else 2
        # A tight list (no blank lines between items) has hidden paragraphs.
        tight = all(child.hidden for item in node.children for child in item.children if child.type)
        out: list[str] = []
        for number, item in enumerate(node.children, start=start):
            marker = f"{number}. " if ordered else "- "
            body = self.blocks(item.children, width - marker_width, tight=tight) or [""]
            if out and not tight:
                out.append("")
            out.append((marker.ljust(marker_width) + body[0]).rstrip())
            out += [(" " * marker_width + line).rstrip() for line in body[1:]]
        return out

    def inline(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind in ("text", "code_inline", "html_inline"):
            return node.content
        if kind == "softbreak":
            return " "
        if kind == "hardbreak":
            return "\n"
        if kind == "link":
            return self.link(node)
        if kind == "image":
            alt = "".join(self.inline(child) for child in node.children)
            return f"[{alt}]" if alt else ""
        return "".join(self.inline(child) for child in node.children)  # strong, em

    def link(self, node: SyntaxTreeNode) -> str:
        href = str(node.attrs.get("href", ""))
        label = "".join(self.inline(child) for child in node.children).strip()
        if not href:
            return label
        if _same_address(label, href):
            return href.removeprefix("mailto:") if href.startswith("mailto:") else href
        if href not in self.references:
            self.references.append(href)
        number = self.references.index(href) + 1
        return f"{label} [{number}]" if label else f"[{number}]"


def _inline_children(node: SyntaxTreeNode) -> Iterator[SyntaxTreeNode]:
    for child in node.children:
        if child.type == "inline":
            yield from child.children


def _same_address(label: str, href: str) -> bool:
    """Whether a link's text is its address already (an autolink, or the address without
    its scheme): then the address stands in the text, not a reference."""

    def bare(value: str) -> str:
        value = value.strip().lower()
        for scheme in ("https://", "http://", "mailto:"):
            value = value.removeprefix(scheme)
        return value.rstrip("/")

    return bool(label) and bare(label) == bare(href)
