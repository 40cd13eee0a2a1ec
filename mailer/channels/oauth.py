"""OAuth2 access tokens for SMTP (SASL XOAUTH2) and Microsoft Graph, from Microsoft Entra ID
via MSAL.

Exchange Online switches basic authentication for SMTP off (``550 5.7.30``); a channel
with ``auth = "oauth2"`` instead logs in with a token that an app registration obtains
with the client-credentials flow: tenant id, client id and a client secret named by an
environment variable. MSAL keeps the token in its in-memory cache and asks for a new one
when the cached one is close to expiry, so every new connection gets a valid token.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import TYPE_CHECKING, Any

from mailer import redaction
from mailer.errors import ChannelError
from mailer.i18n import _

if TYPE_CHECKING:
    from mailer.config import GraphChannel, SmtpChannel


class TokenSource:
    """An async callable that returns a current access token for one channel."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str | dict[str, str],  # a secret, or MSAL's certificate credential
        authority: str = "https://login.microsoftonline.com",
        scope: str = "https://outlook.office365.com/.default",
        label: str = "",
        permission: str = "SMTP.SendAsApp",
    ) -> None:
        self.authority = f"{authority.rstrip('/')}/{tenant_id}"
        self.client_id = client_id
        self.scope = scope
        self.label = label
        self.permission = permission  # named when the authority refuses a token
        self._secret = client_secret
        self._app: Any = None
        self._http: Any = None
        self._lock = threading.Lock()  # the connections of one channel share the cache

    def __repr__(self) -> str:  # never show the secret
        return f"TokenSource(authority={self.authority!r}, client_id={self.client_id!r})"

    @classmethod
    def for_channel(
        cls, channel: SmtpChannel | GraphChannel, *, label: str, certificate: str | None = None
    ) -> TokenSource:
        """``certificate``: the PEM of the app's certificate (a Graph channel's
        client_certificate), whose private key the channel names; else the client secret."""
        from mailer.config import GraphChannel

        assert channel.tenant_id and channel.client_id
        credential: str | dict[str, str]
        if certificate is not None and isinstance(channel, GraphChannel):
            # MSAL signs a client assertion with the key (PS256, SHA-256 thumbprint).
            credential = {
                "private_key": channel.certificate_key(),
                "public_certificate": certificate,
            }
        else:
            credential = channel.client_secret()
        return cls(
            tenant_id=channel.tenant_id,
            client_id=channel.client_id,
            client_secret=credential,
            authority=channel.authority,
            scope=channel.oauth_scope,
            label=label,
            permission="Mail.Send" if channel.type == "graph" else "SMTP.SendAsApp",
        )

    def token(self, *, fresh: bool = False) -> str:
        """Blocking: the cached token, or a new one from the token endpoint; ``fresh``
        forgets the cached one first (the resource refused it before it expired)."""
        import msal
        import requests

        with self._lock:
            try:
                if self._app is None:
                    # Our own session, so its pooled socket can be closed after each
                    # request: tokens come about once an hour, and an idle socket left
                    # open would outlive the run.
                    self._http = requests.Session()
                    self._http.request = functools.partial(self._http.request, timeout=30)
                    # Creating the app fetches the tenant's OpenID configuration.
                    self._app = msal.ConfidentialClientApplication(
                        self.client_id,
                        client_credential=self._secret,
                        authority=self.authority,
                        # The authority is given: no look-up of it at Microsoft first.
                        # Certificates: the system's, or REQUESTS_CA_BUNDLE's.
                        instance_discovery=False,
                        http_client=self._http,
                    )
                if fresh:
                    cache = self._app.token_cache
                    # search() replaced find() in newer MSAL releases; the pin allows both.
                    lookup = getattr(cache, "search", None) or cache.find
                    for entry in list(lookup(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                        cache.remove_at(entry)
                result = self._app.acquire_token_for_client(scopes=[self.scope])
            except (ValueError, OSError) as exc:
                raise ChannelError(
                    _("{channel}: cannot reach the OAuth2 authority {authority}: {reason}").format(
                        channel=self.label, authority=self.authority, reason=_first_line(str(exc))
                    ),
                    hint=_("check tenant_id and authority"),
                ) from None
            except Exception as exc:  # requests' errors, without importing requests here
                raise ChannelError(
                    _("{channel}: OAuth2 token request failed: {reason}").format(
                        channel=self.label,
                        reason=f"{exc.__class__.__name__}: {_first_line(str(exc))}",
                    )
                ) from None
            finally:
                if self._http is not None:
                    self._http.close()  # the session stays usable; only its pool is emptied
        if "access_token" not in result:
            raise self._refused(result)
        token = str(result["access_token"])
        redaction.remember(token)  # a bearer token is as good as a password for an hour
        return token

    def _refused(self, result: dict[str, Any]) -> ChannelError:
        error = result.get("error") or _("unknown error")
        return ChannelError(
            _("{channel}: the OAuth2 authority refused the token request: {reason}").format(
                channel=self.label,
                reason=f"{error}: {_first_line(str(result.get('error_description', '')))}",
            ),
            hint=_(
                "check client_id, the client secret variable and the app's {permission} permission"
            ).format(permission=self.permission),
        )

    async def __call__(self, *, fresh: bool = False) -> str:
        return await asyncio.to_thread(functools.partial(self.token, fresh=fresh))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""
