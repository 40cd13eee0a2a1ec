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
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import json
import os
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

        def do_GET(self) -> None:
            if self.path.startswith(f"/{TENANT}/v2.0/.well-known/openid-configuration"):
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
