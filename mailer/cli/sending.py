"""Commands that build and send mail: preview and send (status: mailer.cli.status; the
send flow that 'mailer send' and 'mailer bundle send' share: mailer.cli.flow)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailer.cli._common import (
    State,
    ask_yes_no,
    console,
    dry_run_option,
    pass_state,
    quiet_option,
    reports_errors,
    resend_uncertain_option,
    retry_failed_option,
    say,
    via_option,
    wait_option,
    yes_option,
)
from mailer.cli.flow import rehearsed
from mailer.cli.status import show_status
from mailer.cli.translated import command, option
from mailer.i18n import N_, _

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from mailer.channels.smtp import SmtpSettings
    from mailer.cli.flow import Flow
    from mailer.config import Seminar

__all__ = ["KIND", "audience_option", "preview", "rehearsed", "send", "show_status"]


# The same as mailer.render.KINDS (a test keeps them equal); spelt out so --help stays fast.
KIND = click.Choice(["invitation", "reminder", "change", "cancellation", "summary", "newsletter"])


def audience_option(func: Any) -> Any:
    return option(
        "--audience",
        "audience",
        multiple=True,
        metavar="WHO",
        help="all, registered, not-registered, attended, not-attended, segment:NAME or "
        "tag:NAME (repeatable: all must hold). Default: registered for a reminder, else all.",
    )(func)


def _audience(values: tuple[str, ...]) -> Any:
    if not values:
        return None
    from mailer.audience import parse_audience

    return parse_audience(values)


@command()
@click.argument("kind", type=KIND, metavar="KIND")
@click.argument("seminar", type=int)
@option(
    "--to",
    "address",
    metavar="ADDRESS",
    help="Preview the message for this person (default: the first one).",
)
@option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the HTML part to this file, for a browser.",
)
@option("--open", "open_browser", is_flag=True, help="Open the HTML in the system browser.")
@option(
    "--png",
    "png_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Screenshot the HTML with headless Chromium: FILE at desktop width and "
    "FILE-mobile.png at phone width.",
)
@audience_option
@pass_state
@reports_errors
def preview(
    state: State,
    kind: str,
    seminar: int,
    address: str | None,
    html_file: Path | None,
    open_browser: bool,
    png_file: Path | None,
    audience: tuple[str, ...],
) -> None:
    """Show what would leave for one person: channel, headers, text, attachments.

    KIND is invitation, reminder, change, cancellation, summary or newsletter; SEMINAR is
    the seminar's number (for a newsletter, the newsletter's number).
    """
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.preview import describe, find_person
    from mailer.recipients import merge
    from mailer.suppression import suppressed_checker

    network = state.network
    mailing = mailing_for(network, kind, seminar, _audience(audience))
    is_suppressed = suppressed_checker(network.state_dir)
    people = merge(network, suppressed=is_suppressed).people
    person = find_person(people, address, suppressed=is_suppressed)
    member = network.member(person.sender)
    message = MessageFactory(network, mailing).build(person, member)
    view = describe(message, member)
    console().print(view.text, markup=False)
    if open_browser and not html_file:
        import tempfile

        fd, name = tempfile.mkstemp(prefix=f"mailer-{mailing.id}-", suffix=".html")
        os.close(fd)
        html_file = Path(name)
    if html_file:
        html_file.write_text(view.html, encoding="utf-8")
        say(_("HTML written to {file}").format(file=html_file))
    if png_file:
        from mailer.screenshot import screenshots

        for shot in screenshots(view.html, png_file):
            say(_("Screenshot written to {file}").format(file=shot))
    if open_browser and html_file:
        import webbrowser

        if not webbrowser.open(html_file.resolve().as_uri()):
            say(_("No browser to open; open {file} yourself.").format(file=html_file), err=True)


@command(
    epilog=N_(
        """\b
Exit codes:
   0  everything on the plan was sent
   1  some messages failed or a channel stopped (the summary says which), or
      some are uncertain: after a crash, or handed over with no answer (see
      'mailer status'; --resend-uncertain)
   2  bad input (config, list, template, usage); nothing was sent
  75  work left for a later run (deferred, daily quota reached, or Ctrl-C):
      run the same command again; or another process is sending this mailing
      now (--wait waits for it)"""
    )
)
@click.argument("kind", type=KIND, metavar="KIND")
@click.argument("seminar", type=int)
@dry_run_option
@yes_option
@via_option
@option(
    "--org",
    "orgs",
    multiple=True,
    metavar="ID",
    help="Send only these members' share (repeatable).",
)
@option(
    "--resend",
    is_flag=True,
    help="Send again to people who already got this mailing. On purpose only.",
)
@resend_uncertain_option
@retry_failed_option
@quiet_option
@wait_option
@audience_option
@pass_state
@reports_errors
def send(
    state: State,
    kind: str,
    seminar: int,
    dry_run: bool,
    yes: bool,
    via: str | None,
    orgs: tuple[str, ...],
    resend: bool,
    resend_uncertain: bool,
    retry_failed: bool,
    quiet: bool,
    wait: bool,
    audience: tuple[str, ...],
) -> None:
    """Send a mailing: KIND for SEMINAR number (for a newsletter: its number).

    KIND is invitation, reminder, change, cancellation, summary or newsletter.

    Each person gets it through their sending member's channel, within the channel's
    rate, daily quota and connection limits. Running the same command again resumes the
    mailing and never sends anyone a second copy. Ctrl-C stops cleanly after the messages
    in flight. Every outcome (SMTP or Graph) is logged in the state folder
    (.mailer/delivery.log).
    A rehearsal (--via) is shown by 'mailer status --rehearsal'.
    """
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.campaign.plan import make_plan
    from mailer.channels.factory import parse_via
    from mailer.cli import flow

    network = state.network
    mailing = mailing_for(network, kind, seminar, _audience(audience))
    # A rehearsal (--via) mails nobody: preparing a summary early is what it is for.
    if kind == "summary" and not (dry_run or yes or via):
        _confirm_early_summary(mailing.seminar, network.tz)
    via_settings = parse_via(via) if via else None
    # A rehearsal's links look real but are signed so that no token in them is honoured.
    factory = MessageFactory(network, mailing, rehearsal=via_settings is not None)
    real = f"mailer send {kind} {seminar}"
    real += "".join(f" --org {o}" for o in orgs)
    real += "".join(f" --audience {a}" for a in audience)
    rehearsing = via_settings is not None
    done = _flow(real, mailing.id, via, via_settings)
    with flow.open_journals(network.state_dir, rehearse=rehearsing) as (journal, rehearsal):
        plan = make_plan(
            network,
            mailing,
            journal,
            orgs=orgs,
            resend=resend,
            resend_uncertain=resend_uncertain,
            retry_failed=retry_failed,
            rehearsal=rehearsal,
        )
        opts = flow.Options(dry_run=dry_run, yes=yes, quiet=quiet, wait=wait)
        flow.send(plan, factory, rehearsal or journal, done, opts)


def _flow(real: str, mailing: str, via: str | None, settings: SmtpSettings | None) -> Flow:
    """What the messages around this send say: how to resume it, where it stands."""
    from mailer.cli.flow import Flow

    return Flow(
        again=real + (f" --via {via}" if via else ""),
        status=f"mailer status {mailing}" + (" --rehearsal" if settings else ""),
        via=settings,
        epilogue=rehearsed(settings, real) if settings is not None else None,
    )


def _confirm_early_summary(seminar: Seminar, zone: ZoneInfo) -> None:
    """A summary of a seminar that has not ended yet is most likely a mistake (a wrong
    number): ask first. Without an answer (no terminal, no --yes) nothing is sent."""
    import datetime as dt

    from mailer.dates import when
    from mailer.i18n import current_language

    ends = dt.datetime.combine(seminar.date, seminar.end, tzinfo=zone)
    if ends <= dt.datetime.now(zone):
        return
    held = when(seminar.date, seminar.start, seminar.end, zone, current_language())
    question = _("Seminar {number} has not taken place yet ({when}). Send its summary now anyway?")
    ask_yes_no(question.format(number=seminar.number, when=held))
