"""A local stand-in for Microsoft Entra ID's token endpoint and Microsoft Graph's sendMail,
over HTTPS on 127.0.0.1, doing what their documentation says.

Entra ID (what MSAL asks of an authority): ``GET {tenant}/v2.0/.well-known/openid-
configuration`` names the token endpoint; ``POST {tenant}/oauth2/v2.0/token`` with the
client-credentials form (a client secret, or a client assertion signed with the key of
``certificate``) issues a bearer token that expires after ``expires_in`` seconds.

Graph: ``POST /v1.0/users/{mailbox}/sendMail`` with ``Content-Type: text/plain`` and the
MIME message base64-encoded answers ``202 Accepted`` with an empty body; ``401`` for a
missing, unknown or expired token; ``400`` for a body that is not base64 MIME; and whatever
a test scripts for a recipient (``script``): ``400`` (ErrorInvalidRecipients), ``401``
(every token revoked), ``403``
(ErrorAccessDenied), ``404``, ``429:N`` / ``503:N`` (Retry-After N), ``500``, ``drop`` (read
the whole body, then close the connection without answering) or ``kill`` (the same, after a
SIGKILL to ``kill_pid``: the sender dies with the message in flight). A mailbox in ``denied``
is outside the app's application access policy: 403 for any request, whatever its body.

Reading a mailbox (``mailer inbox fetch``; :class:`Mailbox`, filled by ``deliver``):
``GET /v1.0/users/{mailbox}/mailFolders/{folder}/messages`` (``inbox`` is the well-known
name of the Inbox) with ``$select``, ``$top`` (default 10), ``$skip``, ``$orderby`` and a
``$filter`` on ``receivedDateTime`` (``ge``/``gt``/``le``/``lt``, a UTC timestamp with no
quotes); as Graph documents, a ``$orderby`` property must also be in the ``$filter``, else
``400 InefficientFilter``; more pages are named by ``@odata.nextLink`` (the same query with
``$skip``). ``GET .../messages/{id}/$value`` answers the MIME. ``GET
.../mailFolders?$filter=displayName eq 'X'`` (and ``.../mailFolders/inbox/childFolders``)
finds a folder; ``POST .../messages/{id}/move`` with ``{"destinationId": ...}`` (a folder
id or a well-known name) answers ``201`` with the message under its new id. Nothing here
deletes. ``read_script`` scripts answers to the reads in turn (``429:N``, ``503:N``, ``500``).

A mail server checking OAuth2 tokens (dovecot's oauth2 passdb, for IMAP XOAUTH2): ``POST
/introspect`` with ``token=...`` (RFC 7662) answers ``{"active": true, "username":
imap_mailbox}`` for a token it issued that has not expired, else ``{"active": false}``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy
import json
import os
import re
import signal
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.smtp_server import free_port

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "s3cret-value-never-printed"


@dataclass
class Arrival:
    """One sendMail request the stand-in read in full."""

    mailbox: str
    token: str
    raw: bytes  # the MIME message, decoded from base64
    status: str  # what the stand-in answered: "202", "400", "drop", ...
    at: float  # time.monotonic()

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def recipient(self) -> str:
        return str(self.message["To"].addresses[0].addr_spec)


@dataclass
class StoredMail:
    """One message in a mailbox the stand-in keeps."""

    id: str
    folder: str  # the folder's id
    received: dt.datetime
    raw: bytes

    def resource(self) -> dict[str, object]:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.compat32)
        return {
            "id": self.id,
            "parentFolderId": self.folder,
            "receivedDateTime": self.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "internetMessageId": " ".join(str(parsed.get("Message-ID", "")).split()) or None,
            "subject": str(parsed.get("Subject", "")),
        }


@dataclass
class Mailbox:
    """One user's mailbox: folders (id -> display name, parent id) and messages."""

    folders: dict[str, tuple[str, str | None]] = field(
        default_factory=lambda: {"inbox-id": ("Inbox", None), "archive-id": ("Archive", None)}
    )
    mail: list[StoredMail] = field(default_factory=list)

    def folder(self, name_or_id: str) -> str | None:
        well_known = {"inbox": "inbox-id", "archive": "archive-id"}
        found = well_known.get(name_or_id.lower(), name_or_id)
        return found if found in self.folders else None

    def in_folder(self, name_or_id: str) -> list[StoredMail]:
        return [m for m in self.mail if m.folder == self.folder(name_or_id)]


@dataclass
class EntraGraph:
    """The stand-in's state; ``base`` serves both the authority and Graph."""

    base: str
    expires_in: int = 3600
    secret: str = SECRET
    certificate: str | None = None  # PEM: the certificate registered with the app, if any
    issued: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    valid: dict[str, float] = field(default_factory=dict)  # token: when it expires
    script: dict[str, list[str]] = field(default_factory=dict)  # recipient: answers, in turn
    arrivals: list[Arrival] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    kill_pid: int | None = None
    denied: set[str] = field(default_factory=set)  # mailboxes outside the access policy
    delay: float = 0.0  # seconds before each sendMail answer
    lock: threading.Lock = field(default_factory=threading.Lock)
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    read_script: list[str] = field(default_factory=list)  # answers to reads, in turn
    reads: list[str] = field(default_factory=list)  # every mailbox request: "GET /path?query"
    # The mailbox the app may read over IMAP (Exchange: IMAP.AccessAsApp and the mailbox
    # permission granted to its service principal), for the token introspection endpoint.
    imap_mailbox: str | None = None
    introspected: list[str] = field(default_factory=list)

    def introspect(self, form: dict[str, str]) -> dict[str, object]:
        """RFC 7662: whether a token is active, and for which user (the mail server checks
        that it is the one logging in)."""
        token = form.get("token", "")
        self.introspected.append(token)
        if self.valid.get(token, 0) < time.monotonic() or self.imap_mailbox is None:
            return {"active": False}
        return {"active": True, "username": self.imap_mailbox, "client_id": CLIENT}

    def deliver(self, mailbox: str, raw: bytes, received: dt.datetime | None = None) -> str:
        """Put a message in the mailbox's Inbox, received now (or then); its id."""
        box = self.mailboxes.setdefault(mailbox, Mailbox())
        with self.lock:
            number = sum(len(b.mail) for b in self.mailboxes.values()) + 1
            when = received or dt.datetime.now(dt.UTC).replace(microsecond=0)
            mail = StoredMail(f"AAMkAD{number:04}=", "inbox-id", when, raw)
            box.mail.append(mail)
        return mail.id

    def add_folder(self, mailbox: str, name: str, parent: str | None = None) -> str:
        box = self.mailboxes.setdefault(mailbox, Mailbox())
        folder_id = f"{name.lower()}-id"
        box.folders[folder_id] = (name, box.folder(parent) if parent else None)
        return folder_id

    def delivered(self) -> list[Arrival]:
        """What Graph accepted (202), in order."""
        return [a for a in self.arrivals if a.status == "202"]

    def revoke(self) -> None:
        """Every token issued so far stops working (an admin revoked the app's sessions)."""
        self.valid.clear()

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if "client_assertion" in form:
            proven = self._assertion_ok(form)
        else:
            proven = form.get("client_secret") == self.secret
        if form.get("client_id") != CLIENT or not proven:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            }
        with self.lock:
            token = f"token-{len(self.issued) + 1}"
            self.issued.append(token)
            self.scopes.append(form.get("scope", ""))
            self.valid[token] = time.monotonic() + self.expires_in
        return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": token}

    def _assertion_ok(self, form: dict[str, str]) -> bool:
        """A client assertion (RFC 7523) signed with the key of the registered certificate,
        naming it by its SHA-256 thumbprint, for this token endpoint, from this client."""
        import jwt
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        if self.certificate is None:
            return False
        cert = x509.load_pem_x509_certificate(self.certificate.encode())
        thumbprint = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=["PS256", "RS256"],
                audience=f"{self.base}/{TENANT}/oauth2/v2.0/token",
                issuer=CLIENT,
            )
        except jwt.PyJWTError:
            return False
        return bool(
            form.get("client_assertion_type")
            == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            # MSAL keeps base64's padding; RFC 7515 leaves it out.
            and str(header.get("x5t#S256", "")).rstrip("=") == thumbprint.decode()
        )

    def answer(self, recipient: str) -> str:
        with self.lock:
            queue = self.script.get(recipient)
            return queue.pop(0) if queue else "202"


def _error(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


ANSWERS: dict[str, tuple[int, dict[str, object] | None]] = {
    "202": (202, None),
    "400": (400, _error("ErrorInvalidRecipients", "At least one recipient is not valid.")),
    "403": (403, _error("ErrorAccessDenied", "Access is denied. Check credentials and try again.")),
    "404": (404, _error("ErrorInvalidUser", "The requested user is invalid.")),
    "429": (
        429,
        _error("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
    ),
    "503": (503, _error("ServiceUnavailable", "Service Unavailable")),
    "500": (500, _error("InternalServerError", "An internal server error occurred.")),
}


def _handler(state: EntraGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
        # Headers and body go out in two writes: with Nagle's algorithm the body waited for
        # the client's delayed ACK (40 ms), so an answer with a body (a 503) came late.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: dict[str, object] | None, **headers: str) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("request-id", f"req-{len(state.arrivals)}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self, mailbox: str) -> bool:
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ")
            if not auth.startswith("Bearer ") or state.valid.get(token, 0) < time.monotonic():
                self._send(401, _error("InvalidAuthenticationToken", "Access token has expired."))
                return False
            if mailbox in state.denied:
                self._send(*ANSWERS["403"])
                return False
            return True

        def _mailbox_request(self, method: str, body: bytes = b"") -> None:
            parts = urllib.parse.urlsplit(self.path)
            segments = [urllib.parse.unquote(p) for p in parts.path.split("/")[4:]]
            mailbox = urllib.parse.unquote(parts.path.split("/")[3])
            state.reads.append(f"{method} {self.path}")
            if not self._authorised(mailbox):
                return
            with state.lock:
                scripted = state.read_script.pop(0) if state.read_script else None
            if scripted:
                status, reply = ANSWERS[scripted.split(":")[0]]
                extra = {"Retry_After": scripted.split(":")[1]} if ":" in scripted else {}
                self._send(status, reply, **extra)
                return
            box = state.mailboxes.setdefault(mailbox, Mailbox())
            query = dict(urllib.parse.parse_qsl(parts.query))
            answer = mailbox_answer(box, method, segments, query, body)
            if isinstance(answer, bytes):
                self._send_raw(answer)
            else:
                status, reply = answer
                if status == 200 and "value" in (reply or {}) and "$skip" in (reply or {}):
                    reply = dict(reply or {})
                    skip = reply.pop("$skip")
                    query["$skip"] = str(skip)
                    reply["@odata.nextLink"] = (
                        f"{state.base}{parts.path}?{urllib.parse.urlencode(query)}"
                    )
                self._send(status, reply)

        def _send_raw(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.startswith("/v1.0/users/") and self.path.count("/") >= 4:
                self._mailbox_request("GET")
            elif self.path.startswith(f"/{TENANT}/v2.0/.well-known/openid-configuration"):
                root = f"{state.base}/{TENANT}"
                self._send(
                    200,
                    {
                        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{root}/oauth2/v2.0/token",
                        "issuer": f"{root}/v2.0",
                    },
                )
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == f"/{TENANT}/oauth2/v2.0/token":
                status, reply = state.issue(dict(urllib.parse.parse_qsl(body.decode())))
                self._send(status, reply)
            elif self.path.startswith("/v1.0/users/") and self.path.endswith("/sendMail"):
                mailbox = urllib.parse.unquote(self.path.split("/")[3])
                with state.lock:
                    state.in_flight += 1
                    state.most_in_flight = max(state.most_in_flight, state.in_flight)
                try:
                    self._send_mail(mailbox, body)
                finally:
                    with state.lock:
                        state.in_flight -= 1
            elif self.path == "/introspect":
                self._send(200, state.introspect(dict(urllib.parse.parse_qsl(body.decode()))))
            elif self.path.startswith("/v1.0/users/") and self.path.endswith("/move"):
                self._mailbox_request("POST", body)
            else:
                self._send(404, _error("ResourceNotFound", "Resource not found"))

        def _send_mail(self, mailbox: str, body: bytes) -> None:
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ")
            if not auth.startswith("Bearer ") or state.valid.get(token, 0) < time.monotonic():
                self._send(401, _error("InvalidAuthenticationToken", "Access token has expired."))
                return
            if mailbox in state.denied:  # checked before the body is read, as Exchange does
                self._send(*ANSWERS["403"])
                return
            try:
                assert self.headers.get("Content-Type") == "text/plain"
                raw = base64.b64decode(body, validate=True)
                arrival = Arrival(mailbox, token, raw, "", time.monotonic())
                recipient = arrival.recipient
            except (AssertionError, binascii.Error, TypeError, IndexError, AttributeError):
                self._send(400, _error("ErrorMimeContentInvalidBase64String", "Invalid."))
                return
            answer = state.answer(recipient)
            arrival.status = answer.split(":")[0]
            state.arrivals.append(arrival)
            if answer == "401":  # the app's tokens were revoked just now
                state.revoke()
                self._send(401, _error("InvalidAuthenticationToken", "Token is revoked."))
                return
            if state.delay:
                time.sleep(state.delay)
            if answer in ("drop", "kill"):
                if answer == "kill" and state.kill_pid:
                    os.kill(state.kill_pid, signal.SIGKILL)
                self.close_connection = True
                return
            status, reply = ANSWERS[arrival.status]
            if ":" in answer:
                self._send(status, reply, Retry_After=answer.split(":")[1])
            else:
                self._send(status, reply)

    return Handler


_FILTER = re.compile(r"^receivedDateTime (ge|gt|le|lt) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$")
_NAME_FILTER = re.compile(r"^displayName eq '((?:[^']|'')*)'$")
Answer = tuple[int, dict[str, object] | None] | bytes


def mailbox_answer(
    box: Mailbox, method: str, segments: list[str], query: dict[str, str], body: bytes
) -> Answer:
    """What Graph answers one request about a mailbox (``segments`` after the user)."""
    not_found = (404, _error("ErrorItemNotFound", "The specified object was not found."))
    if method == "POST" and len(segments) == 3 and segments[0] == "messages":
        mail = next((m for m in box.mail if m.id == segments[1]), None)
        destination = box.folder(str(json.loads(body or b"{}").get("destinationId", "")))
        if mail is None or destination is None:
            return not_found
        mail.folder = destination
        mail.id = mail.id.rstrip("=") + "M="  # a moved message gets a new id
        return 201, mail.resource()
    if segments[:1] == ["messages"] and len(segments) == 3 and segments[2] == "$value":
        mail = next((m for m in box.mail if m.id == segments[1]), None)
        return mail.raw if mail else not_found
    if segments == ["mailFolders"] or segments[2:] == ["childFolders"]:
        parent = box.folder(segments[1]) if len(segments) > 1 else None
        found = _NAME_FILTER.match(query.get("$filter", ""))
        folders = [
            {"id": fid, "displayName": name}
            for fid, (name, above) in box.folders.items()
            if above == parent and (not found or name == found.group(1).replace("''", "'"))
        ]
        return 200, {"value": folders}
    if len(segments) == 3 and segments[0] == "mailFolders" and segments[2] == "messages":
        if box.folder(segments[1]) is None:
            return not_found
        return _list(box.in_folder(segments[1]), query)
    return 404, _error("ResourceNotFound", "Resource not found")


def _list(mail: list[StoredMail], query: dict[str, str]) -> Answer:
    flt, order = query.get("$filter", ""), query.get("$orderby", "")
    if flt:
        found = _FILTER.match(flt)
        if not found:
            return 400, _error("ErrorInvalidUrlQueryFilter", "The filter is not supported.")
        op, when = found.group(1), dt.datetime.strptime(found.group(2), "%Y-%m-%dT%H:%M:%SZ")
        when = when.replace(tzinfo=dt.UTC)
        test = {"ge": when.__le__, "gt": when.__lt__, "le": when.__ge__, "lt": when.__gt__}[op]
        mail = [m for m in mail if test(m.received)]
    if order:
        prop, _, direction = order.partition(" ")
        if flt and not flt.startswith(prop):
            return 400, _error(
                "InefficientFilter",
                "The restriction or sort order is too complex for this operation.",
            )
        mail = sorted(mail, key=lambda m: m.received, reverse=direction == "desc")
    top, skip = int(query.get("$top", "10")), int(query.get("$skip", "0"))
    fields = [f for f in query.get("$select", "").split(",") if f]
    page = [
        {k: v for k, v in m.resource().items() if not fields or k in fields or k == "id"}
        for m in mail[skip : skip + top]
    ]
    reply: dict[str, object] = {"value": page}
    if skip + top < len(mail):
        reply["$skip"] = skip + top  # turned into @odata.nextLink by the handler
    return 200, reply


@contextmanager
def serve(context: ssl.SSLContext) -> Iterator[EntraGraph]:
    """Run the stand-in on a free port of 127.0.0.1 with ``context``'s certificate."""
    port = free_port()
    state = EntraGraph(f"https://127.0.0.1:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
