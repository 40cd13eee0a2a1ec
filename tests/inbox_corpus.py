"""The inbox corpus (tests/corpus/inbox/) filled in for messages a test really sent."""

from __future__ import annotations

import email
from dataclasses import dataclass
from email import policy
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus" / "inbox"
DATE = "Fri, 04 Dec 2026 10:15:00 +0100"


@dataclass
class Sent:
    """The messages one `mailer send` really delivered: address -> its raw headers."""

    workspace: Path
    headers: dict[str, dict[str, str]]

    def people(self) -> list[str]:
        return sorted(self.headers)

    def fill(self, name: str, to: str, *, date: str = DATE) -> bytes:
        h = self.headers[to]
        text = (CORPUS / name).read_text("utf-8")
        for key, value in {
            "@@MESSAGE_ID@@": h["Message-ID"],
            "@@TO_DOMAIN@@": to.rpartition("@")[2],
            "@@TO@@": to,
            "@@SENDER@@": h["From"],
            "@@SUBJECT@@": h["Subject"],
            "@@DATE@@": date,
        }.items():
            text = text.replace(key, value)
        return text.encode("utf-8")


def send(cli: Any, workspace: Path, server: Any, *mailing: str) -> Sent:
    result = cli("send", *mailing, "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    return received(workspace, server)


def bundle_sent(coordinator: Any, member: Any, monkeypatch: Any) -> Sent:
    """A member (tests.helpers.Member) sends its exported share of the invitation from its
    own folder; what its SMTP server took."""
    from tests.helpers import export_bundle

    export_bundle(coordinator, member)
    monkeypatch.chdir(member.root)
    result = member.send()
    assert result.exit_code == 0, result.output
    return received(member.root, member.server)


def received(workspace: Path, server: Any) -> Sent:
    """What ``server`` (a tests.smtp_server) took so far, then forgets it."""
    sent = of_messages(workspace, [(r.rcpt_tos[0], r.data) for r in server.handler.received])
    server.handler.received.clear()
    return sent


def of_messages(workspace: Path, messages: list[tuple[str, bytes]]) -> Sent:
    """The messages really sent, as (recipient, the message as it went out)."""
    headers: dict[str, dict[str, str]] = {}
    for to, data in messages:
        # compat32 keeps the headers as they were written (encoded words and all).
        msg = email.message_from_bytes(data, policy=policy.compat32)
        headers[to] = {
            k: " ".join(str(msg[k]).split())
            for k in ("Message-ID", "From", "Subject", "List-Unsubscribe")
        }
    return Sent(workspace, headers)
