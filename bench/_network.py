"""A copy of the example network whose members' lists hold N generated people.

Swedish names with å, ä, ö (a quarter English recipients), spread over the nine members'
lists as the members send them; the templates, seminars and channels are the example's.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRST = ["Åsa", "Björn", "Linnéa", "Per", "Maja", "Göran", "Karin", "Örjan", "Anna", "Erik"]
LAST = ["Östlund", "Ångström", "Berg", "Holm", "Lund", "Sjöberg", "Dahl", "Åkesson", "Ek"]
TITLES = ["Handläggare", "Enhetschef", "Utredare", "Jurist", "GIS-ingenjör", "Analytiker"]
VERSION = "1"


def dry_run(config: Path) -> None:
    """``mailer send invitation 2 --dry-run`` in this process, its output discarded."""
    import contextlib
    import io

    from mailer.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        main(
            ["--network", str(config), "send", "invitation", "2", "--dry-run"],
            standalone_mode=False,
        )
    assert "Dry run: nothing was sent" in out.getvalue(), out.getvalue()[-2000:]


def without_inlined(config: Path) -> None:
    """Forget the CSS that earlier runs inlined: each run measures a mailing's first send
    (a dry run, a preview or ``mailer check`` before it would leave it less to do)."""
    from mailer.config import load_network
    from mailer.inlining import inline_cache

    shutil.rmtree(inline_cache(load_network(config)), ignore_errors=True)


def workspace(data: Path, people: int) -> Path:
    """``data/network-N/network.toml``, made once (the lists take a while at 100,000)."""
    root = data / f"network-{people}"
    stamp = root / ".bench-version"
    if stamp.exists() and stamp.read_text() == VERSION:
        return root / "network.toml"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copy2(REPO / "network.toml", root / "network.toml")
    for folder in ("templates", "seminars", "newsletters", "recipients"):
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, root / folder)
    from mailer.config import load_network

    network = load_network(root / "network.toml")
    rng = random.Random(7)
    members = network.members
    for i, member in enumerate(members):
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["E-post", "Namn", "Organisation", "Titel", "Språk"])
        for n in range(i, people, len(members)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = f"{first}.{last}.{n}".lower().translate(str.maketrans("åäöé", "aaoe"))
            writer.writerow(
                [
                    f"{local}@{member.domains[0]}",
                    f"{first} {last}",
                    member.name,
                    rng.choice(TITLES),
                    "en" if n % 4 == 0 else "sv",
                ]
            )
        for k, name in enumerate(member.lists):
            # The member's first list carries everybody; any other only a header.
            (root / name).write_text(buffer.getvalue() if k == 0 else "E-post\r\n", "utf-8")
    stamp.write_text(VERSION)
    return root / "network.toml"
