"""The state folder's SQLite stores: one way to open them, and an identity that remembers them.

Every store (the journal, the opt-out list) is opened by :func:`connect`: the folder
owner-only (0700), the file owner-only (0600), WAL, and a bounded wait for a lock held by
another process (``MAILER_BUSY_TIMEOUT`` seconds, 10 by default).

A store that vanished or was truncated must never be taken for a new one: an empty
journal mails everyone again, an empty opt-out list mails the people who said no. So
each folder that holds a store also holds ``identity.json``: a random id and the names
of the stores created there. Each database carries the same id in its ``meta`` table.
Opening a store the identity names, when the file is missing, empty, a folder or carries
another id, raises :class:`StateError` saying how to restore it; :func:`start_anew` is
the explicit way to begin that store again (``mailer state reset FILE``). A folder
without an identity is new (or from before identities) and simply starts, unless what
earlier runs leave (another store carrying an identity, delivery.log, send locks, a
rehearsal journal) says the identity was lost: then a missing store is refused, and so is
a store made under the lost identity, until the folder is restored or its identity
rebuilt (:func:`rebuild_identity`, ``mailer state reset .mailer/identity.json``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mailer.errors import StateError, StateLockedError
from mailer.i18n import N_, _

IDENTITY = "identity.json"
BUSY_TIMEOUT_ENV = "MAILER_BUSY_TIMEOUT"
DEFAULT_BUSY_TIMEOUT = 10.0
_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
# What a store was being used for when it failed (:func:`error`'s ``doing``): the stores
# name these, in English; the catalogue has them from here, so the line speaks the
# person's language ("kan inte öppna journalen: disken är full").
ACTIONS = (
    N_("create the state folder"),
    N_("write the state folder's identity"),
    N_("set the store aside"),
    N_("open the journal"),
    N_("write the journal"),
    N_("compact the journal"),
    N_("open the suppression list"),
    N_("read the suppression list"),
    N_("write the suppression list"),
    N_("compact the suppression list"),
)


def private_dir(path: Path) -> Path:
    """Create the state folder readable by its owner only: it holds personal data.

    Raises OSError (a cache may shrug it off); :func:`state_folder` says it in one line.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:  # a read-only mount may be right already
        os.chmod(path, 0o700)
    return path


def state_folder(path: Path) -> Path:
    """:func:`private_dir` for a state folder: a failure is one StateError line."""
    try:
        return private_dir(path)
    except OSError as exc:
        raise error(exc, path, "create the state folder") from None


def busy_timeout() -> float:
    """How long to wait for another process's write lock, in seconds."""
    raw = os.environ.get(BUSY_TIMEOUT_ENV, "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_BUSY_TIMEOUT
    except ValueError:
        return DEFAULT_BUSY_TIMEOUT


def restore_hint(path: Path) -> str:
    return _(
        "restore the state folder from your backup beside network.toml, e.g. "
        "'cp -a /backup/mailer-DATE/. {folder}/', or start this store anew "
        "with 'mailer state reset {path}'"
    ).format(folder=path.parent, path=path)


def error(exc: sqlite3.Error | OSError, path: Path, doing: str) -> StateError:
    """One line for what went wrong with a store, and what to do about it.

    ``doing`` is one of :data:`ACTIONS` ("write the journal"), translated here.
    """
    text = str(exc) if isinstance(exc, sqlite3.Error) else (exc.strerror or str(exc))
    lowered = text.lower()
    doing = _(doing)
    if "locked" in lowered or "busy" in lowered:
        return StateLockedError(
            _("cannot {doing}: another mailer process is using it (waited {seconds} s)").format(
                doing=doing, seconds=f"{busy_timeout():g}"
            ),
            path=path,
            hint=_("wait for it to finish or stop it, then run the command again"),
        )
    if "full" in lowered or "no space" in lowered or ("i/o" in lowered and _no_space(path)):
        return StateError(
            _("cannot {doing}: the disk is full").format(doing=doing),
            path=path,
            hint=_("free disk space, then run again"),
        )
    if any(word in lowered for word in ("readonly", "read-only", "permission")):
        return StateError(
            _("cannot {doing}: the state folder is read-only").format(doing=doing),
            path=path,
            hint=_("make the folder writable by the user running mailer"),
        )
    line = _("cannot {doing}: {problem}").format(doing=doing, problem=text)
    if "not a database" in lowered or "malformed" in lowered:
        return StateError(line, path=path, hint=restore_hint(path))
    return StateError(line, path=path)


def _no_space(path: Path) -> bool:
    # SQLite reports a failed write to a full disk as a plain I/O error, often.
    try:
        return os.statvfs(path.parent).f_bavail == 0
    except OSError:
        return False


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The one transaction style of every store: BEGIN IMMEDIATE, so a writer waits for
    the lock at the start (bounded) rather than failing half-way."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def salt(db: sqlite3.Connection) -> bytes:
    """The store's random key for salted hashes of addresses, made on first use.

    Read before written: opening a store must not wait for another process's write lock.
    """
    row = db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()
    if row is None:
        with transaction(db):
            db.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(32),))
        row = db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()
    return bytes.fromhex(str(row[0]))


Migration = Callable[[sqlite3.Connection], None]  # one numbered step: _m001_initial, ...


def migrate(db: sqlite3.Connection, steps: Sequence[Migration]) -> None:
    """Apply the steps a store has not had yet, each in its own transaction, and record
    each by name (``m001_initial``) so it is never applied twice."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {r[0] for r in db.execute("SELECT name FROM migrations")}
    for step in steps:
        name = step.__name__.lstrip("_")
        if name in done:
            continue
        with transaction(db):
            # Another process opening the new store at the same moment may have applied
            # it since the list was read: asked again under the write lock.
            if db.execute("SELECT 1 FROM migrations WHERE name=?", (name,)).fetchone():
                continue
            step(db)
            now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
            db.execute("INSERT INTO migrations VALUES (?, ?)", (name, now))


def open_store(
    path: Path, *, what: str, steps: Sequence[Migration]
) -> tuple[sqlite3.Connection, bytes]:
    """Connect to a store, bring its schema up to date and read its salt: the connection
    and the salt, or one StateError line (the connection closed)."""
    db = connect(path, what=what)
    try:
        migrate(db, steps)
        return db, salt(db)
    except sqlite3.Error as exc:
        db.close()
        raise error(exc, path, f"open {what}") from None
    except StateError:
        db.close()
        raise


# -- identity ------------------------------------------------------------------------


@dataclass(slots=True)
class Identity:
    id: str
    stores: dict[str, str] = field(default_factory=dict)  # file name -> created at

    @classmethod
    def read(cls, folder: Path) -> Identity | None:
        path = folder / IDENTITY
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["id"]), {str(k): str(v) for k, v in data["stores"].items()})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise StateError(
                _("the state folder's identity file is damaged"),
                path=path,
                hint=restore_hint(path),
            ) from None

    def write(self, folder: Path) -> None:
        path = folder / IDENTITY
        tmp = path.with_name(IDENTITY + ".tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"id": self.id, "stores": self.stores}, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise error(exc, path, "write the state folder's identity") from None


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    # Two processes opening stores of a new folder at once must not each write an identity.
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def known(path: Path) -> bool:
    """Whether this store exists, or the folder's identity says it should; StateError
    when neither the store nor the identity is there but earlier runs left traces."""
    if path.exists():
        return True
    if not path.parent.is_dir():
        return False
    identity = Identity.read(path.parent)
    if identity is None:
        _refuse_if_traces(path)
        return False
    return path.name in identity.stores


# What earlier runs leave in a state folder besides its stores and identity: the stores'
# WAL files, the delivery log, the send locks, stores set aside, the rehearsal journal
# and a member's bundle journals. (The CSS cache, 'inlined', is not a trace: a preview
# makes it before anything is stored.)
_TRACES = (
    "*.sqlite3",
    "*.sqlite3-wal",
    "*.sqlite3-shm",
    "*.set-aside-*",
    "delivery.log",
    "sending-*.lock",
    "rehearsal",
    "bundles",
)


def _state_id(path: Path) -> str | None:
    """The identity a store carries; None for a store from before identities (or one
    that cannot be read: opening it says what is wrong)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = db.execute("SELECT value FROM meta WHERE key='state_id'").fetchone()
        return str(row[0]) if row else None
    except sqlite3.Error:
        return None
    finally:
        db.close()


def traces(path: Path) -> list[str]:
    """What earlier runs left in the folder of the missing store ``path``: the names, or
    [] for a folder that is new (or from before identities: a store there carries none)."""
    folder = path.parent
    found = sorted({t.name for pattern in _TRACES for t in folder.glob(pattern)} - {path.name})
    stores = [folder / name for name in found if name.endswith(".sqlite3")]
    if stores and not any(_state_id(store) for store in stores):
        return []  # a folder from before identities: its stores are adopted as they open
    # A store's WAL beside it says nothing more (and comes and goes while it is open).
    return [n for n in found if not (n.endswith(("-wal", "-shm")) and n[:-4] in found)]


def _refuse_if_traces(path: Path) -> None:
    """Refuse a store that is missing with the folder's identity, in a folder that is not
    new: the identity was lost with it, and an empty store would be taken for the old."""
    left = traces(path)
    if left:
        raise StateError(
            _(
                "is missing, and so is the state folder's {identity}, but the folder holds "
                "what earlier runs left ({traces}): it was not new"
            ).format(identity=IDENTITY, traces=", ".join(left)),
            path=path,
            hint=restore_hint(path),
        )


def _check_file(path: Path, identity: Identity | None) -> None:
    """Refuse a store file that cannot be the one this folder had."""
    listed = identity is not None and path.name in identity.stores
    if path.is_dir():
        raise StateError(_("is a folder, not a database"), path=path, hint=restore_hint(path))
    if not path.exists():
        if identity is None:
            _refuse_if_traces(path)
        if listed:
            raise StateError(
                _("is missing, although this state folder had it"),
                path=path,
                hint=restore_hint(path),
            )
        return
    size = path.stat().st_size
    if size == 0 and (listed or identity is None):
        # Without an identity (a folder from before identities) an empty file is as
        # suspicious: nothing this mailer creates stays at 0 bytes.
        raise StateError(
            _("is empty (0 bytes): it was truncated or replaced"),
            path=path,
            hint=restore_hint(path),
        )
    if size and _shorter_than_its_header(path, size):
        raise StateError(
            _("is truncated ({size} bytes, shorter than it says it is)").format(size=size),
            path=path,
            hint=restore_hint(path),
        )


def _shorter_than_its_header(path: Path, size: int) -> bool:
    """Whether an SQLite file lost its end: its header names more pages than it holds."""
    wal = path.with_name(path.name + "-wal")
    try:
        if wal.stat().st_size:
            return False  # the file may be behind its WAL, legitimately
    except FileNotFoundError:
        pass  # none, or another process's last connection just closed and removed it
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        return False  # not SQLite at all: SQLite itself says so
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counter_valid = header[24:28] == header[92:96]  # the page count is kept up to date
    return counter_valid and pages * page_size > size


def _claim(db: sqlite3.Connection, path: Path, identity: Identity | None) -> Identity:
    """Check the database's id against the folder's identity; record a new store in both."""
    db.execute(_META)
    row = db.execute("SELECT value FROM meta WHERE key='state_id'").fetchone()
    carried = str(row[0]) if row else None
    if identity is None and carried is not None:
        # Made under an identity that is gone now: which other stores went with it is
        # unknown, so nothing is opened until a person restores or rebuilds it.
        raise StateError(
            _(
                "the state folder's {identity} is missing, although this store was made "
                "with one: other stores of this folder may be lost with it"
            ).format(identity=IDENTITY),
            path=path,
            hint=_(
                "restore the state folder from your backup, e.g. 'cp -a /backup/mailer-DATE/. "
                "{folder}/', or, if only {identity} was lost, 'mailer state reset {file}'"
            ).format(folder=path.parent, identity=IDENTITY, file=path.parent / IDENTITY),
        )
    if identity is None:
        identity = Identity(secrets.token_hex(16))
    elif carried is None and path.name in identity.stores:
        raise StateError(
            _("is not the database this state folder created (it carries no identity)"),
            path=path,
            hint=restore_hint(path),
        )
    if carried is not None and carried != identity.id:
        raise StateError(
            _("belongs to another state folder (its identity differs)"),
            path=path,
            hint=restore_hint(path),
        )
    if carried is None:
        with transaction(db):
            db.execute("INSERT INTO meta VALUES ('state_id', ?)", (identity.id,))
    if path.name not in identity.stores:
        identity.stores[path.name] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        identity.write(path.parent)
    return identity


def connect(path: Path, *, what: str) -> sqlite3.Connection:
    """Open (or create) the store at ``path``; ``what`` names it in errors ("the journal")."""
    folder = state_folder(path.parent)
    timeout = busy_timeout()
    db: sqlite3.Connection | None = None
    try:
        with _folder_lock(folder):
            identity = Identity.read(folder)
            _check_file(path, identity)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
            db = sqlite3.connect(path, isolation_level=None, timeout=timeout)
            db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; only an OS crash could lose
            # the last commits, which then replay as 'sending' (uncertain), never as lost.
            db.execute("PRAGMA synchronous=NORMAL")
            _claim(db, path, identity)
    except (sqlite3.Error, OSError) as exc:
        if db is not None:
            db.close()
        raise error(exc, path, f"open {what}") from None
    except StateError:
        if db is not None:
            db.close()
        raise
    return db


def rebuild_identity(folder: Path) -> Identity:
    """Write the folder's identity anew from the stores it holds (the explicit way out
    when only identity.json was lost): the id they carry, and their names. A store
    missing now is taken for a new one afterwards."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        with _folder_lock(folder):
            carried = {p.name: _state_id(p) for p in sorted(folder.glob("*.sqlite3"))}
            ids = sorted({i for i in carried.values() if i})
            if len(ids) > 1:
                raise StateError(
                    _("its stores belong to different state folders; restore it from backup"),
                    path=folder,
                    hint=restore_hint(folder / IDENTITY),
                )
            identity = Identity(ids[0] if ids else secrets.token_hex(16))
            identity.stores = {name: now for name, i in carried.items() if i in ids}
            identity.write(folder)
    except OSError as exc:
        raise error(exc, folder / IDENTITY, "write the state folder's identity") from None
    return identity


def start_anew(path: Path) -> Path | None:
    """Set a store aside so that the next open creates it empty; where it went, if anywhere.

    The explicit way out of a refused store: the damaged file (and its WAL) is kept
    beside, renamed, never deleted, and the identity forgets the store.
    """
    folder = path.parent
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside: Path | None = None
    try:
        with _folder_lock(folder):
            for suffix in ("", "-wal", "-shm"):
                part = path.with_name(path.name + suffix)
                if part.exists() or part.is_symlink():
                    target = path.with_name(f"{path.name}.set-aside-{stamp}{suffix}")
                    os.replace(part, target)
                    aside = aside or target
            identity = Identity.read(folder)
            if identity is not None and identity.stores.pop(path.name, None) is not None:
                identity.write(folder)
    except OSError as exc:
        raise error(exc, path, "set the store aside") from None
    if identity is None and traces(path):
        # The identity went with the store: rebuilt from the stores left, without this one.
        rebuild_identity(folder)
    return aside
