"""Inlined CSS kept between runs: reused for the same document, redone for a changed one."""

from __future__ import annotations

import os
import stat

from mailer import inlining
from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.config import load_network
from mailer.inlining import inline_cache, inline_css

DOCUMENT = (
    "<html><head><style>h1 { color: #005a8c; }</style></head>"
    "<body><h1>Hej %%person.first_name%%</h1></body></html>"
)


def test_the_same_document_is_read_back_not_inlined_again(tmp_path):
    cache = tmp_path / "inlined"
    first = inline_css(DOCUMENT, cache)
    assert first == inline_css(DOCUMENT) and 'style="color:#005a8c"' in first
    (entry,) = cache.glob("*.html")
    # What the next run returns comes from the file: mark it and ask again.
    entry.write_text(first.replace("Hej", "Hejsan"), encoding="utf-8")
    assert "Hejsan" in inline_css(DOCUMENT, cache)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(entry).st_mode) == 0o600


def test_a_changed_document_is_inlined_again(tmp_path):
    cache = tmp_path / "inlined"
    inline_css(DOCUMENT, cache)
    changed = inline_css(DOCUMENT.replace("#005a8c", "#8c1d40"), cache)
    assert 'style="color:#8c1d40"' in changed
    assert len(list(cache.glob("*.html"))) == 2


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert inline_css(DOCUMENT, blocked / "inlined") == inline_css(DOCUMENT)


def test_the_cache_is_trimmed_to_the_most_recently_used(tmp_path, monkeypatch):
    monkeypatch.setattr(inlining, "MAX_ENTRIES", 5)
    cache = tmp_path / "inlined"
    documents = [DOCUMENT.replace("Hej", f"Hej {n}") for n in range(6)]
    for n, document in enumerate(documents):
        inline_css(document, cache)
        entry = cache / f"{inlining._digest(document)}.html"
        if entry.exists():
            os.utime(entry, (n, n))  # used longer ago than the next one
    kept = {p.name for p in cache.glob("*.html")}
    assert len(kept) == 4  # trimmed to four fifths
    assert f"{inlining._digest(documents[-1])}.html" in kept
    assert f"{inlining._digest(documents[0])}.html" not in kept


def test_a_mailing_after_a_check_inlines_nothing(workspace, cli):
    assert cli("check").exit_code == 0
    network = load_network(workspace / "network.toml")
    cached = set(inline_cache(network).glob("*.html"))
    assert cached
    factory = MessageFactory(network, mailing_for(network, "invitation", 2))
    member = network.members[0]
    factory.renderer.variant("invitation", factory.mailing.seminar, "sv", member)
    assert set(inline_cache(network).glob("*.html")) == cached
