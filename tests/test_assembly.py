"""The fast path (mailer.assembly) builds exactly what the reference (message.build_message)
builds: every message parses back into the same headers and the same parts."""

from __future__ import annotations

import binascii
import datetime as dt
import email
import types
from email import policy
from email.header import decode_header
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mailer import calendar, tokens
from mailer.assembly import POLICY, Assembler, encoded_word, fold_to, qp_piece
from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.config import load_network
from mailer.errors import MailerError
from mailer.message import build_message
from mailer.recipients import Person, merge
from mailer.render import KINDS
from tests.helpers import KIND_CASES, add_cancellation

LONG = "Anna-Karin Maria Charlotta Wilhelmina " * 4 + "Åkerström-Östergren"
AWKWARD = [
    Person("asa.ostlund@msb.example", "Åsa Östlund"),
    Person("ulf@karlstad.example", "Ulf Åke Berg Ek"),  # ASCII words between non-ASCII ones
    Person("lang@kau.example", LONG),
    Person("lang2@kau.example", "Ö" * 150 + " " + "x" * 40),
    Person("pat@kronofogden.example", "O'Brien, Pat"),  # specials: quoted by the library
    Person("karl@kau.example", "Dr. Karl-Åke Bergström (GIS)"),
    Person("q@kau.example", 'Pat "the cat" Smith'),
    Person("ew@kau.example", "=?utf-8?q?Eve_=3Ceve=40evil.example=3E?="),
    Person("noname@kau.example", ""),
    Person("tab@kau.example", "Tab\tbed  Name\n"),
    Person("anna@räksmörgås.example", "Anna Idn"),  # IDN domain: punycode in To and RCPT
    Person("jörgen@kau.example", "Jörgen Utf8"),  # non-ASCII local part: SMTPUTF8
    Person("john.smith@msb.example", "John Smith", language="en"),
    Person("eng@msb.example", "Siobhán Ní Bhriain", organisation="Dept. of <Data>", language="en"),
    Person("amp@msb.example", "Tom & Jerry <script>", title='"quoted" & more'),
    Person("nl@msb.example", "Line Break", organisation="First\nSecond"),  # reference path
    Person("dot@msb.example", "Dot", title=".\nFrom the start"),
]


def _parts(data: bytes) -> list[dict[str, Any]]:
    """Everything a reader sees, part by part (the boundaries aside)."""
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    out = []
    for part in message.walk():
        headers = []
        for name, value in part.items():
            if name.lower() == "content-type":
                params = {k: v for k, v in part.get_params() or [] if k != "boundary"}
                headers.append((name, part.get_content_type(), params))
            elif name.lower() != "date":
                headers.append((name, str(value)))
        item: dict[str, Any] = {"headers": headers, "defects": list(part.defects)}
        if not part.is_multipart():
            item["content"] = part.get_content()
            item["bytes"] = part.get_payload(decode=True)
        out.append(item)
    return out


def _date(data: bytes) -> dt.datetime:
    message = email.message_from_bytes(data, policy=policy.default)
    return message["Date"].datetime  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def network() -> Any:
    return load_network(Path(__file__).resolve().parent.parent / "network.toml")


MAILINGS = [(kind, number) for kind, number, *_ in KIND_CASES] + [("cancellation", 3)]


def test_every_kind_is_covered() -> None:
    assert {kind for kind, _ in MAILINGS} == set(KINDS)


@pytest.mark.parametrize(("kind", "number"), MAILINGS)
def test_fast_messages_match_the_reference(workspace: Path, kind: str, number: int) -> None:
    if kind == "cancellation":
        add_cancellation(workspace, number)
    network = load_network(workspace / "network.toml")
    mailing = mailing_for(network, kind, number)
    fast = MessageFactory(network, mailing)
    reference = MessageFactory(network, mailing, fast.renderer)
    reference.assembler = types.SimpleNamespace(build=build_message)  # type: ignore[assignment]
    reference._ics = fast._ics  # the same .ics templates, so the same DTSTAMP
    people = merge(network).people
    awkward = [
        Person(p.email, p.name, p.organisation, p.title, p.language, sender=sender)
        for p in AWKWARD
        for sender in ("msb", "karlstads-kommun")
    ]
    fast_paths = 0
    # The first message of each variant is the reference's own; the rest are assembled
    # from its skeleton.
    for person in [*people, *awkward]:
        member = network.member(person.sender)
        got = fast.build(person, member, message_id="<x.1@example.org>")
        want = reference.build(person, member, message_id="<x.1@example.org>")
        assert (got.sender, got.recipient, got.smtputf8) == (
            want.sender,
            want.recipient,
            want.smtputf8,
        )
        assert _parts(got.data) == _parts(want.data), person
        assert abs(_date(got.data) - _date(want.data)) <= dt.timedelta(seconds=2)
        fast_paths += got.data != want.data
    assert fast_paths > len(people) // 2  # most of them did take the fast path


def test_fast_lines_stay_within_the_limits(network: Any) -> None:
    mailing = mailing_for(network, "invitation", 2)
    factory = MessageFactory(network, mailing)
    for person in [*merge(network).people, *AWKWARD]:
        person = Person(person.email, person.name, language=person.language, sender="msb")
        data = factory.build(person, network.member("msb")).data
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"\r\n".join(data.split(b"\r\n")) == data.replace(b"\r\n", b"\n").replace(
            b"\n", b"\r\n"
        )  # CRLF only
        if not person.email.isascii():
            continue  # built by the reference (SMTPUTF8)
        assert all(len(line) <= 998 for line in head.split(b"\r\n"))
        encoded = [line for line in body.split(b"\r\n") if not line.startswith(b"Content-")]
        assert all(len(line) <= 76 for line in encoded), person


def test_every_variant_can_fall_back(network: Any) -> None:
    """A value with a line break goes through the reference, and arrives identical."""
    mailing = mailing_for(network, "invitation", 2)
    factory = MessageFactory(network, mailing)
    member = network.member("msb")
    plain = Person("a@msb.example", "A", sender="msb")
    broken = Person("b@msb.example", "B", organisation="x\r\ny", sender="msb")
    factory.build(plain, member)
    message = email.message_from_bytes(factory.build(broken, member).data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "B <b@msb.example>"


NAME = st.text(
    alphabet=st.sampled_from([*"abcXYZ åäöÅÄÖéüñ-'._,()\"<>@:;=?!#$%&*+/^`{|}~", "漢"]),
    max_size=60,
)


@given(name=NAME)
def test_to_is_folded_as_the_library_folds_it(name: str) -> None:
    to = Address(display_name=" ".join(name.split()), username="a.b", domain="kau.example")
    library = POLICY.header_factory("To", to).fold(policy=POLICY).encode()
    assert fold_to(to) == library


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("Åsa", "=?utf-8?q?=C3=85sa?="),  # Q: shortest, or at most four characters longer
        ("Östlund-Åsa", "=?utf-8?q?=C3=96stlund-=C3=85sa?="),  # Q: four longer
        ("Östlund-Åström", "=?utf-8?b?w5ZzdGx1bmQtw4VzdHLDtm0=?="),  # base64: five shorter
        ("漢字", "=?utf-8?b?5ryi5a2X?="),
    ],
)
def test_an_encoded_word_is_the_one_the_library_writes(name: str, word: str) -> None:
    to = Address(display_name=name, username="a", domain="kau.example")
    assert encoded_word(name) == word
    assert POLICY.header_factory("To", to).fold(policy=POLICY) == f"To: {word} <a@kau.example>\r\n"


@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_an_encoded_word_decodes_to_its_text(text: str) -> None:
    ((data, charset),) = decode_header(encoded_word(text))
    assert isinstance(data, bytes)
    assert (data.decode(charset or "ascii"), charset) == (text, "utf-8")


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"))


@given(pieces=st.lists(TEXT, max_size=6))
@example(pieces=["x" * 74 + " \n", "y" * 75 + "\t", "z" * 73 + "é"])
def test_encoded_pieces_join_into_the_text(pieces: list[str]) -> None:
    encoded = b"".join(qp_piece(p.encode()) for p in pieces)
    assert binascii.a2b_qp(encoded) == "".join(pieces).encode().replace(b"\n", b"\r\n")
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))


@pytest.mark.parametrize("method", [calendar.REQUEST, calendar.CANCEL])
def test_ics_template_makes_what_build_ics_makes(network: Any, method: str) -> None:
    seminar = network.seminar(2)
    renderer = MessageFactory(network, mailing_for(network, "invitation", 2)).renderer
    stamp = dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for language in ("sv", "en"):
        text = renderer.event_text(seminar, language)
        organiser = ("Länsstyrelsen Värmland", "oppnadata@lansstyrelsen-varmland.example")
        template = calendar.IcsTemplate(
            network, seminar, text, method=method, organiser=organiser, stamp=stamp
        )
        for person in AWKWARD:
            whole = calendar.build_ics(
                network,
                seminar,
                text,
                method=method,
                organiser=organiser,
                attendee=(person.name, person.email),
                stamp=stamp,
            )
            assert template.for_attendee(person.name, person.email) == whole


@given(name=NAME)
def test_attendee_line_is_written_as_icalendar_writes_it(name: str) -> None:
    template = calendar.IcsTemplate
    event = icalendar.Event()
    for address in ("a.b@kau.example", "x" * 90 + "@kau.example"):
        who = calendar._attendee(name, address)
        want = bytes(event.content_line("ATTENDEE", who, sorted=True).to_ical()) + b"\r\n"
        assert template._line(name, address) == want


@pytest.mark.parametrize(
    "url",
    [
        "https://oppnadata-varmland.example/avregistrera",
        "https://oppnadata-varmland.example/anmalan?seminarium=2&lang=sv",
        "https://x.example/a%20b?q=a+b&empty=",
    ],
)
def test_links_are_what_with_token_makes(network: Any, url: str) -> None:
    factory = MessageFactory(network, mailing_for(network, "invitation", 2))
    signer = tokens.Signer(b"k" * 32)
    for address in ("a@kau.example", "åsa.öst@räksmörgås.example"):
        token = signer.sign("register:x:2", address)
        assert factory._with_token(url, token) == tokens.with_token(url, token)


def test_links_are_checked_like_the_reference_checks_them() -> None:
    assembler = Assembler()
    good = {"unsubscribe_url": "https://x.example/u?token=YWJj.ZGVm", "name": "javascript:"}
    assembler.check_links(good)
    assembler.check_links({"unsubscribe_url": "https://x.example/u?token=b3RoZXI.eHl6"})
    for bad in (
        "javascript:alert(1)//?token=YWJj.ZGVm",
        "https://x.example/u?token=YWJj ZGVm",
        "https://x.example/u?next=<script>&token=YWJj",
        "data:text/html,x?token=YWJj",
    ):
        with pytest.raises(MailerError) as caught:
            assembler.check_links({"registration_url": bad})
        assert repr(bad) in str(caught.value)
        with pytest.raises(MailerError):
            build_message_check(bad)


def build_message_check(url: str) -> None:
    """What the reference does with the same value."""
    from mailer.render import check_urls

    check_urls({"registration_url": url})
