"""Rendering: inline once per variant, personal values escaped, template errors are clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.config import load_network
from mailer.errors import TemplateError
from mailer.recipients import Person
from mailer.render import Renderer


def renderer(workspace: Path) -> tuple[Renderer, object]:
    network = load_network(workspace / "network.toml")
    return Renderer(network), network


def test_inlined_html_has_no_class_only_styling(workspace):
    r, network = renderer(workspace)
    variant = r.variant("invitation", network.seminar(2), "sv", network.member("msb"))
    html = variant.fill_html(
        r.personal_values(
            Person(email="a@b.example", name="Anna Berg"), network.member("msb"), "sv", "mailto:x"
        )
    )
    assert '<h1 style="' in html  # premailer moved the CSS onto the element
    assert "@media" in html  # ...and kept the media queries it cannot inline
    assert "!important" in html
    assert 'lang="sv"' in html
    assert "Hej Anna," in html


def test_variant_is_rendered_once(workspace):
    r, network = renderer(workspace)
    first = r.variant("invitation", network.seminar(2), "sv", network.member("msb"))
    again = r.variant("invitation", network.seminar(2), "sv", network.member("msb"))
    assert first is again


def test_personal_values_are_escaped(workspace):
    r, network = renderer(workspace)
    member = network.member("msb")
    variant = r.variant("invitation", network.seminar(2), "sv", member)
    person = Person(email="a@b.example", name="<script>alert(1)</script> & Co")
    html = variant.fill_html(r.personal_values(person, member, "sv", "mailto:x"))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def write_template(workspace: Path, name: str, text: str) -> None:
    (workspace / "templates" / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "text", "fragment", "line"),
    [
        ("invitation.txt", "{% set subject %}x{% endset %}\nHello\n{% if %}\n", "syntax error", 3),
        (
            "invitation.txt",
            "{% set subject %}x{% endset %}\nHello\n\n{{ seminar.titel }}\n",
            "undefined variable",
            4,
        ),
        (
            "invitation.txt",
            "{% set subject %}x{% endset %}\n{% if person.name %}x{% endif %}\n",
            "person.name is used in a condition",
            2,
        ),
        (
            "invitation.txt",
            "{% set subject %}x{% endset %}\n{{ ''.__class__.__mro__ }}\n",
            "not allowed in a template",
            2,
        ),
        ("invitation.txt", "no subject here\n", "sets no subject", None),
    ],
)
def test_template_errors_name_file_and_line(workspace, cli, name, text, fragment, line):
    write_template(workspace, name, text)
    r, network = renderer(workspace)
    with pytest.raises(TemplateError) as info:
        r.variant("invitation", network.seminar(2), "sv", network.member("msb"))
    message = str(info.value)
    assert fragment in message
    assert name in message
    if line:
        assert f"{name}:{line}:" in message
    result = cli("send", "invitation", "2", "--yes")
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workspace / "outbox").exists()


def test_strings_must_exist_in_both_languages(workspace):
    path = workspace / "templates" / "strings.toml"
    path.write_text(path.read_text(encoding="utf-8") + '\nonly_swedish = "x"\n', encoding="utf-8")
    with pytest.raises(TemplateError, match="only_swedish"):
        renderer(workspace)
