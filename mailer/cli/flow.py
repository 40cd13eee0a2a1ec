"""The one send flow of the command line: plan shown, confirmed, run, reported.

``mailer send`` and a member's ``mailer bundle send`` both come here, so both get the same
plan table, dry run, confirmation, journal, delivery log, Ctrl-C handling and exit codes.
The safety rules themselves (one sender per mailing, no bundled share, the opt-out list
before each person, hard bounces) are the library's: :func:`mailer.campaign.run.send_plan`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailer.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_TEMPFAIL,
    Failure,
    ask_yes_no,
    console,
    finish,
    say,
)
from mailer.i18n import _, ngettext

if TYPE_CHECKING:
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.plan import Plan
    from mailer.campaign.run import SendReport
    from mailer.channels.smtp import SmtpSettings
    from mailer.journal import Journal


@dataclass(frozen=True, slots=True)
class Options:
    """How to run: the options 'mailer send' and 'mailer bundle send' share."""

    dry_run: bool = False
    yes: bool = False
    quiet: bool = False
    wait: bool = False


@dataclass(frozen=True, slots=True)
class Flow:
    """What the messages around one send say.

    ``again``: the command that resumes it; ``status``: the one that shows where it
    stands; ``epilogue``: said after a real run. With ``via`` it is a rehearsal.
    """

    again: str
    status: str
    via: SmtpSettings | None = None
    epilogue: str | None = None

    @property
    def server(self) -> str | None:
        return f"{self.via.host}:{self.via.port}" if self.via is not None else None


def rehearsed(via: SmtpSettings, real: str) -> str:
    """What a rehearsal ends with: nobody got anything, and how to send for real."""
    return _(
        "That was a rehearsal through {server}: nobody on the lists got anything. "
        "To send for real: {command}"
    ).format(server=f"{via.host}:{via.port}", command=real)


@contextlib.contextmanager
def open_journals(state_dir: Path, *, rehearse: bool) -> Iterator[tuple[Journal, Journal | None]]:
    """The state folder's journal and, for a rehearsal, its rehearsals' journal.

    A rehearsal reads registrations and bundles from the real journal but records only in
    its own, so the real mailing is untouched by it.
    """
    from mailer.journal import Journal

    with contextlib.ExitStack() as stack:
        journal = stack.enter_context(Journal.in_state_dir(state_dir))
        rehearsal = stack.enter_context(Journal.for_rehearsal(state_dir)) if rehearse else None
        yield journal, rehearsal


def send(plan: Plan, factory: MessageFactory, journal: Journal, flow: Flow, opts: Options) -> None:
    """Plan shown, dry run or confirmation, the run, its report; ends with its exit code."""
    factory.prepare(plan)
    show_plan(plan, factory, flow, verbose=not opts.quiet or opts.dry_run)
    if opts.dry_run:
        show_sample(plan, factory, flow)
        return
    if plan.to_send == 0:
        # Through the library all the same: while another process sends this mailing, its
        # messages in flight are not uncertain, and this run must say so (BusyError).
        report = run(plan, factory, journal, flow, opts)
        say(nothing_to_send(flow))
        if plan.uncertain:
            say(_uncertain_before(plan.uncertain, flow), err=True)
        finish(report.exit_code)
        return
    confirm(plan, flow, yes=opts.yes)
    report = run(plan, factory, journal, flow, opts)
    show_report(report, plan, flow)
    finish(report.exit_code)


def show_plan(plan: Plan, factory: MessageFactory, flow: Flow, *, verbose: bool) -> None:
    from mailer.cli.tables import member_label, plan_table

    out = console()
    for share in plan.bundled:
        out.print(
            _(
                "{member}: sends its own share with a bundle; left alone here (import its "
                "report with 'mailer bundle import-report')"
            ).format(member=member_label(share.member)),
            markup=False,
        )
    # Before anything leaves: bundles still out when the seminar changed, and who is left
    # out of the change because their invitation is only in one of them.
    network = factory.network
    for held in plan.held:
        out.print(held.line(network.member_label(held.member)), markup=False)
    for left in plan.withheld:
        out.print(left.line(network.member_label(left.bundle.member)), markup=False)
    if not verbose:
        return
    mailing = factory.mailing
    title = _("{mailing}: {seminar}").format(
        mailing=_title(plan, flow), seminar=mailing.seminar.title
    )
    plan_table(plan, title, factory.network.tz, server=flow.server)
    if mailing.audience.spec != "all" or plan.left_out:
        people = sum(c.total for c in plan.sending)
        out.print(
            _("Audience {audience}: {people}; {left_out} on the lists left out.").format(
                audience=mailing.audience.spec,
                people=ngettext("{n} person", "{n} people", people).format(n=people),
                left_out=plan.left_out,
            ),
            markup=False,
        )
    if flow.server:
        out.print(
            _(
                "Rehearsal: every message goes to {server}, none to the people on the lists; "
                "the real journal, daily quotas and opt-out list are left alone."
            ).format(server=flow.server),
            markup=False,
        )


def show_sample(plan: Plan, factory: MessageFactory, flow: Flow) -> None:
    from mailer.preview import describe

    out = console()
    sample = next((p for c in plan.sending for p in c.to_send), None)
    if sample is not None:
        member = factory.network.member(sample.sender)
        out.print("\n" + _("Sample message:"), style="bold", markup=False)
        out.print(describe(factory.build(sample, member), member).text, markup=False)
    if flow.server:
        done = _("Dry run: nothing was sent. To rehearse: {command}")
    else:
        done = _("Dry run: nothing was sent. To send for real: {command}")
    out.print("\n" + done.format(command=flow.again), markup=False)


def nothing_to_send(flow: Flow) -> str:
    if flow.server:
        return _(
            "Nothing to rehearse: everybody on the plan had an earlier rehearsal of this "
            "mailing (--resend rehearses it from the start)."
        )
    return _("Nothing to send: everybody on the plan already has this mailing.")


def confirm(plan: Plan, flow: Flow, *, yes: bool) -> None:
    """Ask before real mail (or a rehearsal) leaves through SMTP; no terminal: --yes."""
    if not plan.needs_confirmation or yes:
        return
    server = flow.server
    n = plan.to_send
    if not sys.stdin.isatty():
        if server:
            refusal = _(
                "this rehearses through {server} and there is no terminal to confirm it: add --yes"
            ).format(server=server)
        else:
            refusal = _(
                "this sends real mail through SMTP and there is no terminal to confirm it: "
                "add --yes"
            )
        raise Failure(refusal, EXIT_BAD_INPUT)
    if server:
        question = ngettext(
            "Rehearse: send {n} message to {server} now?",
            "Rehearse: send {n} messages to {server} now?",
            n,
        ).format(n=n, server=server)
    else:
        question = ngettext("Send {n} message now?", "Send {n} messages now?", n).format(n=n)
    ask_yes_no(question)


def run(
    plan: Plan, factory: MessageFactory, journal: Journal, flow: Flow, opts: Options
) -> SendReport:
    from mailer.cli.progress import run_send

    try:
        return run_send(plan, factory, journal, via=flow.via, quiet=opts.quiet, wait=opts.wait)
    except KeyboardInterrupt:
        say(
            _(
                "Stopped at once: messages in flight are recorded as uncertain "
                "(see '{status}'). To resume: {command}"
            ).format(status=flow.status, command=flow.again),
            err=True,
        )
        raise click.exceptions.Exit(EXIT_TEMPFAIL) from None


def show_report(report: SendReport, plan: Plan, flow: Flow) -> None:
    from mailer.cli.tables import results_table

    results_table(report.channels, _title(plan, flow))
    if report.interrupted:
        say(
            _("Interrupted. To resume, run the same command again: {command}").format(
                command=flow.again
            ),
            err=True,
        )
    elif report.exit_code != EXIT_OK:
        say(
            _("To continue later, run the same command again: {command}").format(
                command=flow.again
            ),
            err=True,
        )
    if plan.uncertain:
        say(_uncertain_before(plan.uncertain, flow), err=True)
    if report.unanswered:
        n = report.unanswered
        say(
            ngettext(
                "{n} message is uncertain (handed over, then no answer): it was not sent "
                "again, so nobody gets two. '{status}' lists them; ask the server's admins "
                "whether it arrived, or send it again with --resend-uncertain.",
                "{n} messages are uncertain (handed over, then no answer): they were not "
                "sent again, so nobody gets two. '{status}' lists them; ask the server's "
                "admins whether they arrived, or send them again with --resend-uncertain.",
                n,
            ).format(n=n, status=flow.status),
            err=True,
        )
    if flow.epilogue:
        say(flow.epilogue, err=True)


def _uncertain_before(count: int, flow: Flow) -> str:
    return ngettext(
        "{n} message is uncertain (a run stopped while sending it); check '{status}', "
        "then use --resend-uncertain to send it again.",
        "{n} messages are uncertain (a run stopped while sending them); check '{status}', "
        "then use --resend-uncertain to send them again.",
        count,
    ).format(n=count, status=flow.status)


def _title(plan: Plan, flow: Flow) -> str:
    mailing = plan.mailing.id
    server = flow.server
    if server:
        return _("Rehearsal of mailing {mailing} through {server}").format(
            mailing=mailing, server=server
        )
    return _("Mailing {mailing}").format(mailing=mailing)
