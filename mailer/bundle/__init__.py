"""Mailing bundles: one member's share of a mailing, sent from the member's own machine.

The coordinator exports a signed bundle per member (:mod:`.export`); the member opens and
checks it (:mod:`.archive`, :mod:`.member`), sends through its own ``CHANNEL.toml`` with
the same send path as the coordinator, and returns a report (:mod:`.reports`). When the
seminar changes, :mod:`.outstanding` tells which bundles are still out, and
:mod:`.revocation` revokes them; :mod:`.optouts` carries the opt-outs made after an
export to the member (a signed note of who may still be mailed). Every file is read
bounded (:mod:`.files`) and through a pydantic model (:mod:`.formats`); keys are in :mod:`.signing`.
"""

from __future__ import annotations

from mailer.bundle.archive import read_manifest, verify
from mailer.bundle.export import VALID_FOR, Exported, default_name, export_bundle, export_bundles
from mailer.bundle.formats import FORMAT, MAX_UNPACKED, REPORT_FORMAT, Manifest
from mailer.bundle.member import (
    Bundle,
    ChannelFile,
    load_channel_file,
    member_journal,
    member_rehearsal,
    member_state_dir,
    open_bundle,
)
from mailer.bundle.outstanding import (
    HeldBundle,
    LeftOut,
    awaiting_invitation,
    seminar_of,
    unreported_bundles,
)
from mailer.bundle.reports import (
    ImportResult,
    Report,
    import_report,
    import_reports,
    make_report,
    read_report,
)
from mailer.bundle.revocation import (
    Revoked,
    Supersession,
    ensure_not_superseded,
    load_supersessions,
    read_note,
    recorded_revocations,
    revoke,
)

__all__ = [
    "FORMAT",
    "MAX_UNPACKED",
    "REPORT_FORMAT",
    "VALID_FOR",
    "Bundle",
    "ChannelFile",
    "Exported",
    "HeldBundle",
    "ImportResult",
    "LeftOut",
    "Manifest",
    "Report",
    "Revoked",
    "Supersession",
    "awaiting_invitation",
    "default_name",
    "ensure_not_superseded",
    "export_bundle",
    "export_bundles",
    "import_report",
    "import_reports",
    "load_channel_file",
    "load_supersessions",
    "make_report",
    "member_journal",
    "member_rehearsal",
    "member_state_dir",
    "open_bundle",
    "read_manifest",
    "read_note",
    "read_report",
    "recorded_revocations",
    "revoke",
    "seminar_of",
    "unreported_bundles",
    "verify",
]
