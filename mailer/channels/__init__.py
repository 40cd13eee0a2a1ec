"""Mail channels: how one member's mail leaves.

    base        Transport (open, send, close) and what an SMTP reply means (classify)
    smtp        SMTP through aiosmtplib's public API: TLS, login, one transaction a message
    maildir     a local Maildir folder, readable by any mail client (the example network)
    factory     a member's channel (or a --via test server) made into transports
    oauth       XOAUTH2 tokens from Microsoft Entra ID (MSAL)
    credentials channel passwords from the environment or the keyring
    ratelimit   a token bucket per channel and the rolling daily quota

Every transport turns whatever went wrong into one of the delivery errors of
:mod:`mailer.errors`: TransientError (try again later), RecipientRefusedError (this person,
for good), ChannelError (this channel cannot send at all) or UncertainError (the message was
handed over and no answer came). Import from the submodules: importing this package pulls in
no dependency, so ``mailer --help`` stays fast.
"""
