"""mailer inbox fetch for a Graph channel: the mailbox read through the local stand-in for
Microsoft Graph and Entra ID over HTTPS (tests/graph_server.py), answering messages that
really went out through Graph's sendMail."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.graph_server import SECRET, EntraGraph
from tests.helpers import use_graph
from tests.inbox_corpus import Sent, of_messages

MAILBOX = "seminarier@msb.example"


@pytest.fixture
def graph(workspace: Path, entra_graph: EntraGraph, monkeypatch: pytest.MonkeyPatch) -> EntraGraph:
    monkeypatch.setenv("MSB_CLIENT_SECRET", SECRET)
    use_graph(workspace, "msb", entra_graph.base)
    return entra_graph


@pytest.fixture
def sent(cli: Any, workspace: Path, graph: EntraGraph) -> Sent:
    result = cli("send", "invitation", "2", "--org", "msb", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    return of_messages(workspace, [(a.recipient, a.raw) for a in graph.delivered()])


def records(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.output.splitlines()]


def at(minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 4, 10, minute, second, tzinfo=dt.UTC)


def test_fetch_reads_a_graph_mailbox_page_by_page_and_only_what_is_new(cli, graph, sent):
    a, b, c, d = sent.people()[:4]
    graph.deliver(MAILBOX, sent.fill("postfix.eml", a), at(1))
    graph.deliver(MAILBOX, sent.fill("out-of-office-sv.eml", b), at(2))
    graph.deliver(MAILBOX, sent.fill("reply-quoting.eml", c), at(2))  # the same second
    for n in range(60):  # past one page of 50
        graph.deliver(
            MAILBOX, f"Subject: news {n}\nMessage-ID: <n{n}@x.example>\n\nhi\n".encode(), at(3)
        )

    result = cli("inbox", "fetch", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    got = records(result)
    assert [(r["kind"], r["person"], r["member"]) for r in got[:3]] == [
        ("bounce", a, "msb"),
        ("auto-reply", b, "msb"),
        ("reply", c, "msb"),
    ]
    assert len(got) == 63 and {r["kind"] for r in got[3:]} == {"unknown"}
    assert got[0]["where"] == "msb:Inbox 2026-12-04T10:01:00Z"
    assert a in cli("suppressed").output
    lists = [r for r in graph.reads if "/mailFolders/inbox/messages" in r]
    assert len(lists) == 2  # two pages, the second through @odata.nextLink
    assert "%24orderby=receivedDateTime+asc" in lists[0] and "%24filter" not in lists[0]

    # Nothing new: the second fetch asks from the last second and reads nothing again.
    graph.reads.clear()
    again = cli("inbox", "fetch", "--json")
    assert again.exit_code == 0 and again.output == ""
    assert "receivedDateTime+ge+2026-12-04T10%3A03%3A00Z" in graph.reads[0]
    assert not [r for r in graph.reads if r.endswith("/$value")]

    # One more, filed away into a folder found by its name; nothing is ever deleted.
    graph.add_folder(MAILBOX, "Hanterat", parent="inbox")
    graph.deliver(MAILBOX, sent.fill("gmail.eml", d), at(4))
    moved = cli("inbox", "fetch", "--member", "msb", "--move-to", "Hanterat")
    assert moved.exit_code == 0, moved.output + moved.stderr
    assert f"msb:Inbox 2026-12-04T10:04:00Z: bounce {d} (invitation-2): opted out" in moved.output
    box = graph.mailboxes[MAILBOX]
    assert len(box.in_folder("hanterat-id")) == 1 and len(box.in_folder("inbox")) == 63
    assert len(box.mail) == 64


def test_throttling_is_waited_out_and_a_refusal_is_one_line(cli, graph, sent, monkeypatch):
    graph.deliver(MAILBOX, sent.fill("postfix.eml", sent.people()[0]), at(1))
    graph.read_script = ["429:0", "503:0"]
    result = cli("inbox", "fetch", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert [r["kind"] for r in records(result)] == ["bounce"]

    graph.deliver(MAILBOX, sent.fill("gmail.eml", sent.people()[1]), at(2))
    graph.denied.add(MAILBOX)
    refused = cli("inbox", "fetch")
    assert refused.exit_code == 1
    assert "msb: skipped: msb: Microsoft Graph does not let the app read the mailbox" in (
        refused.output
    )
    assert "Mail.ReadWrite" in refused.output
    # Graph's own code and message, read as the sending side reads them.
    assert f"{MAILBOX} (403 ErrorAccessDenied: Access is denied." in refused.output
    assert SECRET not in refused.output + refused.stderr


def test_a_missing_folder_stops_before_anything_is_read(cli, graph, sent):
    graph.deliver(MAILBOX, sent.fill("postfix.eml", sent.people()[0]), at(1))
    result = cli("inbox", "fetch", "--move-to", "Nowhere")
    assert result.exit_code == 1
    assert "there is no folder 'Nowhere' in the mailbox seminarier@msb.example" in result.output
    assert not [r for r in graph.reads if r.endswith("/$value")]
    assert cli("inbox", "fetch", "--json").output.count('"bounce"') == 1  # read later


def test_a_huge_message_is_skipped_with_a_line_and_the_rest_read(cli, graph, sent):
    from mailer.inbox import MAX_MESSAGE_BYTES

    huge = b"Subject: big\nMessage-ID: <big@x.example>\n\n" + b"x" * (MAX_MESSAGE_BYTES + 10)
    graph.deliver(MAILBOX, huge, at(1))
    graph.deliver(MAILBOX, sent.fill("postfix.eml", sent.people()[0]), at(2))
    result = cli("inbox", "fetch")
    assert result.exit_code == 1, result.output + result.stderr
    assert "msb:Inbox 2026-12-04T10:01:00Z: skipped: too big" in result.output
    assert "msb:Inbox 2026-12-04T10:02:00Z: bounce" in result.output


def test_a_member_reads_its_graph_mailbox_for_its_bundle(
    coordinator, members, entra_graph, monkeypatch
):
    """'mailer bundle inbox --channel' with a CHANNEL.toml of type graph."""
    from tests.graph_server import CLIENT, TENANT
    from tests.helpers import NETWORK_ID
    from tests.inbox_corpus import bundle_sent

    msb = members["msb"]
    sent = bundle_sent(coordinator, msb, monkeypatch)
    to = sent.people()[0]
    msb.channel.write_text(
        f'network = "{NETWORK_ID}"\nmember = "msb"\n\n[channel]\ntype = "graph"\n'
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n'
        'client_secret_env = "MSB_CLIENT_SECRET"\n'
        f'mailbox = "{MAILBOX}"\ngraph_url = "{entra_graph.base}"\n'
        f'authority = "{entra_graph.base}"\nfrom = "MSB <{MAILBOX}>"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("MSB_CLIENT_SECRET", SECRET)
    entra_graph.deliver(MAILBOX, sent.fill("postfix.eml", to), at(1))

    read = msb("bundle", "inbox", str(msb.bundle), "--channel", str(msb.channel), "--json")
    assert read.exit_code == 0, read.output
    assert [(r["kind"], r["person"], r["outcome"]) for r in records(read)] == [
        ("bounce", to, "opted-out")
    ]
    assert json.loads(msb.report().read_text())["bounced"] == [to]
