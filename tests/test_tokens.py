"""Sealed link tokens: they carry the person without showing them; old tokens still count."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer import tokens

SIGNER = tokens.Signer(b"k" * 32)
PURPOSE = "unsubscribe:oppna-data-varmland"


def test_a_sealed_token_gives_back_the_person_and_language_but_shows_neither():
    token = SIGNER.sign(PURPOSE, "asa.bjork@example.org", language="en")
    assert SIGNER.claim(PURPOSE, token) == tokens.Claim("asa.bjork@example.org", "en")
    assert SIGNER.verify(PURPOSE, token) == "asa.bjork@example.org"
    shown = base64.urlsafe_b64encode(b"asa.bjork@example.org").decode()
    assert "." not in token and "asa" not in token and shown[:8] not in token
    # The same link in every build of a message (a bundle, a reference build).
    assert SIGNER.sign(PURPOSE, "asa.bjork@example.org", language="en") == token
    assert SIGNER.sign(PURPOSE, "asa.bjork@example.org", language="sv") != token


def test_wrong_key_purpose_or_rehearsal_is_refused():
    token = SIGNER.sign(PURPOSE, "a@example.org")
    with pytest.raises(tokens.TokenError):
        tokens.Signer(b"x" * 32).verify(PURPOSE, token)
    with pytest.raises(tokens.TokenError):
        SIGNER.verify("register:oppna-data-varmland:2", token)
    rehearsal = SIGNER.sign(tokens.rehearsal_purpose(PURPOSE), "a@example.org")
    with pytest.raises(tokens.RehearsalTokenError, match="rehearsal: nobody"):
        SIGNER.verify(PURPOSE, rehearsal, refused="nobody")


@given(st.binary(max_size=80))
def test_no_made_up_token_is_accepted(raw):
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(tokens.TokenError):
        SIGNER.verify(PURPOSE, token)


@given(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=255))
def test_a_changed_byte_is_refused(position, flip):
    token = SIGNER.sign(PURPOSE, "a@example.org")
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[position % len(raw)] ^= flip
    changed = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(tokens.TokenError):
        SIGNER.verify(PURPOSE, changed)


def test_a_token_from_before_sealing_still_counts():
    mac = hmac.new(b"k" * 32, f"{PURPOSE}\na@example.org".encode(), hashlib.sha256).digest()[:16]

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    old = f"{b64(b'a@example.org')}.{b64(mac)}"
    assert SIGNER.claim(PURPOSE, old) == tokens.Claim("a@example.org", None)
