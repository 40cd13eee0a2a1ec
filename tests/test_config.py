"""network.toml: the example loads; each kind of mistake is one clear line, exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer.config import load_network
from mailer.errors import ConfigError


def test_example_network_loads(workspace: Path) -> None:
    network = load_network(workspace / "network.toml")
    assert network.network.name == "Öppna data Värmland"
    assert network.coordinator.member == "lansstyrelsen-varmland"
    assert [m.id for m in network.members][:2] == ["lansstyrelsen-varmland", "msb"]
    assert len(network.members) == 9
    assert [s.number for s in network.seminars] == [1, 2, 3]
    assert network.seminar(1).held and not network.seminar(2).held
    assert network.seminar(2).date.year == 2027


def edit(workspace: Path, old: str, new: str) -> Path:
    path = workspace / "network.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


CASES = [
    # (old text, new text, expected message fragment, line marker)
    (
        'list_domain = "oppnadata-varmland.example"',
        'list_domain = "oppnadata-varmland.example"\nlist_domian = "x"',
        "unknown key 'network.list_domian'",
        'list_domian = "x"',
    ),
    ('name = "Eva Lindqvist"\n', "", "missing 'coordinator.name'", "[coordinator]"),
    (
        'path = "outbox/msb"',
        'path = "outbox/msb"\nrate_per_minute = "fast"',
        "members[1].channel.rate_per_minute",
        'rate_per_minute = "fast"',
    ),
    (
        'member = "lansstyrelsen-varmland"',
        'member = "skatteverket"',
        "coordinator.member 'skatteverket' is not a member",
        None,
    ),
    (
        'type = "maildir"\npath = "outbox/msb"',
        'type = "smtp"\nhost = "smtp.msb.example"\nsecurity = "none"',
        "security = 'none' is only allowed for localhost",
        None,
    ),
    (
        'type = "maildir"\npath = "outbox/msb"',
        'type = "pigeon"\npath = "outbox/msb"',
        "members[1].channel",
        'type = "pigeon"',
    ),
    (
        'type = "maildir"\npath = "outbox/msb"',
        'type = "smtp"\nhost = "smtp.msb.example"\nusername = "u"\npassword = "hunter2"',
        "holds a secret in clear text",
        'password = "hunter2"',
    ),
    ("date = 2027-03-16", "date = 2027-03-16\nend = 07:00:00", "end must be after start", None),
    ("[network]", "[network\n", "not valid TOML", None),
]


@pytest.mark.parametrize(("old", "new", "message", "marker"), CASES)
def test_config_mistakes_are_one_clear_line(workspace, cli, old, new, message, marker):
    path = edit(workspace, old, new)
    with pytest.raises(ConfigError) as info:
        load_network(path)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith(str(path))
    assert re.match(rf"{re.escape(str(path))}:\d+: ", text), "names the line"
    if marker:
        assert f":{line_of(path, marker)}:" in text

    result = cli("send", "invitation", "2", "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not (workspace / "outbox").exists()


def test_secret_never_echoed(workspace, cli):
    edit(
        workspace,
        'type = "maildir"\npath = "outbox/msb"',
        'type = "smtp"\nhost = "smtp.msb.example"\nusername = "u"\npassword = "hunter2"',
    )
    result = cli("check")
    assert result.exit_code == 2
    assert "hunter2" not in result.output + result.stderr


def test_missing_config_says_how_to_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="mailer init"):
        load_network(None)


def test_network_env_variable_selects_config(workspace, monkeypatch):
    monkeypatch.setenv("MAILER_NETWORK", str(workspace / "network.toml"))
    assert load_network(None).root == workspace.resolve()


# Numbers no run could mean: each bounded where the config is read, one line naming the key.
OUT_OF_BOUNDS = [
    (
        "[[seminars]]\nnumber = 1",
        "[[seminars]]\nnumber = 12345678901234567890",
        "seminars[0].number",
    ),
    ("[[seminars]]\nnumber = 1", "[[seminars]]\nnumber = -1", "seminars[0].number"),
    ('path = "outbox/msb"', 'path = "outbox/msb"\nrate_per_minute = 1e30', "rate_per_minute"),
    ('path = "outbox/msb"', 'path = "outbox/msb"\nrate_per_second = inf', "rate_per_second"),
    ('path = "outbox/msb"', 'path = "outbox/msb"\nrate_per_second = nan', "rate_per_second"),
    ('path = "outbox/msb"', 'path = "outbox/msb"\nretry_backoff = inf', "retry_backoff"),
    (
        'path = "outbox/msb"',
        'path = "outbox/msb"\nrecipients_per_day = 99999999999999999999',
        "recipients_per_day",
    ),
    (
        'type = "maildir"\npath = "outbox/msb"',
        'type = "smtp"\nhost = "127.0.0.1"\nsecurity = "none"\nport = -25',
        "channel.port",
    ),
    ("logo_width = 180", "logo_width = -180", "network.logo_width"),
    ("logo_width = 180", "logo_width = 180000000000", "network.logo_width"),
]


@pytest.mark.parametrize(("old", "new", "key"), OUT_OF_BOUNDS)
def test_numbers_out_of_bounds_are_one_line_naming_the_key(workspace, cli, old, new, key):
    path = edit(workspace, old, new)
    with pytest.raises(ConfigError) as info:
        load_network(path)
    text = str(info.value)
    assert key in text
    assert "\n" not in text
    assert re.match(rf"{re.escape(str(path))}:\d+: ", text), "names the line"

    result = cli("check")
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert key in line


@pytest.mark.parametrize(
    ("language", "says", "never"),
    [
        ("sv", "är inte en adress som 'Namn <a@b.example>': två punkter i rad", "periods"),
        ("en", "is not an address like 'Name <a@b.example>': two dots in a row", "två"),
    ],
)
def test_a_bad_from_address_is_explained_in_the_readers_language(
    workspace, cli, monkeypatch, language, says, never
):
    # email-validator's reason is English: the line a Swede reads has ours instead.
    monkeypatch.setenv("MAILER_LANGUAGE", language)
    edit(workspace, "MSB <seminarier@msb.example>", "MSB <seminarier..x@msb.example>")
    result = cli("check")
    assert result.exit_code == 2
    assert says in result.stderr, result.stderr
    assert never not in result.stderr
