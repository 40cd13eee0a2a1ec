"""No value from a list, a registration or the config can add a header, a recipient or markup.

Property tests throw arbitrary Unicode, control characters, encoded words, markup and long
strings at every field and check what a mail client would see after parsing the bytes
back: exactly the intended headers, one recipient, and an HTML part whose elements are
the template's own.
"""

from __future__ import annotations

import csv
import email
import io
import operator
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailer.addresses import AddressError, normalise_address
from mailer.campaign.factory import MessageFactory
from mailer.campaign.mailing import mailing_for
from mailer.config import Network, load_network
from mailer.errors import MailerError, TemplateError
from mailer.escaping import UnsafeURLError, header_text, safe_url
from mailer.message import Outgoing
from mailer.recipients import Person
from tests.helpers import TOKEN_KEY, edit_seminar

REPO = Path(__file__).resolve().parent.parent

NASTY = [
    "\r\nBcc: victim@example.org",
    "\n",
    "\r",
    "\x00",
    "\x0b",
    "\x1b[31m",
    "\u2028",
    "\x85",
    "\ufeff",
    "\u202e",
    "=?utf-8?q?a=0D=0ABcc=3A_x=40y.example?=",
    "=?utf-8?q?Eve_=3Ceve=40evil.example=3E=2C?=",
    "=?utf-8?b?PHNjcmlwdD4=?=",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    "<!--",
    "]]>",
    "&amp;",
    "{{ 7*7 }}",
    "Bcc: x@example.org",
    ", eve@example.org",
    "<eve@example.org>",
    '"',
    "\\",
    ";",
    "Åsa Björk",
]
_pieces = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(_pieces, max_size=6).map("".join),
    # Long values: folding is where header bugs live.
    st.builds(operator.mul, st.sampled_from([*NASTY, "x", "Ö", "ab "]), st.integers(40, 400)),
)
LANGUAGE = st.sampled_from(["sv", "en"])


@dataclass
class Setup:
    network: Network
    factories: dict[str, MessageFactory]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAILER_TOKEN_KEY", TOKEN_KEY)
        yield _setup(tmp_path_factory)


def _setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.mktemp("network")
    shutil.copy2(REPO / "network.toml", root / "network.toml")
    for folder in ("templates", "recipients", "seminars"):
        shutil.copytree(REPO / folder, root / folder)
    network = load_network(root / "network.toml")
    factories = {
        "invitation": MessageFactory(network, mailing_for(network, "invitation", 2)),
        "summary": MessageFactory(network, mailing_for(network, "summary", 1)),
    }
    return Setup(network, factories)


def parse(out: Outgoing) -> EmailMessage:
    msg = email.message_from_bytes(out.data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


class _Elements(HTMLParser):
    """The element structure of an HTML part: tags, attribute names, comments."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[str, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.items.append((tag, *sorted(name for name, _ in attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.items.append((f"/{tag}",))

    def handle_comment(self, data: str) -> None:
        self.items.append(("<!--",))


def structure(msg: EmailMessage) -> list[tuple[str, ...]]:
    part = msg.get_body(("html",))
    assert part is not None
    parser = _Elements()
    parser.feed(part.get_content())
    parser.close()
    return parser.items


def benign(value: str) -> str:
    """A harmless value that takes the same template branches: empty or not, same lines."""
    return "\n".join("x" for _ in value.splitlines()) if value else ""


# -- values from the lists (and any other way a Person is made) -----------------------

# Personal values cannot change the structure (templates cannot branch on them), so one
# baseline per kind and language serves every example.
_baselines: dict[tuple[str, str, bool], tuple[EmailMessage, list[tuple[str, ...]]]] = {}


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["invitation", "summary"]),
    name=TEXT,
    organisation=TEXT,
    title=TEXT,
    language=LANGUAGE,
)
def test_personal_values_never_change_headers_recipients_or_markup(
    setup: Setup, kind: str, name: str, organisation: str, title: str, language: str
) -> None:
    factory = setup.factories[kind]
    member = setup.network.members[1]
    email_address = "anna.berg@example.org"

    def build(n: str, o: str, t: str) -> EmailMessage:
        person = Person(
            email=email_address,
            name=n,
            organisation=o,
            title=t,
            language=language,
            sender=member.id,
        )
        out = factory.build(person, member)
        assert out.recipient == email_address
        assert out.sender == "seminarier@msb.example"
        return parse(out)

    msg = build(name, organisation, title)
    key = (kind, language, bool(name))
    if key not in _baselines:
        baseline = build(benign(name), benign(organisation), benign(title))
        _baselines[key] = (baseline, structure(baseline))
    baseline, baseline_structure = _baselines[key]

    assert msg.keys() == baseline.keys()
    assert not msg.get_all("Bcc") and not msg.get_all("Cc")
    (to,) = msg["To"].addresses
    assert to.addr_spec == email_address
    assert to.display_name == header_text(name)
    assert msg["Subject"] == baseline["Subject"]
    assert msg["From"] == baseline["From"]
    assert structure(msg) == baseline_structure
    text = msg.get_body(("plain",)).get_content()
    assert text.count("\n") == baseline.get_body(("plain",)).get_content().count("\n")


@settings(max_examples=150, deadline=None)
@given(raw=st.one_of(TEXT, st.emails(), st.lists(_pieces, max_size=4).map("".join)))
def test_an_address_is_clean_or_refused(raw: str) -> None:
    for candidate in (raw, f"{raw}@example.org", f"anna{raw}@example.org"):
        try:
            address = normalise_address(candidate)
        except AddressError:
            continue
        assert address.isprintable() and not any(c.isspace() for c in address)
        assert not any(c in address for c in '<>,;:"()[]\\')
        assert address.count("@") == 1


def test_an_unvalidated_address_never_reaches_the_envelope(setup: Setup) -> None:
    member = setup.network.members[1]
    factory = setup.factories["invitation"]
    for bad in ("anna@example.org>\r\nRCPT TO:<eve@example.org", "a@b@example.org", "x"):
        with pytest.raises(MailerError, match="cannot be mailed"):
            factory.build(Person(email=bad, sender=member.id), member)


# -- values from the config: seminars, the network, a member -----------------------------


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["invitation", "summary"]),
    values=st.fixed_dictionaries(
        {
            "title": TEXT,
            "theme": TEXT,
            "description": TEXT,
            "place": TEXT,
            "address": TEXT,
            "breakfast": TEXT,
            "speaker": TEXT,
            "network": TEXT,
            "member": TEXT,
            "signature": TEXT,
            "link": TEXT,
        }
    ),
    language=LANGUAGE,
)
def test_config_text_never_changes_headers_or_markup(
    setup: Setup, kind: str, values: dict[str, str], language: str
) -> None:
    # A placeholder in config text is refused by name; tested on its own below.
    assume(not any("%%person." in v for v in values.values()))
    msg, subject = _render_with(setup, kind, values, language)
    baseline, _ = _render_with(setup, kind, {k: benign(v) for k, v in values.items()}, language)
    assert msg.keys() == baseline.keys()
    assert not msg.get_all("Bcc") and not msg.get_all("Cc")
    assert [a.addr_spec for a in msg["To"].addresses] == ["anna.berg@example.org"]
    assert msg["Subject"] == header_text(subject, limit=250)
    assert msg["List-Id"].endswith("<oppna-data-varmland.oppnadata-varmland.example>")
    assert structure(msg) == structure(baseline)


def _render_with(
    setup: Setup, kind: str, v: dict[str, str], language: str
) -> tuple[EmailMessage, str]:
    net = setup.network
    number = 2 if kind == "invitation" else 1
    seminars = []
    for s in net.seminars:
        if s.number == number:
            speakers = [p.model_copy(update={"name": v["speaker"] or "-"}) for p in s.programme]
            links = [link.model_copy(update={"title": v["link"]}) for link in s.links]
            s = s.model_copy(
                update={
                    "title": v["title"],
                    "theme": v["theme"],
                    "description": v["description"],
                    "place": v["place"],
                    "address": v["address"],
                    "breakfast": v["breakfast"],
                    "programme": speakers,
                    "links": links,
                }
            )
        seminars.append(s)
    member = net.members[1].model_copy(update={"name": v["member"], "signature": v["signature"]})
    network = net.model_copy(
        update={
            "seminars": seminars,
            "members": [net.members[0], member, *net.members[2:]],
            "network": net.network.model_copy(update={"name": v["network"]}),
        }
    )
    factory = MessageFactory(network, mailing_for(network, kind, number))
    person = Person(email="anna.berg@example.org", name="Anna Berg", language=language)
    out = factory.build(person, member)
    variant = factory.renderer.variant(kind, network.seminar(number), language, member)
    return parse(out), variant.subject


def test_a_placeholder_in_config_text_is_a_clear_error(setup: Setup) -> None:
    with pytest.raises(TemplateError, match=r"unknown personal field %%person\.nope%%"):
        _render_with(
            setup, "invitation", {k: "x" for k in _CONFIG_KEYS} | {"place": "%%person.nope%%"}, "sv"
        )


_CONFIG_KEYS = [
    "title",
    "theme",
    "description",
    "place",
    "address",
    "breakfast",
    "speaker",
    "network",
    "member",
    "signature",
    "link",
]


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        'https://x.example/"onmouseover="alert(1)',
        "https://x.example/\r\nBcc: x@example.org",
        "//evil.example/",
        "http://",
        "mailto:",
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        safe_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://oppnadata-varmland.example/anmalan?id=2&lang=sv",
        "http://x.example",
        "mailto:a@b.example",
    ],
)
def test_safe_urls_pass(url: str) -> None:
    assert safe_url(url) == url


@given(url=TEXT)
def test_safe_url_lets_through_only_allowed_schemes(url: str) -> None:
    try:
        safe_url(url)
    except UnsafeURLError:
        return
    assert url.split(":", 1)[0].lower() in ("http", "https", "mailto")
    assert url.isprintable() and not any(c in url for c in '<>"\\ ')


def test_a_javascript_url_in_a_personal_link_is_refused(setup: Setup) -> None:
    factory = setup.factories["invitation"]
    member = setup.network.members[1]
    variant = factory.renderer.variant("invitation", setup.network.seminar(2), "sv", member)
    person = Person(email="anna.berg@example.org", name="Anna", sender=member.id)
    values = factory.renderer.personal_values(person, member, "sv", "javascript:alert(1)")
    with pytest.raises(MailerError, match="javascript: is not allowed"):
        variant.fill_html(values)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("registration_url", "javascript:alert(1)"),
        ("registration_url", "https://x.example/a b"),
    ],
)
def test_config_refuses_unsafe_urls(cli, workspace: Path, key: str, value: str) -> None:
    edit_seminar(workspace, 2, **{key: value})
    result = cli("check")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "network.toml:" in line and "registration_url" in line and "http(s)" in line


# -- the acceptance case, end to end through a real SMTP server ----------------------------


def test_hostile_rows_add_no_header_recipient_or_markup_in_any_mail_kind(
    cli, workspace: Path, smtp_server
) -> None:
    # Columns: E-post, Namn, Organisation, Titel, Språk.
    hostile = [
        [
            "anna.hostile@msb.example",
            "Anna\r\nBcc: victim@example.org",
            "<script>alert(1)</script>",
            "=?utf-8?q?a=0D=0ABcc=3A_x=40example.org?=",
            "sv",
        ],
        [
            "eve.hostile@msb.example",
            "=?utf-8?q?Eve_=3Ceve=40example=2Eorg=3E=2C?= Hacker",
            '"><img src=x onerror=alert(1)>',
            "javascript:alert(1)",
            "en",
        ],
        # An encoded word that the email package would decode into a header.
        [
            "bo.hostile@msb.example",
            "=?utf-8?q?Bo=0D=0ABcc=3A_victim=40example=2Eorg?=",
            "",
            "",
            "sv",
        ],
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(hostile)
    rows = buffer.getvalue()
    path = workspace / "recipients" / "msb.csv"
    path.write_text(path.read_text(encoding="utf-8") + rows, encoding="utf-8")

    for kind, number in (("invitation", "2"), ("summary", "1")):
        smtp_server.handler.received.clear()
        result = cli("send", kind, number, "--via", smtp_server.url, "--yes", "--org", "msb")
        assert result.exit_code == 0, result.output + result.stderr
        by_rcpt = {m.rcpt_tos[0]: m for m in smtp_server.received}
        assert all(len(m.rcpt_tos) == 1 for m in smtp_server.received)
        assert "victim@example.org" not in by_rcpt and "eve@example.org" not in by_rcpt
        for address, normal_address in (
            ("anna.hostile@msb.example", "johan.berg@msb.example"),  # Swedish
            ("eve.hostile@msb.example", "tom.walker@msb.example"),  # English
            ("bo.hostile@msb.example", "johan.berg@msb.example"),
        ):
            msg = by_rcpt[address].message
            normal = by_rcpt[normal_address].message
            assert msg.keys() == normal.keys()
            assert [a.addr_spec for a in msg["To"].addresses] == [address]
            assert msg["Subject"] == normal["Subject"]
            assert not msg.get_all("Bcc") and not msg.get_all("Cc")
            html = msg.get_body(("html",)).get_content()
            assert "<script" not in html and "<img src=x" not in html
            assert 'href="javascript' not in html
            assert structure(msg) == structure(normal)
        anna = by_rcpt["anna.hostile@msb.example"].message
        assert anna["To"].addresses[0].display_name == "Anna Bcc: victim@example.org"
        eve = by_rcpt["eve.hostile@msb.example"].message
        assert eve["To"].addresses[0].display_name == "Eve <eve@example.org>, Hacker"
        bo = by_rcpt["bo.hostile@msb.example"].message
        assert bo["To"].addresses[0].display_name == "Bo Bcc: victim@example.org"
