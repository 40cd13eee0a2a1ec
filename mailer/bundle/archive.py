"""The bundle as a file: the zip, its signature, and every check short of unpacking it.

Opening a bundle checks, in this order, that it is a regular file of a sane size and a
whole zip whose members are the sizes they declare, that its format is one this tool
reads, that it is for the expected network and member, that the signature matches, that
every file matches its checksum and none was added, and that the zip is byte for byte
the one this tool writes: anything else is a :class:`BundleError` (one line, exit code 2)
before anything is rendered or sent.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from mailer.bundle.files import read_bounded
from mailer.bundle.formats import (
    FORMAT,
    MANIFEST,
    MAX_BUNDLE,
    MAX_UNPACKED,
    SIGNATURE,
    Header,
    Manifest,
    Signature,
    check_format,
    load_json,
    refuse,
    sha256,
    validate,
)
from mailer.bundle.signing import Key
from mailer.errors import BundleError
from mailer.i18n import _, follow_network


def _do_not_send() -> str:
    return _("do not send it; ask the coordinator for a new bundle")


def pack(manifest: bytes, signature: bytes, files: dict[str, bytes]) -> bytes:
    """The one byte sequence a bundle with this content may have.

    The signature covers the manifest and the manifest the files, but a zip also has
    timestamps, attributes, comments and gaps that no checksum sees. Writing it the same
    way every time (stored, fixed dates and attributes, fixed order) lets a reader rebuild
    it and refuse a file that differs in any byte.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, content in [(MANIFEST, manifest), (SIGNATURE, signature), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3  # Unix, wherever it was written
            info.external_attr = 0o600 << 16
            zf.writestr(info, content)
    return buffer.getvalue()


def sign(key: Key, data: bytes) -> Signature:
    return Signature(algorithm=key.algorithm, key_id=key.key_id, value=key.sign(data))


def _read_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # Never more than the header declares (plus one byte, to see a lie), whatever the
    # compressed stream would inflate to.
    with zf.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise refuse(
            path,
            _("{name} is not the size its header declares: refusing it").format(name=info.filename),
        )
    return data


def read_zip(path: Path) -> tuple[bytes, dict[str, bytes]]:
    """The file's bytes and its entries, each read within the declared sizes."""
    raw = read_bounded(path, MAX_BUNDLE, what="bundle")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if sum(i.file_size for i in infos) > MAX_UNPACKED:
                raise refuse(path, _("the bundle unpacks to more than 50 MB; refusing it"))
            return raw, {i.filename: _read_member(path, zf, i) for i in infos}
    except BundleError:
        raise
    except Exception as exc:
        # zipfile parses damaged headers into many kinds of error (BadZipFile, zlib.error,
        # EOFError; NotImplementedError for an unknown compression method; RuntimeError
        # for a flipped "encrypted" flag; ValueError, struct.error...). From an untrusted
        # file, every one of them means the same: this is not the bundle that was signed.
        problem = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise refuse(
            path,
            _("not a complete bundle: {problem}").format(problem=problem),
            hint=_("the file is truncated or damaged: ask the coordinator for it again"),
        ) from None


def read_manifest(path: Path) -> tuple[bytes, dict[str, bytes], Manifest]:
    """The file, its entries and its manifest, checked for completeness and format only.

    From here on the member's mailer speaks the bundle's network language, unless the
    person chose one (``--language``, ``MAILER_LANGUAGE``): a refusal too. The manifest is
    not verified yet, but a language is all it could change.
    """
    raw, files = read_zip(path)
    if MANIFEST not in files:
        raise refuse(path, _("not a mailer bundle: it has no manifest.json"))
    value = load_json(path, MANIFEST, files[MANIFEST])
    if not isinstance(value, dict):
        raise refuse(path, _("not a mailer bundle: the manifest is not an object"))
    header = validate(Header, value, path=path, problem=_("not a mailer bundle"))
    check_format(path, header.format, "bundle", FORMAT)
    manifest = validate(Manifest, value, path=path, problem=_("the manifest cannot be read"))
    follow_network(manifest.network.language)
    return raw, files, manifest


def _verify_signature(path: Path, files: dict[str, bytes], key: Key) -> None:
    if SIGNATURE not in files:
        raise refuse(path, _("the bundle is not signed (no signature.json); refusing it"))
    value = load_json(path, SIGNATURE, files[SIGNATURE])
    sig = validate(Signature, value, path=path, problem=_("signature.json cannot be read"))
    if sig.algorithm != key.algorithm:
        raise refuse(
            path,
            _("the bundle is signed with {theirs!r} but your key is {yours}").format(
                theirs=sig.algorithm, yours=key.algorithm
            ),
            hint=_("use the key the coordinator gave you for this network"),
        )
    if sig.key_id != key.key_id:
        raise refuse(
            path,
            _("the bundle is signed with another key (key id {theirs}, yours is {yours})").format(
                theirs=sig.key_id, yours=key.key_id
            ),
            hint=_("is it from another network, or has the coordinator changed keys?"),
        )
    if not key.verify(files[MANIFEST], sig.value):
        raise refuse(
            path,
            _("the signature does not match: the bundle was changed after it was signed"),
            hint=_do_not_send(),
        )


def safe_name(name: str) -> bool:
    """A path inside the bundle that cannot leave the folder it is unpacked into."""
    pure = PurePosixPath(name)
    return (
        bool(name)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and "\\" not in name
        and ":" not in name
    )


def _verify_files(path: Path, files: dict[str, bytes], manifest: Manifest) -> None:
    listed = manifest.files
    present = set(files) - {MANIFEST, SIGNATURE}
    for name in sorted(present - set(listed)):
        raise refuse(
            path,
            _("the bundle holds {name}, which its manifest does not list: it was altered").format(
                name=name
            ),
        )
    for name, digest in sorted(listed.items()):
        if not safe_name(name):
            raise refuse(path, _("the manifest names an unsafe path {name!r}").format(name=name))
        if name not in files:
            raise refuse(
                path,
                _("{name} is missing from the bundle").format(name=name),
                hint=_("ask for it again"),
            )
        if sha256(files[name]) != digest:
            raise refuse(
                path,
                _("{name} does not match its checksum: the bundle was altered").format(name=name),
                hint=_do_not_send(),
            )


def verify(
    path: Path,
    key: Key,
    *,
    network_id: str | None = None,
    member_id: str | None = None,
) -> tuple[dict[str, bytes], Manifest]:
    """Every check short of unpacking; BundleError on the first that fails."""
    raw, files, manifest = read_manifest(path)
    if network_id is not None and manifest.network.id != network_id:
        raise refuse(
            path,
            _("this bundle is for the network {theirs!r}, not {yours!r}").format(
                theirs=manifest.network.id, yours=network_id
            ),
            hint=_("check that you have the right file"),
        )
    if member_id is not None and manifest.member.id != member_id:
        raise refuse(
            path,
            _(
                "this bundle is for the member {theirs!r}, but the channel file is for {yours!r}"
            ).format(theirs=manifest.member.id, yours=member_id),
            hint=_("send each member's bundle through that member's own channel"),
        )
    _verify_signature(path, files, key)
    _verify_files(path, files, manifest)
    content = {name: files[name] for name in manifest.files}
    if pack(files[MANIFEST], files[SIGNATURE], content) != raw:
        raise refuse(
            path,
            _("the zip around the signed files was changed (dates, attributes or extra bytes)"),
            hint=_do_not_send(),
        )
    return files, manifest


def digest_of(files: dict[str, bytes]) -> str:
    """A bundle's identity: the digest of its signed manifest."""
    return sha256(files[MANIFEST])
