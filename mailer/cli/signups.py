"""``mailer signups list``: who signed up on the seminars' public pages, and to what."""

from __future__ import annotations

import json

import click

from mailer.cli._common import State, pass_state, reports_errors, say
from mailer.cli.translated import Group, option
from mailer.i18n import _, ngettext


@click.group(cls=Group)
def signups() -> None:
    """Public sign-ups from the seminars' web pages (mailer serve), with their consent."""


@signups.command("list")
@option("--seminar", type=int, help="Only the sign-ups for this seminar.")
@option("--json", "as_json", is_flag=True, help="Print the sign-ups as JSON (ISO 8601 times).")
@pass_state
@reports_errors
def list_(state: State, seminar: int | None, as_json: bool) -> None:
    """List who signed up, when, whether they confirmed, and the words they agreed to.

    A sign-up counts once its link in the confirmation mail was used; the consent text is
    stored word for word, in the language the person read it in. Nobody who ticked no
    box gets later invitations.
    """
    import shutil
    import textwrap

    from mailer.dates import stored_moment
    from mailer.journal import Journal

    network = state.network
    with Journal.in_state_dir(network.state_dir) as journal:
        found = [s for s in journal.all_signups() if seminar is None or s.seminar == seminar]
    if as_json:
        keys = ("seminar", "email", "name", "organisation", "language")
        rows = [
            {**{k: getattr(s, k) for k in keys}, "requested_at": s.requested_at}
            | {"confirmed_at": s.confirmed_at, "consent_text": s.consent_text}
            for s in found
        ]
        say(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not found:
        say(_("No sign-ups yet."))
        return
    zone = network.tz
    width = max(40, min(shutil.get_terminal_size().columns, 100))
    for s in found:
        who = f"{s.name} <{s.email}>" + (f", {s.organisation}" if s.organisation else "")
        say(_("Seminar {number}: {who}").format(number=s.seminar, who=who))
        asked = stored_moment(s.requested_at, zone)
        say("  " + _("Signed up {when}").format(when=asked))
        if s.confirmed_at:
            done = stored_moment(s.confirmed_at, zone)
            say("  " + _("Confirmed {when}").format(when=done))
        else:
            say("  " + _("Not confirmed: the link in the mail was not used"))
        if s.consent_text:
            agreed = _("Agreed to: “{text}”").format(text=s.consent_text)
            # Whole words on each line at the terminal's width (the text is a sentence).
            say(textwrap.fill(agreed, width, initial_indent="  ", subsequent_indent="    "))
        else:
            say("  " + _("Agreed to no later invitations"))
    confirmed = sum(1 for s in found if s.confirmed_at)
    say(
        ngettext(
            "{n} sign-up; confirmed: {confirmed}.",
            "{n} sign-ups; confirmed: {confirmed}.",
            len(found),
        ).format(n=len(found), confirmed=confirmed)
    )
