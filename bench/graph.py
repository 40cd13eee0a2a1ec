"""Microsoft Graph: messages per second through the HTTPS stand-in for Graph and Entra ID
(tests/graph_server.py, in a process of its own), answering each sendMail 20 ms late like a
service across the country, with 1 and with 4 requests in flight (Graph's limit per
mailbox).

Each case drives the channel's own transports (``GraphSession``, ``GraphTransport``: one
httpx client, the MSAL token, the base64 MIME body) over one shared queue of 12 KB
messages, as the send run's workers do; the journal and the rate limiter are left out, so
this is what the channel itself can carry. Target: 4 in flight >= 3x one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TITLE = "graph: sendMail through an HTTPS stand-in answering 20 ms late (messages/s)"
DELAY = 0.020
MESSAGES = 200
MAILBOX = "seminarier@msb.example"
SECRET = "bench-client-secret"


def _serve(folder: str, ready: Any) -> None:
    import ssl

    import trustme

    from tests.graph_server import serve

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(Path(folder) / "ca.pem"))
    with serve(context) as state:
        state.secret = SECRET
        state.delay = DELAY
        (Path(folder) / "base").write_text(state.base)
        ready.set()
        while True:
            time.sleep(3600)


_server: Any = None


def prepare(data: Path) -> None:
    global _server
    if _server is None:
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        _server = ctx.Process(target=_serve, args=(str(data), ready), daemon=True)
        _server.start()
        if not ready.wait(30):
            raise RuntimeError("the stand-in did not start")


def _messages(count: int) -> list[Any]:
    from email.message import EmailMessage
    from email.policy import SMTP

    from mailer.message import Outgoing

    out = []
    for i in range(count):
        to = f"person{i:04}@msb.example"
        msg = EmailMessage()
        msg["From"] = f"MSB <{MAILBOX}>"
        msg["To"] = to
        msg["Subject"] = "Inbjudan: Öppna data Värmland"
        msg["Message-ID"] = f"<bench-{i}@msb.example>"
        msg.set_content("Hej!\n" + "Välkommen till seminariet. " * 450)  # about 12 KB
        out.append(Outgoing(MAILBOX, to, msg["Message-ID"], msg.as_bytes(policy=SMTP)))
    return out


def _case(in_flight: int) -> Callable[[Path], object]:
    def case(data: Path) -> object:
        from mailer.channels.graph import GraphSession, GraphTransport
        from mailer.channels.oauth import TokenSource
        from tests.graph_server import CLIENT, TENANT

        base = (data / "base").read_text()
        os.environ["REQUESTS_CA_BUNDLE"] = os.environ["MAILER_CAFILE"] = str(data / "ca.pem")
        messages = _messages(MESSAGES)
        tokens = TokenSource(
            tenant_id=TENANT,
            client_id=CLIENT,
            client_secret=SECRET,
            authority=base,
            scope="https://graph.microsoft.com/.default",
        )

        async def run() -> float:
            session = GraphSession(
                mailbox=MAILBOX, graph_url=base, tokens=tokens, label="bench", in_flight=in_flight
            )
            await tokens()  # the token is fetched once a run: not what is measured
            queue = list(reversed(messages))
            transports = [GraphTransport(session) for _ in range(in_flight)]

            async def worker(transport: GraphTransport) -> None:
                while queue:
                    await transport.send(queue.pop())
                await transport.close()

            start = time.perf_counter()
            await asyncio.gather(*(worker(t) for t in transports))
            return time.perf_counter() - start

        seconds = asyncio.run(run())
        return {"messages": MESSAGES, "seconds": seconds}

    return case


ONE = "1 request in flight"
FOUR = "4 requests in flight"
CASES: dict[str, Callable[[Path], object]] = {ONE: _case(1), FOUR: _case(4)}
GOALS = {FOUR: {"ratio": 3.0}}
