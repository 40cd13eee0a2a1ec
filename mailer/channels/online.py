"""``mailer check --online``: ask each Microsoft Graph channel's service whether the app may
send as its mailbox, sending nothing (SMTP channels are checked by sending, or rehearsing)."""

from __future__ import annotations

from dataclasses import dataclass

from mailer.channels.factory import graph_session
from mailer.config import GraphChannel, Network
from mailer.errors import ChannelError, ConfigError


@dataclass(frozen=True, slots=True)
class OnlineCheck:
    member: str  # the member's id
    line: str  # what the service said, on one line
    ok: bool


async def check_online(network: Network) -> list[OnlineCheck]:
    """One check per member whose channel is Graph, in the order of network.toml."""
    from mailer.channels.graph import check_access

    checks = []
    for member in network.members:
        if not isinstance(member.channel, GraphChannel):
            continue
        label = member.short_name or member.name
        try:
            line = await check_access(graph_session(member.channel, network, label=label))
        except (ChannelError, ConfigError) as exc:
            checks.append(OnlineCheck(member.id, str(exc), ok=False))
        else:
            checks.append(OnlineCheck(member.id, line, ok=True))
    return checks
