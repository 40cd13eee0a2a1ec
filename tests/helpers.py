"""What the tests share besides fixtures: the example workspace, edits to its network.toml,
the CLI for tests that run it without a workspace, and data more than one test module uses.

Import it as ``from tests.helpers import ...`` (tests/ is a package). Fixtures live in
conftest.py; the SMTP server behind them in tests/smtp_server.py.
"""

from __future__ import annotations

import shutil
import sqlite3
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner, Result

from mailer.cli import main
from mailer.config import load_network
from mailer.recipients import merge
from tests.smtp_server import SmtpServer

REPO = Path(__file__).resolve().parent.parent
TOKEN_KEY = "test-signing-key-0123456789abcdef"
NETWORK_ID = "oppna-data-varmland"


# MSB's people on the example network's lists, in the list's order.
MSB_PEOPLE = (
    "erik.sandberg@msb.example",
    "johan.berg@msb.example",
    "maja.lund@msb.example",
    "tom.walker@msb.example",
)


def copy_workspace(root: Path) -> Path:
    """A copy of the example network at ``root`` (for tests that need a second one)."""
    root.mkdir(parents=True)
    shutil.copy2(REPO / "network.toml", root / "network.toml")
    for folder in ("templates", "recipients", "seminars", "newsletters"):
        shutil.copytree(REPO / folder, root / folder)
    return root


# -- editing network.toml ------------------------------------------------------------------
#
# Each helper parses the file, changes one table and writes it back: a test says which
# value it changes, not which text it expects to find. A value of None removes the key.
# The rewritten file keeps every value but loses the comments and the layout, so a test
# that needs a line number reads it from the file after the edit.


@contextmanager
def editing_network(workspace: Path) -> Iterator[dict[str, Any]]:
    """The parsed network.toml of ``workspace``, written back when the block ends."""
    path = workspace / "network.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    yield config
    path.write_text(tomli_w.dumps(config, multiline_strings=True), encoding="utf-8")


def _change(table: dict[str, Any], changes: dict[str, object]) -> None:
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def member_table(config: dict[str, Any], member: str) -> dict[str, Any]:
    found = [m for m in config["members"] if m["id"] == member]
    assert found, f"no member {member!r} in network.toml"
    return found[0]


def seminar_table(config: dict[str, Any], number: int) -> dict[str, Any]:
    found = [s for s in config["seminars"] if s["number"] == number]
    assert found, f"no seminar {number} in network.toml"
    return found[0]


def edit_table(workspace: Path, name: str, /, **changes: object) -> None:
    """Change a top-level table: ``edit_table(ws, "network", language="en")``."""
    with editing_network(workspace) as config:
        _change(config[name], changes)


def edit_member(workspace: Path, member: str, /, **changes: object) -> None:
    """Change a member's own keys: ``edit_member(ws, "msb", colour="#7fd1c7")``."""
    with editing_network(workspace) as config:
        _change(member_table(config, member), changes)


def edit_channel(workspace: Path, member: str, /, **changes: object) -> None:
    """Change a member's channel: ``edit_channel(ws, "msb", type="smtp", path=None, ...)``.

    ``from`` and ``reply_to`` stay unless named; ``**{"from": ...}`` sets the sender.
    """
    with editing_network(workspace) as config:
        _change(member_table(config, member)["channel"], changes)


def edit_seminar(workspace: Path, number: int, /, **changes: object) -> None:
    """Change a seminar: ``edit_seminar(ws, 2, place="Aula Magna")``."""
    with editing_network(workspace) as config:
        _change(seminar_table(config, number), changes)


def add_cancellation(workspace: Path, number: int) -> None:
    edit_seminar(
        workspace,
        number,
        cancelled={"reason": "Talarna är sjuka.", "reason_en": "The speakers are ill."},
    )


def add_change(workspace: Path, number: int, place: str, what: str) -> None:
    """Change a seminar's place the way a coordinator does: the place, and one line."""
    edit_seminar(workspace, number, place=place, changes=[{"what": what}])


def _smtp_settings(port: int, settings: dict[str, object]) -> dict[str, object]:
    # Quick retries unless a test says otherwise: the misbehaviour tests must not wait.
    values: dict[str, object] = {
        "type": "smtp",
        "path": None,
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "retry_backoff": 0.01,
        "timeout": 5,
    }
    values.update(settings)
    return values


def use_smtp(workspace: Path, member: str, port: int, **settings: object) -> None:
    """Point a member's channel (Maildir in the example) at a local SMTP server."""
    with editing_network(workspace) as config:
        channel = member_table(config, member)["channel"]
        assert channel["type"] == "maildir", member
        _change(channel, _smtp_settings(port, settings))


def use_graph(workspace: Path, member: str, base: str, **settings: object) -> None:
    """Point a member's channel at the Graph stand-in (tests/graph_server.py), which is its
    own authority too; the secret is read from MSB_CLIENT_SECRET."""
    from tests.graph_server import CLIENT, TENANT

    values: dict[str, object] = {
        "type": "graph",
        "path": None,
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret_env": "MSB_CLIENT_SECRET",
        "mailbox": "seminarier@msb.example",
        "graph_url": base,
        "authority": base,
        "rate_per_second": 1000,  # the tests must not wait 2 s a message
        "retry_backoff": 0.01,
        "timeout": 5,
    }
    values.update(settings)
    with editing_network(workspace) as config:
        _change(member_table(config, member)["channel"], values)


def use_smtp_everywhere(workspace: Path, port: int, **settings: object) -> None:
    """Point every member's Maildir channel at one local SMTP server: a real send (not a
    ``--via`` rehearsal, which keeps its own journal) whose messages a test can count."""
    with editing_network(workspace) as config:
        for member in config["members"]:
            if member["channel"]["type"] == "maildir":
                _change(member["channel"], _smtp_settings(port, settings))


# -- the CLI without a workspace, and a member's machine for bundles ----------------------


def run_mailer(
    *args: str, env: dict[str, str | None] | None = None, input: str | None = None
) -> Result:
    """Run ``mailer ARGS`` in-process with no network.toml implied by the environment."""
    return CliRunner().invoke(
        main, list(args), env={"MAILER_NETWORK": None, **(env or {})}, input=input
    )


# The sender each member's CHANNEL.toml names in the bundle tests.
FROM = {
    "msb": "MSB <seminarier@msb.example>",
    "karlstads-universitet": "KAU <oppnadata@kau.example>",
}


class Member:
    """A member's machine: a folder with its bundle, the public key and CHANNEL.toml."""

    def __init__(self, root: Path, member: str, server: SmtpServer, key: Path) -> None:
        self.root = root
        self.member = member
        self.server = server
        self.key = key
        root.mkdir(parents=True, exist_ok=True)
        self.channel = root / "CHANNEL.toml"
        self.channel.write_text(
            f'network = "{NETWORK_ID}"\nmember = "{member}"\n\n[channel]\ntype = "smtp"\n'
            f'host = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
            f'from = "{FROM[member]}"\n',
            encoding="utf-8",
        )
        self.bundle = root / f"invitation-2-{member}.zip"

    def __call__(self, *args: str, input: str | None = None) -> Result:
        result = run_mailer(*args, env={"MAILER_BUNDLE_KEY_FILE": str(self.key)}, input=input)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    def check(self, bundle: Path | None = None) -> Result:
        return self("bundle", "check", str(bundle or self.bundle), "--channel", str(self.channel))

    def send(self, bundle: Path | None = None, *extra: str) -> Result:
        return self(
            "bundle",
            "send",
            str(bundle or self.bundle),
            "--channel",
            str(self.channel),
            "--yes",
            "-q",
            *extra,
        )

    def report(self, *extra: str) -> Path:
        out = self.root / "report.json"
        result = self("bundle", "report", str(self.bundle), "-o", str(out), *extra)
        assert result.exit_code == 0, result.output
        return out


# -- data ----------------------------------------------------------------------------------

# Every mail kind of the example network: (kind, number, title, date as the Swedish mail says).
KIND_CASES = [
    ("invitation", 2, "Öppna data – innovationer", "tisdag 16 mars 2027"),
    ("reminder", 2, "Öppna data – innovationer", "tisdag 16 mars 2027"),
    ("change", 3, "Öppna data – säkerhetsaspekter", "tisdag 18 maj 2027"),
    ("summary", 1, "Öppna data – grundläggande kunskap och förståelse", "tisdag 17 mars 2026"),
    ("newsletter", 1, "Öppna data – innovationer", "tisdag 16 mars 2027"),
]


def export_bundle(coordinator: Any, member: Member, *extra: str) -> Any:
    """The coordinator exports the invitation to seminar 2 for one member's share."""
    result = coordinator(
        "bundle", "export", "invitation", "2", "--org", member.member, "-o", str(member.bundle)
    )
    assert result.exit_code == 0, result.output
    return result


def big_msb_list(workspace: Path, people: int = 40) -> list[str]:
    """Give MSB 40 people, so a mailing has a middle to be killed in."""
    emails = [f"person{i:03}@msb.example" for i in range(people)]
    lines = ["E-post,Namn,Organisation,Titel,Språk"]
    lines += [f"{e},Person {i},MSB,Handläggare,sv" for i, e in enumerate(emails)]
    (workspace / "recipients" / "msb.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return emails


KAU = "karlstads-universitet"


def share(workspace: Path, member: str) -> set[str]:
    merged = merge(load_network(workspace / "network.toml"))
    return {p.email for p in merged.people if p.sender == member}


def journal_rows(state_dir: Path, mailing: str = "invitation-2") -> dict[str, tuple[str, str]]:
    db = sqlite3.connect(state_dir / "journal.sqlite3")
    try:
        rows = db.execute(
            "SELECT email, member, state FROM deliveries WHERE mailing=?", (mailing,)
        ).fetchall()
    finally:
        db.close()
    return {email: (member, state) for email, member, state in rows}


# -- a real terminal -------------------------------------------------------------------


def in_a_terminal(args: list[str], *, columns: int, env: dict[str, str]) -> str:
    """Run ``mailer ARGS`` as a real process in a pseudo-terminal of ``columns`` columns;
    what it printed, without the terminal's colour codes."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import sys
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    environment |= {"TERM": "xterm", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "mailer", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=environment,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    text = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
