"""Backups that restore (docs/BACKUP.md): `backup` copies the database into one file while the app runs, and
`restore` checks a backup in a scratch place (its integrity, its schema revision, its audit chain and data against
the record) before it replaces anything; a backup that does not verify is refused, and the target is untouched.

A backup is one file whose first bytes say what it holds:
- SQLite: a SQLite database ("SQLite format 3"), made with SQLite's online backup API, whose header's
  application_id is BACKUP_MARK ("RSKB") and whose user_version is a CRC-32 of the whole file (those four bytes
  read as zero). Both are written last, once the copy is whole: the temporary file of a backup that was stopped part
  way is refused even where its pages happen to be all there, and any byte changed or lost since is found, even in a
  page's unused space, which neither SQLite's integrity check nor the audit verify reads. The checksum finds
  accidents, not tampering (anyone can compute it again): the audit chain's key is what finds tampering.
- PostgreSQL: a pg_dump archive in custom format ("PGDMP"), followed by a line of our own, `RISK-BACKUP
  sha256=<SHA-256 of the archive before it>`, written last. pg_restore ignores bytes after the archive (it reads
  by the offsets in its table of contents), so the file is still an ordinary archive for pg_restore; the line is
  the mark of a finished backup and its checksum. Without it, damage in the parts of an archive that a restore
  skips or tolerates (owners, table-of-contents fields) went through unnoticed here, 10 single-byte changes in 39.

Either is written to a temporary file beside the target (`.NAME.XXXX.part`) and renamed only when complete, so a
backup killed part way leaves no file under the name asked for. The PostgreSQL tools get the URL's credentials
through the environment (PGPASSWORD and the rest), never on their command line, which other users can read.

Neither backup nor restore writes a row: they copy whole databases, so nothing here goes through risk/store.py.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import secrets
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, inspect, make_url, text
from sqlalchemy.pool import NullPool

from risk.db import BUSY_TIMEOUT_MS, make_engine, migrate
from risk.errors import AuditError, AuditKeyError, RefusedError

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDMP_MAGIC = b"PGDMP"
BACKUP_MARK = 0x52534B42  # "RSKB": the application_id of a finished SQLite backup
STEP_PAGES = 1024  # SQLite pages copied per step (4 MiB at the default page size)
NOT_COUNTED = ("alembic_version",)  # a table that every migrated database has a row in, empty or not

Progress = Callable[[int, int], None]  # (done, total): pages on SQLite, tables on PostgreSQL


class BackupError(RefusedError):
    """A backup could not be made, or a backup is refused by restore; the message says why, and that nothing was
    changed."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup holds: its file, the engine it is from, its size, the audit head and the rows per table."""

    path: Path
    kind: str  # "sqlite" or "postgresql"
    size: int
    head: str | None
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return self.tables.get("audit_event", 0)

    @property
    def rows(self) -> int:
        return sum(n for t, n in self.tables.items() if t != "audit_event")


@dataclass(frozen=True)
class RestoreReport:
    """What a restore put in place, as the verify of the restored database found it."""

    kind: str
    head: str | None
    events: int
    rows: int
    replaced: dict[str, int]  # the rows per table the target held before (empty: it was empty)
    migrated_from: str | None = None  # the backup's schema revision when it was older than this workbench's


def counts_text(tables: dict[str, int], most: int = 6) -> str:
    """`proposal 3, risk 60, score 480, ...`: the tables with the most rows first."""
    shown = sorted(((n, t) for t, n in tables.items() if n and t != "audit_event"), reverse=True)
    text_ = ", ".join(f"{t} {n:,}" for n, t in shown[:most])
    return text_ + (f" and {len(shown) - most} more tables" if len(shown) > most else "")


# --- what a file is -------------------------------------------------------------------------------------------

def kind_of(path: Path) -> str:
    """"sqlite" or "postgresql" from the file's first bytes; BackupError naming why it is neither."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file. Nothing was changed") from None
    except IsADirectoryError:
        raise BackupError(f"{path} is a folder, not a backup file. Nothing was changed") from None
    except OSError as exc:
        raise BackupError(f"{path} cannot be read ({exc.strerror or exc}). Nothing was changed") from None
    if not header:
        raise BackupError(f"{path} is empty: not a backup (a backup that was stopped before it wrote anything?). "
                          "Nothing was changed")
    if header.startswith(SQLITE_MAGIC):
        return "sqlite"
    if header.startswith(PGDMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not a backup: it is neither a SQLite backup made by `risk backup` nor a pg_dump "
                      "archive (its first bytes are neither's signature). Nothing was changed")


def _kind_of_url(url: URL) -> str:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise BackupError("an in-memory or URI-named SQLite database cannot be backed up or restored here: "
                              "give a file path (sqlite:///path/to/risk.db)")
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    raise BackupError(f"backups are made of SQLite and PostgreSQL databases; this one is {backend}")


def _url(engine_or_url: Engine | str | URL) -> URL:
    if isinstance(engine_or_url, Engine):
        return engine_or_url.url
    return make_url(engine_or_url)


def _plain(url: URL) -> str:
    return url.render_as_string(hide_password=True)


# --- files written whole or not at all ----------------------------------------------------------------------

def _temp_beside(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, target: Path) -> None:
    """Make `tmp` (complete, written) `target` in one step, durably: the file's data, then the rename, on disk."""
    _fsync(tmp)
    os.replace(tmp, target)
    with suppress(OSError):  # some file systems cannot sync a folder; the rename is still atomic
        _fsync(target.parent)


def _discard(tmp: Path) -> None:
    for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
        with suppress(FileNotFoundError):
            leftover.unlink()


def _check_target(target: Path, source: Path | None = None) -> None:
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give a file name for the backup")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} does not exist: make the folder first, or give another file name")
    if source is not None and target.resolve() == source.resolve():
        raise BackupError(f"{target} is the database itself: give another file name for the backup")


# --- backup ---------------------------------------------------------------------------------------------

def backup(engine_or_url: Engine | str | URL, path: str | Path, progress: Progress | None = None) -> BackupReport:
    """Back the database up into the file `path` while the app runs: SQLite through its online backup API, one read
    snapshot copied in steps; PostgreSQL with pg_dump in custom format. The file appears under `path` only when
    it is complete (an existing file there is replaced then). Raises BackupError saying why it could not."""
    url = _url(engine_or_url)
    target = Path(path)
    if _kind_of_url(url) == "sqlite":
        return _sqlite_backup(Path(url.database), target, progress)
    return _pg_backup(url, target, progress)


def _after_step() -> None:
    """Called after each step of a SQLite backup (a test slows the backup here to kill it part way)."""


def _sqlite_connect(path: Path, *, mode: str) -> sqlite3.Connection:
    """A plain connection to an existing file (`mode` "ro" or "rw": never creates one), our own transactions."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode={mode}", uri=True, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _sqlite_backup(source: Path, target: Path, progress: Progress | None) -> BackupReport:
    if not source.is_file():
        raise BackupError(f"there is no database at {source}: nothing to back up")
    _check_target(target, source)
    tmp = _temp_beside(target)
    try:
        src = _sqlite_connect(source, mode="rw")  # rw: a WAL database's reader needs its -shm; nothing is written
        try:
            # One read transaction held across every step: in WAL mode it does not hold writers up, and the copy is
            # of this one snapshot. Without it, each step reads afresh and any write from another connection makes
            # SQLite start the copy again (seen here: 3,945 steps instead of 27 under a steady writer).
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                def step(_status: int, remaining: int, total: int) -> None:
                    if progress is not None:
                        progress(total - remaining, total)
                    _after_step()

                src.backup(dst, pages=STEP_PAGES, progress=step)
                # a self-contained file (no -wal beside it), then the mark that says the copy is whole
                dst.execute("PRAGMA journal_mode = DELETE").fetchone()
                dst.execute(f"PRAGMA application_id = {BACKUP_MARK}")
                head, tables = _sqlite_contents(dst)
            finally:
                dst.close()
            src.execute("ROLLBACK")
        finally:
            src.close()
        seal(tmp)
        _publish(tmp, target)
    except sqlite3.Error as exc:
        _discard(tmp)
        raise BackupError(f"the backup of {source} into {target} failed ({_sqlite_reason(exc)}); no backup was "
                          "written and the database is unchanged") from None
    except BaseException:
        _discard(tmp)
        raise
    return BackupReport(path=target, kind="sqlite", size=target.stat().st_size, head=head, tables=tables)


CHECKSUM_AT = 60  # the SQLite header's user_version: four bytes "for use by applications"


def checksum(path: Path) -> int:
    """CRC-32 of the file, its checksum field read as zero."""
    with open(path, "rb") as f:
        header = bytearray(f.read(100))
        header[CHECKSUM_AT:CHECKSUM_AT + 4] = bytes(4)
        crc = zlib.crc32(header)
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def seal(path: Path) -> None:
    """Write the file's checksum into its header (into the file directly: through SQLite, the write would change
    other header bytes too)."""
    crc = checksum(path)
    with open(path, "r+b") as f:
        f.seek(CHECKSUM_AT)
        f.write(struct.pack(">I", crc))


TRAILER_PREFIX = b"\nRISK-BACKUP sha256="
TRAILER_LENGTH = len(TRAILER_PREFIX) + 64 + 1


def _sha256(path: Path, length: int | None = None) -> str:
    digest = hashlib.sha256()
    left = path.stat().st_size if length is None else length
    with open(path, "rb") as f:
        while left > 0 and (chunk := f.read(min(1 << 20, left))):
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def append_trailer(path: Path) -> None:
    """End a pg_dump archive with the line that marks it finished and holds its checksum."""
    line = TRAILER_PREFIX + _sha256(path).encode("ascii") + b"\n"
    with open(path, "ab") as f:
        f.write(line)


def _check_trailer(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(size - TRAILER_LENGTH, 0))
        tail = f.read()
    if len(tail) != TRAILER_LENGTH or not tail.startswith(TRAILER_PREFIX) or not tail.endswith(b"\n"):
        raise BackupError(
            f"{path} is a pg_dump archive but not a finished backup: it lacks the line `risk backup` ends a backup "
            "with once the archive is whole. It is the temporary file of a backup that was stopped part way "
            "(.NAME.XXXX.part), a backup cut short, or an archive made another way; to restore such an archive, "
            "load it with pg_restore into a new database, point RISK_DATABASE_URL at that and make a backup of it "
            "with `risk backup`. Nothing was changed")
    if tail[len(TRAILER_PREFIX):-1].decode("ascii", "replace") != _sha256(path, size - TRAILER_LENGTH):
        raise BackupError(f"{path} is damaged: its checksum, written when the backup was made, does not match the "
                          "archive; bytes were changed or lost since (corrupted or truncated), and it is not "
                          "restored. Nothing was changed")


def _sqlite_reason(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or type(exc).__name__
    return f"SQLite: {exc} [{name}]"


def _sqlite_contents(conn: sqlite3.Connection) -> tuple[str | None, dict[str, int]]:
    """The audit head and the rows of every table (but alembic_version) of a SQLite connection's database."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")]
    tables = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names if n not in NOT_COUNTED}
    head = None
    if "audit_event" in names:
        row = conn.execute("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1").fetchone()
        head = f"{row[0]}:{row[1]}" if row else None
    return head, tables


# --- the PostgreSQL tools -------------------------------------------------------------------------------------

# libpq's environment variables for the URL's query options that psycopg would pass on
_PG_QUERY_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
                 "sslcrl": "PGSSLCRL", "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME",
                 "options": "PGOPTIONS", "target_session_attrs": "PGTARGETSESSIONATTRS", "service": "PGSERVICE",
                 "passfile": "PGPASSFILE", "host": "PGHOST", "port": "PGPORT", "gssencmode": "PGGSSENCMODE",
                 "channel_binding": "PGCHANNELBINDING"}


def pg_environment(url: URL, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a PostgreSQL tool runs in to reach `url`'s server as its user: PGHOST, PGPORT, PGUSER,
    PGPASSWORD, PGDATABASE and the URL's query options, over `base` (default: this process's environment, as
    psycopg sees it). The password goes here, never on a command line (which `ps` shows to every user)."""
    env = dict(os.environ if base is None else base)
    for value, name in ((url.host, "PGHOST"), (url.port, "PGPORT"), (url.username, "PGUSER"),
                        (url.password, "PGPASSWORD"), (url.database, "PGDATABASE")):
        if value is not None and value != "":
            env[name] = str(value)
    for key, value in url.query.items():
        name = _PG_QUERY_ENV.get(key)
        if name is not None:
            env[name] = value if isinstance(value, str) else value[-1]
    return env


_versions: dict[str, int | None] = {}


def _tool_major(path: str) -> int | None:
    if path not in _versions:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
        except OSError:
            out = ""
        found = re.search(r"\)\s+(\d+)", out)
        _versions[path] = int(found.group(1)) if found else None
    return _versions[path]


def _pg_tool(name: str, server_major: int) -> str:
    """The path of a PostgreSQL client tool whose version is the server's or later (pg_dump refuses a newer
    server): /usr/lib/postgresql/<server's version>/bin first, then later versions there, then the PATH."""
    candidates = [f"/usr/lib/postgresql/{server_major}/bin/{name}"]
    with suppress(OSError):
        later = sorted((int(p.name) for p in Path("/usr/lib/postgresql").iterdir()
                        if p.name.isdigit() and int(p.name) > server_major), reverse=True)
        candidates += [f"/usr/lib/postgresql/{v}/bin/{name}" for v in later]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if os.access(candidate, os.X_OK) and (_tool_major(candidate) or 0) >= server_major:
            return candidate
    raise BackupError(f"{name} of PostgreSQL {server_major} or later is needed (the server's version) and none was "
                      f"found in /usr/lib/postgresql/*/bin or on the PATH: install the PostgreSQL {server_major} "
                      "client tools")


def _server_major(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a function for Popen's preexec_fn that has the tool killed when this process dies (kill -9
    included), so a killed `risk backup` does not leave pg_dump finishing a file nobody will rename."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(1)

    return preexec


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, capture_output=True, encoding="utf-8", errors="replace",
                          preexec_fn=_die_with_parent())


def _tool_error(stderr: str) -> str:
    """The tool's own error lines (not its progress), shortened: what to quote in a message."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.search(r"\b(error|fatal|FATAL|ERROR)\b", ln)] or lines[-3:]
    said = "; ".join(errors[:3])
    return said[:600] + ("..." if len(said) > 600 else "") if said else "no message"


def _pg_engine(url: URL) -> Engine:
    return make_engine(url.render_as_string(hide_password=False))


def _pg_backup(url: URL, target: Path, progress: Progress | None) -> BackupReport:
    _check_target(target)
    engine = _pg_engine(url)
    tmp = _temp_beside(target)
    try:
        try:
            pg_dump = _pg_tool("pg_dump", _server_major(engine))
        except BackupError:
            raise
        except Exception as exc:
            raise BackupError(f"the database {_plain(url)} could not be reached ({type(exc).__name__}); no backup "
                              "was written") from None
        env = pg_environment(url)
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            # pg_dump reads the snapshot of this transaction, and so do the head and the counts reported
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            proc = subprocess.Popen([pg_dump, "--format=custom", f"--file={tmp}", f"--snapshot={snapshot}",
                                     "--no-password", "--verbose"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
                                    preexec_fn=_die_with_parent())
            try:
                head, tables = _pg_contents(conn)
                total, done, said = len(tables) + 1, 0, []
                for line in proc.stderr:
                    said.append(line)
                    if "dumping contents of table" in line:
                        done += 1
                        if progress is not None:
                            progress(min(done, total - 1), total)
                proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            conn.rollback()
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed ({_tool_error(''.join(said))}); no backup was written and the "
                              "database is unchanged")
        append_trailer(tmp)
        if progress is not None:
            progress(total, total)
        _publish(tmp, target)
    except BaseException:
        _discard(tmp)
        raise
    finally:
        engine.dispose()
    return BackupReport(path=target, kind="postgresql", size=target.stat().st_size, head=head, tables=tables)


def _pg_contents(conn) -> tuple[str | None, dict[str, int]]:  # noqa: ANN001
    names = sorted(inspect(conn).get_table_names())
    tables = {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names if n not in NOT_COUNTED}
    head = None
    if "audit_event" in names:
        row = conn.execute(text("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1")).first()
        head = f"{row[0]}:{row[1]}" if row else None
    return head, tables


# --- restore ----------------------------------------------------------------------------------------------

Say = Callable[[str], None]


def _verify(engine: Engine):  # noqa: ANN202 - risk.audit.VerifyReport
    """The audit chain and the data checked against it (risk/audit.py): a VerifyReport, or AuditError naming what
    does not verify."""
    from risk.audit import verify

    return verify(engine)


def _head_revision() -> str:
    from risk.services.setup import head_revision

    return head_revision()


def _known_revisions() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return {r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()}


def _check_revision(revision: str | None, path: Path) -> bool:
    """Whether the backup at `revision` needs migrating to this workbench's schema; BackupError when it cannot be
    restored by this workbench at all."""
    head = _head_revision()
    if revision == head:
        return False
    if revision is None:
        raise BackupError(f"{path} holds no workbench schema (no migration revision): it is not a backup of this "
                          "workbench's database. Nothing was changed")
    if revision not in _known_revisions():
        raise BackupError(f"{path} is at schema revision {revision}, which this version of the workbench does not "
                          f"know (it is at {head}): restore it with the version that made it. Nothing was changed")
    return True


def restore(path: str | Path, engine_or_url: Engine | str | URL, *, overwrite: bool = False,
            say: Say | None = None) -> RestoreReport:
    """Replace the database with the backup in `path`, once the backup is checked in a scratch place: SQLite, a
    copy opened read-only for `PRAGMA integrity_check`, its schema revision (an older one is migrated, in the copy)
    and its audit chain and data verified; PostgreSQL, the archive restored into a scratch database and verified
    there. Only then is the target replaced: SQLite through the backup API into the live file (one transaction:
    sessions see the old data or the new, never a mix), PostgreSQL with pg_restore --clean in a single transaction.
    A database that holds any row is replaced only with `overwrite`. Raises BackupError (or AuditError from the
    check) naming why, with the target untouched."""
    source = Path(path)
    url = _url(engine_or_url)
    kind = kind_of(source)
    target_kind = _kind_of_url(url)
    if kind != target_kind:
        raise BackupError(f"{source} is a {_kind_name(kind)} and the database is {_kind_name(target_kind, db=True)}: "
                          "a backup restores into the engine it was made from. To move data between engines, "
                          "export it as JSON (`risk export --all`) and import it (`risk import`). Nothing was "
                          "changed")
    tell = say or (lambda _m: None)
    if kind == "sqlite":
        return _sqlite_restore(source, url, overwrite, tell)
    return _pg_restore(source, url, overwrite, tell)


def _kind_name(kind: str, *, db: bool = False) -> str:
    if db:
        return "a SQLite database" if kind == "sqlite" else "a PostgreSQL database"
    return "SQLite backup" if kind == "sqlite" else "PostgreSQL backup (pg_dump archive)"


def _not_empty(target: str, tables: dict[str, int]) -> BackupError:
    rows = sum(n for t, n in tables.items() if t != "audit_event")
    return BackupError(f"{target} is not empty ({rows:,} rows: {counts_text(tables, 4)}; "
                       f"{tables.get('audit_event', 0):,} audit events): a restore replaces all of it. Back it up "
                       "first if it may be needed, then restore again allowing the overwrite (`risk restore "
                       "--yes`). Nothing was changed")


def _refuse_check(source: Path, exc: AuditError) -> BackupError:
    if isinstance(exc, AuditKeyError):
        return BackupError(f"{source} cannot be checked, so it is not restored: {exc}. Nothing was changed")
    return BackupError(f"{source} does not verify, so it is not restored: {exc}. Nothing was changed")


def _sqlite_restore(source: Path, url: URL, overwrite: bool, say: Say) -> RestoreReport:
    target = Path(url.database)
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"{source} is the database itself (RISK_DATABASE_URL names it): give the database to "
                          "restore into. Nothing was changed")
    before: dict[str, int] = {}
    if target.exists():
        try:
            conn = _sqlite_connect(target, mode="rw")
            try:
                before = {t: n for t, n in _sqlite_contents(conn)[1].items() if n}
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise BackupError(f"the database {target} cannot be read ({_sqlite_reason(exc)}): it is not replaced; "
                              "move it aside to restore into its place. Nothing was changed") from None
        if before and not overwrite:
            raise _not_empty(str(target), before)
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} does not exist: make the folder for the database first")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".risk-restore-") as scratch_dir:
        scratch = Path(scratch_dir) / "check.db"
        say(f"checking {source} in a scratch copy")
        shutil.copyfile(source, scratch)
        revision = _check_sqlite_copy(scratch, source)
        migrated_from = None
        if _check_revision(revision, source):
            say(f"migrating the copy from schema revision {revision} to {_head_revision()}")
            eng = make_engine(f"sqlite:///{scratch}")
            try:
                migrate(eng)
            finally:
                eng.dispose()
            migrated_from = revision
        with _read_only_engine(scratch) as eng:
            try:
                checked = _verify(eng)
            except AuditError as exc:
                raise _refuse_check(source, exc) from None
            except Exception as exc:  # a malformed page the integrity check did not reach
                raise _damaged(source, exc) from None
        say(f"the backup verifies ({checked.events:,} audit events, {checked.rows:,} rows, head "
            f"{checked.head or 'none'}); replacing {target}")
        _sqlite_replace(scratch, target)
    _check_in_place(make_engine(f"sqlite:///{target}"), checked.head, str(target))
    return RestoreReport(kind="sqlite", head=checked.head, events=checked.events, rows=checked.rows, replaced=before,
                         migrated_from=migrated_from)


def _check_in_place(engine: Engine, head: str | None, where: str) -> None:
    """The restored database holds the head event of the backup that was checked (the whole check is not run a
    second time: the bytes are the ones checked, and on a large database it takes seconds)."""
    if head is None:
        engine.dispose()
        return
    event, digest = head.split(":")
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT hash FROM audit_event WHERE id = :i"), {"i": int(event)}).scalar()
    finally:
        engine.dispose()
    if found != digest:
        raise BackupError(f"{where} was restored, but it does not hold the head event {head} of the backup that was "
                          f"checked (found {found or 'no such event'}): run `risk audit verify`")


def _damaged(source: Path, exc: BaseException) -> BackupError:
    reason = _sqlite_reason(exc) if isinstance(exc, sqlite3.Error) else \
        _sqlite_reason(exc.orig) if isinstance(getattr(exc, "orig", None), sqlite3.Error) else type(exc).__name__
    return BackupError(f"{source} is damaged ({reason}): it is corrupted or truncated, and not restored. Nothing "
                       "was changed")


def _check_sqlite_copy(copy: Path, source: Path) -> str | None:
    """The mark, the integrity and the schema revision of the scratch copy of a SQLite backup, opened read-only.
    Returns its revision; BackupError naming what is wrong."""
    with open(copy, "rb") as f:
        header = f.read(100)
    if len(header) < 100:
        raise BackupError(f"{source} is truncated: it ends inside the SQLite header. Nothing was changed")
    if struct.unpack(">I", header[68:72])[0] != BACKUP_MARK:
        raise BackupError(
            f"{source} is a SQLite database but not a finished backup: it lacks the mark `risk backup` writes once "
            "the copy is whole. It is the temporary file of a backup that was stopped part way (.NAME.XXXX.part), or "
            "a copy of a database made another way; to restore such a copy, point RISK_DATABASE_URL at it and make "
            "a backup of it with `risk backup`. Nothing was changed")
    if struct.unpack(">I", header[CHECKSUM_AT:CHECKSUM_AT + 4])[0] != checksum(copy):
        raise BackupError(f"{source} is damaged: its checksum, written when the backup was made, does not match its "
                          "bytes; they were changed or lost since (corrupted or truncated), and it is not restored. "
                          "Nothing was changed")
    try:
        conn = _sqlite_connect(copy, mode="ro")
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
            if problems != ["ok"]:
                raise BackupError(f"{source} is damaged: SQLite's integrity check found {'; '.join(problems)}. It "
                                  "is corrupted or truncated, and not restored. Nothing was changed")
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" not in names:
                return None
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return row[0] if row else None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _damaged(source, exc) from None


@contextmanager
def _read_only_engine(path: Path) -> Iterator[Engine]:
    uri = f"{path.absolute().as_uri()}?mode=ro"
    eng = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
                        poolclass=NullPool)
    try:
        yield eng
    finally:
        eng.dispose()


def _sqlite_replace(checked: Path, target: Path) -> None:
    """Copy the checked scratch database into the live file through the backup API: one write transaction on the
    target, so a session reading it sees the old database or the restored one, never a mix, and a crash part way
    leaves the old one (its journal rolls the copy back). Renaming a file over the live one is not safe while the
    app runs: its open connections keep reading the old file, and the old -wal and -shm files beside the new one
    belong to another database."""
    src = _sqlite_connect(checked, mode="ro")
    try:
        live = sqlite3.connect(target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            live.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            src.backup(live)
            live.execute("PRAGMA application_id = 0")  # a database again, not a backup
            live.execute("PRAGMA user_version = 0")
            live.execute("PRAGMA journal_mode = WAL").fetchone()
        finally:
            live.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the database {target} could not be replaced ({_sqlite_reason(exc)}); it is as it was "
                          "before") from None
    finally:
        src.close()


# --- PostgreSQL restore -------------------------------------------------------------------------------------

def _pg_target_rows(engine: Engine, url: URL) -> dict[str, int]:
    try:
        with engine.connect() as conn:
            tables = _pg_contents(conn)[1]
            conn.rollback()
    except Exception as exc:
        raise BackupError(f"the database {_plain(url)} could not be reached or read ({type(exc).__name__}): create "
                          "it first (createdb), then restore into it. Nothing was changed") from None
    return {t: n for t, n in tables.items() if n}


def _pg_restore_cmd(tool: str, database: str, archive: Path) -> list[str]:
    """One transaction (all of it or nothing), objects dropped first where they exist, owned by the URL's user
    (owners and grants are not restored: the server restored to may not have the backup's roles)."""
    return [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--no-password",
            "--clean", "--if-exists", f"--dbname={database}", str(archive)]


@contextmanager
def _scratch_database(url: URL, tools: dict[str, str], env: dict[str, str]) -> Iterator[URL]:
    """A new, empty database on the target's server to check a backup in, dropped afterwards (createdb and
    dropdb, so nothing here holds DDL of its own)."""
    name = f"risk_restore_{secrets.token_hex(6)}"
    made = _run([tools["createdb"], "--no-password", f"--maintenance-db={url.database}", name], env)
    if made.returncode != 0:
        raise BackupError(f"the backup is checked in a scratch database before anything is replaced, and one could "
                          f"not be made on the server ({_tool_error(made.stderr)}): the user needs the right to "
                          "create databases (CREATEDB). Nothing was changed")
    try:
        yield url.set(database=name)
    finally:
        _run([tools["dropdb"], "--no-password", "--if-exists", "--force", f"--maintenance-db={url.database}", name],
             env)


def _pg_restore(source: Path, url: URL, overwrite: bool, say: Say) -> RestoreReport:
    engine = _pg_engine(url)
    try:
        before = _pg_target_rows(engine, url)
        if before and not overwrite:
            raise _not_empty(_plain(url), before)
        major = _server_major(engine)
    finally:
        engine.dispose()
    _check_trailer(source)
    tools = {name: _pg_tool(name, major) for name in ("pg_restore", "pg_dump", "createdb", "dropdb")}
    env = pg_environment(url)
    listed = _run([tools["pg_restore"], "--list", str(source)], env)
    if listed.returncode != 0:
        raise BackupError(f"{source} is damaged: pg_restore cannot read it ({_tool_error(listed.stderr)}). Nothing "
                          "was changed")
    migrated_from = None
    with tempfile.TemporaryDirectory(prefix="risk-restore-") as work:
        archive = source
        say(f"checking {source} in a scratch database")
        with _scratch_database(url, tools, env) as scratch_url:
            # the very command the target gets (its DROP statements included), so that what breaks it breaks here
            loaded = _run(_pg_restore_cmd(tools["pg_restore"], scratch_url.database, source), env)
            if loaded.returncode != 0:
                raise BackupError(f"{source} is damaged: it could not be restored into a scratch database "
                                  f"({_tool_error(loaded.stderr)}); it is corrupted or truncated. Nothing was "
                                  "changed")
            scratch = _pg_engine(scratch_url)
            try:
                with scratch.connect() as conn:
                    names = inspect(conn).get_table_names()
                    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
                        if "alembic_version" in names else None
                if _check_revision(revision, source):
                    say(f"migrating the scratch database from schema revision {revision} to {_head_revision()}")
                    migrate(scratch)
                    migrated_from = revision
                try:
                    checked = _verify(scratch)
                except AuditError as exc:
                    raise _refuse_check(source, exc) from None
            finally:
                scratch.dispose()
            if migrated_from is not None:  # the target gets the migrated, checked database, not the old archive
                archive = Path(work) / "migrated.dump"
                dumped = _run([tools["pg_dump"], "--format=custom", f"--file={archive}", "--no-password"],
                              pg_environment(scratch_url))
                if dumped.returncode != 0:
                    raise BackupError(f"the migrated backup could not be dumped ({_tool_error(dumped.stderr)}). "
                                      "Nothing was changed")
        say(f"the backup verifies ({checked.events:,} audit events, {checked.rows:,} rows, head "
            f"{checked.head or 'none'}); replacing {_plain(url)}")
        replaced = _run(_pg_restore_cmd(tools["pg_restore"], url.database, archive), env)
        if replaced.returncode != 0:
            raise BackupError(f"the database {_plain(url)} could not be replaced ({_tool_error(replaced.stderr)}); "
                              "the restore ran in one transaction, so it is as it was before")
    _check_in_place(_pg_engine(url), checked.head, _plain(url))
    return RestoreReport(kind="postgresql", head=checked.head, events=checked.events, rows=checked.rows,
                         replaced=before, migrated_from=migrated_from)
