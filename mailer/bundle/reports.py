"""The member's report and its import: per person the outcome, the Message-ID and the
server's reply, never a body.

The report is bound to the bundle (its digest names mailing and member) and signed when
the member holds an HMAC key. Importing merges it into the coordinator's journal, and its
hard bounces and unsubscribes into the network's opt-out list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mailer.addresses import AddressError, normalise_address
from mailer.bundle.archive import sign
from mailer.bundle.files import read_bounded
from mailer.bundle.formats import (
    MAX_REPORT,
    REPORT_FORMAT,
    REPORT_STATES,
    REPORT_TYPE,
    Header,
    ReportFile,
    Signature,
    canonical,
    check_format,
    now_text,
    refuse,
    sha256,
    tool,
    validate,
)
from mailer.bundle.member import Bundle
from mailer.bundle.signing import Key
from mailer.config import Network
from mailer.dates import stored_moment
from mailer.errors import BundleError, RecipientRefusedError
from mailer.i18n import _, genitive
from mailer.journal import BundleExport, Journal, ReportedOutcome
from mailer.suppression import Suppression


@dataclass(slots=True)
class Report:
    path: Path
    digest: str  # of the report's content: recognises a second import
    network: str
    mailing: str
    member: str
    bundle: str
    created_at: str
    outcomes: list[ReportedOutcome]
    unsubscribed: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    signature: Signature | None = None
    body: bytes = b""  # the canonical bytes the signature covers


def _named(bundle: Bundle, label: str, values: Iterable[str]) -> list[str]:
    """The addresses given with --unsubscribed or --bounced, each one of the bundle's."""
    share = {p.email for p in bundle.people}
    named = []
    for raw in values:
        try:
            email = normalise_address(raw)
        except AddressError as exc:
            raise BundleError(f"--{label} {raw!r}: {exc}") from None
        if email not in share:
            raise BundleError(
                _("--{option} {address}: not one of the people in this bundle").format(
                    option=label, address=raw
                ),
                path=bundle.path,
            )
        named.append(email)
    return sorted(set(named))


def make_report(
    bundle: Bundle,
    journal: Journal,
    key: Key | None,
    *,
    unsubscribed: Iterable[str] = (),
    bounced: Iterable[str] = (),
) -> bytes:
    """The member's report for the coordinator: outcomes from its journal, no bodies."""
    named = {"unsubscribed": _named(bundle, "unsubscribed", unsubscribed)}
    named["bounced"] = _named(bundle, "bounced", bounced)
    done = journal.deliveries(bundle.mailing.id)
    people = [
        {
            "email": d.email,
            "state": d.state,
            "message_id": d.message_id,
            "reply": d.last_reply,
            "sent_at": d.sent_at,
            "attempts": d.attempts,
            "bounce": d.bounce,
            "bounce_note": d.bounce_note,
            "bounced_at": d.bounced_at,
        }
        for d in (done.get(p.email) for p in bundle.people)
        # 'suppressed': left out for the member's opt-out list, never sent; why travels in
        # 'unsubscribed' and 'bounced' (or the coordinator's own list had them first).
        if d is not None and d.member == bundle.member.id and d.state != "suppressed"
    ]
    body = {
        "format": REPORT_FORMAT,
        "type": REPORT_TYPE,
        "tool": tool(),
        "network": bundle.network_id,
        "mailing": bundle.mailing.id,
        "member": bundle.member.id,
        "bundle": bundle.digest,
        "created_at": now_text(),
        "people": people,
        **named,
    }
    signature = None
    if key is not None and key.can_sign:
        signature = sign(key, canonical(body)).model_dump()
    return json.dumps(body | {"signature": signature}, ensure_ascii=False, indent=1).encode()


def _parse(path: Path) -> dict[str, object]:
    raw = read_bounded(path, MAX_REPORT, what="report")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise refuse(
            path,
            _("not a mailer report (not JSON)"),
            hint=_("pass the file 'mailer bundle report' wrote, not the bundle"),
        ) from None
    if not isinstance(data, dict) or Header.model_validate(data).type != REPORT_TYPE:
        raise refuse(path, _("not a mailer report"))
    return data


MAX_DIAGNOSTIC = 1000  # of a bounce's diagnostic kept from a report
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


def _status(path: Path, email: str, status: str | None) -> str | None:
    """A bounce's status code as the report gives it; refused unless it is one (RFC 3463)."""
    if status is None or _STATUS.fullmatch(status):
        return status
    raise refuse(
        path,
        _("{email}: {status!r} is not a bounce's status code").format(email=email, status=status),
    )


def read_report(path: Path) -> Report:
    """Parse a report; its shape and format only (binding is checked on import)."""
    data = _parse(path)
    check_format(path, Header.model_validate(data).format, "report", REPORT_FORMAT)
    parsed = validate(ReportFile, data, path=path, problem=_("the report is incomplete"))
    # The signature covers the body exactly as the member wrote it, unknown keys and all.
    body = canonical({k: v for k, v in data.items() if k != "signature"})
    from mailer.inbox.dsn import permanent

    outcomes = [
        ReportedOutcome(
            email=p.email,
            state=p.state,
            message_id=p.message_id,
            reply=p.reply,
            sent_at=p.sent_at,
            attempts=p.attempts or 0,
            bounce=_status(path, p.email, p.bounce),
            bounce_note=(p.bounce_note or "")[:MAX_DIAGNOSTIC] if p.bounce else None,
            bounced_at=(p.bounced_at or parsed.created_at) if p.bounce else None,
            bounce_permanent=bool(p.bounce and permanent(p.bounce)),
        )
        for p in parsed.people
    ]
    for o in outcomes:
        if o.state not in REPORT_STATES:
            raise refuse(
                path,
                _("{email}: unknown outcome {outcome!r}").format(email=o.email, outcome=o.state),
            )
    return Report(
        path=path,
        digest=sha256(body),
        network=parsed.network,
        mailing=parsed.mailing,
        member=parsed.member,
        bundle=parsed.bundle,
        created_at=parsed.created_at,
        outcomes=outcomes,
        unsubscribed=list(parsed.unsubscribed),
        bounced=list(parsed.bounced),
        signature=parsed.signature,
        body=body,
    )


@dataclass(slots=True)
class ImportResult:
    member: str
    mailing: str
    merged: dict[str, int] = field(default_factory=dict)  # state -> people
    kept_sent: int = 0  # the journal already had them as sent
    twice: list[str] = field(default_factory=list)  # sent by the member and by someone else
    suppressed: int = 0  # new on the opt-out list (hard bounces, unsubscribes)
    forgotten: int = 0  # named by the report, forgotten since the export: left out


def _hard_bounce(reply: str | None) -> bool:
    # The same rule as a direct send: the reply says the address does not exist.
    return RecipientRefusedError(reply or "").hard_bounce


def _bound_export(network: Network, journal: Journal, report: Report) -> BundleExport:
    """The export this report answers; refused when it is not this network's or was altered."""
    path = report.path
    if report.network != network.network.id:
        raise refuse(
            path,
            _("this report is for the network {theirs!r}, not {ours!r}").format(
                theirs=report.network, ours=network.network.id
            ),
        )
    export = {e.digest: e for e in journal.bundle_exports()}.get(report.bundle)
    if export is None:
        raise refuse(
            path,
            _("this report is for a bundle this workspace never exported"),
            hint=_("import it in the workspace that exported the bundle"),
        )
    if report.mailing != export.mailing:
        raise refuse(
            path,
            _(
                "this report says mailing {said!r}, but its bundle was for {was!r}: it was altered"
            ).format(said=report.mailing, was=export.mailing),
        )
    if report.member != export.member:
        raise refuse(
            path,
            _(
                "this report says member {said!r}, but its bundle was for {was!r}: it was altered"
            ).format(said=report.member, was=export.member),
        )
    return export


def _check_signature(report: Report, key: Key) -> None:
    if key.algorithm != "hmac-sha256" and report.signature is None:
        return  # an Ed25519 member holds only the public key: it cannot sign
    matches = key.signed(report.body, report.signature)
    if matches is None:
        raise refuse(
            report.path,
            _("the report is not signed with the network's key"),
            hint=_("the member runs 'mailer bundle report' with the key it was given"),
        )
    if not matches:
        raise refuse(report.path, _("the report's signature does not match: it was altered"))


def _forgotten_among(network: Network, emails: set[str]) -> set[str]:
    """Those of ``emails`` who asked to be forgotten ('mailer person forget'): their salted hash
    stays on the opt-out list, which tells them from an address the report made up."""
    with Suppression.in_state_dir(network.state_dir) as opt_out:
        digests = {e.digest for e in opt_out.entries() if e.reason == "forgotten"}
        return {email for email in emails if opt_out.digest(email) in digests}


def _merge(
    journal: Journal, report: Report, result: ImportResult, skip: set[str]
) -> list[ReportedOutcome]:
    """The outcomes to write: never over a send the journal already has as done."""
    current = journal.deliveries(report.mailing)
    outcomes = []
    for o in report.outcomes:
        before = current.get(o.email)
        if o.state == "queued" or o.email in skip:
            continue  # the member never tried (the export queued them), or forgotten since
        if before is not None and before.state == "sent":
            if before.member != report.member and o.state == "sent":
                result.twice.append(o.email)
            if o.state != "sent" or before.member != report.member:
                result.kept_sent += 1
                continue
        outcomes.append(o)
        result.merged[o.state] = result.merged.get(o.state, 0) + 1
    return outcomes


def import_report(network: Network, journal: Journal, report: Report, key: Key) -> ImportResult:
    """Merge a member's report into the network's journal (and suppression list).

    Refused as a whole, with nothing merged, when it is for another network, for a bundle
    this workspace never exported, for a mailing or member other than its bundle's, names
    people outside that member's share, fails its signature, or was imported before. A
    person forgotten since the export ('mailer person forget') is left out and counted, and the
    rest is merged: the report is genuine, the journal just no longer knows them.
    """
    export = _bound_export(network, journal, report)
    _check_signature(report, key)
    named = {o.email for o in report.outcomes} | set(report.unsubscribed) | set(report.bounced)
    outside = named - set(export.people)
    forgotten = _forgotten_among(network, outside) if outside else set()
    for email in sorted(outside - forgotten):
        raise refuse(
            report.path,
            _("the report names {email}, who is not in {member} share: it was altered").format(
                email=email, member=genitive(network.member_label(export.member))
            ),
        )
    imported_at = journal.bundle_report_imported(report.digest)
    if imported_at is not None:
        raise refuse(
            report.path,
            _("this report was already imported at {moment}; nothing changed").format(
                moment=stored_moment(imported_at, network.tz)
            ),
        )
    result = ImportResult(member=report.member, mailing=report.mailing, forgotten=len(forgotten))
    outcomes = _merge(journal, report, result, forgotten)
    journal.add_bundle_report(report.digest, report.bundle, report.mailing, report.member, outcomes)
    bounced = set(report.bounced) | {
        o.email for o in outcomes if o.state == "failed" and _hard_bounce(o.reply)
    }
    note = f"{report.member} {report.mailing}"
    with Suppression.in_state_dir(network.state_dir) as s:
        added = s.add_many(sorted(bounced - forgotten), reason="bounced", note=note)
        unsubscribed = set(report.unsubscribed) - bounced - forgotten
        added += s.add_many(sorted(unsubscribed), reason="unsubscribed", note=note)
        # Those the member left out for the opt-out list (its note, 'bundle suppress'):
        # not 'not sent by the member yet' but opted out, as a direct send records them.
        opted_out = [email for email in export.people if email in s]
    journal.left_out(report.mailing, report.member, opted_out)
    result.suppressed = added
    return result


def import_reports(
    network: Network, paths: Iterable[Path], key: Key
) -> Iterator[tuple[Report, ImportResult]]:
    """Read every report first (a bad one stops all before anything is merged), then import
    them one by one, yielding each as it is merged."""
    reports = [read_report(p) for p in paths]
    with Journal.in_state_dir(network.state_dir) as journal:
        for report in reports:
            yield report, import_report(network, journal, report, key)
