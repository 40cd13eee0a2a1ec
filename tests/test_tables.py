"""The terminal: tables fit 80 columns without cutting a word, members are named and
ordered as in network.toml in every table, and an error is said once."""

from __future__ import annotations

import io
import socket
import tomllib
from pathlib import Path

import pytest
from rich.console import Console

from mailer.cli.tables import Column, print_table
from tests.helpers import use_smtp

# The words of every header the send's plan, its pace and the status tables may show.
HEADERS = {
    "en": ["member", "channel", "people", "to send", "rate", "connections", "est. time"],
    "sv": ["medlem", "kanal", "personer", "att skicka", "takt", "anslutningar", "beräknad tid"],
}


def member_names(workspace: Path) -> list[str]:
    data = tomllib.loads((workspace / "network.toml").read_text(encoding="utf-8"))
    return [m.get("short_name") or m["name"] for m in data["members"]]


def table_column(output: str, names: list[str]) -> list[str]:
    """The members a table's first column names, in the order it names them."""
    return [
        name
        for line in output.splitlines()
        if line.startswith("│")
        for name in [line.split("│")[1].strip()]
        if name in names
    ]


def assert_fits(output: str, width: int) -> None:
    for line in output.splitlines():
        assert len(line) <= width, line
    assert "…" not in output, "a cell or header was cut"


@pytest.mark.parametrize("language", ["en", "sv"])
@pytest.mark.parametrize("width", [80, 120])
def test_the_plan_fits_the_terminal_and_no_word_is_cut(
    cli, workspace, monkeypatch, language, width
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("MAILER_LANGUAGE", language)
    result = cli("send", "invitation", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    plan = result.output.split("\n\n")[0]
    assert_fits(plan, width)
    words = {w for header in HEADERS[language] for w in header.split()}
    shown = {w for line in plan.splitlines() for w in line.replace("┃", " ").split()}
    assert words <= shown, words - shown
    names = member_names(workspace)
    # Twice: the plan and the pace table, each in network.toml's order.
    assert table_column(plan, names) == names * 2
    if width == 120:  # room for every column, each header on one line
        header = next(
            line for line in plan.splitlines() if "to send" in line or "att skicka" in line
        )
        assert ("already sent" if language == "en" else "redan skickade") in header


def test_status_names_members_as_send_does_in_network_order(cli, workspace, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert cli("send", "invitation", "2", "--yes").exit_code == 0
    sent = cli("send", "invitation", "2", "--resend", "--yes", "--org", "msb")
    status = cli("status", "invitation-2")
    names = member_names(workspace)
    assert table_column(status.output, names) == names
    assert_fits(status.output, 80)
    assert table_column(sent.output, names) == ["MSB"] * 3  # plan, pace, results


def test_a_table_too_wide_for_any_layout_is_stacked_never_cut() -> None:
    out = Console(file=io.StringIO(), width=40, color_system=None)
    columns = [Column("member", right=False), Column("people"), Column("quota left/day")]
    columns += [Column("not tried", optional=True), Column("estimated completion")]
    rows = [["Förvaltningsrätten i Karlstad", "3", "1000 of 2000", "0", "Tuesday 16 March"]]
    print_table("Pace", columns, rows, out)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert_fits(text, 40)
    assert "Förvaltningsrätten i Karlstad" in text
    assert any(
        line.split() == ["quota", "left/day:", "1000", "of", "2000"] for line in text.splitlines()
    )
    assert "not tried" not in text  # said nothing: left out


def test_a_table_that_fits_is_a_table() -> None:
    out = Console(file=io.StringIO(), width=80, color_system=None)
    print_table("T", [Column("member", right=False), Column("sent")], [["MSB", "4"]], out)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "┃ member ┃ sent ┃" in text and "│ MSB    │    4 │" in text


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            "MSB: cannot connect to 127.0.0.1:{port}: connection refused (gave up after 2 tries)",
        ),
        (
            "sv",
            "MSB: kan inte ansluta till 127.0.0.1:{port}: anslutningen nekades "
            "(gav upp efter 2 försök)",
        ),
    ],
)
def test_a_refused_connection_is_said_once_in_the_persons_language(
    cli, workspace, monkeypatch, language, expected
) -> None:
    port = closed_port()
    use_smtp(workspace, "msb", port, retries=1)
    monkeypatch.setenv("MAILER_LANGUAGE", language)
    result = cli("send", "invitation", "2", "--yes", "--org", "msb")
    assert result.exit_code == 1
    line = expected.format(port=port)
    assert line in result.output
    assert result.output.count(str(port)) == 1, result.output
    assert "Errno" not in result.output and "Connect call failed" not in result.output


def test_status_says_when_the_last_message_left_as_people_read_dates(cli, monkeypatch) -> None:
    import datetime as dt
    import json
    from zoneinfo import ZoneInfo

    from mailer.dates import moment

    assert cli("send", "invitation", "2", "--yes").exit_code == 0
    monkeypatch.setenv("MAILER_LANGUAGE", "sv")
    swedish = cli("status", "invitation-2").output
    monkeypatch.setenv("MAILER_LANGUAGE", "en")
    english = cli("status", "invitation-2").output
    (sv_line,) = [x for x in swedish.splitlines() if x.startswith("Senast skickat: ")]
    (en_line,) = [x for x in english.splitlines() if x.startswith("Last sent: ")]
    today = moment(dt.datetime.now(dt.UTC), ZoneInfo("Europe/Stockholm"), "sv")
    assert sv_line.split(" kl. ")[0] == "Senast skickat: " + today.split(" kl. ")[0]
    assert " at " in en_line and "T" not in en_line.split(": ", 1)[1]
    # --json is for programs: counts, no sentence and no date in a language.
    counts = json.loads(cli("status", "invitation-2", "--json").output)
    assert counts["invitation-2"]["members"]["msb"]["sent"] == 4


def test_graph_out_of_reach_is_said_once_too(cli, workspace, entra_graph, monkeypatch) -> None:
    from tests.graph_server import SECRET
    from tests.helpers import use_graph

    monkeypatch.setenv("MSB_CLIENT_SECRET", SECRET)
    port = closed_port()
    # Tokens from the stand-in; sendMail at a port where nobody listens.
    use_graph(workspace, "msb", entra_graph.base, graph_url=f"https://127.0.0.1:{port}", retries=0)
    result = cli("send", "invitation", "2", "--yes", "--org", "msb")
    assert result.exit_code != 0
    assert "MSB: cannot reach Microsoft Graph: connection refused" in result.output, result.output
    assert "Errno" not in result.output
