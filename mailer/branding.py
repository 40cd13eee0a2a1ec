"""Brand colours that stay readable: WCAG 2.x contrast, computed for the configured colours.

Every colour in network.toml ends up behind or in front of text: the primary and each
member's colour are headings, links and the white text of buttons; the text colour sits on
white. Each pair must reach 4.5:1 (WCAG AA for body text), or ``mailer check`` says which
key to change. The template's own fixed colours (footer grey, dark mode) are checked by a
test with the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.config import Network
from mailer.i18n import _, current_language

MIN_CONTRAST = 4.5
WHITE = "#ffffff"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """Relative luminance of '#rrggbb' (WCAG 2.x)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(first: str, second: str) -> float:
    """The contrast ratio of two colours, 1.0 to 21.0."""
    a, b = sorted((luminance(first), luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


@dataclass(frozen=True, slots=True)
class ColourProblem:
    key: tuple[str | int, ...]  # where in network.toml, for locate_key
    what: str
    ratio: float

    def __str__(self) -> str:
        from babel.numbers import format_decimal

        language = current_language()
        return _("{what}: contrast {ratio}:1, below {minimum}:1").format(
            what=self.what,
            ratio=format_decimal(round(self.ratio, 1), format="0.0", locale=language),
            minimum=format_decimal(MIN_CONTRAST, format="0.0", locale=language),
        )


def colour_problems(network: Network) -> list[ColourProblem]:
    """Every configured colour pair that falls below 4.5:1."""
    colours = network.network.colours
    pairs: list[tuple[tuple[str | int, ...], str, str, str]] = [
        (("network", "colours", "text"), _("text on white"), colours.text, WHITE),
        (
            ("network", "colours", "primary"),
            _("white button text on the primary colour"),
            WHITE,
            colours.primary,
        ),
    ]
    for index, member in enumerate(network.members):
        if member.colour:
            pairs.append(
                (
                    ("members", index, "colour"),
                    _(
                        "{member}: white button text on its colour (also its headings on white)"
                    ).format(member=member.id),
                    WHITE,
                    member.colour,
                )
            )
    problems = []
    for key, what, fg, bg in pairs:
        ratio = contrast(fg, bg)
        if ratio < MIN_CONTRAST:
            problems.append(ColourProblem(key, what, ratio))
    return problems
