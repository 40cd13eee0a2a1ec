"""One language per run: the list, opt-out and person commands say every line in the
language chosen, none in the other (a word list of each language's common words)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"
MAJA = "maja.lund@msb.example"

# Words only the other language uses, in the kinds of lines these commands print.
_ENGLISH = """the and of to in on from is are was were no not list lists people address addresses
    added already invalid valid warning conflict kept over sender rows row suppressed final
    encoding read columns email name opt out left unsubscribed reason note mailings sent
    named yes since none use record personal about nothing more than space contains typo
    did you mean role perhaps holds each gets mail member members check line lines files
    error"""
_SWEDISH = """och är inte ingen inga till från på av för med har lista listan listor spärrlistan
    spärrlista adress adresser tillagd tillagda fanns redan där giltiga ogiltiga ogiltig
    varning konflikt behölls framför avsändaren rader rad spärrade spärrad slutligt kodning
    kolumner läst namn personer lämnades utanför avregistrerad orsak anteckning utskick
    skickat sedan ja nej personuppgifter om finns använd uppgifter saknar mellanslag mer än
    ett rolladress behålls läses kanske medlem medlemmarnas kontroll filerna fel får
    e-post"""
ENGLISH, SWEDISH = set(_ENGLISH.split()), set(_SWEDISH.split())

_LOG_LINE = re.compile(r"\s*\d{4}-\d\d-\d\dT\d\d:\d\d")
NETWORK = "Öppna data Värmland"  # the example network's name
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def words(text: str) -> set[str]:
    """The words a person reads: data quoted from the files, addresses, paths and names
    the lists hold are not the tool's words."""
    found: set[str] = set()
    for line in text.splitlines():
        if _LOG_LINE.match(line):  # a delivery log line, quoted verbatim in an export
            continue
        line = _QUOTED.sub(" ", line).replace(NETWORK, " ")
        for token in line.split():
            if any(c in token.strip(":.,;()") for c in "@/\\._"):  # an address, a path
                continue
            found |= {w.casefold() for w in _WORD.findall(token)}
    return found


def run_all(cli, workspace: Path, language: str, tmp_path: Path) -> str:
    """Every command of this area, as a coordinator runs them, in one language."""
    outputs = []

    def run(*args: str, code: int | None = 0) -> None:
        result = cli("--language", language, *args)
        if code is not None:
            assert result.exit_code == code, (args, result.output, result.stderr)
        outputs.append(result.stdout + result.stderr)

    sent = cli("send", "invitation", "2", "--yes")  # the example's channels are Maildirs
    assert sent.exit_code == 0, sent.output + sent.stderr
    run("unsubscribe", "tom.walker@msb.example")
    run("unsubscribe", "per.holm@kau.example", "johan.berg@msb.example")
    run("unsubscribe", "nobody", code=2)
    bad = tmp_path / "opt-outs.txt"
    bad.write_text("# by phone\nanna.berg@msb.example\nnot an address\n", encoding="utf-8")
    run("unsubscribe", "--file", str(bad), code=2)
    run("suppressed")
    run("recipients", "merge", code=0)
    lists = sorted(str(p) for p in (workspace / "recipients").glob("*.csv"))
    run("recipients", "check", *lists, str(CORPUS / "bad-addresses.csv"), code=1)
    run("recipients", "check", str(CORPUS / "empty.csv"), code=2)
    run("person", "export", MAJA)
    run("person", "export", "tom.walker@msb.example")
    run("recipients", "hygiene", code=None)
    return "\n".join(outputs)


@pytest.mark.parametrize(("language", "other"), [("sv", ENGLISH), ("en", SWEDISH)])
def test_every_line_is_in_the_language_chosen(cli, workspace, tmp_path, language, other):
    text = run_all(cli, workspace, language, tmp_path)
    strays = sorted(words(text) & other)
    lines = [line for line in text.splitlines() if words(line) & other]
    assert not strays, f"{language}: words of the other language {strays} in:\n" + "\n".join(lines)
