"""A workspace: the folder with network.toml, templates/, recipients/ and seminars/."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.config import Network
from mailer.errors import ConfigError
from mailer.i18n import _

if TYPE_CHECKING:
    from mailer.campaign.mailing import Mailing

CONTENTS = ("templates", "recipients", "seminars", "newsletters")
# A file in the workspace, not a line a person reads in the terminal: English, like the
# rest of the workspace's comments.
GITIGNORE = """\
# Personal data and generated mail: never commit.
.mailer/
outbox/
merged*.csv
# Mailing bundles and member reports hold personal data.
bundles/
*.zip
*-report.json
# Secrets: the network's bundle key (mailer bundle keygen), certificates' private keys.
*.key
*.pem
"""


def example_workspace() -> Path:
    """The bundled example network: inside the wheel, or the repository in a checkout."""
    packaged = Path(__file__).parent / "example"
    if (packaged / "network.toml").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent


def create_workspace(directory: Path, *, force: bool = False) -> Path:
    """Copy the example network into ``directory``; return its network.toml."""
    source = example_workspace()
    target = directory / "network.toml"
    if target.exists() and not force:
        raise ConfigError(_("already exists"), path=target, hint=_("use --force to overwrite"))
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "network.toml", target)
    for folder in CONTENTS:
        shutil.copytree(source / folder, directory / folder, dirs_exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text(GITIGNORE, encoding="utf-8")
    return target


@dataclass(frozen=True, slots=True)
class CheckSummary:
    members: int
    seminars: int
    people: int
    invalid_rows: int
    suppressed: int
    sending_members: int
    variants: int
    # Personal links that `mailer serve` will not answer: not under [web] base_url.
    outside_web: tuple[str, ...] = ()
    # The personal links in the mails (unsubscribe_url, registration_url), all of them
    # under this [web] base_url; None when there are none, or no [web].
    links_under: str | None = None
    # The mails carry personal links, but there is no [web]: mailer serve cannot answer.
    links_without_web: bool = False
    # Why the mails cannot be sent yet: their links need the token key, which is not set.
    token_key: str | None = None


def check_workspace(network: Network) -> CheckSummary:
    """Read every list and render every variant of every mail kind; raise on the first error."""
    from mailer.branding import MIN_CONTRAST, colour_problems
    from mailer.config import locate_key
    from mailer.web import outside_links

    for problem in colour_problems(network):
        raise ConfigError(
            str(problem),
            path=network.path,
            line=locate_key(network.path.read_text(encoding="utf-8"), problem.key),
            hint=_("choose a darker colour: white text needs {ratio}:1 to be readable").format(
                ratio=MIN_CONTRAST
            ),
        )
    from mailer.inlining import inline_cache
    from mailer.render import Renderer
    from mailer.suppression import merge_without_suppressed

    merged = merge_without_suppressed(network)
    people = merged.by_member()
    renderer = Renderer(network, inline_cache=inline_cache(network))
    mailings = every_mailing(network)
    pairs = [(lang, m) for m in network.members for lang in ("sv", "en")]
    variants = 0
    for mailing in mailings:
        renderer.prepare(
            mailing.kind,
            mailing.seminar,
            pairs,
            revision=mailing.revision,
            audience=mailing.audience.status,
        )
        variants += len(pairs)
    outside = tuple(outside_links(network))
    return CheckSummary(
        members=len(network.members),
        seminars=len(network.seminars),
        people=len(merged.people),
        invalid_rows=sum(len(r.invalid) for r in merged.reports),
        suppressed=merged.suppressed,
        sending_members=sum(1 for m in network.members if people.get(m.id)),
        variants=variants,
        outside_web=outside,
        links_under=network.web.base_url
        if network.web is not None and personal_links(network) and not outside
        else None,
        links_without_web=network.web is None and personal_links(network),
        token_key=_token_key_problem(network),
    )


def every_mailing(network: Network) -> list[Mailing]:
    """Every mailing the network's seminars and newsletters can send, each audience that
    renders differently once."""
    from mailer.audience import Audience
    from mailer.campaign.mailing import kinds_for, mailing_for

    mailings: list[Mailing] = [
        mailing_for(network, kind, seminar.number)
        for seminar in network.seminars
        for kind in kinds_for(seminar)
    ]
    # The reminder speaks differently to those who have not registered yet.
    mailings += [
        mailing_for(network, "reminder", s.number, Audience("not-registered"))
        for s in network.seminars
        if not s.cancelled
    ]
    mailings += [mailing_for(network, "newsletter", n.number) for n in network.newsletters]
    return mailings


def personal_links(network: Network) -> bool:
    """Whether the mails carry personal links (one-click unsubscribe, registration), which
    are signed with the network's token key."""
    return bool(network.network.unsubscribe_url) or any(
        s.registration_url for s in network.seminars
    )


def _token_key_problem(network: Network) -> str | None:
    from mailer.tokens import missing_key

    if not personal_links(network):
        return None
    problem = missing_key(network, why="every personal link in the mails")
    return str(problem) if problem is not None else None
