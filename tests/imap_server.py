"""A real IMAP server for the tests: Debian's dovecot, with its own configuration.

It listens on 127.0.0.1 only, for IMAP over TLS (a certificate from the test CA), keeps
its mail in a Maildir under the test's folder and takes one password for every user.
Run as root it hands the mail to ``nobody`` (dovecot refuses to run a mailbox as root);
run as another user it runs everything as that user.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.smtp_server import free_port

PASSWORD = "imap-test-password-0123"


@dataclass
class ImapServer:
    port: int
    ca_file: Path
    root: Path
    process: subprocess.Popen[bytes]
    store: Path

    def client(self, user: str) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=10)
        imap.login(user, PASSWORD)
        return imap

    def deliver(self, user: str, *messages: bytes, folder: str = "INBOX") -> None:
        with self.client(user) as imap:
            for data in messages:
                status, _ = imap.append(folder, None, None, data.replace(b"\n", b"\r\n"))
                assert status == "OK"

    def create(self, user: str, folder: str) -> None:
        with self.client(user) as imap:
            assert imap.create(folder)[0] == "OK"

    def count(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as imap:
            status, data = imap.select(folder, readonly=True)
            assert status == "OK"
            return int(data[0] or 0)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.store, ignore_errors=True)


def dovecot() -> str | None:
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )


def start_imap_server(
    root: Path,
    cert_file: Path,
    key_file: Path,
    ca_file: Path,
    *,
    introspection: str | None = None,
    introspection_ca: Path | None = None,
) -> ImapServer:
    """Start dovecot; with ``introspection`` (an HTTPS URL, RFC 7662, whose certificate
    ``introspection_ca`` signed), it also takes SASL XOAUTH2 and OAUTHBEARER, checking each
    token at that endpoint (its oauth2 passdb)."""
    binary = dovecot()
    assert binary, "dovecot is not installed (apt-get install dovecot-imapd)"
    port = free_port()
    for name in ("run", "state"):
        (root / name).mkdir(parents=True, exist_ok=True)
    # The mailboxes live outside pytest's owner-only folders: the mail user must reach them.
    store = Path(tempfile.mkdtemp(prefix="mailer-imap-"))
    store.chmod(0o755)
    for name in ("mail", "home"):
        (store / name).mkdir()
    me = pwd.getpwuid(os.getuid())
    if os.getuid() == 0:
        user = pwd.getpwnam("nobody")
        for name in ("mail", "home"):
            os.chown(store / name, user.pw_uid, user.pw_gid)
        users = f"uid={user.pw_uid} gid={user.pw_gid}"
        run_as = ""
    else:
        users = f"uid={me.pw_uid} gid={me.pw_gid}"
        run_as = f"default_internal_user = {me.pw_name}\ndefault_login_user = {me.pw_name}\n"
    oauth2 = ""
    if introspection:
        # Read by dovecot's auth process: beside the mailboxes, not in pytest's folders.
        shutil.copy(introspection_ca or ca_file, store / "ca.pem")
        (store / "oauth2.conf").write_text(
            f"introspection_mode = post\nintrospection_url = {introspection}\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
            f"tls_ca_cert_file = {store}/ca.pem\n"
        )
        oauth2 = (
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {store}/oauth2.conf\n}}\n"
        )
    config = root / "dovecot.conf"
    config.write_text(
        f"""base_dir = {root}/run
state_dir = {root}/state
instance_name = mailer-test-{port}
listen = 127.0.0.1
protocols = imap
ssl = required
ssl_cert = <{cert_file}
ssl_key = <{key_file}
log_path = {root}/dovecot.log
mail_location = maildir:{store}/mail/%n
first_valid_uid = 1
auth_mechanisms = plain{" xoauth2 oauthbearer" if introspection else ""}
{run_as}{oauth2}passdb {{
  driver = static
  mechanisms = plain
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = {users} home={store}/home/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
    )
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = ImapServer(port, ca_file, root, process, store)
    deadline = time.monotonic() + 60  # a loaded machine starts dovecot slowly
    while True:
        try:
            with server.client("probe@example.org"):
                return server
        except (OSError, imaplib.IMAP4.error):
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                raise AssertionError(f"dovecot did not start: {log[-2000:]}") from None
            time.sleep(0.1)
