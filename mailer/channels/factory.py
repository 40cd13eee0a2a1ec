"""A member's channel, or a ``--via`` test server, made into transports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from mailer.channels.base import Transport
from mailer.channels.maildir import MaildirTransport
from mailer.channels.smtp import Security, SmtpSettings, SmtpTransport
from mailer.config import GraphChannel, MaildirChannel, Member, Network, SmtpChannel
from mailer.config.channels import is_loopback
from mailer.errors import ConfigError
from mailer.i18n import _

if TYPE_CHECKING:
    from mailer.channels.graph import GraphSession

_VIA_SECURITY: dict[str, Security] = {"none": "none", "starttls": "starttls", "auto": "auto"}


def parse_via(url: str) -> SmtpSettings:
    """``--via smtp://127.0.0.1:2525``: one local test server for every channel.

    ``smtp://`` uses STARTTLS when the server offers it, with the same certificate checks
    as a channel (``?cafile=PATH`` or MAILER_CAFILE trusts a local test CA);
    ``?security=none`` never starts TLS, ``?security=starttls`` insists on it; ``smtps://``
    is TLS from the start.
    """
    parts = urlsplit(url)
    try:
        port = parts.port  # urlsplit checks the port only when asked, with a ValueError
    except ValueError:
        port = None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or not port:
        raise ConfigError(_("--via {url}: expected smtp://HOST:PORT").format(url=repr(url)))
    if parts.username or parts.password:
        raise ConfigError(_("--via takes no credentials: it is for a local test server"))
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"security", "cafile"}
    if unknown:
        raise ConfigError(
            _("--via {url}: unknown option {option}").format(
                url=repr(url), option=repr(sorted(unknown)[0])
            ),
            hint=_("the options are ?security=auto|starttls|none and ?cafile=PATH"),
        )
    security: Security = "tls"
    if parts.scheme == "smtp":
        chosen = query.get("security", "auto")
        if chosen not in _VIA_SECURITY:
            raise ConfigError(
                _("--via {url}: security must be auto, starttls or none, not {chosen}").format(
                    url=repr(url), chosen=repr(chosen)
                )
            )
        security = _VIA_SECURITY[chosen]
    if security in ("none", "auto") and not is_loopback(parts.hostname):
        raise ConfigError(
            _("--via {url}: smtp:// without TLS is only allowed to localhost").format(
                url=repr(url)
            ),
            hint=_("use smtps:// or ?security=starttls for another host"),
        )
    return SmtpSettings(
        host=parts.hostname, port=port, security=security, cafile=query.get("cafile")
    )


def transport_factory(
    member: Member, network: Network, *, via: SmtpSettings | None = None
) -> Callable[[], Transport]:
    """Makes one transport per connection of a member's channel; secrets are read once,
    and the connections share one OAuth2 token cache."""
    label = member.short_name or member.name
    if via is not None:
        return lambda: SmtpTransport(via, label=label)
    channel = member.channel
    if isinstance(channel, MaildirChannel):
        path = network.resolve(channel.path)
        return lambda: MaildirTransport(path)
    if isinstance(channel, GraphChannel):
        session = graph_session(channel, network, label=label)
        return lambda: graph_transport(session)
    assert isinstance(channel, SmtpChannel)
    settings = smtp_settings(channel, label=label)
    if channel.ca_file:
        settings = dataclasses.replace(settings, cafile=str(network.resolve(channel.ca_file)))
    return lambda: SmtpTransport(settings, label=label)


def smtp_settings(channel: SmtpChannel, *, label: str) -> SmtpSettings:
    """Settings for a channel's connections; reads its secret from the environment once."""
    token_source = None
    if channel.auth == "oauth2":
        from mailer.channels.oauth import TokenSource

        token_source = TokenSource.for_channel(channel, label=label)
    return SmtpSettings(
        host=channel.host,
        port=channel.port,
        security=channel.security,
        username=channel.username,
        password=channel.password(),
        token_source=token_source,
        timeout=channel.timeout,
        connect_timeout=channel.connect_timeout,
        data_timeout=channel.data_timeout,
        helo_name=channel.helo_name,
    )


def graph_session(channel: GraphChannel, network: Network, *, label: str) -> GraphSession:
    """The one HTTP client and token source of a Graph channel; reads its secret once."""
    from mailer.channels.graph import GraphSession
    from mailer.channels.oauth import TokenSource

    certificate = None
    if channel.client_certificate:
        path = network.resolve(channel.client_certificate)
        try:
            certificate = path.read_text(encoding="ascii")
        except (OSError, UnicodeError) as exc:
            raise ConfigError(
                _("{channel}: cannot read the app's certificate {file}: {reason}").format(
                    channel=label, file=path, reason=getattr(exc, "strerror", None) or exc
                ),
                hint=_("client_certificate names a PEM file, relative to the config"),
            ) from None
    return GraphSession(
        mailbox=channel.mailbox,
        graph_url=channel.graph_url,
        tokens=TokenSource.for_channel(channel, label=label, certificate=certificate),
        label=label,
        in_flight=channel.max_connections,
        timeout=channel.timeout,
        cafile=str(network.resolve(channel.ca_file)) if channel.ca_file else None,
    )


def graph_transport(session: GraphSession) -> Transport:
    from mailer.channels.graph import GraphTransport

    return GraphTransport(session)
