"""The rows in each member's own list files that should go: the address bounced for good,
unsubscribed or was forgotten. The opt-out list already keeps these people from being
mailed; this tells the member where to delete them at the source (file and line)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from mailer import state
from mailer.addresses import AddressError, normalise_address
from mailer.config import Network
from mailer.lists import read_list
from mailer.suppression import FILENAME, Suppression

REASONS = ("bounced", "unsubscribed", "forgotten")


@dataclass(frozen=True, slots=True)
class HygieneRow:
    member: str
    path: str  # as network.toml names it
    line: int
    email: str
    reason: str
    since: str
    note: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def hygiene(network: Network, *, member: str | None = None) -> list[HygieneRow]:
    """Every row of the members' (or one member's) lists whose address is on the opt-out
    list for one of :data:`REASONS`; ConfigError for an unknown member."""
    from mailer.inbox.handling import known_member

    known_member(network, member)
    members = [m for m in network.members if member is None or m.id == member]
    path = network.state_dir / FILENAME
    if not state.known(path):
        return []
    found: list[HygieneRow] = []
    with Suppression(path) as suppression:
        for m in members:
            for relative in m.lists:
                listing = read_list(
                    network.resolve(relative), columns=m.columns.model_dump(), sheet=m.sheet
                )
                for row in listing.rows:
                    try:
                        email = normalise_address(row.values.get("email", ""))
                    except AddressError:
                        continue
                    entry = suppression.entry(email)
                    if entry is not None and entry.reason in REASONS:
                        found.append(
                            HygieneRow(
                                m.id,
                                str(Path(relative)),
                                row.line,
                                email,
                                entry.reason,
                                entry.added_at,
                                entry.note,
                            )
                        )
    return found
