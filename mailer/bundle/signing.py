"""The network's signing key for mailing bundles, member reports and revocation notes.

Two kinds of key, told apart by their text, never by what a signed file claims (so a
bundle cannot pick a weaker check than the key calls for):

* **Ed25519** (recommended): the coordinator keeps the private key (PEM, PKCS#8) and gives
  members the public key (PEM). Members can check a bundle but cannot make one.
* **HMAC-SHA256**: one shared secret (at least 32 characters) that coordinator and members
  all hold. Simpler to hand out; a member could forge a bundle, so prefer Ed25519.

The key comes from a file (``--key-file``, env ``MAILER_BUNDLE_KEY_FILE``) or from the
environment variable ``MAILER_BUNDLE_KEY`` holding the key text. It is never printed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.bundle.files import read_bounded
from mailer.errors import BundleError
from mailer.i18n import _

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from mailer.bundle.formats import Signature

KEY_ENV = "MAILER_BUNDLE_KEY"
KEY_FILE_ENV = "MAILER_BUNDLE_KEY_FILE"
HMAC = "hmac-sha256"
ED25519 = "ed25519"
ALGORITHMS = (ED25519, HMAC)
MIN_SECRET = 32
MAX_KEY_FILE = 64_000  # bytes; a PEM key is a few hundred


@dataclass(frozen=True)
class Key:
    """A loaded key; ``repr`` never shows the secret."""

    algorithm: str
    key_id: str  # a short fingerprint, safe to print: tells keys apart in error messages
    source: str
    _secret: bytes | None = field(default=None, repr=False)
    _private: Ed25519PrivateKey | None = field(default=None, repr=False)
    _public: Ed25519PublicKey | None = field(default=None, repr=False)

    @property
    def can_sign(self) -> bool:
        return self.algorithm == HMAC or self._private is not None

    def sign(self, data: bytes) -> str:
        if self._secret is not None:
            return base64.b64encode(hmac.digest(self._secret, data, "sha256")).decode()
        if self._private is None:
            raise BundleError(
                _("{source} is a public key: it can check bundles, not sign them").format(
                    source=self.source
                ),
                hint=_("use the network's private key (mailer bundle keygen made both)"),
            )
        return base64.b64encode(self._private.sign(data)).decode()

    def verify(self, data: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        if self._secret is not None:
            return hmac.compare_digest(raw, hmac.digest(self._secret, data, "sha256"))
        from cryptography.exceptions import InvalidSignature

        assert self._public is not None
        try:
            self._public.verify(raw, data)
        except InvalidSignature:
            return False
        return True

    def signed(self, body: bytes, signature: Signature | None) -> bool | None:
        """Whether ``signature`` over ``body`` is this key's: None when it was not made
        with this key at all (unsigned, another algorithm or key), else whether it matches
        (False: the file was altered). Each caller words the two refusals for its file."""
        if signature is None:
            return None
        if signature.algorithm != self.algorithm or signature.key_id != self.key_id:
            return None
        return self.verify(body, signature.value)


def _fingerprint(material: bytes) -> str:
    return hashlib.sha256(b"mailer-key-id\0" + material).hexdigest()[:16]


def parse_key(text: str, *, source: str) -> Key:
    """A key from its text: an Ed25519 PEM (private or public), else an HMAC secret."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return _parse_pem(text, source)
    if len(text) < MIN_SECRET:
        raise BundleError(
            _("{source}: an HMAC key must be at least {count} characters").format(
                source=source, count=MIN_SECRET
            ),
            hint=_("make one with 'mailer bundle keygen --type hmac'"),
        )
    from mailer import redaction

    redaction.remember(text)  # never in an error line, log or traceback
    secret = text.encode("utf-8")
    return Key(HMAC, _fingerprint(secret), source, _secret=secret)


def _parse_pem(text: str, source: str) -> Key:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    data = text.encode("ascii", "replace")
    private: Ed25519PrivateKey | None = None
    if "PRIVATE KEY" in text:
        from mailer import redaction

        # The base64 body lines are the secret; masking each keeps every form of it out.
        for line in text.splitlines():
            if not line.startswith("-----"):
                redaction.remember(line.strip())
    try:
        if "PRIVATE KEY" in text.splitlines()[0]:
            loaded = serialization.load_pem_private_key(data, password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            private = loaded
            public = loaded.public_key()
        else:
            loaded_public = serialization.load_pem_public_key(data)
            if not isinstance(loaded_public, Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            public = loaded_public
    except (ValueError, TypeError) as exc:
        raise BundleError(
            _("{source}: not a usable key: {problem}").format(source=source, problem=exc),
            hint=_("use the files 'mailer bundle keygen' wrote (an unencrypted Ed25519 PEM)"),
        ) from None
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Key(ED25519, _fingerprint(raw), source, _private=private, _public=public)


def load_key(path: Path | str | None = None) -> Key:
    """The key from ``path``, else from ``$MAILER_BUNDLE_KEY``; BundleError when there is none."""
    if path:
        path = Path(path)
        data = read_bounded(path, MAX_KEY_FILE, what="key file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(_("not a key file (not UTF-8 text)"), path=path) from None
        return parse_key(text, source=str(path))
    value = os.environ.get(KEY_ENV)
    if value:
        return parse_key(value, source=f"${KEY_ENV}")
    raise BundleError(
        _("no key to sign or check bundles with"),
        hint=_(
            "pass --key-file FILE (or set {file_variable}), or put the key in ${variable}"
        ).format(file_variable=KEY_FILE_ENV, variable=KEY_ENV),
    )


def generate_key(algorithm: str = ED25519) -> tuple[str, str | None]:
    """A new key as text: (private key or secret, public key or None)."""
    if algorithm == HMAC:
        return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=") + "\n", None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def write_key(out: Path, algorithm: str = ED25519) -> Path | None:
    """Write a new key to ``out`` (owner-only) and, for Ed25519, its public key to
    ``out.pub``; return the public key's path, or None for an HMAC secret.

    A missing folder is refused rather than created: a mistyped path would otherwise put
    the network's private key somewhere nobody meant it to be.
    """
    if not out.parent.is_dir():
        raise BundleError(
            _("no folder {folder} to write the key into").format(folder=out.parent),
            path=out,
            hint=_("create the folder first, or pass -o with a folder that exists"),
        )
    if out.exists():
        raise BundleError(_("exists already; refusing to overwrite a key"), path=out)
    private, public = generate_key(algorithm)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(private)
    if public is None:
        return None
    pub = out.with_name(out.name + ".pub")
    pub.write_text(public, encoding="utf-8")
    return pub
