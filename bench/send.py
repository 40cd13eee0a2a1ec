"""Sending: 10,000 invitations (~13 KB each) to a minimal local SMTP sink.

Cases, all against the same sink (its own process, on another CPU than the client):

- mailmerge 2.3 (when installed: ``pip install -e '.[bench]'``, as ``make bench`` does), the
  nearest existing tool, as its users run it: plain text, and Markdown (HTML and text);
  with it installed, it is the baseline;
- naive: a new aiosmtplib connection (connect, EHLO, send, QUIT) per message;
- ceiling: a minimal aiosmtplib client on one reused connection, sending prebuilt messages
  (what the sink and the client library do at best, one connection at a time);
- mailer, defaults: ``send_plan`` as ``mailer send`` runs it (the journal written before and
  after each transaction, the delivery log, the rate/quota/retry machinery, the channel's
  default of 4 connections), with the messages built beforehand so that the figure is the
  send path's;
- mailer, 1 connection: the same with ``max_connections = 1``;
- mailer end to end: from the members' lists to the sink over nine channels, building every
  message; once as a mailing's first run, once after a dry run left the CSS inlined.

The sink is written here: aiosmtpd reads bodies line by line and tops out near 600/s.
Targets: the mailer with its defaults reaches >= 80% of the ceiling and >= 10x naive
(issue 4); end to end >= 1,500/s and >= 5x mailmerge (issue 7).

Run: ``python -m bench send`` (the project's table: seconds and the ratio to the baseline),
or ``python -m bench.send [--messages N]`` (messages/s and both ratios, one process).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import multiprocessing
import os
import pickle
import resource
import secrets
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

COUNT = int(os.environ.get("BENCH_SEND_MESSAGES", "10000"))
TITLE = (
    f"send {COUNT:,} messages of ~13 KB to a local SMTP sink (baseline: mailmerge if "
    "installed, else a connection per message)"
)
REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
LOCAL = "bench.localhost"


# -- the sink -------------------------------------------------------------------------


class _Sink(asyncio.Protocol):
    """Accepts everything, keeps nothing; scans each body once for the final dot."""

    def __init__(self, counter: Any, tls: ssl.SSLContext | None = None) -> None:
        self.counter = counter
        self.tls = tls  # offer STARTTLS with this context
        self.buf = bytearray()
        self.in_data = False
        self.scan_from = 0
        self.upgrading = False  # answers must wait for the TLS transport

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.upgrading:
            return
        out = []
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n", self.scan_from)
                if end < 0:
                    self.scan_from = max(0, len(self.buf) - 4)
                    break
                del self.buf[: end + 5]
                self.in_data, self.scan_from = False, 0
                self.counter.value += 1
                out.append(b"250 2.0.0 accepted\r\n")
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                break
            verb = bytes(self.buf[:4]).upper()
            del self.buf[: end + 2]
            if verb == b"EHLO":
                starttls = b"250-STARTTLS\r\n" if self.tls is not None else b""
                out.append(b"250-sink\r\n" + starttls + b"250-8BITMIME\r\n250 SIZE 52428800\r\n")
            elif verb == b"STAR" and self.tls is not None:
                self.transport.write(b"".join(out) + b"220 ready\r\n")
                self.transport.pause_reading()
                self.buf.clear()
                self.upgrading = True
                asyncio.get_running_loop().create_task(self._upgrade(self.tls))
                self.tls = None
                return
            elif verb == b"DATA":
                out.append(b"354 go ahead\r\n")
                # The body starts after this line; "\r\n" before it lets an empty body end.
                self.buf[0:0] = b"\r\n"
                self.in_data = True
            elif verb == b"QUIT":
                out.append(b"221 bye\r\n")
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                out.append(b"250 OK\r\n")
        if out:
            self.transport.write(b"".join(out))

    async def _upgrade(self, context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        self.transport = await loop.start_tls(self.transport, self, context, server_side=True)
        self.upgrading = False
        if self.buf:  # the client spoke before start_tls returned
            self.data_received(b"")


def _run_sink(port: int, ready: Any, counter: Any, cert: tuple[str, str] | None = None) -> None:
    # The harness pins the client to the first CPU: keep the sink off it.
    if hasattr(os, "sched_setaffinity"):
        cpus = os.sched_getaffinity(0)
        if len(cpus) > 1:
            os.sched_setaffinity(0, cpus - {min(cpus)})

    async def main() -> None:
        loop = asyncio.get_running_loop()
        context = None
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
        server = await loop.create_server(lambda: _Sink(counter, context), HOST, port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# -- the cases ------------------------------------------------------------------------


def _workspace(root: Path, port: int, connections: int | None, tls: bool = False) -> Path:
    """A copy of the example network whose MSB channel points at the sink."""
    root.mkdir(parents=True)
    shutil.copy2(REPO / "network.toml", root / "network.toml")
    for folder in ("templates", "recipients", "seminars"):
        shutil.copytree(REPO / folder, root / folder)
    config = root / "network.toml"
    security = "starttls" if tls else "none"
    lines = ['type = "smtp"', f'host = "{HOST}"', f"port = {port}", f'security = "{security}"']
    if connections is not None:
        lines.append(f"max_connections = {connections}")
    text = config.read_text(encoding="utf-8")
    text = text.replace('type = "maildir"\npath = "outbox/msb"', "\n".join(lines))
    config.write_text(text, encoding="utf-8")
    return config


def _people(count: int) -> list[Any]:
    from mailer.recipients import Person

    return [
        Person(
            email=f"person{n}@msb.example",
            name=f"Åsa Björk {n}",
            organisation="MSB",
            title="Handläggare",
            language="sv" if n % 4 else "en",
            listed_by=("msb",),
            sender="msb",
        )
        for n in range(count)
    ]


def _mailer_case(
    tmp: Path,
    port: int,
    count: int,
    connections: int | None,
    prebuilt: list[Any] | None = None,
    tls: bool = False,
) -> Callable[[], Awaitable[int]]:
    """``send_plan`` as ``mailer send`` runs it; with ``prebuilt``, the messages come
    ready-made, so the figure is the send path alone (connections, limits, journal, log)."""
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.campaign.plan import ChannelPlan, Plan
    from mailer.campaign.run import send_plan
    from mailer.config import load_network
    from mailer.journal import Journal
    from mailer.recipients import Merge

    name = f"mailer-{connections or 'default'}-{'prebuilt' if prebuilt else 'built'}-{tls}"
    network = load_network(_workspace(tmp / name, port, connections, tls))
    member = network.member("msb")
    mailing = mailing_for(network, "invitation", 2)
    people = _people(count)
    plan = Plan(mailing, [ChannelPlan(member, to_send=people)], Merge(people, [], []))
    factory = MessageFactory(network, mailing)
    if prebuilt:
        ready = prebuilt

        class Prebuilt(MessageFactory):
            def build(self, person: Any, member: Any, message_id: str | None = None) -> Any:
                n = int(person.email[6 : person.email.index("@")])
                m = ready[n % len(ready)]
                return dataclasses.replace(m, recipient=person.email, message_id=f"<{n}@b>")

        factory = Prebuilt(network, mailing)
    else:
        factory.prepare(plan)

    async def run() -> int:
        # As `mailer send` does: the journal in the state folder, every outcome logged
        # (send_plan writes the delivery log there itself).
        with Journal.in_state_dir(network.state_dir) as journal:
            (result,) = (await send_plan(plan, factory, journal)).channels
        assert result.sent == count, (result.error, result.deferred[:3], result.failed[:3])
        return result.sent

    return run


def _prebuilt(tmp: Path, port: int, distinct: int = 200) -> list[Any]:
    """The mailer's own messages, built beforehand: the plain clients only send bytes."""
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.campaign.plan import ChannelPlan, Plan
    from mailer.config import load_network
    from mailer.recipients import Merge

    network = load_network(_workspace(tmp / "prebuilt", port, None))
    member = network.member("msb")
    mailing = mailing_for(network, "invitation", 2)
    people = _people(distinct)
    factory = MessageFactory(network, mailing)
    factory.prepare(Plan(mailing, [ChannelPlan(member, to_send=people)], Merge(people, [], [])))
    return [factory.build(p, member) for p in people]


def _client(port: int, tls: ssl.SSLContext | None) -> Any:
    import aiosmtplib

    return aiosmtplib.SMTP(
        hostname=HOST, port=port, local_hostname=LOCAL, start_tls=tls is not None, tls_context=tls
    )


async def _quit(smtp: Any) -> None:
    """QUIT, then wait until a TLS connection is really closed (as the mailer does)."""
    from mailer.channels.smtp import wait_closed

    sock = smtp.get_transport_info("socket")
    await smtp.quit()
    await wait_closed(sock)


def _ceiling(
    port: int, messages: list[Any], count: int, tls: ssl.SSLContext | None = None
) -> Callable[[], Awaitable[int]]:
    async def run() -> int:
        smtp = _client(port, tls)
        await smtp.connect()
        for n in range(count):
            m = messages[n % len(messages)]
            await smtp.sendmail(m.sender, [m.recipient], m.data)
        await _quit(smtp)
        return count

    return run


def _naive(
    port: int, messages: list[Any], count: int, tls: ssl.SSLContext | None = None
) -> Callable[[], Awaitable[int]]:
    async def run() -> int:
        for n in range(count):
            m = messages[n % len(messages)]
            smtp = _client(port, tls)
            await smtp.connect()
            await smtp.sendmail(m.sender, [m.recipient], m.data)
            await _quit(smtp)
        return count

    return run


CEILING = "ceiling: aiosmtplib, one reused connection"
NAIVE = "naive: a new connection per message"
DEFAULTS = "mailer, defaults (4 connections)"
ONE = "mailer, 1 connection"
BUILT = "mailer, defaults, building each message"


def measure(
    count: int = 10_000,
    naive_count: int | None = None,
    build_count: int = 1_000,
    *,
    tls: bool = False,
    rounds: int = 3,
) -> list[tuple[str, int, float, float]]:
    """(case, messages, seconds, client CPU seconds) per case, against one sink process.

    With ``tls`` the sink offers STARTTLS (a throwaway CA from trustme) and every client
    uses it, as with a real server: a new connection then also costs a TLS handshake.
    """
    naive_count = naive_count or count
    tmp_dir = tempfile.TemporaryDirectory()
    tmp = Path(tmp_dir.name)
    cert = client_tls = None
    if tls:
        import trustme

        ca = trustme.CA()
        issued = ca.issue_cert(HOST)
        issued.private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))
        ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
        cert = (str(tmp / "server.pem"), str(tmp / "server.pem"))
        client_tls = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    saved_cafile = os.environ.get("MAILER_CAFILE")
    if tls:
        os.environ["MAILER_CAFILE"] = str(tmp / "ca.pem")  # the mailer trusts the throwaway CA
    # The invitation's signed links need a key; any key will do for a benchmark.
    os.environ.setdefault("MAILER_TOKEN_KEY", secrets.token_hex(32))
    ctx = multiprocessing.get_context("spawn")
    ready, counter = ctx.Event(), ctx.Value("q", 0, lock=False)
    port = _free_port()
    sink = ctx.Process(target=_run_sink, args=(port, ready, counter, cert), daemon=True)
    sink.start()
    if not ready.wait(30):
        raise RuntimeError("the sink did not start")
    rows: list[tuple[str, int, float, float]] = []
    try:
        with tmp_dir:
            messages = _prebuilt(tmp, port, min(200, count))

            def cases(r: int, part: int) -> list[tuple[str, int, Callable[[], Awaitable[int]]]]:
                t = tmp / f"round{r}"
                n, naive_n, build_n = count // part, naive_count // part, build_count // part
                out = [
                    (CEILING, n, _ceiling(port, messages, n, client_tls)),
                    (NAIVE, naive_n, _naive(port, messages, naive_n, client_tls)),
                    (DEFAULTS, n, _mailer_case(t, port, n, None, messages, tls)),
                    (ONE, n, _mailer_case(t, port, n, 1, messages, tls)),
                ]
                if build_n:
                    out.append((BUILT, build_n, _mailer_case(t, port, build_n, None)))
                return out

            # The machines are shared and their load changes by the minute: run the cases
            # in interleaved rounds, so that every case sees the same mix of good and bad
            # moments, and also count the client's CPU time, which the load changes less.
            totals: dict[str, list[float]] = {}
            for r in range(rounds):
                for name, n, run in cases(r, rounds):
                    before = counter.value
                    start, start_cpu = time.perf_counter(), time.process_time()
                    sent = asyncio.run(run())
                    seconds = time.perf_counter() - start
                    cpu = time.process_time() - start_cpu
                    # The sink counts what it accepted: the figure is what arrived.
                    time.sleep(0.05)
                    assert sent == n and counter.value - before == n, (
                        name,
                        sent,
                        counter.value - before,
                    )
                    total = totals.setdefault(name, [0, 0.0, 0.0])
                    total[0] += n
                    total[1] += seconds
                    total[2] += cpu
            rows = [(name, int(n), seconds, cpu) for name, (n, seconds, cpu) in totals.items()]
    finally:
        sink.kill()
        sink.join()
        if saved_cafile is None:
            os.environ.pop("MAILER_CAFILE", None)
        else:
            os.environ["MAILER_CAFILE"] = saved_cafile
    return rows


# -- the project's runner (python -m bench send) ---------------------------------------

_sink: Any = None  # started by prepare() in the runner's process, lives as long as it does


def start_sink(run: Callable[[int, Any, Any], None], data: Path) -> Any:
    """Start ``run(port, ready, counter)`` in a process of its own; its port goes in ``data``."""
    ctx = multiprocessing.get_context("spawn")
    ready, counter = ctx.Event(), ctx.Value("q", 0, lock=False)
    port = _free_port()
    sink = ctx.Process(target=run, args=(port, ready, counter), daemon=True)
    sink.start()
    if not ready.wait(30):
        raise RuntimeError("the sink did not start")
    (data / "port").write_text(str(port))
    return sink


def prepare(data: Path) -> None:
    """Start the sink (its port goes in the data folder) and build the messages once."""
    global _sink
    os.environ.setdefault("MAILER_TOKEN_KEY", secrets.token_hex(32))  # the workers inherit it
    if _sink is None:
        _sink = start_sink(_run_sink, data)
    built = data / "messages.pickle"
    if not built.exists():
        with tempfile.TemporaryDirectory() as tmp:
            built.write_bytes(pickle.dumps(_prebuilt(Path(tmp), 25, distinct=100)))


def _inputs(data: Path) -> tuple[int, list[Any]]:
    return int((data / "port").read_text()), pickle.loads((data / "messages.pickle").read_bytes())


MAILMERGE_MESSAGES = 1_000  # one connection each: ~5-10 s


def _mailmerge(markdown: bool) -> Callable[[Path], object]:
    """mailmerge 2.3, the nearest existing tool, run as its users run it, to the same sink:
    plain text, or Markdown (an HTML and a text part, nearer to the mailer's messages)."""

    def case(data: Path) -> object:
        import subprocess
        import sys

        port = int((data / "port").read_text())
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "server.conf").write_text(
                f"[smtp_server]\nhost = {HOST}\nport = {port}\nratelimit = 0\n"
            )
            markup = "CONTENT-TYPE: text/markdown\n" if markdown else ""
            (folder / "template.txt").write_text(
                "TO: {{email}}\nSUBJECT: Inbjudan: Öppna data – innovationer\n"
                f"FROM: Öppna data Värmland <seminarier@msb.example>\n{markup}\n"
                "Hej {{name}},\n\n**Välkommen** till frukostseminariet om öppna data, "
                "tisdag 16 mars 2027 kl. 08.00–10.00.\n\n"
                + "Öppna data skapar värde när de används. " * 30
                + "\n"
            )
            rows = [f"person{n}@msb.example,Åsa Björk {n}" for n in range(MAILMERGE_MESSAGES)]
            (folder / "people.csv").write_text("email,name\n" + "\n".join(rows) + "\n")
            # Its console script: "python -m mailmerge" fails in 2.3.
            program = str(Path(sys.executable).with_name("mailmerge"))
            command = [program, "--no-dry-run", "--no-limit"]
            command += ["--template", "template.txt", "--database", "people.csv"]
            command += ["--config", "server.conf", "--output-format", "raw"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, cwd=folder, check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return {"messages": MAILMERGE_MESSAGES, "seconds": seconds, "cpu_seconds": cpu}

    return case


def _naive_case(data: Path) -> object:
    port, messages = _inputs(data)
    return {"messages": asyncio.run(_naive(port, messages, COUNT)())}


def _ceiling_case(data: Path) -> object:
    port, messages = _inputs(data)
    return {"messages": asyncio.run(_ceiling(port, messages, COUNT)())}


def _mailer(connections: int | None) -> Callable[[Path], object]:
    def case(data: Path) -> object:
        port, messages = _inputs(data)
        with tempfile.TemporaryDirectory() as tmp:
            run = _mailer_case(Path(tmp), port, COUNT, connections, messages)
            return {"messages": asyncio.run(run())}

    return case


def _end_to_end(data: Path) -> object:
    """From the members' lists to the sink: merge, plan, render, build and send every
    message over the nine channels (4 connections each), timed from reading the lists."""
    from bench._network import workspace
    from bench._sending import send_mailing

    port = int((data / "port").read_text())
    return send_mailing(workspace(data, COUNT), port, connections=4)  # an SMTP channel's default


def _end_to_end_after_dry_run(data: Path) -> object:
    """The same, after ``mailer send --dry-run`` (untimed) left the CSS inlined."""
    from bench._network import dry_run, without_inlined, workspace
    from bench._sending import send_mailing

    port = int((data / "port").read_text())
    config = workspace(data, COUNT)
    without_inlined(config)
    dry_run(config)
    return send_mailing(config, port, connections=4, warm=True)


END_TO_END = "mailer end to end: lists, merge, build, 9 channels x 4"
WARM = "the same, after a dry run (CSS already inlined)"
MAILMERGE = "mailmerge 2.3, plain text (a connection per message)"
CASES: dict[str, Callable[[Path], object]] = {
    NAIVE: _naive_case,
    CEILING: _ceiling_case,
    DEFAULTS: _mailer(None),
    ONE: _mailer(1),
    END_TO_END: _end_to_end,
    WARM: _end_to_end_after_dry_run,
}
if importlib.util.find_spec("mailmerge") is not None:  # pip install -e '.[bench]'
    CASES = {
        MAILMERGE: _mailmerge(markdown=False),  # the baseline of the issue's 5x
        "mailmerge 2.3, Markdown (HTML and text)": _mailmerge(markdown=True),
        **CASES,
    }
# The issue asks for >= 1,500/s end to end and >= 5x mailmerge on the same sink. With
# mailmerge installed it is the baseline, so the ratio is that; without, NOTES-email.md's
# ~220 plain messages/s stands in (5x: 1,100/s).
MAILMERGE_RATE = 220
_GOAL = {"rate": 1_500, "ratio": 5} if MAILMERGE in CASES else {"rate": 1_500}
GOALS = {END_TO_END: _GOAL, WARM: _GOAL}


def report(rows: list[tuple[str, int, float, float]], *, tls: bool = False) -> str:
    rate = {name: n / seconds for name, n, seconds, _ in rows}
    ceiling = rate[CEILING]
    naive = rate[NAIVE]
    out = [
        f"send: {rows[0][1]:,} messages of ~13 KB to a local SMTP sink"
        + (", STARTTLS on every connection" if tls else ""),
        f"{'case':<42} {'messages':>8} {'seconds':>8} {'msg/s':>7} {'/ceiling':>8} "
        f"{'/naive':>6} {'client CPU ms/msg':>18}",
    ]
    for name, n, seconds, cpu in rows:
        r = rate[name]
        out.append(
            f"{name:<42} {n:>8} {seconds:>8.1f} {r:>7.0f} {r / ceiling:>8.0%} "
            f"{r / naive:>5.1f}x {cpu / n * 1000:>18.2f}"
        )
    default = rate[DEFAULTS]
    verdict = "met" if default >= 0.8 * ceiling and default >= 10 * naive else "NOT met"
    out.append(
        f"targets (mailer defaults >= 80% of ceiling and >= 10x naive): {verdict} "
        f"({default / ceiling:.0%}, {default / naive:.1f}x)"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.send", description=TITLE)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--naive-messages", type=int, default=None, help="fewer for the slow naive case"
    )
    parser.add_argument(
        "--build-messages",
        type=int,
        default=1_000,
        help="messages for the case that also builds each message (slow: MIME, .ics)",
    )
    parser.add_argument(
        "--tls", action="store_true", help="STARTTLS on every connection, as with a real server"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case")
    args = parser.parse_args(argv)
    rows = measure(
        args.messages, args.naive_messages, args.build_messages, tls=args.tls, rounds=args.rounds
    )
    print(report(rows, tls=args.tls))


if __name__ == "__main__":
    main()
