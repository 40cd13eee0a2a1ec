"""Merging the members' lists: 13 lists, 100,000 rows, 20% overlap, mixed formats.

The lists are what members really send: UTF-8, UTF-8 with BOM and Windows-1252; comma,
semicolon and tab; Swedish and English headers; one .xlsx with a title row; one .vcf of
contacts (vCard 2.1 with quoted-printable names and 3.0); one pasted To: line; a few
invalid and role addresses. The baseline is the obvious program: csv.DictReader (openpyxl for the
workbook) and email-validator called on every row.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

TITLE = "merge 13 lists / 100,000 rows (20% overlap, mixed encodings, .xlsx, .vcf, To: line)"
ROWS = 100_000
LISTS = 13
OVERLAP = 0.20
SEED = 3

MEMBERS = [
    ("lansstyrelsen-varmland", "lansstyrelsen-varmland.example"),
    ("msb", "msb.example"),
    ("konsumentverket", "konsumentverket.example"),
    ("kau", "kau.example"),
    ("kronofogden", "kronofogden.example"),
    ("elsakerhetsverket", "elsakerhetsverket.example"),
    ("fr-karlstad", "fr-karlstad.dom.example"),
    ("tr-varmland", "tr-varmland.dom.example"),
    ("karlstads-kommun", "karlstad.example"),
]
FIRST = ["Åsa", "Björn", "Linnéa", "Per", "Maja", "Göran", "Karin", "Ölof", "Anna", "Erik", "Sofia"]
LAST = ["Östlund", "Ångström", "Berg", "Holm", "Lund", "Sjöberg", "Dahl", "Åkesson", "Ek", "Frisk"]
TITLES = ["Handläggare", "Enhetschef", "Utredare", "Jurist", "GIS-ingenjör", "Analytiker", ""]
FORMATS = [  # (encoding, delimiter, header)
    ("utf-8", ",", ["email", "name", "organisation", "title", "language", "segment"]),
    ("windows-1252", ";", ["E-postadress", "Förnamn", "Efternamn", "Förvaltning", "Befattning"]),
    ("utf-8-sig", "\t", ["E-post", "Namn", "Organisation", "Titel", "Språk"]),
]
DATA_VERSION = "4"
# Which lists are not CSV: the last three, by their index.
SUFFIXES = {LISTS - 1: "xlsx", LISTS - 2: "vcf", LISTS - 3: "txt"}


def _address(rng: random.Random, n: int, domains: list[str]) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}{n}".lower()
    local = local.translate(str.maketrans("åäöé", "aaoe"))
    roll = rng.random()
    if roll < 0.004:
        return local + "." + rng.choice(domains)  # no @
    if roll < 0.006:
        return f"{local}@{rng.choice(domains).split('.')[0]}"  # no dot in the domain
    if roll < 0.010:
        return f"info{n}@{rng.choice(domains)}"
    if roll < 0.012:
        return f"{local}@gmial.com"
    return f"{local}@{rng.choice(domains)}"


def prepare(data: Path) -> None:
    stamp = data / "version"
    if stamp.exists() and stamp.read_text() == DATA_VERSION:
        return
    rng = random.Random(SEED)
    external = [f"foretag{k}.example" for k in range(150)] + ["gmail.com", "outlook.com"]
    per_list = ROWS // LISTS
    lists: list[tuple[str, str]] = []  # (member id, file name)
    for i in range(LISTS):
        member = MEMBERS[i % len(MEMBERS)]
        suffix = SUFFIXES.get(i, "csv")
        lists.append((member[0], f"list{i:02d}-{member[0]}.{suffix}"))
    people: list[list[tuple[str, str, str, str]]] = []  # per list: (email, first, last, title)
    serial = 0
    for i, (member_id, _) in enumerate(lists):
        domain = dict(MEMBERS)[member_id]
        count = per_list + (ROWS - per_list * LISTS if i == 0 else 0)
        rows = []
        for _ in range(count):
            if i and rng.random() < OVERLAP * LISTS / (LISTS - 1) * i / LISTS * 2:
                # someone already on an earlier list, sometimes in capitals
                earlier = rng.choice(people[rng.randrange(i)])
                email = earlier[0].upper() if rng.random() < 0.2 else earlier[0]
                rows.append((email, *earlier[1:]))
                continue
            serial += 1
            domains = [domain] * 6 + external
            rows.append(
                (
                    _address(rng, serial, domains),
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    rng.choice(TITLES),
                )
            )
        people.append(rows)
    for i, ((member_id, name), rows) in enumerate(zip(lists, people, strict=True)):
        path = data / name
        if name.endswith(".xlsx"):
            _write_xlsx(path, member_id, rows)
        elif name.endswith(".vcf"):
            _write_vcards(path, member_id, rows)
        elif name.endswith(".txt"):
            _write_to_line(path, rows)
        else:
            _write_csv(path, FORMATS[i % len(FORMATS)], member_id, rows)
    _write_network(data, lists)
    stamp.write_text(DATA_VERSION)


def _values(header: list[str], member: str, row: tuple[str, str, str, str]) -> list[str]:
    email, first, last, title = row
    if "Förnamn" in header:
        return [email, first, last, member, title]
    extra = ["sv", "public"] if "segment" in header else ["sv"]
    return [email, f"{first} {last}", member, title, *extra][: len(header)]


def _write_csv(
    path: Path, fmt: tuple[str, str, list[str]], member: str, rows: list[tuple[str, ...]]
) -> None:
    encoding, delimiter, header = fmt
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(_values(header, member, row))  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue().encode(encoding))


def _write_xlsx(path: Path, member: str, rows: list[tuple[str, ...]]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.append([f"Deltagarlista {member}"])
    ws.merge_cells("A1:E1")
    ws.append([])
    header = FORMATS[1][2]
    ws.append(header)
    for row in rows:
        ws.append(_values(header, member, row))  # type: ignore[arg-type]
    book.save(path)


def _write_vcards(path: Path, member: str, rows: list[tuple[str, ...]]) -> None:
    """Contacts as a phone or Outlook saves them: 2.1 with quoted-printable names, and 3.0."""
    import quopri

    cards = []
    for n, (email, first, last, title) in enumerate(rows):
        if n % 2:
            cards.append(
                f"BEGIN:VCARD\r\nVERSION:3.0\r\nN:{last};{first};;;\r\nFN:{first} {last}\r\n"
                f"ORG:{member}\r\nTITLE:{title}\r\nEMAIL;TYPE=INTERNET,WORK:{email}\r\n"
                "END:VCARD\r\n"
            )
            continue
        fn = quopri.encodestring(f"{first} {last}".encode()).decode()
        cards.append(
            f"BEGIN:VCARD\r\nVERSION:2.1\r\n"
            f"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{fn}\r\n"
            f"ORG:{member}\r\nEMAIL;INTERNET;WORK:{email}\r\nEND:VCARD\r\n"
        )
    path.write_text("".join(cards), encoding="utf-8", newline="")


def _write_to_line(path: Path, rows: list[tuple[str, ...]]) -> None:
    """A To: line pasted from a mail program: "Last, First" quoted, wrapped every few."""
    entries = [
        f'"{last}, {first}" <{email}>' if n % 3 else f"{first} {last} <{email}>"
        for n, (email, first, last, _) in enumerate(rows)
    ]
    lines = ["; ".join(entries[i : i + 4]) + ";" for i in range(0, len(entries), 4)]
    path.write_text("To: " + "\n ".join(lines) + "\n", encoding="utf-8")


def _write_network(data: Path, lists: list[tuple[str, str]]) -> None:
    parts = [
        '[network]\nid = "bench"\nname = "Bench"\nlist_domain = "bench.example"\n',
        f'[coordinator]\nmember = "{MEMBERS[0][0]}"\nname = "K"\nemail = "k@bench.example"\n',
        '[series]\ntitle = "S"\n',
    ]
    for member_id, domain in MEMBERS:
        files = ", ".join(f'"{name}"' for m, name in lists if m == member_id)
        parts.append(
            f'[[members]]\nid = "{member_id}"\nname = "{member_id}"\ndomains = ["{domain}"]\n'
            f'lists = [{files}]\n[members.channel]\ntype = "maildir"\n'
            f'path = "outbox/{member_id}"\nfrom = "X <x@{domain}>"\n'
        )
    (data / "network.toml").write_text("\n".join(parts), encoding="utf-8")


# -- the cases ------------------------------------------------------------------------------

EMAIL_HEADERS = {"email", "e-post", "e-postadress", "mejl", "mail", "e-mail"}


def naive(data: Path) -> dict[str, int]:
    """csv.DictReader (openpyxl for .xlsx) and validate_email on every row."""
    from email_validator import EmailNotValidError, validate_email

    people: dict[str, str] = {}
    invalid = 0
    for path in sorted(data.glob("list*")):
        for record in _naive_rows(path):
            key = next((k for k in record if k and k.strip().lower() in EMAIL_HEADERS), None)
            if key is None:
                continue
            try:
                email = validate_email(record[key] or "", check_deliverability=False).normalized
            except EmailNotValidError:
                invalid += 1
                continue
            people.setdefault(email.lower(), path.name)
    return {"people": len(people), "invalid": invalid}


def _naive_rows(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".vcf":
        import vobject

        cards = vobject.readComponents(path.read_text(encoding="utf-8"))
        return [{"email": c.email.value} for c in cards if "email" in c.contents]
    if path.suffix == ".txt":
        from email.utils import getaddresses

        text = path.read_text(encoding="utf-8").removeprefix("To:").replace(";", ",")
        return [{"email": address} for _, address in getaddresses([text]) if address]
    if path.suffix == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = [["" if v is None else str(v) for v in r] for r in book.active.values]
        book.close()
        start = next(i for i, r in enumerate(rows) if r and r[0].lower() in EMAIL_HEADERS)
        return [dict(zip(rows[start], r, strict=False)) for r in rows[start + 1 :]]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    return list(csv.DictReader(io.StringIO(text, newline=""), dialect=dialect))


def mailer(data: Path) -> dict[str, int]:
    """mailer.recipients.merge over network.toml, with every cache emptied first."""
    from mailer import addresses, recipients
    from mailer.config import load_network

    addresses.clear_caches()
    merged = recipients.merge(load_network(data / "network.toml"))
    invalid = sum(len(r.invalid) for r in merged.reports)
    return {"people": len(merged.people), "invalid": invalid}


CASES = {
    "naive: DictReader + validate_email per row": naive,
    "mailer: recipients.merge (cold caches)": mailer,
}
TARGETS = {"mailer: recipients.merge (cold caches)": (2.0, 300.0)}
