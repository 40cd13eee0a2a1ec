"""The plain-text part as a person reads it: Markdown as text, lines of at most 78."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.config import load_network
from mailer.plaintext import LABEL, URL, markdown_text, wrap
from mailer.recipients import merge
from tests.helpers import KIND_CASES, add_cancellation

SWEDE = "asa.bjork@lansstyrelsen-varmland.example"
ENGLISH = "tom.walker@msb.example"
# A line may be longer than 78 only for an address that cannot be broken: alone on its
# line, or after a short label ("Anmäl dig: https://...").
LONG_LINE_ALLOWED = re.compile(rf"\s*(?:\S.{{0,{LABEL - 1}}} )?{URL.pattern}")


def text_part(workspace: Path, kind: str, number: int, email: str) -> str:
    network = load_network(workspace / "network.toml")
    person = next(p for p in merge(network).people if p.email == email)
    factory = MessageFactory(network, mailing_for(network, kind, number))
    message = message_from_bytes(
        factory.build(person, network.member(person.sender)).data, policy=policy.default
    )
    return str(message.get_body(("plain",)).get_content())


def long_lines(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if len(line) > 78 and not LONG_LINE_ALLOWED.fullmatch(line)
    ]


@pytest.mark.parametrize("email", [SWEDE, ENGLISH])
@pytest.mark.parametrize(("kind", "number"), [("summary", 1), ("newsletter", 1)])
def test_summary_and_newsletter_text_is_text_not_markdown(workspace, kind, number, email):
    text = text_part(workspace, kind, number, email)
    for markup in ("**", "##", "](", "[oppnadata", "*Öppna", "*Open"):
        assert markup not in text, (kind, email, markup)
    assert long_lines(text) == [], (kind, email)
    assert max(len(line) for line in text.splitlines() if not URL.search(line)) <= 78
    assert "\r" not in text.replace("\r\n", "\n")


def test_newsletter_headings_lists_and_links_read_as_text(workspace):
    text = text_part(workspace, "newsletter", 1, SWEDE).replace("\r\n", "\n")
    assert "Karlstads kommun öppnar fler dataset\n------------------------------------\n" in text
    assert "har publicerat tolv nya dataset på sin portal" in text
    assert "\n1. Börja med data som redan är offentliga och ofta efterfrågas.\n2. Beskriv" in text
    # A link whose text is its address: the address itself, not a reference.
    assert "Läs mer om nätverket på https://oppnadata-varmland.example." in text


def test_summary_text_is_wrapped_and_keeps_every_address_whole(workspace):
    text = text_part(workspace, "summary", 1, SWEDE).replace("\r\n", "\n")
    assert "Pia Karlsson, tf. länsråd på Länsstyrelsen Värmland, hälsade välkomna" in text
    lines = text.split("\n")
    # The footer's unsubscribe address with its token, whole, on a line of its own.
    assert any(line.startswith("https://") and "token=" in line for line in lines)
    assert "  https://lansstyrelsen-varmland.example/digital-agenda" in lines
    # A date is not broken over two lines.
    assert "tisdag 17 mars 2026" in text


@pytest.mark.parametrize(("kind", "number", "_title", "_date"), KIND_CASES)
def test_every_kind_has_lines_of_at_most_78(workspace, kind, number, _title, _date):
    for email in (SWEDE, ENGLISH):
        assert long_lines(text_part(workspace, kind, number, email)) == [], (kind, email)


def test_cancellation_has_lines_of_at_most_78(workspace):
    add_cancellation(workspace, 3)
    assert long_lines(text_part(workspace, "cancellation", 3, SWEDE)) == []


def test_links_become_numbered_references_at_the_end():
    text = markdown_text(
        "See [the portal](https://data.example/portal), [the law](https://law.example/psi) "
        "and [the portal again](https://data.example/portal); write to "
        "[us](mailto:info@data.example) or <mailto:info@data.example>."
    )
    body, references = text.split("\n\n")
    assert "the portal [1]" in body and "the law [2]" in body and "again [1]" in body
    assert "us [3]" in body and "info@data.example." in body.split()
    assert references.split("\n") == [
        "[1] https://data.example/portal",
        "[2] https://law.example/psi",
        "[3] mailto:info@data.example",
    ]


def test_markdown_blocks_as_text():
    text = markdown_text(
        "# Title\n\nA *b* **c** `d`  \nnext\n\n- one\n- two with a long line "
        + "word " * 20
        + "\n\n> quoted\n\n    code  line\n\n***\n\n![A picture](https://img.example/a.png)\n"
    )
    lines = text.split("\n")
    assert lines[:3] == ["Title", "=====", ""]
    assert "A b c d" in lines and "next" in lines
    assert lines[lines.index("- one") + 1].startswith("- two with a long line word")
    assert all(len(line) <= 78 for line in lines)
    continuation = lines[lines.index("- one") + 2]
    assert continuation.startswith("  word") and not continuation.startswith("   ")
    assert "> quoted" in lines and "    code  line" in lines and "* * *" in lines
    assert "[A picture]" in lines


def test_wrap_puts_a_personal_address_on_its_own_line():
    slot = re.compile(r"%%person\.[a-z_]*url%%")
    text = wrap(
        "Vill du inte få fler utskick från nätverket? Avsluta här: %%person.unsubscribe_url%%\n"
        "Anmäl dig: %%person.registration_url%%.\n"
        "- Ett dokument med ett långt namn som tar plats: https://x.example/a/very/long/path\n"
        "Kort rad: https://x.example\n",
        placeholders=slot,
    )
    assert text.split("\n") == [
        "Vill du inte få fler utskick från nätverket? Avsluta här:",
        "%%person.unsubscribe_url%%",
        "Anmäl dig: %%person.registration_url%%.",
        "- Ett dokument med ett långt namn som tar plats:",
        "  https://x.example/a/very/long/path",
        "Kort rad: https://x.example",
        "",
    ]


def test_a_template_without_the_wrap_filter_keeps_its_lines(workspace):
    """Wrapping is the template's choice (a table it lays out stays as it is)."""
    template = workspace / "templates" / "summary.txt"
    source = template.read_text(encoding="utf-8")
    template.write_text(
        source.replace("{% filter wrap %}\n", "").replace("{% endfilter %}\n", ""),
        encoding="utf-8",
    )
    text = text_part(workspace, "summary", 1, SWEDE)
    assert long_lines(text) != []


WORDS = st.one_of(
    st.text(alphabet="abcåäöXYZ.,:;-–()!?0123456789", min_size=1, max_size=14),
    st.sampled_from(["https://x.example/" + "p" * 90, "%%person.unsubscribe_url%%", "- ", "1. "]),
)
LINES = st.lists(st.lists(WORDS, min_size=0, max_size=40).map(" ".join), max_size=8)


@settings(max_examples=200, deadline=None)
@given(lines=LINES)
def test_wrapping_keeps_every_word_and_every_line_short(lines):
    text = "\n".join(lines)
    slot = re.compile(r"%%person\.[a-z_]*url%%")
    wrapped = wrap(text, placeholders=slot)
    # Nothing lost, nothing broken, nothing reordered: only spaces became line breaks.
    assert wrapped.split() == text.split()
    for line in wrapped.split("\n"):
        unbreakable = [w for w in line.split() if len(w) > 78 - LABEL or slot.search(w)]
        assert len(line) <= 78 or unbreakable, line


@pytest.mark.parametrize("email", [SWEDE, ENGLISH])
@pytest.mark.parametrize(("kind", "number"), [case[:2] for case in KIND_CASES])
def test_the_footer_follows_the_signature_separator(workspace, kind, number, email):
    # "-- " (dash dash space) alone on a line: mail clients know what follows is the
    # signature and leave it out of a reply's quote. "--" without the space is text.
    lines = text_part(workspace, kind, number, email).replace("\r\n", "\n").split("\n")
    assert lines.count("-- ") == 1, (kind, email)
    assert "--" not in lines
    assert any(
        "unsubscribe" in line.lower() or "avregistrera" in line.lower()
        for line in lines[lines.index("-- ") :]
    )
