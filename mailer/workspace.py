"""A workspace: the folder with network.toml, templates/, recipients/ and seminars/."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mailer.config import Network
from mailer.errors import ConfigError

CONTENTS = ("templates", "recipients", "seminars", "newsletters")
GITIGNORE = "# personal data and generated mail: never commit\n.mailer/\noutbox/\n"


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
        raise ConfigError("already exists", path=target, hint="use --force to overwrite")
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


def check_workspace(network: Network) -> CheckSummary:
    """Read every list and render every variant of every mail kind; raise on the first error."""
    from mailer.audience import Audience
    from mailer.branding import MIN_CONTRAST, colour_problems
    from mailer.campaign.mailing import Mailing, kinds_for, mailing_for
    from mailer.config import locate_key
    from mailer.web import outside_links

    for problem in colour_problems(network):
        raise ConfigError(
            str(problem),
            path=network.path,
            line=locate_key(network.path.read_text(encoding="utf-8"), problem.key),
            hint=f"choose a darker colour: white text needs {MIN_CONTRAST}:1 to be readable",
        )
    from mailer.inlining import inline_cache
    from mailer.render import Renderer
    from mailer.suppression import merge_without_suppressed

    merged = merge_without_suppressed(network)
    people = merged.by_member()
    renderer = Renderer(network, inline_cache=inline_cache(network))
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
    return CheckSummary(
        members=len(network.members),
        seminars=len(network.seminars),
        people=len(merged.people),
        invalid_rows=sum(len(r.invalid) for r in merged.reports),
        suppressed=merged.suppressed,
        sending_members=sum(1 for m in network.members if people.get(m.id)),
        variants=variants,
        outside_web=tuple(outside_links(network)),
    )
