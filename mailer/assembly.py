"""Assemble each person's finished message bytes fast, exactly as the reference builds them.

``message.build_message`` (the standard library's ``email`` package) is the reference:
correct, but about 10 ms a message, most of it folding headers and encoding
quoted-printable in pure Python. Here the first message of each variant is built by the
reference and taken apart into a *skeleton*: the shared headers, the boundaries and the
part headers stay byte for byte as the library wrote them. Per person only what differs
is made again: To, Date, Message-ID, List-Unsubscribe and the part bodies. A body is the
variant's static pieces, each quoted-printable encoded once (``binascii``, in C), with the
person's values encoded between them; every piece ends at a line start (a soft line
break if need be, which decoders drop), so encoded pieces join without re-wrapping.

Whatever the fast path does not cover exactly (an SMTPUTF8 address, a value with a line
break, a structure it does not know) goes through the reference, so every message parses
back into the same headers and parts as the reference's: ``tests/test_assembly.py``
checks that for every kind and for awkward names and addresses.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
import re
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.headerregistry import Address
from email.message import Message
from email.utils import format_datetime
from typing import Any

from mailer.config import Member, Network
from mailer.errors import MailerError
from mailer.message import (
    POLICY,
    Attachment,
    Outgoing,
    build_message,
    check_recipient,
    list_unsubscribe,
    to_mailbox,
)
from mailer.recipients import Person
from mailer.render import Variant, check_urls

# Header fields that differ per person; every other field is copied from the skeleton.
PERSONAL_FIELDS = ("to", "date", "message-id", "list-unsubscribe")
# What a display name may hold for the fast fold; anything else is folded by the library.
_SPECIALS = frozenset('()<>@,:;.\\"[]')
_SOFT_BREAK = b"=\r\n"
_QP_LINE = 76  # RFC 2045: encoded lines at most 76 characters, the "=" included
_LITERAL = re.compile(rb"[ !-<>-~]*")  # printable ASCII but "=": stands for itself
_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")  # a signed link's token (tokens.Signer.sign)


class _Unusual(Exception):
    """A value the fast path does not cover exactly: build this one with the reference."""


def qp_piece(data: bytes) -> bytes:
    """``data`` quoted-printable encoded with CRLF line ends, ending at the start of a line
    (with a soft break when ``data`` does not end in a line break), so pieces can be
    joined. ``data`` has LF line ends only."""
    if not data:
        return b""
    if len(data) < _QP_LINE and _LITERAL.fullmatch(data):
        return data + _SOFT_BREAK  # most names and titles: nothing to encode
    out = _b2a_qp(data)
    if out.endswith(b"\n"):
        return out
    last = len(out) - out.rfind(b"\n") - 1
    if last >= _QP_LINE:
        # The soft break's "=" would overrun the line: move the last character (or the
        # last =XX escape) onto a line of its own first.
        cut = len(out) - (3 if out[-3:-2] == b"=" else 1)
        out = out[:cut] + _SOFT_BREAK + out[cut:]
    return out + _SOFT_BREAK


def _b2a_qp(data: bytes) -> bytes:
    out = binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
    lines = out.split(b"\r\n")
    if max(map(len, lines)) <= _QP_LINE:
        return out
    # binascii lets a line end in "=20" (a trailing blank) one column past the limit.
    return b"\r\n".join(_rewrap(line) for line in lines)


def _rewrap(line: bytes) -> bytes:
    parts = []
    while len(line) > _QP_LINE:
        cut = _QP_LINE - 1
        if line[cut - 1 : cut] == b"=":
            cut -= 1
        elif line[cut - 2 : cut - 1] == b"=":
            cut -= 2
        parts.append(line[:cut] + b"=")
        line = line[cut:]
    parts.append(line)
    return b"\r\n".join(parts)


def qp_text(text: str) -> bytes:
    """A whole text part, quoted-printable, as the reference would store it. Encoded line
    by line with a memo: an attachment made from a template (the .ics) repeats most lines
    from person to person, and quoted-printable never spans a line break."""
    memo = _QP_LINES
    if len(memo) > 10_000:
        memo.clear()
    lines = text.encode("utf-8").splitlines()
    return b"".join([memo.get(line) or _qp_line(line) for line in lines]) or b"\r\n"


def _qp_line(line: bytes) -> bytes:
    encoded = _QP_LINES[line] = _b2a_qp(line + b"\n")
    return encoded


_QP_LINES: dict[bytes, bytes] = {}


def base64_text(text: str) -> bytes:
    """A whole text part (an attachment), base64 in lines of 76, CRLF inside."""
    data = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join([encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76)])


# RFC 2047's "Q" encoding as the library writes it: these bytes stand for themselves, a
# space is "_", every other byte is "=XX" (upper-case hex).
_Q_SAFE = b"-!*+/" + bytes(range(ord("0"), ord("9") + 1)) + string.ascii_letters.encode("ascii")
_Q_BYTE = tuple(
    chr(b) if b in _Q_SAFE else "_" if b == ord(" ") else f"={b:02X}" for b in range(256)
)
_Q_PLAIN = _Q_SAFE + b" "  # one character each in the Q encoding


def encoded_word(text: str) -> str:
    """``text`` as one RFC 2047 encoded word in UTF-8, as the library's header folding
    writes it: Q (quoted-printable) unless base64 is shorter by five characters or more."""
    data = text.encode("utf-8")
    escaped = len(data.translate(None, _Q_PLAIN))  # bytes that take "=XX"
    q_length = len(data) + 2 * escaped
    b_length = (len(data) + 2) // 3 * 4
    if q_length - b_length < 5:
        return "=?utf-8?q?" + "".join(map(_Q_BYTE.__getitem__, data)) + "?="
    return "=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="


def fold_to(to: Address) -> bytes:
    """The To field, folded as the library folds it (checked against it in the tests)."""
    name, addr = to.display_name, to.addr_spec
    if not name:
        line = f"To: {addr}\r\n"
    else:
        words = name.split(" ")
        if (
            "=?" in name
            or not _SPECIALS.isdisjoint(name)
            or name.split() != words
            or not name.isprintable()
        ):
            return _library_fold("To", to)
        wide = [i for i, w in enumerate(words) if not w.isascii()]
        if wide:
            # The library makes one encoded word from the first to the last non-ASCII word.
            first, last = wide[0], wide[-1] + 1
            words[first:last] = [encoded_word(" ".join(words[first:last]))]
        line = f"To: {' '.join(words)} <{addr}>\r\n"
    if len(line) > 900 or not line.isascii():
        return _library_fold("To", to)
    return line.encode("ascii")


def fold_plain(name: str, value: str) -> bytes:
    """A field whose value is short, printable ASCII (a date, a Message-ID, a URL list)."""
    if (
        value.isascii()
        and value.isprintable()
        and "=?" not in value
        and "  " not in value
        and value == value.strip()
        and len(name) + len(value) < 900
    ):
        return f"{name}: {value}\r\n".encode("ascii")
    return _library_fold(name, value)


def _library_fold(name: str, value: object) -> bytes:
    header = POLICY.header_factory(name, value)
    folded: str = header.fold(policy=POLICY)
    return folded.encode("ascii")


@dataclass(frozen=True, slots=True)
class _Body:
    """One personalised text part: static pieces (encoded once) and the slots between."""

    static: tuple[bytes, ...]  # quoted-printable, each ending at a line start
    slots: tuple[str, ...]  # the person's field that goes after static[i]
    raw: tuple[str, ...]  # the static pieces as text, to know how the whole text ends
    escape: bool  # HTML: values are escaped as Variant.fill_html escapes them

    @classmethod
    def of(cls, pieces: tuple[str, ...], *, escape: bool) -> _Body:
        static = pieces[::2]
        if any("\r" in p for p in static):
            raise _Unusual  # line ends the fast path would have to merge across pieces
        return cls(
            tuple(qp_piece(p.encode("utf-8")) for p in static),
            tuple(pieces[1::2]),
            tuple(static),
            escape,
        )

    def encode(self, values: Mapping[str, str]) -> bytes:
        out = [self.static[0]]
        filled: list[str] = []
        for slot, piece in zip(self.slots, self.static[1:], strict=True):
            value = values[slot]
            if self.escape:
                value = html.escape(value, quote=True)
            if "\n" in value or "\r" in value:
                raise _Unusual
            filled.append(value)
            encoded = qp_piece(value.encode("utf-8"))
            if (
                piece[:2] == b"\r\n"
                and encoded.endswith(_SOFT_BREAK)
                and encoded[-4:-3] not in (b" ", b"\t", b"")
            ):
                encoded = encoded[:-3]  # a line break follows: no soft break needed
            out.append(encoded)
            out.append(piece)
        if not self._ends_with_newline(filled):
            out.append(b"\r\n")  # the reference ends every text part with a line break
        return b"".join(out)

    def _ends_with_newline(self, filled: list[str]) -> bool:
        for i in range(len(self.raw) - 1, -1, -1):
            if self.raw[i]:
                return self.raw[i].endswith("\n")
            if i and filled[i - 1]:
                return False  # values hold no line breaks
        return False


Leaf = Callable[[Mapping[str, str], Sequence[Attachment]], bytes]


@dataclass(frozen=True, slots=True)
class _Skeleton:
    """A variant's message taken apart: what stays, and where each person's parts go."""

    variant: Variant  # held so the cache key (its id) stays unique while cached
    sender: str
    head: tuple[bytes | tuple[str, str], ...]  # a field as written, or (key, name) per person
    frame: tuple[bytes, ...]  # the bytes around the leaf bodies: len(leaves) + 1
    leaves: tuple[Leaf, ...]

    def assemble(
        self,
        fields: Mapping[str, bytes],
        values: Mapping[str, str],
        attachments: Sequence[Attachment],
    ) -> bytes:
        out = [f if isinstance(f, bytes) else fields[f[0]] for f in self.head]
        for frame, leaf in zip(self.frame, self.leaves, strict=False):
            out.append(frame)
            out.append(leaf(values, attachments))
        out.append(self.frame[-1])
        return b"".join(out)


def _skeleton(sample: Outgoing, variant: Variant, attachments: Sequence[Attachment]) -> _Skeleton:
    """Take the reference's message apart; _Unusual when its shape is not the known one:
    text and HTML, each attachment's alternative copy, then the attachments."""
    data = sample.data
    head_end = data.index(b"\r\n\r\n") + 2
    head: list[bytes | tuple[str, str]] = []
    for line in data[:head_end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            last = head[-1]
            if not isinstance(last, bytes):
                raise _Unusual
            head[-1] = last + line
            continue
        name = line.split(b":", 1)[0].decode("ascii")
        head.append((name.lower(), name) if name.lower() in PERSONAL_FIELDS else line)
    parsed = message_from_bytes(data, policy=POLICY)
    spans: list[tuple[int, int, Message]] = []
    _leaf_spans(data, parsed, 0, None, spans)
    text, html_body = _Body.of(variant.text, escape=False), _Body.of(variant.html, escape=True)
    expected: list[tuple[str, str, Leaf]] = [
        ("text/plain", "quoted-printable", lambda v, a: text.encode(v)),
        ("text/html", "quoted-printable", lambda v, a: html_body.encode(v)),
    ]
    for i, item in enumerate(attachments):
        if item.alternative:
            expected.append((f"text/{item.subtype}", "quoted-printable", _alternative(i)))
    for i, item in enumerate(attachments):
        expected.append((f"text/{item.subtype}", "base64", _attached(i)))
    if len(spans) != len(expected):
        raise _Unusual
    for (_, _, part), (ctype, cte, _) in zip(spans, expected, strict=True):
        if (part.get_content_type(), str(part.get("Content-Transfer-Encoding"))) != (ctype, cte):
            raise _Unusual
    edges = [head_end] + [x for start, end, _ in spans for x in (start, end)] + [len(data)]
    frame = tuple(data[edges[i] : edges[i + 1]] for i in range(0, len(edges), 2))
    leaves = tuple(leaf for _, _, leaf in expected)
    return _Skeleton(variant, sample.sender, tuple(head), frame, leaves)


def _alternative(i: int) -> Leaf:
    return lambda values, attachments: qp_text(attachments[i].text)


def _attached(i: int) -> Leaf:
    return lambda values, attachments: base64_text(attachments[i].text)


def _leaf_spans(
    data: bytes, part: Message, cursor: int, parent: bytes | None, out: list[Any]
) -> int:
    """Append (start, end, part) for every leaf body of ``part``, whose header block starts
    at ``cursor``; returns where ``part`` ends (at the CRLF before its parent's delimiter)."""
    if part.is_multipart():
        boundary = part.get_boundary()
        if boundary is None:
            raise _Unusual
        delimiter = b"\r\n--" + boundary.encode("ascii")
        cursor = data.index(delimiter[2:] + b"\r\n", cursor) + len(delimiter)
        for sub in part.get_payload():
            assert isinstance(sub, Message)
            end = _leaf_spans(data, sub, cursor, delimiter, out)
            if data[end : end + len(delimiter)] != delimiter:
                raise _Unusual
            cursor = end + len(delimiter) + 2  # past "\r\n" or the closing "--"
        if data[cursor - 2 : cursor] != b"--":
            raise _Unusual
    else:
        start = data.index(b"\r\n\r\n", cursor) + 4
        end = data.index(parent, start) if parent else len(data)
        out.append((start, end, part))
        cursor = end
    return data.index(parent, cursor) if parent else len(data)


class Assembler:
    """Builds messages like ``message.build_message``, fast; one per mailing run."""

    def __init__(self) -> None:
        self._skeletons: dict[tuple[Any, ...], _Skeleton | None] = {}
        self._second = -1
        self._zone: dt.tzinfo | None = None
        self._date = b""
        self._safe_links: set[str] = set()

    def build(
        self,
        variant: Variant,
        values: dict[str, str],
        *,
        person: Person,
        member: Member,
        network: Network,
        message_id: str,
        date: dt.datetime | None = None,
        unsubscribe_url: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> Outgoing:
        """The complete message for one person, ready for SMTP (see the module's doc)."""

        def reference() -> Outgoing:
            return build_message(
                variant,
                values,
                person=person,
                member=member,
                network=network,
                message_id=message_id,
                date=date,
                unsubscribe_url=unsubscribe_url,
                attachments=attachments,
            )

        # The checks the reference makes (its fill_html and fill_text check the URLs).
        check_recipient(person.email)
        self.check_links(values)
        to, to_addr, needs_utf8 = to_mailbox(person)
        key = (
            id(variant),
            member.id,
            bool(unsubscribe_url),
            *((a.filename, a.subtype, tuple(a.params.items()), a.alternative) for a in attachments),
        )
        skeleton = self._skeletons.get(key)
        if skeleton is None:
            if needs_utf8 or key in self._skeletons:
                return reference()
            sample = reference()
            try:
                self._skeletons[key] = _skeleton(sample, variant, attachments)
            except (_Unusual, ValueError):
                self._skeletons[key] = None  # this variant always takes the reference path
            return sample
        if needs_utf8:
            return reference()
        fields = self._personal_headers(to, network, date, message_id, member, unsubscribe_url)
        try:
            data = skeleton.assemble(fields, values, attachments)
        except _Unusual:
            return reference()
        return Outgoing(sender=skeleton.sender, recipient=to_addr, message_id=message_id, data=data)

    def _personal_headers(
        self,
        to: Address,
        network: Network,
        date: dt.datetime | None,
        message_id: str,
        member: Member,
        unsubscribe_url: str | None,
    ) -> dict[str, bytes]:
        """The headers that differ per person, folded as the reference folds them."""
        return {
            "to": fold_to(to),
            "date": b"Date: " + self._now(network) + b"\r\n"
            if date is None
            else fold_plain("Date", format_datetime(date)),
            "message-id": fold_plain("Message-ID", message_id),
            "list-unsubscribe": fold_plain(
                "List-Unsubscribe", list_unsubscribe(member, unsubscribe_url)
            ),
        }

    def check_links(self, values: Mapping[str, str]) -> None:
        """``render.check_urls``, once per link rather than once per person: a signed link
        differs only in its token, the last query value, whose characters (base64url and
        ".") change nothing the check looks at, so the link with "x" for it stands in."""
        for key, value in values.items():
            if not (key.endswith("url") and value):
                continue
            head, equals, token = value.rpartition("=")
            if equals and "?" in head and _TOKEN.fullmatch(token):
                stand_in = head + "=x"
                if stand_in not in self._safe_links:
                    try:
                        check_urls({key: stand_in})
                    except MailerError:
                        check_urls({key: value})  # the error names the real link
                        raise
                    self._safe_links.add(stand_in)
                continue
            check_urls({key: value})

    def _now(self, network: Network) -> bytes:
        """Today's Date value; formatted once a second, as it only shows seconds."""
        second = int(time.time())
        if second != self._second or network.tz is not self._zone:
            self._second, self._zone = second, network.tz
            self._date = format_datetime(dt.datetime.fromtimestamp(second, network.tz)).encode()
        return self._date
