"""Mailing bundles: what a member's machine pays to check and open a bundle of 5,000 people.

The baseline is the least any reader of a zip does: read every entry. ``verify`` adds the
Ed25519 signature, a sha256 of every file and the byte-for-byte rebuild of the zip that
catches changed dates, attributes or extra bytes; ``open`` adds unpacking and reading the
people; ``export`` is the coordinator's side.

Run with the project's runner (``python -m bench bundle``) or alone:
``python -m bench.bundle`` (a table with the ratio to the baseline, same run).
"""

from __future__ import annotations

import statistics
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailer.bundle.signing import Key
    from mailer.campaign.mailing import Mailing
    from mailer.config import Member, Network
    from mailer.recipients import Person

TITLE = "bundles: export / verify / open a member's share of 5,000 people (Ed25519)"
PEOPLE = 5_000
REPO = Path(__file__).resolve().parent.parent


def _network_and_people() -> tuple[Network, Mailing, Member, list[Person]]:
    from mailer.campaign.mailing import mailing_for
    from mailer.config import load_network
    from mailer.recipients import Person

    network = load_network(REPO / "network.toml")
    member = network.member("msb")
    people = [
        Person(
            email=f"person{n}@msb.example",
            name=f"Åsa Björk {n}",
            organisation=member.name,
            title="Handläggare",
            language="sv" if n % 4 else "en",
            listed_by=("msb",),
            sender="msb",
        )
        for n in range(PEOPLE)
    ]
    return network, mailing_for(network, "invitation", 2), member, people


def _key(data: Path) -> Key:
    from mailer.bundle.signing import load_key

    return load_key(data / "network.key")


def prepare(data: Path) -> None:
    from mailer.bundle import export_bundle
    from mailer.bundle.signing import generate_key

    if not (data / "network.key").exists():
        private, public = generate_key("ed25519")
        (data / "network.key").write_text(private)
        (data / "network.key.pub").write_text(public or "")
    network, mailing, member, people = _network_and_people()
    export_bundle(network, mailing, member, people, _key(data), data / "bundle.zip")


def read_entries(data: Path) -> object:
    with zipfile.ZipFile(data / "bundle.zip") as zf:
        return sum(len(zf.read(i)) for i in zf.infolist())


def verify(data: Path) -> object:
    from mailer.bundle import verify as verify_bundle
    from mailer.bundle.signing import load_key

    files, _ = verify_bundle(data / "bundle.zip", load_key(data / "network.key.pub"))
    return len(files)


def open_share(data: Path) -> object:
    from mailer.bundle import open_bundle
    from mailer.bundle.signing import load_key

    with open_bundle(data / "bundle.zip", load_key(data / "network.key.pub")) as b:
        return len(b.people)


def export(data: Path) -> object:
    from mailer.bundle import export_bundle

    network, mailing, member, people = _network_and_people()
    out = data / "exported.zip"
    export_bundle(network, mailing, member, people, _key(data), out)
    return out.stat().st_size


CASES: dict[str, Callable[[Path], object]] = {
    "read every zip entry (baseline)": read_entries,
    "verify (signature, checksums, canonical zip)": verify,
    "open (verify, unpack, read 5,000 people)": open_share,
    "export 5,000 people (coordinator)": export,
}


def _alone(repeat: int = 5) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        prepare(data)
        print(f"{TITLE}\nbundle: {(data / 'bundle.zip').stat().st_size / 1e6:.2f} MB")
        base = 0.0
        for name, case in CASES.items():
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                case(data)
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            base = base or median
            print(f"{name:<48} {median * 1000:>9.1f} ms {median / base:>8.1f}x baseline")


if __name__ == "__main__":
    _alone()
