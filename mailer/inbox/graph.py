"""Reading a Graph channel's mailbox through Microsoft Graph (``mailer inbox fetch``).

With the channel's own app registration (client credentials, a secret or a certificate),
which needs the Mail.ReadWrite application permission (Mail.Read is enough without
``--move-to``) and an Exchange application access policy that includes the mailbox:

- ``GET /users/{mailbox}/mailFolders/inbox/messages`` with ``$filter=receivedDateTime ge
  T`` and ``$orderby=receivedDateTime asc`` (Graph wants the ordered property in the
  filter too), page by page through ``@odata.nextLink``: only what arrived since the
  last fetch. The journal keeps the receivedDateTime of the last message handled; the
  messages of that very second are listed again and skipped by their Message-ID.
- ``GET /users/{mailbox}/messages/{id}/$value``: the message's MIME, read as a stream
  and given up past the size limit.
- ``POST /users/{mailbox}/messages/{id}/move`` with ``destinationId`` for ``--move-to``
  (the folder found by its display name, at the top or under the inbox).

Nothing is ever deleted, and reading through Graph leaves a message's read flag alone.
429 and 503 are waited out as Retry-After says (a few times, a minute at most each); a
401 gets one new token.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mailer.config import GraphChannel, Member, Network
from mailer.errors import ChannelError
from mailer.i18n import _
from mailer.inbox.handling import Handled, InboxRun, Reader
from mailer.inbox.sources import MAX_MESSAGE_BYTES, Raw, too_big
from mailer.journal import Journal

if TYPE_CHECKING:
    import httpx

    from mailer.channels.oauth import TokenSource

FOLDER = "inbox"  # Graph's well-known name of the Inbox, in any language
PAGE = 50
TRIES = 4  # of one request Graph throttles
MAX_WAIT = 60.0  # seconds of one Retry-After honoured


def read_graph(
    member: Member, reader: Reader, journal: Journal, run: InboxRun, move_to: str | None
) -> None:
    """Read what is new in the member's Graph mailbox into ``run``."""
    channel = member.channel
    assert isinstance(channel, GraphChannel)
    with GraphMailbox(channel, reader.network, member.id) as box:
        # Before anything is read: a folder that is not there stops the fetch, not a move.
        target = box.folder_id(move_to) if move_to else None
        since = journal.graph_position(member.id, FOLDER)
        for item in box.messages(since):
            received = _received(item)
            message_id = item.get("internetMessageId")
            if isinstance(message_id, str) and journal.inbox_read(message_id) is not None:
                continue  # listed again (the last fetch's second, or a copy): not new
            where = f"{member.id}:Inbox {received:%Y-%m-%dT%H:%M:%SZ}"
            data = box.mime(str(item["id"]))
            handled = (
                Handled(where, "skipped", too_big(None))
                if data is None
                else reader.handle(Raw(where, data))
            )
            run.messages.append(handled)
            if target and handled.kind != "skipped":
                box.move(str(item["id"]), target)
            journal.set_graph_position(member.id, FOLDER, received)


class GraphMailbox:
    """One mailbox through Microsoft Graph: an HTTP client and the channel's tokens."""

    def __init__(self, channel: GraphChannel, network: Network, label: str) -> None:
        import os

        import httpx

        from mailer.channels.factory import graph_session
        from mailer.channels.oauth import TokenSource
        from mailer.inbox.imap import tls_context

        session = graph_session(channel, network, label=label)
        assert isinstance(session.tokens, TokenSource)
        self.tokens: TokenSource = session.tokens
        self.label, self.mailbox = label, channel.mailbox
        self.base = f"{channel.graph_url}/v1.0/users/{urllib.parse.quote(channel.mailbox)}"
        self.client = httpx.Client(
            verify=tls_context(session.cafile or os.environ.get("MAILER_CAFILE")),
            timeout=httpx.Timeout(channel.timeout, connect=min(channel.timeout, 15.0)),
            follow_redirects=False,  # a redirect must not carry the token elsewhere
        )
        self._token: str | None = None

    def __enter__(self) -> GraphMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def messages(self, since: dt.datetime | None) -> Iterator[dict[str, Any]]:
        """The inbox's messages received since ``since`` (all without), oldest first."""
        params = {
            "$select": "id,internetMessageId,receivedDateTime",
            "$orderby": "receivedDateTime asc",
            "$top": str(PAGE),
        }
        if since is not None:
            params["$filter"] = f"receivedDateTime ge {since:%Y-%m-%dT%H:%M:%SZ}"
        url: str | None = f"{self.base}/mailFolders/{FOLDER}/messages"
        query: dict[str, str] | None = params
        while url:
            page = self._json(self.request("GET", url, params=query))
            items = page.get("value")
            yield from (i for i in items if isinstance(i, dict)) if isinstance(items, list) else ()
            following = page.get("@odata.nextLink")
            # The next link carries the whole query; it must stay on Graph's host.
            url = following if isinstance(following, str) and self._ours(following) else None
            query = None

    def mime(self, message_id: str) -> bytes | None:
        """The message's MIME, or None when it is over the size limit."""
        url = f"{self.base}/messages/{urllib.parse.quote(message_id)}/$value"
        with self.send("GET", url) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_MESSAGE_BYTES:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)

    def folder_id(self, name: str) -> str:
        """The id of the folder named ``name``: at the top of the mailbox or in the inbox."""
        quoted = name.replace("'", "''")
        for where in ("mailFolders", f"mailFolders/{FOLDER}/childFolders"):
            params = {"$filter": f"displayName eq '{quoted}'", "$select": "id,displayName"}
            found = self._json(self.request("GET", f"{self.base}/{where}", params=params))
            for folder in found.get("value") or []:
                if isinstance(folder, dict) and isinstance(folder.get("id"), str):
                    return str(folder["id"])
        raise ChannelError(
            _("{label}: there is no folder '{folder}' in the mailbox {mailbox}").format(
                label=self.label, folder=name, mailbox=self.mailbox
            ),
            hint=_("create it first (in Outlook, or Outlook on the web)"),
        )

    def move(self, message_id: str, folder: str) -> None:
        url = f"{self.base}/messages/{urllib.parse.quote(message_id)}/move"
        self.request("POST", url, body={"destinationId": folder})

    # -- one request -----------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, str] | None = None,
    ) -> httpx.Response:
        with self.send(method, url, params=params, body=body) as response:
            response.read()
            return response

    def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, str] | None = None,
    ) -> _Opened:
        """The response (a context manager, open for streaming) once Graph said 2xx; a
        ChannelError for anything else after a new token (401) or Retry-After (429, 503)."""
        import httpx

        fresh = False
        for attempt in range(1, TRIES + 1):
            headers = {"Authorization": f"Bearer {self._bearer(fresh)}"}
            request = self.client.build_request(
                method, url, params=params, json=body, headers=headers
            )
            try:
                response = self.client.send(request, stream=True)
            except (httpx.TransportError, OSError) as exc:
                raise ChannelError(
                    _("{label}: cannot reach Microsoft Graph: {error}").format(
                        label=self.label, error=_one_line(str(exc)) or type(exc).__name__
                    ),
                    hint=_("check graph_url; set ca_file (or MAILER_CAFILE) for a private CA"),
                ) from None
            if response.is_success:
                return _Opened(response)
            response.read()
            response.close()
            if response.status_code == 401 and not fresh:
                fresh = True
                continue
            wait = _retry_after(response)
            if response.status_code in (429, 503) and wait is not None and attempt < TRIES:
                time.sleep(wait)
                continue
            raise self._refused(response)
        raise self._refused(response)

    def _bearer(self, fresh: bool) -> str:
        if self._token is None or fresh:
            self._token = self.tokens.token(fresh=fresh)
        return self._token

    def _ours(self, url: str) -> bool:
        return urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(self.base).netloc

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ChannelError(
                _("{label}: Microsoft Graph sent something that is not JSON").format(
                    label=self.label
                )
            )
        return data

    def _refused(self, response: httpx.Response) -> ChannelError:
        from mailer.channels.graph import graph_error

        status, said = response.status_code, graph_error(response)
        if status == 403:
            return ChannelError(
                _(
                    "{label}: Microsoft Graph does not let the app read the mailbox "
                    "{mailbox} (403 {said})"
                ).format(label=self.label, mailbox=self.mailbox, said=said),
                hint=_(
                    "the app needs the Mail.ReadWrite application permission with admin "
                    "consent, and the Exchange application access policy must include "
                    "this mailbox"
                ),
            )
        return ChannelError(
            _("{label}: Microsoft Graph answered {status} ({said})").format(
                label=self.label, status=status, said=said
            )
        )


class _Opened:
    """A streamed response as a context manager that closes it."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __enter__(self) -> httpx.Response:
        return self.response

    def __exit__(self, *exc: object) -> None:
        self.response.close()


def _received(item: dict[str, Any]) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(str(item.get("receivedDateTime")))
    except ValueError:
        return dt.datetime.now(dt.UTC)
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _retry_after(response: httpx.Response) -> float | None:
    from mailer.channels.graph import retry_after

    wait = retry_after(response.headers.get("Retry-After"))
    return min(wait, MAX_WAIT) if wait is not None else None


def _one_line(text: str) -> str:
    from mailer.channels.base import reply_text

    return reply_text(text)
