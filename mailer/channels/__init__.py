"""Mail channels: how one member's mail leaves.

    base        Transport (open, send, close) and what an SMTP reply means (classify)
    smtp        SMTP through aiosmtplib's public API: TLS, login, one transaction a message
    graph       Microsoft 365 through Microsoft Graph's sendMail (httpx), where SMTP AUTH is off
    maildir     a local Maildir folder, readable by any mail client (the example network)
    factory     a member's channel (or a --via test server) made into transports
    oauth       OAuth2 tokens (XOAUTH2, Graph) from Microsoft Entra ID (MSAL)
    online      ``mailer check --online``: may each Graph channel's app send as its mailbox?
    credentials channel passwords from the environment or the keyring
    ratelimit   a token bucket per channel and the rolling daily quota

Every transport turns whatever went wrong into one of the delivery errors of
:mod:`mailer.errors`: TransientError (try again later; ThrottledError: after its
Retry-After), RecipientRefusedError (this person, for good), ChannelError (this channel
cannot send at all) or UncertainError (the message was handed over and no answer came).
Import from the submodules: importing this package pulls in no dependency, so
``mailer --help`` stays fast.
"""
