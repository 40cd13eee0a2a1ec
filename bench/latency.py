"""Latency: a sink that answers every command 20 ms late, like a server across the country.

aiosmtplib waits for each reply (MAIL, RCPT, DATA, the body: four round trips a message),
so one connection manages about 1 / (4 x 20 ms) = 12 messages a second whatever the CPU;
throughput has to come from several connections per channel and channels in parallel.
Cases, all through the mailer's send path (``send_plan`` with the journal and the log;
timed from the first connection, after the lists are read and the variants rendered):

- 1 channel, 1 connection (the baseline);
- 1 channel, 3 connections (Microsoft 365's ceiling per mailbox): target >= 2.5x;
- all 9 channels at once, 3 connections each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.send import _Sink, start_sink

TITLE = "latency: a sink answering each command 20 ms late (messages/s)"
DELAY = 0.020
PER_CHANNEL = 60  # messages per channel and case
PEOPLE = 900  # the network's size: every channel has more than PER_CHANNEL people


class _LateSink(_Sink):
    """The benchmark sink, with every reply held back ``DELAY`` seconds."""

    def connection_made(self, transport: Any) -> None:
        loop = asyncio.get_running_loop()
        late = _Late(transport, loop)
        super().connection_made(late)


class _Late:
    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop

    def write(self, data: bytes) -> None:
        self._loop.call_later(DELAY, self._write, data)

    def _write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._loop.call_later(DELAY, self._transport.close)


def _run_sink(port: int, ready: Any, counter: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _LateSink(counter), "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


_sink: Any = None


def prepare(data: Path) -> None:
    global _sink
    from bench._network import workspace

    workspace(data, PEOPLE)
    if _sink is None:
        _sink = start_sink(_run_sink, data)


def _case(connections: int, members: tuple[str, ...]) -> Callable[[Path], object]:
    def case(data: Path) -> object:
        from bench._network import workspace
        from bench._sending import send_mailing

        port = int((data / "port").read_text())
        config = workspace(data, PEOPLE)
        return send_mailing(
            config, port, connections=connections, members=members, limit=PER_CHANNEL, whole=False
        )

    return case


ONE = "1 channel, 1 connection"
THREE = "1 channel, 3 connections"
CASES: dict[str, Callable[[Path], object]] = {
    ONE: _case(1, ("msb",)),
    THREE: _case(3, ("msb",)),
    "9 channels, 3 connections each": _case(3, ()),
}
GOALS = {THREE: {"ratio": 2.5}}
