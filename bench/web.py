"""``mailer serve``: one-click unsubscribe POSTs per second, alone and while a send runs.

The real server (``mailer serve`` in its own process on 127.0.0.1) and, in the second
case, a real ``mailer send invitation 2`` into the example's Maildir outbox over a
network of 2,000 people; the client posts ``List-Unsubscribe=One-Click`` as Gmail does,
each for another person, over one keep-alive connection. The send's own rate (messages a
second) is reported beside it. A third case times a mailing's web version ("View in
browser"): the first GET of each language renders it, later ones are kept pages. The
server and the send may use every CPU; the client process is pinned to one, as every
case is.

Run: ``python -m bench web``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TITLE = (
    "one-click unsubscribe POSTs per second against mailer serve, alone and during a send;"
    " web version GETs"
)
REPO = Path(__file__).resolve().parent.parent
PEOPLE = 2000
POSTS = int(os.environ.get("BENCH_WEB_POSTS", "400"))
KEY = "bench-signing-key-0123456789abcdef"


def prepare(data_dir: Path) -> None:
    from bench._network import workspace

    workspace(data_dir, PEOPLE)


def _env(config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MAILER_TOKEN_KEY": KEY,
        "MAILER_NETWORK": str(config),
        "PYTHONPATH": str(REPO),
    }


def _everywhere() -> None:
    # The runner pins the case's process to one CPU; the server and the send need not be.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def _fresh(data: Path) -> Path:
    """A copy of the prepared network with an empty state folder and outbox."""
    source = data / f"network-{PEOPLE}"
    target = data / "web-run"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".mailer", "outbox"))
    return target / "network.toml"


def _serve(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "mailer", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=_env(config), stderr=subprocess.DEVNULL, preexec_fn=_everywhere
    )
    import httpx

    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz").text == "ok":
                return server, url
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("mailer serve did not start")


def _post_all(url: str, config: Path, count: int) -> float:
    """Seconds to post ``count`` one-click unsubscribes, each for another person."""
    import httpx

    os.environ["MAILER_TOKEN_KEY"] = KEY
    from mailer import tokens
    from mailer.config import load_network

    network = load_network(config)
    signer = tokens.Signer(KEY.encode())
    purpose = tokens.unsubscribe_purpose(network)
    links = [
        f"{url}/avregistrera?token={signer.sign(purpose, f'bench{n}@unsubscribe.example')}"
        for n in range(count)
    ]
    headers = {"content-type": "application/x-www-form-urlencoded"}
    with httpx.Client() as client:
        start = time.perf_counter()
        for link in links:
            reply = client.post(link, content=b"List-Unsubscribe=One-Click", headers=headers)
            assert reply.status_code == 200, reply.text
        return time.perf_counter() - start


def alone(data: Path) -> dict[str, Any]:
    config = _fresh(data)
    server, url = _serve(config)
    try:
        seconds = _post_all(url, config, POSTS)
    finally:
        server.terminate()
        server.wait(10)
    return {"messages": POSTS, "seconds": seconds}


def during_send(data: Path) -> dict[str, Any]:
    config = _fresh(data)
    server, url = _serve(config)
    command = [sys.executable, "-m", "mailer", "send", "invitation", "2", "--yes", "--quiet"]
    try:
        started = time.perf_counter()
        # Its errors are kept: a failed run says why (seen once, exit 2, not reproduced).
        send = subprocess.Popen(
            command,
            env=_env(config),
            preexec_fn=_everywhere,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # past start-up: the send is rendering and sending now
        seconds = _post_all(url, config, POSTS)
        send_still_running = send.poll() is None
        _, errors = send.communicate(timeout=600)
        code = send.returncode
        assert code == 0, f"mailer send exited with {code}: {errors.strip()[-2000:]}"
        send_seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    sent = sum(1 for _ in (config.parent / "outbox").glob("*/new/*"))
    return {
        "messages": POSTS,
        "seconds": seconds,
        "send_messages": sent,
        "send_rate": round(sent / send_seconds, 1),
        "posts_overlapped_send": send_still_running,
    }


def web_versions(data: Path) -> dict[str, Any]:
    """GETs of a mailing's web version ("View in browser"): the first renders the mail
    (templates, CSS inlining), the rest are served from the server's memory."""
    import httpx

    config = _fresh(data)
    server, url = _serve(config)
    pages = [f"{url}/view/invitation-2/{lang}" for lang in ("sv", "en")]
    try:
        with httpx.Client() as client:
            start = time.perf_counter()
            for page in pages:
                assert client.get(page).status_code == 200
            first = time.perf_counter() - start
            start = time.perf_counter()
            for n in range(POSTS):
                assert client.get(pages[n % 2]).status_code == 200
            seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(10)
    return {"messages": POSTS, "seconds": seconds, "first_render_ms": round(first * 500)}


CASES = {"alone": alone, "during a send": during_send, "web version": web_versions}
