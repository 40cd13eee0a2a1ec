"""Load and validate ``network.toml``: the network, its members, their channels, the seminars.

Validation is eager and strict: an unknown key, a missing field, a wrong type or a number
out of bounds stops the run with one line naming the file, the line and the key. Secrets
never live here: an SMTP channel names the *environment variable* that holds its password.

values    the strict base model and the checks of one value (colour, URL, mailbox, domain)
channels  how a member's mail leaves: SMTP (with its limits), Microsoft Graph or a Maildir folder
network   the network, its coordinator, members, seminars and newsletters
loading   reading the file, refusing secrets, turning pydantic's errors into one line
"""

from __future__ import annotations

from mailer.config.channels import (
    PRESETS,
    Channel,
    GraphChannel,
    MaildirChannel,
    SmtpChannel,
    is_loopback,
)
from mailer.config.loading import (
    CONFIG_ENV,
    config_error,
    find_config,
    load_network,
    locate_key,
    read_config_toml,
)
from mailer.config.network import (
    DEFAULT_CONFIG,
    STATE_DIR,
    Attendance,
    Cancellation,
    Change,
    Colours,
    ColumnMap,
    Coordinator,
    Link,
    Member,
    Network,
    NetworkInfo,
    Newsletter,
    Segment,
    Seminar,
    Series,
    Speaker,
    Video,
    Web,
)
from mailer.config.values import ConfigModel

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "PRESETS",
    "STATE_DIR",
    "Attendance",
    "Cancellation",
    "Change",
    "Channel",
    "Colours",
    "ColumnMap",
    "ConfigModel",
    "Coordinator",
    "GraphChannel",
    "Link",
    "MaildirChannel",
    "Member",
    "Network",
    "NetworkInfo",
    "Newsletter",
    "Segment",
    "Seminar",
    "Series",
    "SmtpChannel",
    "Speaker",
    "Video",
    "Web",
    "config_error",
    "find_config",
    "is_loopback",
    "load_network",
    "locate_key",
    "read_config_toml",
]
