"""How each member's mail leaves: an SMTP server (with its limits), Microsoft Graph, or a
Maildir folder."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mailer.config.values import ENV_NAME, ConfigModel, mailbox
from mailer.errors import ConfigError
from mailer.i18n import _

# Far beyond any mailbox's limits: a rate of 1e30 is a typo, and must not reach the pacing
# arithmetic (a wait of 1e-30 seconds, a bucket that overflows).
MAX_RATE = 10_000  # messages a second
MAX_PER_DAY = 100_000_000


def is_loopback(host: str) -> bool:
    """localhost or a loopback IP address: where plain SMTP may go."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _ChannelBase(ConfigModel):
    from_: str = Field(alias="from")
    reply_to: str | None = None
    # Limits of the sending mailbox. A rate is given per minute or per second (not both);
    # the sender never exceeds it over any window of that length.
    rate_per_minute: float | None = Field(default=None, gt=0, le=MAX_RATE * 60)
    rate_per_second: float | None = Field(default=None, gt=0, le=MAX_RATE)
    recipients_per_day: int | None = Field(default=None, gt=0, le=MAX_PER_DAY)  # rolling 24 h
    max_connections: int = Field(default=1, ge=1, le=64)
    retries: int = Field(default=3, ge=0, le=20)  # transient failures per message, then deferred
    retry_backoff: float = Field(default=1.0, ge=0, le=600)  # seconds, doubled per retry

    _addresses = field_validator("from_", "reply_to")(mailbox)

    @model_validator(mode="after")
    def _one_rate(self) -> _ChannelBase:
        if self.rate_per_minute is not None and self.rate_per_second is not None:
            raise ValueError(_("give rate_per_minute or rate_per_second, not both"))
        return self

    @property
    def rate(self) -> float | None:
        """Messages per second, or None for unlimited."""
        if self.rate_per_second is not None:
            return self.rate_per_second
        if self.rate_per_minute is not None:
            return self.rate_per_minute / 60
        return None


# Exchange Online's limits per mailbox: 30 messages a minute, 10,000 recipients in any
# 24 hours, at most 3 concurrent SMTP connections (a 4th gets 432 4.3.2).
PRESETS: dict[str, dict[str, object]] = {
    "microsoft365": {
        "host": "smtp.office365.com",
        "port": 587,
        "security": "starttls",
        "rate_per_minute": 30,
        "recipients_per_day": 10_000,
        "max_connections": 3,
        "imap_host": "outlook.office365.com",
    },
}


class SmtpChannel(_ChannelBase):
    type: Literal["smtp"]
    preset: Literal["microsoft365"] | None = None
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "starttls"
    max_connections: int = Field(default=4, ge=1, le=64)
    # Reading the member's mailbox back (mailer inbox fetch): IMAP over TLS, with the same
    # username and password as sending.
    imap_host: str | None = None
    imap_port: int = Field(default=993, ge=1, le=65535)
    auth: Literal["password", "oauth2"] = "password"
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=ENV_NAME)
    # OAuth2 (XOAUTH2) with the client-credentials flow of an Entra ID app registration.
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = Field(default=None, pattern=ENV_NAME)
    # The system keyring (``pip install keyring``): service name; the username is the key.
    password_keyring: str | None = None
    # A CA bundle to trust besides the system's (a member's own CA); relative to the config.
    ca_file: str | None = None
    authority: str = "https://login.microsoftonline.com"
    oauth_scope: str = "https://outlook.office365.com/.default"
    # None of these may be infinite: a silent server must not hang a mailing.
    timeout: float = Field(default=30.0, gt=0, le=3600)  # each SMTP command
    connect_timeout: float = Field(default=15.0, gt=0, le=3600)
    data_timeout: float = Field(default=120.0, gt=0, le=3600)
    # The name said in EHLO (servers write it into the Received header); default: this
    # machine's fully qualified name.
    helo_name: str | None = Field(
        default=None, max_length=253, pattern=r"^(\[[0-9.:a-fA-F]+\]|[A-Za-z0-9.-]+)$"
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("preset") in PRESETS:
            return {**PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _plain_only_locally(self) -> SmtpChannel:
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(
                _(
                    "security = 'none' is only allowed for localhost, not {host}; "
                    "use 'starttls' or 'tls'"
                ).format(host=repr(self.host))
            )
        if (
            self.auth == "password"
            and self.username
            and not (self.password_env or self.password_keyring)
        ):
            raise ValueError(_("username is set but neither password_env nor password_keyring is"))
        if self.password_keyring and not self.username:
            raise ValueError(_("password_keyring needs username (the keyring looks it up by both)"))
        if self.auth == "oauth2":
            missing = [
                k
                for k in ("username", "tenant_id", "client_id", "client_secret_env")
                if not getattr(self, k)
            ]
            if missing:
                raise ValueError(_("auth = 'oauth2' needs {keys}").format(keys=", ".join(missing)))
        return self

    def password(self) -> str | None:
        """The password from the environment or the keyring; None when none is needed."""
        if self.auth != "password":
            return None
        from mailer.channels.credentials import channel_password

        return channel_password(self)

    def client_secret(self) -> str:
        """The OAuth2 client secret from the environment."""
        assert self.client_secret_env is not None
        return _secret(
            self.client_secret_env,
            _("the OAuth2 client secret for {host} is not set").format(host=self.host),
        )


def _secret(variable: str, unset: str) -> str:
    """The secret in ``variable``; ``unset`` says which one is missing when it is not set."""
    from mailer import redaction

    value = os.environ.get(variable)
    if not value:
        raise ConfigError(
            unset, hint=_("export {variable}=... before sending").format(variable=variable)
        )
    redaction.remember(value)
    return value


class GraphChannel(_ChannelBase):
    """Microsoft 365 through Microsoft Graph (``sendMail`` with the MIME message), for
    tenants where SMTP AUTH is switched off. Exchange Online's limits per mailbox are the
    defaults; Graph itself allows at most 4 requests in flight per mailbox."""

    type: Literal["graph"]
    tenant_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.-]+$")
    client_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    client_secret_env: str | None = Field(default=None, pattern=ENV_NAME)
    # Or a certificate registered with the app: its PEM file (relative to the config) and
    # the private key, in PEM, in an environment variable.
    client_certificate: str | None = None
    client_certificate_key_env: str | None = Field(default=None, pattern=ENV_NAME)
    mailbox: str  # the user the app sends as (its address or object id)
    recipients_per_day: int | None = Field(default=10_000, gt=0, le=MAX_PER_DAY)
    max_connections: int = Field(default=4, ge=1, le=4)  # requests in flight
    # National clouds (and tests) have their own hosts.
    graph_url: str = "https://graph.microsoft.com"
    authority: str = "https://login.microsoftonline.com"
    oauth_scope: str = "https://graph.microsoft.com/.default"
    ca_file: str | None = None  # a CA to trust besides the system's; relative to the config
    timeout: float = Field(default=60.0, gt=0, le=3600)  # one request, body and answer

    @field_validator("mailbox")
    @classmethod
    def _mailbox(cls, value: str) -> str:
        if not value or any(c in value for c in "/?#% ") or not value.isprintable():
            raise ValueError(_("mailbox must be the sending user's address or object id"))
        return value

    @field_validator("graph_url", "authority")
    @classmethod
    def _https(cls, value: str) -> str:
        # The bearer token and the client secret go there: never in clear.
        if not value.startswith("https://"):
            raise ValueError(
                _("must be an https:// address, not {value}").format(value=repr(value))
            )
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _exchange_rate(cls, data: object) -> object:
        # 30 a minute unless a rate is given (in either unit).
        if isinstance(data, dict) and not {"rate_per_minute", "rate_per_second"} & set(data):
            return {**data, "rate_per_minute": 30}
        return data

    @model_validator(mode="after")
    def _one_credential(self) -> GraphChannel:
        if bool(self.client_secret_env) == bool(self.client_certificate):
            raise ValueError(
                _(
                    "give client_secret_env or client_certificate (with "
                    "client_certificate_key_env), not both and not neither"
                )
            )
        if self.client_certificate and not self.client_certificate_key_env:
            raise ValueError(_("client_certificate needs client_certificate_key_env"))
        return self

    def client_secret(self) -> str:
        """The OAuth2 client secret from the environment."""
        assert self.client_secret_env is not None
        return _secret(
            self.client_secret_env,
            _("the OAuth2 client secret for {host} is not set").format(host=self.mailbox),
        )

    def certificate_key(self) -> str:
        """The private key (PEM) of the app's certificate, from the environment."""
        assert self.client_certificate_key_env is not None
        return _secret(
            self.client_certificate_key_env,
            _("the certificate's private key for {mailbox} is not set").format(
                mailbox=self.mailbox
            ),
        )


class MaildirChannel(_ChannelBase):
    type: Literal["maildir"]
    path: str


Channel = Annotated[SmtpChannel | GraphChannel | MaildirChannel, Field(discriminator="type")]
