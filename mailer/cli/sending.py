"""Commands that build and send mail: preview, send, status."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailer.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TEMPFAIL,
    Failure,
    State,
    console,
    dry_run_option,
    pass_state,
    quiet_option,
    reports_errors,
    resend_uncertain_option,
    retry_failed_option,
    via_option,
    yes_option,
)

if TYPE_CHECKING:
    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.plan import Plan
    from mailer.campaign.run import ChannelResult
    from mailer.channels.smtp import SmtpSettings
    from mailer.journal import Journal


# The same as mailer.render.KINDS (a test keeps them equal); spelt out so --help stays fast.
KIND = click.Choice(["invitation", "reminder", "change", "cancellation", "summary", "newsletter"])


def audience_option(func: Any) -> Any:
    return click.option(
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


@click.command()
@click.argument("kind", type=KIND)
@click.argument("seminar", type=int)
@click.option(
    "--to",
    "address",
    metavar="ADDRESS",
    help="Preview the message for this person (default: the first one).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the HTML part to this file, for a browser.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the HTML in the system browser.")
@click.option(
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
        click.echo(f"HTML written to {html_file}")
    if png_file:
        from mailer.screenshot import screenshots

        for shot in screenshots(view.html, png_file):
            click.echo(f"Screenshot written to {shot}")
    if open_browser and html_file:
        import webbrowser

        if not webbrowser.open(html_file.resolve().as_uri()):
            click.echo(f"No browser to open; open {html_file} yourself.", err=True)


def _plan_table(plan: Plan, title: str, tz: Any, *, server: str | None = None) -> None:
    """Two tables: who gets the mailing now, and how long each channel will take.

    ``server``: the host:port a rehearsal sends everything through, shown as each
    member's channel.
    """
    import datetime as dt

    from rich.table import Table

    who = Table(title=title, title_justify="left")
    # In a rehearsal, "sent" means sent by an earlier rehearsal.
    done = "rehearsed before" if server else "already sent"
    for col in ("member", "channel", "people", "to send", done, "uncertain", "failed"):
        who.add_column(col, justify="left" if col in ("member", "channel") else "right")
    when = Table(title="Pace (per channel)", title_justify="left")
    for col in ("member", "rate", "quota left/day", "connections", "est. time", "completes"):
        when.add_column(col, justify="left" if col == "member" else "right")
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(tz).date()
    for c in plan.channels:
        name = c.member.short_name or c.member.name
        who.add_row(
            name,
            server or c.member.channel.type,
            str(c.total),
            str(len(c.to_send)),
            str(len(c.already_sent)),
            str(len(c.uncertain)),
            str(len(c.failed)),
        )
        limits = c.limits
        est = c.estimate(now)
        quota = "-"
        if limits.per_day:
            quota = f"{max(0, limits.per_day - c.quota_used)} of {limits.per_day}"
        day = est.finishes.astimezone(tz).date()
        completes = "-" if not c.to_send else ("today" if day == today else day.isoformat())
        when.add_row(
            name,
            limits.describe_rate(),
            quota,
            str(limits.connections),
            _duration(est.seconds) if c.to_send else "-",
            completes,
        )
    out = console()
    out.print(who)
    out.print(when)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _results_table(results: list[ChannelResult], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in (
        "member",
        "sent",
        "skipped",
        "uncertain",
        "deferred",
        "failed",
        "not tried",
        "problem",
    ):
        table.add_column(col, justify="left" if col in ("member", "problem") else "right")
    for r in results:
        problem = ""
        if r.error:
            problem = "channel stopped"
        elif r.quota:
            problem = "daily quota reached"
        elif r.interrupted and r.not_attempted:
            problem = "interrupted"
        table.add_row(
            r.member.short_name or r.member.name,
            str(r.sent),
            str(r.skipped),
            str(r.uncertain),
            str(len(r.deferred)),
            str(len(r.failed)),
            str(r.not_attempted),
            problem,
        )
    out = console()
    out.print(table)
    for r in results:
        label = r.member.short_name or r.member.name
        if r.error:
            out.print(f"channel  {r.error}", markup=False)
        if r.quota:
            out.print(f"quota    {label}: {r.quota}", markup=False)
        for email, reply in r.failed:
            out.print(f"failed   {email}: {reply}", markup=False)
        for email, reply in r.deferred:
            out.print(f"deferred {email}: {reply}", markup=False)
        for email, reply in r.unanswered:
            out.print(f"uncertain {email}: {reply}", markup=False)


@click.command(
    epilog="""\b
Exit codes:
   0  everything on the plan was sent
   1  some messages failed or a channel stopped (the summary says which), or some
      are uncertain: after a crash, or handed over with no answer (see 'mailer
      status'; --resend-uncertain)
   2  bad input (config, list, template, usage); nothing was sent
  75  work left for a later run (deferred, daily quota reached, or Ctrl-C):
      run the same command again"""
)
@click.argument("kind", type=KIND)
@click.argument("seminar", type=int)
@dry_run_option
@yes_option
@via_option
@click.option(
    "--org",
    "orgs",
    multiple=True,
    metavar="ID",
    help="Send only these members' share (repeatable).",
)
@click.option(
    "--resend",
    is_flag=True,
    help="Send again to people who already got this mailing. On purpose only.",
)
@resend_uncertain_option
@retry_failed_option
@quiet_option
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
    audience: tuple[str, ...],
) -> None:
    """Send a mailing: KIND for SEMINAR number (for a newsletter: its number).

    KIND is invitation, reminder, change, cancellation, summary or newsletter.

    Each person gets it through their sending member's channel, within the channel's
    rate, daily quota and connection limits. Running the same command again resumes the
    mailing and never sends anyone a second copy. Ctrl-C stops cleanly after the messages
    in flight. Every SMTP outcome is logged in the state folder (.mailer/delivery.log).
    A rehearsal (--via) is shown by 'mailer status --rehearsal'.
    """
    import contextlib

    from mailer.campaign.factory import MessageFactory
    from mailer.campaign.mailing import mailing_for
    from mailer.campaign.plan import make_plan
    from mailer.channels.factory import parse_via
    from mailer.journal import Journal

    network = state.network
    mailing = mailing_for(network, kind, seminar, _audience(audience))
    via_settings = parse_via(via) if via else None
    # A rehearsal's links look real but are signed so that no token in them is honoured.
    factory = MessageFactory(network, mailing, rehearsal=via_settings is not None)
    real = f"mailer send {kind} {seminar}"
    real += "".join(f" --org {o}" for o in orgs)
    real += "".join(f" --audience {a}" for a in audience)
    again = real + (f" --via {via}" if via else "")
    with contextlib.ExitStack() as stack:
        journal = stack.enter_context(Journal.in_state_dir(network.state_dir))
        # A rehearsal reads registrations and bundles from the real journal but records
        # only in its own, so the real mailing is untouched by it.
        rehearsal = (
            stack.enter_context(Journal.for_rehearsal(network.state_dir))
            if via_settings is not None
            else None
        )
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
        _leave_bundled_shares(plan, journal, console())
        carry_out(
            plan,
            factory,
            rehearsal or journal,
            state_dir=network.state_dir,
            via=via_settings,
            dry_run=dry_run,
            yes=yes,
            quiet=quiet,
            again=again,
            epilogue=rehearsed(via_settings, real) if via_settings is not None else None,
        )


def rehearsed(via: SmtpSettings, real: str) -> str:
    """What a rehearsal ends with: nobody got anything, and how to send for real."""
    return (
        f"That was a rehearsal through {via.host}:{via.port}: nobody on the lists got "
        f"anything. To send for real: {real}"
    )


def carry_out(
    plan: Plan,
    factory: MessageFactory,
    journal: Journal,
    *,
    state_dir: Path,
    via: SmtpSettings | None = None,
    dry_run: bool,
    yes: bool,
    quiet: bool,
    again: str,
    epilogue: str | None = None,
    status: str | None = None,
) -> None:
    """Show, confirm and send a plan, then exit with the run's code.

    The one send path: ``mailer send`` and a member's ``mailer bundle send`` both come
    here, so both get the same plan table, dry run, confirmation, limits, journal,
    delivery log, Ctrl-C handling and exit codes. ``epilogue`` is said after a real run;
    ``status`` is the command that shows where the mailing stands (``mailer status``).
    With ``via`` it is a rehearsal, and every heading and question says so.
    """
    import asyncio

    from mailer.preview import describe

    mailing = factory.mailing
    network = factory.network
    factory.prepare(plan)
    out = console()
    server = f"{via.host}:{via.port}" if via is not None else None
    title = (
        f"Rehearsal of mailing {mailing.id} through {server}" if server else f"Mailing {mailing.id}"
    )
    status = (status or f"mailer status {mailing.id}") + (" --rehearsal" if server else "")
    if not quiet or dry_run:
        _plan_table(plan, f"{title}: {mailing.seminar.title}", network.tz, server=server)
        if mailing.audience.spec != "all" or plan.left_out:
            people = sum(c.total for c in plan.channels)
            out.print(
                f"Audience {mailing.audience.spec}: {people} people; "
                f"{plan.left_out} on the lists left out.",
                markup=False,
            )
        if server:
            out.print(
                f"Rehearsal: every message goes to {server}, none to the people on the "
                "lists; the real journal, daily quotas and opt-out list are left alone.",
                markup=False,
            )
    if dry_run:
        sample = next((p for c in plan.channels for p in c.to_send), None)
        if sample is not None:
            member = network.member(sample.sender)
            out.print("\nSample message:", style="bold")
            out.print(describe(factory.build(sample, member), member).text, markup=False)
        to = "To rehearse" if server else "To send for real"
        out.print(f"\nDry run: nothing was sent. {to}: {again}", markup=False)
        return
    if plan.to_send == 0:
        if server:
            out.print(
                "Nothing to rehearse: everybody on the plan had an earlier rehearsal of this "
                "mailing (--resend rehearses it from the start)."
            )
        else:
            out.print("Nothing to send: everybody on the plan already has this mailing.")
        _exit_for_uncertain(plan, status)
        return
    if plan.needs_confirmation and not yes:
        if not sys.stdin.isatty():
            what = f"rehearses through {server}" if server else "sends real mail through SMTP"
            raise Failure(
                f"this {what} and there is no terminal to confirm it: add --yes",
                EXIT_BAD_INPUT,
            )
        if server:
            click.confirm(f"Rehearse: send {plan.to_send} messages to {server} now?", abort=True)
        else:
            click.confirm(f"Send {plan.to_send} messages now?", abort=True)
    with _delivery_log(state_dir):
        try:
            results = asyncio.run(_send_with_progress(plan, factory, journal, via, quiet))
        except KeyboardInterrupt:
            click.echo(
                "Stopped at once: messages in flight are recorded as uncertain "
                f"(see '{status}'). To resume: {again}",
                err=True,
            )
            sys.exit(EXIT_TEMPFAIL)
    _results_table(results, title)
    code = _exit_code(results)
    if any(r.interrupted for r in results):
        click.echo(f"Interrupted. To resume, run the same command again: {again}", err=True)
    elif code != EXIT_OK:
        click.echo(f"To continue later, run the same command again: {again}", err=True)
    if plan.uncertain:
        click.echo(
            f"{plan.uncertain} messages are uncertain (a run stopped while sending them); "
            f"check '{status}', then use --resend-uncertain to send them again.",
            err=True,
        )
    unanswered = sum(len(r.unanswered) for r in results)
    if unanswered:
        click.echo(
            f"{unanswered} messages are uncertain (handed over, then no answer): they were "
            f"not sent again, so nobody gets two. '{status}' lists them; ask the server's "
            "admins whether they arrived, or send them again with --resend-uncertain.",
            err=True,
        )
    if epilogue:
        click.echo(epilogue, err=True)
    sys.exit(code)


class _delivery_log:
    """Log every SMTP outcome to a file in the state folder while sending."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "delivery.log"

    def __enter__(self) -> None:
        import logging

        from mailer.journal import private_dir

        private_dir(self.path.parent)
        # Owner-only like the rest of the state folder: it names every recipient.
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))
        os.chmod(self.path, 0o600)
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setFormatter(
            logging.Formatter("%(asctime)s\t%(message)s", "%Y-%m-%dT%H:%M:%S%z")
        )
        self.logger = logging.getLogger("mailer.delivery")
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False  # the file only; the terminal shows the summary

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.handler.close()


def _leave_bundled_shares(plan: Plan, journal: Any, out: Any) -> None:
    """Members who got a bundle send their share themselves: never send it from here too."""
    bundled = {e.member for e in journal.bundle_exports(plan.mailing.id)}
    kept = [c for c in plan.channels if c.member.id not in bundled]
    for c in plan.channels:
        if c.member.id in bundled:
            out.print(
                f"{c.member.short_name or c.member.name}: sends its own share with a bundle; "
                "left alone here (import its report with 'mailer bundle import-report')",
                markup=False,
            )
    plan.channels = kept


def _exit_for_uncertain(plan: Plan, status: str) -> None:
    if plan.uncertain:
        click.echo(
            f"{plan.uncertain} messages are uncertain (a run stopped while sending them); "
            f"check '{status}', then use --resend-uncertain to send them again.",
            err=True,
        )
        sys.exit(EXIT_FAILED)


def _exit_code(results: list[ChannelResult]) -> int:
    if any(r.failed or r.error or r.uncertain for r in results):
        return EXIT_FAILED
    if any(r.work_left for r in results):
        return EXIT_TEMPFAIL
    return EXIT_OK


async def _send_with_progress(
    plan: Plan, factory: Any, journal: Any, via: Any, quiet: bool
) -> list[ChannelResult]:
    import asyncio
    import functools
    import signal

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from mailer.campaign import run as campaign
    from mailer.config import Member
    from mailer.suppression import Suppression

    def hard_bounce(email: str, member: Member, reply: str) -> None:
        # An address that does not exist goes on the network's opt-out list, so no
        # member's list brings it back.
        with Suppression.in_state_dir(factory.network.state_dir) as suppression:
            suppression.add(email, reason="bounced", note=f"{member.id}: {reply}")

    # A rehearsal's test server knows nothing of the addresses: its refusals stay in the
    # rehearsal (campaign.send_plan makes sure of it too).
    send_plan = functools.partial(
        campaign.send_plan, on_hard_bounce=None if via is not None else hard_bounce
    )

    # Ctrl-C once: finish the transactions in flight, record them, stop. Twice: at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None

    def interrupt() -> None:
        if stop.is_set():
            main_task.cancel()
            return
        stop.set()
        click.echo(
            "\nStopping after the messages in flight (Ctrl-C again to stop at once)...",
            err=True,
        )

    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        if quiet:
            return await send_plan(plan, factory, journal, via=via, stop=stop)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            _rate_column(),
            TimeRemainingColumn(),
            console=console(stderr=True),
        ) as progress:
            tasks = {
                c.member.id: progress.add_task(
                    c.member.short_name or c.member.name, total=len(c.to_send)
                )
                for c in plan.channels
                if c.to_send
            }

            def advance(member_id: str, email: str, outcome: str) -> None:
                progress.advance(tasks[member_id])

            return await send_plan(plan, factory, journal, via=via, on_progress=advance, stop=stop)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _rate_column_class() -> Any:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Messages per minute, measured."""

        def render(self, task: Task) -> Text:
            speed = task.speed
            return Text(f"{speed * 60:.0f}/min" if speed else "-/min")

    return RateColumn


def _rate_column() -> Any:
    return _rate_column_class()()


@click.command()
@click.argument("mailing", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option(
    "--rehearsal",
    is_flag=True,
    help="Show the rehearsals ('mailer send ... --via') instead of the real mailings.",
)
@pass_state
@reports_errors
def status(state: State, mailing: str | None, as_json: bool, rehearsal: bool) -> None:
    """Where mailings stand: per member and state, from the journal.

    Lists the failed, deferred and uncertain messages with the server's last reply.
    Uncertain: a run stopped while the message was with the server; it may have arrived
    ('mailer send ... --resend-uncertain' sends it again with the same Message-ID).
    Only real mailings are shown: rehearsals keep their own journal (--rehearsal).
    """
    show_status(state.network.state_dir, mailing, as_json=as_json, rehearsal=rehearsal)


def show_status(state_dir: Path, mailing: str | None, *, as_json: bool, rehearsal: bool) -> None:
    """Print where the mailings (or one) in a state folder's journal stand, or in its
    rehearsals' journal: ``mailer status``, and a member's ``mailer bundle status``."""
    from mailer.journal import Journal, rehearsal_path

    if rehearsal and not rehearsal_path(state_dir).exists():
        click.echo("{}" if as_json else "No rehearsals yet.")
        return
    opened = (Journal.for_rehearsal if rehearsal else Journal.in_state_dir)(state_dir)
    with opened as journal:
        _print_status(journal, mailing, as_json=as_json, rehearsal=rehearsal)


def _print_status(journal: Journal, mailing: str | None, *, as_json: bool, rehearsal: bool) -> None:
    from rich.table import Table

    from mailer.journal import STATES

    mailings = [mailing] if mailing else journal.mailings()
    data = {m: journal.counts(m) for m in mailings}
    exports = {m: journal.bundle_exports(m) for m in mailings}
    problems = {
        m: [
            d
            for d in journal.deliveries(m).values()
            if d.state in ("failed", "sending", "deferred")
        ]
        for m in mailings
    }
    if as_json:
        click.echo(
            json.dumps(
                {
                    m: {
                        "members": data[m],
                        "problems": [
                            {
                                "email": d.email,
                                "member": d.member,
                                "state": "uncertain" if d.uncertain else d.state,
                                "reply": d.last_reply,
                                "attempts": d.attempts,
                                "message_id": d.message_id,
                                "channel": d.channel,
                                "updated_at": d.updated_at,
                            }
                            for d in problems[m]
                        ],
                        "bundles": _bundle_states(exports[m]),
                    }
                    for m in mailings
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not mailings:
        click.echo("No rehearsals yet." if rehearsal else "No mailings yet.")
        return
    out = console()
    for m in mailings:
        title = f"Rehearsal of mailing {m}" if rehearsal else f"Mailing {m}"
        table = Table(title=title, title_justify="left")
        table.add_column("member")
        for s in STATES:
            # At rest, 'sending' means a run stopped mid-transaction: say what it means.
            table.add_column("uncertain" if s == "sending" else s, justify="right")
        for member_id, counts in sorted(data[m].items()):
            table.add_row(member_id, *(str(counts.get(s, 0)) for s in STATES))
        out.print(table)
        for d in problems[m]:
            label = "uncertain" if d.state == "sending" else d.state
            out.print(f"{label:9} {d.email} ({d.member}): {d.last_reply or ''}", markup=False)
        for member_id, info in _bundle_states(exports[m]).items():
            if info["reported_at"]:
                line = f"bundle    {member_id}: report imported {info['reported_at']}"
                queued = data[m].get(member_id, {}).get("queued", 0)
                if queued:
                    line += f"; {queued} not sent by the member yet"
            else:
                line = (
                    f"bundle    {member_id}: no report yet (bundle exported {info['exported_at']})"
                )
            out.print(line, markup=False)


def _bundle_states(exports: list[Any]) -> dict[str, dict[str, str | None]]:
    """Per bundled member: when its latest bundle left, and when it last reported."""
    out: dict[str, dict[str, str | None]] = {}
    for e in exports:  # oldest first, so the latest export wins
        out[e.member] = {"exported_at": e.exported_at, "reported_at": e.reported_at}
    return dict(sorted(out.items()))
