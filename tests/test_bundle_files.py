"""Bundles, reports, notes and keys are read bounded, and from regular files only."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from mailer.bundle import formats
from mailer.bundle.files import read_bounded
from mailer.errors import BundleError
from tests.helpers import export_bundle as export
from tests.helpers import run_mailer as run


def one_line_refusal(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_fifo_is_refused_at_once_also_behind_a_symlink(tmp_path, keys):
    fifo = tmp_path / "bundle.zip"
    os.mkfifo(fifo)  # nobody writes: reading it would wait forever
    link = tmp_path / "link.zip"
    link.symlink_to(fifo)
    env = {"MAILER_BUNDLE_KEY_FILE": str(keys["public"])}
    for path in (fifo, link):
        result = run("bundle", "check", str(path), env=env)
        one_line_refusal(result, "not a regular file; refusing to read the bundle from it")
    key = run("bundle", "check", str(fifo), env={"MAILER_BUNDLE_KEY_FILE": str(link)})
    one_line_refusal(key, "not a regular file; refusing to read the key file from it")


def test_a_device_is_refused_as_a_report(coordinator, tmp_path):
    link = tmp_path / "report.json"
    link.symlink_to("/dev/zero")  # endless: read whole, it would fill the memory
    result = coordinator("bundle", "import-report", str(link))
    one_line_refusal(result, "not a regular file; refusing to read the report from it")
    folder = coordinator("bundle", "import-report", str(tmp_path))
    one_line_refusal(folder, "not a regular file")


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path, keys, coordinator):
    big = tmp_path / "big.zip"
    with big.open("wb") as f:
        f.truncate(formats.MAX_BUNDLE + 1)  # sparse: costs no disk
    env = {"MAILER_BUNDLE_KEY_FILE": str(keys["public"])}
    one_line_refusal(run("bundle", "check", str(big), env=env), "the bundle is larger than 60 MB")
    report = tmp_path / "report.json"
    with report.open("wb") as f:
        f.truncate(formats.MAX_REPORT + 1)
    result = coordinator("bundle", "import-report", str(report))
    one_line_refusal(result, "the report is larger than 20 MB")


def test_read_bounded_stops_at_the_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1001)
    assert read_bounded(path, 1001, what="file") == b"x" * 1001
    with pytest.raises(BundleError, match="the note is larger than 1 KB"):
        read_bounded(path, 1000, what="note")


def test_a_zip_that_unpacks_beyond_the_limit_is_refused_unread(members, monkeypatch):
    msb = members["msb"]
    # 60 MB of zeros deflate to a few dozen KB: the file is small, its content is not.
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("people.json", "w") as member,
    ):
        for _ in range(60):
            member.write(b"\0" * 1_000_000)
    msb.bundle.write_bytes(buffer.getvalue())
    assert msb.bundle.stat().st_size < 1_000_000
    monkeypatch.chdir(msb.root)
    one_line_refusal(msb.check(), "the bundle unpacks to more than 50 MB; refusing it")


def test_a_member_larger_than_its_header_says_is_refused(coordinator, members, monkeypatch):
    msb = members["msb"]
    export(coordinator, msb)
    data = bytearray(msb.bundle.read_bytes())
    # Its central directory entry's uncompressed size, one byte smaller than the truth.
    start = data.index(b"PK\x01\x02")
    while data[start + 46 : start + 46 + len(b"people.json")] != b"people.json":
        start = data.index(b"PK\x01\x02", start + 4)
    size = int.from_bytes(data[start + 24 : start + 28], "little")
    data[start + 24 : start + 28] = (size - 1).to_bytes(4, "little")
    msb.bundle.write_bytes(bytes(data))
    monkeypatch.chdir(msb.root)
    # zipfile stops at the declared size, and the checksum of the short read fails.
    one_line_refusal(msb.check(), "not a complete bundle: Bad CRC-32 for file 'people.json'")
    assert msb.server.received == []


def test_a_wrong_shape_is_one_line_naming_the_field(coordinator, members, monkeypatch):
    import json

    msb = members["msb"]
    export(coordinator, msb)
    report = msb.report()
    data = json.loads(report.read_text())
    data["people"] = "everyone"
    report.write_text(json.dumps(data))
    result = coordinator("bundle", "import-report", str(report))
    one_line_refusal(result, "the report is incomplete: people: Input should be a valid list")
