"""Properties (hypothesis): the reader fails only with ListError; merging is idempotent and
does not depend on the order of lists or rows; the fast address check agrees with the full one."""

from __future__ import annotations

import csv
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mailer.addresses import AddressError, normaliser, validate_address
from mailer.config import Network, load_network
from mailer.errors import ListError
from mailer.lists import read_list
from mailer.recipients import Person, merge

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the reader ----------------------------------------------------------------------------

HEADERS = [b"email,name\n", b"E-post;Namn\r\n", b"\xef\xbb\xbfmejl\tnamn\n", b"PK\x03\x04", b""]


@FAST
@given(
    prefix=st.sampled_from(HEADERS),
    body=st.binary(max_size=2000),
    suffix=st.sampled_from([".csv", ".xlsx", ".txt", ".xls"]),
)
@example(prefix=b"email\n", body=b'"' + b"x" * 140000, suffix=".csv")
@example(prefix=b"\xff\xfe", body=b"e\x00", suffix=".csv")
def test_reader_raises_only_list_errors(prefix: bytes, body: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"list{suffix}"
        path.write_bytes(prefix + body)
        try:
            listing = read_list(path)
        except ListError as exc:
            assert "\n" not in str(exc)
        else:
            assert listing.rows


# -- the fast address check ------------------------------------------------------------------

ATOMS = st.text(alphabet="abcåZ09.-_+'@ \"<>[]é", min_size=0, max_size=12)
DOMAINS = st.sampled_from(
    [
        "example.org",
        "KAU.example",
        "x.test",
        "exämple.se",
        "a..b.se",
        "-x.se",
        "x",
        "x.se.",
        "xn--exmple-cua.se",
        "a" * 64 + ".se",
        ("b" * 60 + ".") * 4 + "se",
        "[127.0.0.1]",
        "",
    ]
)


def _outcome(fn, value: str):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(value))
    except AddressError as exc:
        return ("error", exc.code, exc.detail)


LONG = st.text(alphabet="ab", min_size=62, max_size=68)  # around the 64-octet limit
SPACE = st.sampled_from(["", " ", "\t", "\u00a0", "\x1c", "\u2028", "\n "])


@settings(max_examples=400, deadline=None)
@given(local=st.one_of(ATOMS, LONG), domain=st.one_of(DOMAINS, ATOMS), before=SPACE, after=SPACE)
@example(
    local="a" * 64, domain="b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".se", before="", after=""
)
@example(local="A.B", domain="KAU.example", before=" ", after="\t")
def test_fast_path_agrees_with_email_validator(
    local: str, domain: str, before: str, after: str
) -> None:
    # The address check as the merge runs it (the common case at one regular expression)
    # against the full check (email-validator on every address): the same answer always.
    value = f"{before}{local}@{domain}{after}"
    fast = normaliser(remember=False)
    assert _outcome(fast, value) == _outcome(validate_address, value)


# -- merging ---------------------------------------------------------------------------------

POOL = [
    "anna.berg@msb.example",
    "ANNA.BERG@msb.example",
    "per.holm@kau.example",
    "eva@lansstyrelsen-varmland.example",
    "kim@firma.example",
    "lo@firma.example",
    "ingen-adress",
]
NAMES = st.text(alphabet="ÅÄÖåäö abcxyz", max_size=8)
ROW = st.tuples(st.sampled_from(POOL), NAMES, st.sampled_from(["", "sv", "en", "engelska"]))
LIST = st.lists(ROW, min_size=1, max_size=12)

MEMBER = """
[[members]]
id = "{id}"
name = "{id}"
domains = ["{domain}"]
lists = [{lists}]
[members.channel]
type = "maildir"
path = "outbox/{id}"
from = "X <x@{domain}>"
"""
HEAD = """
[network]
id = "prov"
name = "Prov"
list_domain = "prov.example"
[coordinator]
member = "{first}"
name = "K"
email = "k@prov.example"
[series]
title = "S"
"""


def write_list(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "language"])
        writer.writerows(rows)


def network(root: Path, members: list[tuple[str, str, list[str]]]) -> Network:
    text = HEAD.format(first=members[0][0]) + "".join(
        MEMBER.format(id=i, domain=d, lists=", ".join(f'"{f}"' for f in files))
        for i, d, files in members
    )
    (root / "network.toml").write_text(text, encoding="utf-8")
    return load_network(root / "network.toml")


def people_and_provenance(people: list[Person]) -> dict[str, frozenset[str]]:
    return {p.email: frozenset(p.listed_by) for p in people}


@FAST
@given(a=LIST, b=LIST)
def test_a_plus_b_equals_b_plus_a(a, b) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_list(root / "a.csv", a)
        write_list(root / "b.csv", b)
        members = [("msb", "msb.example", ["a.csv"]), ("kau", "kau.example", ["b.csv"])]
        ab = merge(network(root, members))
        ba = merge(network(root, members[::-1]))
    assert people_and_provenance(ab.people) == people_and_provenance(ba.people)
    # Whoever is at a member's own domain hears from that member, with that member's row,
    # whatever the order; only the order of listed_by (network order) may differ.
    for p, q in zip(ab.people, ba.people, strict=True):
        if p.domain in ("msb.example", "kau.example"):
            assert p._replace(listed_by=()) == q._replace(listed_by=())


@FAST
@given(rows=LIST, seed=st.integers(0, 2**32 - 1))
def test_merge_is_idempotent_and_order_free(rows, seed) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_list(root / "a.csv", rows)
        shuffled = list(rows)
        random.Random(seed).shuffle(shuffled)
        write_list(root / "shuffled.csv", shuffled)
        once = merge(network(root, [("msb", "msb.example", ["a.csv"])]))
        twice = merge(network(root, [("msb", "msb.example", ["a.csv", "a.csv"])]))
        reordered = merge(network(root, [("msb", "msb.example", ["shuffled.csv"])]))
        assume(once.people)
        # the merged people, as a list again, merge to themselves
        write_list(root / "merged.csv", [(p.email, p.name, p.language) for p in once.people])
        again = merge(network(root, [("msb", "msb.example", ["merged.csv"])]))
    assert once.people == twice.people == reordered.people
    assert [(p.email, p.name, p.language) for p in again.people] == [
        (p.email, p.name, p.language) for p in once.people
    ]
