"""A member's template runs in Jinja2's sandbox: it cannot reach Python or the file system."""

from __future__ import annotations

import pytest

from tests.helpers import edit_channel

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
