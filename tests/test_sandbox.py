"""A member's template runs in Jinja2's sandbox: it cannot reach Python or the file system."""

from __future__ import annotations

import copy
import subprocess
import sys
import time

import pytest

from mailer import sandbox
from mailer.config import load_network
from mailer.errors import TemplateError
from mailer.render import Renderer
from tests.helpers import REPO, edit_channel

HOSTILE = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "not allowed in a template"),
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "not allowed in a template"),
    ("{{ seminar.__class__.__init__.__globals__ }}", "not allowed in a template"),
    ("{{ t.contact.format(name=coordinator.__class__) }}", "not allowed in a template"),
    ("{{ member.channel.password() }}", "not allowed in a template"),
    ("{{ member.channel.password_env }}", "not allowed in a template"),
    ("{{ member.model_dump() }}", "not allowed in a template"),
    ("{% include '../network.toml' %}", "template not found"),
    ("{% include '/etc/passwd' %}", "template not found"),
    ("{{ range(10**9) | list }}", "not allowed in a template"),
]


@pytest.mark.parametrize(("code", "error"), HOSTILE)
def test_a_hostile_template_gets_one_clear_line(cli, workspace, monkeypatch, code, error):
    # The first member sends by SMTP with its password set: the template must not reach it.
    monkeypatch.setenv("MSB_SMTP_PASSWORD", "Hemligt-lösen0rd!7")
    edit_channel(
        workspace,
        "lansstyrelsen-varmland",
        type="smtp",
        path=None,
        host="127.0.0.1",
        port=9,
        security="none",
        username="msb",
        password_env="MSB_SMTP_PASSWORD",
    )
    template = workspace / "templates" / "invitation.html"
    lines = template.read_text(encoding="utf-8").splitlines()
    lines.insert(4, code)
    template.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("check")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert error in line
    assert "invitation.html" in line or "templates" in line
    assert "Traceback" not in result.output + result.stderr
    assert not (workspace / "outbox").exists()
    assert "Hemligt" not in result.output + result.stderr


# -- failures while a template runs ------------------------------------------------------------

# (code put on line 5 of invitation.html, a fragment of the one line it must give)
AT_RENDER_TIME = [
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls itself without end"),
    (
        "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
        "calls itself without end",
    ),
    ('{% include "invitation.html" %}', "calls itself without end"),
    ("{{ 10 ** (10 ** 10) }}", "a number over 1,200 digits"),
    ("{{ 2 ** 99999999999 }}", "a number over 1,200 digits"),
    ("{{ (10 ** 1000) * (10 ** 1000) }}", "a number over 1,200 digits"),
    ("{{ 'x' * 10**10 }}", "a str repeated 10000000000 times is too long"),
    ("{{ 10**10 * [1] }}", "a list repeated 10000000000 times is too long"),
    ("{{ 'x' | center(10000000000) }}", "too large a width or count"),
    ("{{ 'x'.ljust(10000000000) }}", "too large a width or count"),
    ("{{ '{:>10000000000}'.format(1) }}", "too large a width or count"),
    ("{{ '%10000000000d' % 1 }}", "too large a width or count"),
    ("{{ '%*d' % (10000000000, 1) }}", "too large a width or count"),
    ("{{ '%10000000000d' | format(1) }}", "too large a width or count"),
    ("{{ [1] | batch(10000000000, 0) | list }}", "too large a width or count"),
    ("{{ lipsum(1000000) }}", "lipsum of 1000000 paragraphs"),
    ("{{ (range(100000) | batch(1) | list) | sum(start=[]) }}", "sum adds up numbers only"),
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "the template writes more than 5 MB",
    ),
    ("{{ programme.append({}) }}", "access to attribute 'append' of 'list' object is unsafe"),
    ("{{ s.update({'title': 'x'}) }}", "access to attribute 'update' of 'dict' object is unsafe"),
    ("{{ t.pop('greeting') }}", "access to attribute 'pop' of 'dict' object is unsafe"),
    ("{% set x = seminar.programme.clear() %}", "'clear' of 'list' object is unsafe"),
    ("{% do s.clear() %}", "syntax error: Encountered unknown tag 'do'"),
    ("{{ seminar.titel }}", "has no attribute 'titel'"),
    ("{{ s.keys().nothing }}", "has no attribute 'nothing'"),
    ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
    ("{{ '%d' % 'x' }}", "TypeError: %d format"),
    ("{{ 'x' | indent(width=none) }}", "template error: TypeError"),
    ("{{ programme[0].nope }}", "undefined variable: 'dict object' has no attribute 'nope'"),
    ("{{ s.title.split(none, 'x') }}", "template error: TypeError"),
]


@pytest.mark.parametrize("command", [("preview",), ("send", "--dry-run")], ids=["preview", "dry"])
@pytest.mark.parametrize(("code", "error"), AT_RENDER_TIME)
def test_a_template_failing_at_render_time_is_one_line(cli, workspace, command, code, error):
    template = workspace / "templates" / "invitation.html"
    lines = template.read_text(encoding="utf-8").splitlines()
    lines.insert(4, code)
    template.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli(command[0], "invitation", "2", *command[1:])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert f"{template}:5: " in line
    assert error in line
    assert "Traceback" not in result.output + result.stderr
    assert not (workspace / "outbox").exists()


def test_the_line_is_in_the_included_file_that_fails(cli, workspace):
    included = workspace / "templates" / "_event.html"
    included.write_text("\n\n{{ 1 // 0 }}\n", encoding="utf-8")
    result = cli("send", "invitation", "2", "--dry-run")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"{included}:3: template error: ZeroDivisionError" in line


@pytest.mark.parametrize(
    "code",
    [
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{{ 'x' * 10**10 }}",
        "{{ t.setdefault('greeting', 'x') }}",
    ],
)
def test_a_real_process_ends_with_one_line_and_exit_2(workspace, code):
    # Recursion depth and memory are those of a real interpreter, not of the test runner's.
    template = workspace / "templates" / "invitation.txt"
    template.write_text(template.read_text(encoding="utf-8") + code + "\n", encoding="utf-8")
    network = str(workspace / "network.toml")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailer",
            "--network",
            network,
            "send",
            "invitation",
            "2",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"{template}:" in line
    assert "Traceback" not in proc.stderr


# Templates that would run for ever: nothing in them is large, they just never finish.
FOR_EVER = [
    "{% set r = range(100000) %}{% for a in r %}{% for b in r %}{% for c in r %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    # No loop at all: 2**60 macro calls, never deeper than 60.
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    # A filtered loop around a recursive one.
    "{% for a in range(100000) if a >= 0 %}{% for b in [range(100000)] recursive %}"
    "{% if b is not number %}{{ loop(b) }}{% endif %}{% endfor %}{% endfor %}",
]


@pytest.mark.parametrize("command", [("preview",), ("send", "--dry-run")], ids=["preview", "dry"])
@pytest.mark.parametrize("code", FOR_EVER, ids=["loops", "macro", "recursive"])
def test_a_template_that_runs_for_ever_stops_at_the_time_bound(
    cli, workspace, monkeypatch, command, code
):
    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", 1)
    template = workspace / "templates" / "invitation.html"
    lines = template.read_text(encoding="utf-8").splitlines()
    lines.insert(4, code)
    template.write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = time.monotonic()
    result = cli(command[0], "invitation", "2", *command[1:])
    elapsed = time.monotonic() - start
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert f"{template}:5: the template ran for more than 1 second (" in line, line
    assert "Traceback" not in result.output + result.stderr
    assert not (workspace / "outbox").exists()
    # The text template renders first, in well under the bound; then the HTML hits it.
    assert elapsed < 1 + 5, elapsed


def test_the_time_bound_holds_for_each_rendering_not_the_process(workspace, monkeypatch):
    # Each rendering gets its own deadline: a second rendering after a slow first is not
    # cut short, and a loop that ends in time renders as before.
    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", 1)
    template = workspace / "templates" / "invitation.txt"
    code = "{% for i in range(100000) %}{% if loop.last %}{{ loop.length }}{% endif %}{% endfor %}"
    template.write_text(template.read_text(encoding="utf-8") + code + "\n", encoding="utf-8")
    network = load_network(workspace / "network.toml")
    renderer = Renderer(network)
    for member in ("msb", "konsumentverket"):
        start = time.monotonic()
        variant = renderer.variant("invitation", network.seminar(2), "sv", network.member(member))
        assert time.monotonic() - start < 1
        assert "100000" in "".join(variant.text)
    time.sleep(1.1)  # past the first rendering's deadline: none is left behind
    renderer.variant("invitation", network.seminar(2), "en", network.member("msb"))


def test_a_refused_change_leaves_the_data_as_it_was(workspace):
    network = load_network(workspace / "network.toml")
    renderer = Renderer(network)
    before = copy.deepcopy(renderer.strings("sv"))
    template = workspace / "templates" / "invitation.txt"
    body = template.read_text(encoding="utf-8")
    template.write_text(body + "{{ t.update({'greeting': 'Pwned'}) }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="'update' of 'dict' object is unsafe"):
        renderer.variant("invitation", network.seminar(2), "sv", network.member("msb"))
    assert renderer.strings("sv") == before


def test_ordinary_arithmetic_and_padding_still_render(workspace):
    template = workspace / "templates" / "invitation.txt"
    code = (
        "{{ 10 ** 10 ** 10 }}|{{ 'ab' * 3 }}|{{ 2 ** 8 }}|{{ 6 * 7 }}|{{ 'a%5sb' % 'x' }}|"
        "{{ '{:>4}'.format('y') }}|{{ 'x' | center(5) }}|{{ '%3d' | format(7) }}|"
        "{{ lipsum(1, html=false) | wordcount > 0 }}|{{ [1, 2, 3] | batch(2) | list }}"
    )
    template.write_text(template.read_text(encoding="utf-8") + code + "\n", encoding="utf-8")
    network = load_network(workspace / "network.toml")
    variant = Renderer(network).variant(
        "invitation", network.seminar(2), "sv", network.member("msb")
    )
    # Jinja reads ** from the left: 10 ** 10 ** 10 is (10 ** 10) ** 10, a 101-digit number.
    expected = f"{10**100}|ababab|256|42|a    xb|   y|  x  |  7|True|[[1, 2], [3]]"
    assert expected in "".join(variant.text)


def test_there_is_one_template_environment():
    # Every template renders in mailer.sandbox's environment; a second one would escape it.
    sources = [p for p in (REPO / "mailer").rglob("*.py") if "Environment(" in p.read_text()]
    assert sources == []
