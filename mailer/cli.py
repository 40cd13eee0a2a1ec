"""The ``mailer`` command: a thin Click layer over the library.

Only this module prints, prompts, exits or runs the event loop. Heavy libraries
(premailer, lxml, aiosmtplib, openpyxl, pydantic) are imported inside the commands that
need them, so ``mailer --help`` starts fast.

Exit codes: 0 all done; 1 some messages or channels failed; 2 bad input (config, list,
template, usage); 75 work left for a later run (deferred messages).
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from mailer.campaign import ChannelResult, Plan
    from mailer.config import Network
    from mailer.recipients import ListReport

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_TEMPFAIL = 0, 1, 2, 75
F = TypeVar("F", bound=Callable[..., Any])


class Failure(click.ClickException):
    """A library error, shown as its one line with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def reports_errors(func: F) -> F:
    """Turn the library's MailerError into one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mailer.errors import MailerError

        try:
            return func(*args, **kwargs)
        except MailerError as exc:
            raise Failure(str(exc), exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output (CI, logs, `| less`) gets a wide table rather than rich's 80 columns.
    width = None if stream.isatty() else 120
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


class State:
    def __init__(self, network_path: str | None) -> None:
        self.network_path = network_path
        self._network: Network | None = None

    @property
    def network(self) -> Network:
        if self._network is None:
            from mailer.config import load_network

            self._network = load_network(self.network_path)
        return self._network


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--network", "network_path", metavar="PATH", envvar="MAILER_NETWORK",
              help="The network's network.toml (default: ./network.toml; env MAILER_NETWORK).")
@click.version_option(package_name="mailer")
@click.pass_context
def main(ctx: click.Context, network_path: str | None) -> None:
    """Invite people to the network's seminars and tell them afterwards what was said.

    Merges the member organisations' recipient lists, renders branded mail in Swedish and
    English, and sends each person's message through their own organisation's channel,
    never twice.

    \b
    Exit codes: 0 done; 1 some messages or channels failed; 2 bad input;
                75 work left for a later run (run the same command again).
    """
    ctx.obj = State(network_path)


# -- init / check ---------------------------------------------------------------


def example_workspace() -> Path:
    """The bundled example network: inside the wheel, or the repository in a checkout."""
    packaged = Path(__file__).parent / "example"
    if (packaged / "network.toml").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Create a new network workspace in DIRECTORY from the bundled example.

    Copies network.toml, templates/, recipients/ and seminars/; edit them for your network.
    """
    source = example_workspace()
    target = directory / "network.toml"
    if target.exists() and not force:
        raise Failure(f"{target}: already exists (use --force to overwrite)", EXIT_BAD_INPUT)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "network.toml", target)
    for folder in ("templates", "recipients", "seminars"):
        shutil.copytree(source / folder, directory / folder, dirs_exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# personal data and generated mail: never commit\n.mailer/\noutbox/\n",
                          encoding="utf-8")
    click.echo(f"Created a workspace in {directory}. Next:")
    click.echo(f"  cd {directory} && mailer check && mailer send invitation 2 --dry-run")


@main.command()
@pass_state
@reports_errors
def check(state: State) -> None:
    """Check network.toml, every member's list and every template, sending nothing."""
    from mailer.campaign import MessageFactory, mailing_for
    from mailer.recipients import merge

    network = state.network
    merged = merge(network)
    people = merged.by_member()
    for seminar in network.seminars:
        kinds = ["invitation", "summary"] if seminar.held else ["invitation"]
        for kind in kinds:
            factory = MessageFactory(network, mailing_for(network, kind, seminar.number))
            for member in network.members:
                for lang in ("sv", "en"):
                    factory.renderer.variant(kind, seminar, lang, member)
    invalid = sum(len(r.invalid) for r in merged.reports)
    click.echo(f"{network.path}: {len(network.members)} members, {len(network.seminars)} "
               f"seminars, {len(merged.people)} people "
               f"({invalid} invalid rows; see 'mailer recipients merge'), "
               f"{sum(1 for m in network.members if people.get(m.id))} sending members. OK")


# -- recipients -------------------------------------------------------------------


@main.group()
def recipients() -> None:
    """Check and merge the member organisations' recipient lists."""


def _report_table(reports: list[ListReport], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("list", "encoding", "rows", "valid", "invalid", "dup. in file",
                "dup. of others", "suppressed", "final"):
        table.add_column(col, justify="left" if col in ("list", "encoding") else "right")
    for r in reports:
        table.add_row(str(r.path), r.encoding, str(r.rows), str(r.valid), str(len(r.invalid)),
                      str(r.duplicates_in_file), str(r.duplicates_of_others), str(r.suppressed),
                      str(r.final))
    console = _console()
    console.print(table)
    for r in reports:
        for problem in r.invalid[:10]:
            console.print(f"[red]invalid[/red] {problem}", markup=True)
        if len(r.invalid) > 10:
            console.print(f"  … and {len(r.invalid) - 10} more in {r.path}")
        for warning in r.warnings[:10]:
            console.print(f"[yellow]warning[/yellow] {warning}", markup=True)


@recipients.command("merge")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the merged list as CSV to this file.")
@pass_state
@reports_errors
def recipients_merge(state: State, as_json: bool, out: Path | None) -> None:
    """Merge every member's list: one row per person, with one sending member each."""
    from mailer.export import write_merged_csv
    from mailer.recipients import merge

    network = state.network
    merged = merge(network)
    by_member = merged.by_member()
    if out:
        write_merged_csv(merged.people, out)
    if as_json:
        click.echo(json.dumps({
            "people": len(merged.people),
            "lists": [r.as_dict() for r in merged.reports],
            "senders": {m.id: len(by_member.get(m.id, [])) for m in network.members},
            "conflicts": [{"email": c.email, "field": c.field, "kept": c.kept,
                           "kept_from": c.kept_from, "dropped": c.dropped,
                           "dropped_from": c.dropped_from} for c in merged.conflicts],
        }, ensure_ascii=False, indent=2))
        return
    _report_table(merged.reports, f"{network.network.name}: member lists")
    console = _console()
    for c in merged.conflicts:
        console.print(f"[yellow]conflict[/yellow] {c.email}: {c.field} {c.kept!r} "
                      f"(from {c.kept_from}, the sender) kept over {c.dropped!r} "
                      f"(from {c.dropped_from})", markup=True)
    console.print(f"{len(merged.people)} people; each gets mail from one member.")
    if out:
        console.print(f"Merged list written to {out}")


@recipients.command("check")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--check-dns", is_flag=True, help="Also look up each domain's mail servers.")
@reports_errors
def recipients_check(files: tuple[Path, ...], as_json: bool, check_dns: bool) -> None:
    """Check list FILES before forwarding them; needs no network.toml.

    Exits with 1 when a row is invalid, 2 when a file cannot be read at all.
    """
    from mailer.recipients import check_files

    reports = check_files(files, check_dns=check_dns)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        _report_table(reports, "List check")
    if any(r.invalid for r in reports):
        sys.exit(EXIT_FAILED)


# -- preview / send -----------------------------------------------------------------

KIND = click.Choice(["invitation", "summary"])


@main.command()
@click.argument("kind", type=KIND)
@click.argument("seminar", type=int)
@click.option("--to", "address", metavar="ADDRESS",
              help="Preview the message for this person (default: the first one).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the HTML part to this file, for a browser.")
@pass_state
@reports_errors
def preview(state: State, kind: str, seminar: int, address: str | None,
            html_file: Path | None) -> None:
    """Show what would leave for one person: channel, headers, text, attachments."""
    from mailer.campaign import MessageFactory, mailing_for
    from mailer.preview import describe, find_person
    from mailer.recipients import merge

    network = state.network
    mailing = mailing_for(network, kind, seminar)
    person = find_person(merge(network).people, address)
    member = network.member(person.sender)
    message = MessageFactory(network, mailing).build(person, member)
    view = describe(message, member)
    _console().print(view.text, markup=False)
    if html_file:
        html_file.write_text(view.html, encoding="utf-8")
        click.echo(f"HTML written to {html_file}")


def _plan_table(plan: Plan, title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("member", "channel", "people", "to send", "already sent", "uncertain", "rate",
                "estimated time"):
        table.add_column(col, justify="left" if col in ("member", "channel") else "right")
    for c in plan.channels:
        rate = f"{c.rate_per_minute:g}/min" if c.rate_per_minute else "unlimited"
        table.add_row(c.member.short_name or c.member.name,
                      "--via" if c.via else c.member.channel.type,
                      str(c.total), str(len(c.to_send)), str(len(c.already_sent)),
                      str(len(c.uncertain)), rate, _duration(c.estimated_seconds()))
    _console().print(table)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _results_table(results: list[ChannelResult], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("member", "sent", "skipped", "uncertain", "deferred", "failed", "not tried",
                "problem"):
        table.add_column(col, justify="left" if col in ("member", "problem") else "right")
    for r in results:
        table.add_row(r.member.short_name or r.member.name, str(r.sent), str(r.skipped),
                      str(r.uncertain), str(len(r.deferred)), str(len(r.failed)),
                      str(r.not_attempted), "channel stopped" if r.error else "")
    console = _console()
    console.print(table)
    for r in results:
        if r.error:
            console.print(f"channel  {r.error}", markup=False)
        for email, reply in r.failed:
            console.print(f"failed   {email}: {reply}", markup=False)
        for email, reply in r.deferred:
            console.print(f"deferred {email}: {reply}", markup=False)


@main.command()
@click.argument("kind", type=KIND)
@click.argument("seminar", type=int)
@click.option("--dry-run", is_flag=True, help="Send nothing; show the plan and one sample.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--via", metavar="smtp://HOST:PORT",
              help="Send every channel through this local SMTP server, keeping each "
                   "member's From (a rehearsal).")
@click.option("--org", "orgs", multiple=True, metavar="ID",
              help="Send only these members' share (repeatable).")
@click.option("--resend", is_flag=True,
              help="Send again to people who already got this mailing. On purpose only.")
@click.option("--resend-uncertain", is_flag=True,
              help="Resend messages whose outcome a crash left unknown (same Message-ID).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars; only the summary.")
@pass_state
@reports_errors
def send(state: State, kind: str, seminar: int, dry_run: bool, yes: bool, via: str | None,
         orgs: tuple[str, ...], resend: bool, resend_uncertain: bool, quiet: bool) -> None:
    """Send a mailing: KIND (invitation, summary) for SEMINAR number.

    Each person gets it through their sending member's channel. Running the same command
    again resumes the mailing and never sends anyone a second copy.
    """
    import asyncio

    from mailer.campaign import MessageFactory, make_plan, mailing_for, send_plan
    from mailer.channels import parse_via
    from mailer.journal import Journal
    from mailer.preview import describe

    network = state.network
    mailing = mailing_for(network, kind, seminar)
    via_settings = parse_via(via) if via else None
    factory = MessageFactory(network, mailing)
    with Journal.in_state_dir(network.state_dir) as journal:
        plan = make_plan(network, mailing, journal, orgs=orgs, resend=resend,
                         resend_uncertain=resend_uncertain, via=via_settings is not None)
        console = _console()
        if not quiet or dry_run:
            _plan_table(plan, f"Mailing {mailing.id}: {mailing.seminar.title}")
        if dry_run:
            sample = next((p for c in plan.channels for p in c.to_send), None)
            if sample is not None:
                member = network.member(sample.sender)
                console.print("\nSample message:", style="bold")
                console.print(describe(factory.build(sample, member), member).text,
                              markup=False)
            console.print(f"\nDry run: nothing was sent. To send for real: "
                          f"mailer send {kind} {seminar}"
                          + (f" --via {via}" if via else ""), markup=False)
            return
        if plan.to_send == 0:
            console.print("Nothing to send: everybody on the plan already has this mailing.")
            _exit_for_uncertain(plan)
            return
        if plan.needs_confirmation and not yes:
            if not sys.stdin.isatty():
                raise Failure("this sends real mail through SMTP and there is no terminal to "
                              "confirm it: add --yes", EXIT_BAD_INPUT)
            click.confirm(f"Send {plan.to_send} messages now?", abort=True)
        results = asyncio.run(_send_with_progress(plan, factory, journal, via_settings, quiet))
    _results_table(results, f"Mailing {mailing.id}")
    code = _exit_code(results)
    if code != EXIT_OK:
        click.echo(f"To continue later, run the same command again: mailer send {kind} "
                   f"{seminar}" + (f" --via {via}" if via else ""), err=True)
    sys.exit(code)


def _exit_for_uncertain(plan: Plan) -> None:
    uncertain = sum(len(c.uncertain) for c in plan.channels)
    if uncertain:
        click.echo(f"{uncertain} messages are uncertain (a run stopped while sending them); "
                   "check 'mailer status', then use --resend-uncertain to send them again.",
                   err=True)
        sys.exit(EXIT_FAILED)


def _exit_code(results: list[ChannelResult]) -> int:
    if any(r.failed or r.error or r.uncertain for r in results):
        return EXIT_FAILED
    if any(r.deferred for r in results):
        return EXIT_TEMPFAIL
    return EXIT_OK


async def _send_with_progress(plan: Plan, factory: Any, journal: Any, via: Any,
                              quiet: bool) -> list[ChannelResult]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from mailer.campaign import send_plan

    if quiet:
        return await send_plan(plan, factory, journal, via=via)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(),
                  console=_console(stderr=True)) as progress:
        tasks = {c.member.id: progress.add_task(c.member.short_name or c.member.name,
                                                total=len(c.to_send))
                 for c in plan.channels if c.to_send}

        def advance(member_id: str, email: str, outcome: str) -> None:
            progress.advance(tasks[member_id])

        return await send_plan(plan, factory, journal, via=via, on_progress=advance)


@main.command()
@click.argument("mailing", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_state
@reports_errors
def status(state: State, mailing: str | None, as_json: bool) -> None:
    """Where mailings stand: per member and state, from the journal."""
    from rich.table import Table

    from mailer.journal import STATES, Journal

    network = state.network
    with Journal.in_state_dir(network.state_dir) as journal:
        mailings = [mailing] if mailing else journal.mailings()
        data = {m: journal.counts(m) for m in mailings}
        problems = {m: [d for d in journal.deliveries(m).values()
                        if d.state in ("failed", "sending", "deferred")] for m in mailings}
    if as_json:
        click.echo(json.dumps({m: {"members": data[m], "problems": [
            {"email": d.email, "member": d.member, "state": d.state, "reply": d.last_reply}
            for d in problems[m]]} for m in mailings}, ensure_ascii=False, indent=2))
        return
    if not mailings:
        click.echo("No mailings yet.")
        return
    console = _console()
    for m in mailings:
        table = Table(title=f"Mailing {m}", title_justify="left")
        table.add_column("member")
        for s in STATES:
            table.add_column(s, justify="right")
        for member_id, counts in sorted(data[m].items()):
            table.add_row(member_id, *(str(counts.get(s, 0)) for s in STATES))
        console.print(table)
        for d in problems[m]:
            label = "uncertain" if d.state == "sending" else d.state
            console.print(f"{label:9} {d.email} ({d.member}): {d.last_reply or ''}", markup=False)
