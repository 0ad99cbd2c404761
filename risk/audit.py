"""The audit record proves itself (docs/AUDIT.md): a key kept outside the database, every audit event hashed with
HMAC-SHA256 under that key over the hash of the event before it, a head (`ID:HASH`, the latest event) that every
export carries, and a check that the rows of every audited table equal their last audited state.

`verify(engine)` walks the chain and replays the events over the rows; `rekey` chains a database written before the
key (or under another key) again. The events themselves are written by risk/store.py, the one writer, which hashes
them with `Chain` and this module's key."""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Date, DateTime, Engine, Float, TypeDecorator, select
from sqlmodel import SQLModel

from risk import config, store
from risk.errors import AuditChainError, AuditDataError, AuditError, AuditKeyError
from risk.models import AuditEvent

GENESIS = "0" * 64
KEY_BYTES = 32
FORMAT = "hmac-sha256"
# tables whose rows no audit event records: the audit log itself, and the form tokens that make a double click
# create one row (written in the creating transaction, which the created row's own event records)
NOT_AUDITED = ("audit_event", "creation_token")
# legacy score and consensus events name their row by these columns instead of its id
NATURAL_KEYS = {"score": ("round_id", "assessor_id", "risk_pk"), "consensus": ("risk_pk", "phase")}
ROW_ACTIONS = ("create", "update", "delete")
BULK_ACTIONS = ("bulk_create", "bulk_update", "bulk_upsert", "adopt")


# --- the key ----------------------------------------------------------------------------------------

def key_file() -> Path:
    """Where the key file is: RISK_AUDIT_KEY_FILE, or data/audit.key in the project folder."""
    return config.audit_key_file()


def parse_key(text: str, where: str) -> bytes:
    """A key written as hexadecimal digits (at least 64: 32 bytes; surrounding white space ignored)."""
    digits = text.strip()
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise AuditKeyError(f"{where}: expected the audit key as hexadecimal digits (64 of them for 32 bytes), "
                            "found other characters") from None
    if len(key) < KEY_BYTES:
        raise AuditKeyError(f"{where}: the audit key is {len(key)} bytes; it needs at least {KEY_BYTES} "
                            f"({2 * KEY_BYTES} hexadecimal digits)")
    return key


def read_key_file(path: Path) -> bytes:
    """The key in `path`, which only its owner may read or write (as `risk init` makes it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AuditKeyError(
            f"no audit key: RISK_AUDIT_KEY is not set and the key file {path} does not exist. A new database gets "
            "one from `risk init`; a database that already has audit events needs the key it was written with, "
            "restored from its backup (docs/AUDIT.md). Until then every change is refused") from None
    if os.name == "posix" and mode & 0o077:
        raise AuditKeyError(f"the audit key file {path} may be read or changed by other users (mode "
                            f"{mode & 0o777:o}): make it its owner's only, `chmod 600 {path}`")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise AuditKeyError(f"the audit key file {path} cannot be read ({why})") from None
    return parse_key(text, f"the audit key file {path}")


def audit_key() -> bytes:
    """The audit chain's key: RISK_AUDIT_KEY (hexadecimal digits) when set, else the key file. Raises AuditKeyError
    saying where it looked (never the key) when there is none or it is malformed."""
    given = os.environ.get("RISK_AUDIT_KEY", "")
    if given.strip():
        return parse_key(given, "RISK_AUDIT_KEY")
    return read_key_file(key_file())


def key_id(key: bytes) -> str:
    """A short name of a key that tells keys apart and reveals nothing of it (HMAC of a fixed text)."""
    return hmac.new(key, b"risk-workbench audit key id", hashlib.sha256).hexdigest()[:16]


def create_key_file(path: Path | None = None) -> tuple[Path, bool]:
    """Write a new random key to `path` (default: the key file), readable and writable by its owner only (0600).
    An existing file is kept, never overwritten: returns (path, whether this call made it). The key is written to a
    temporary file first and linked into place, so a reader never sees half a key and two processes making it at
    once end up with one."""
    path = path or key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path, False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        made = True
    except FileExistsError:
        made = False
    finally:
        tmp.unlink()
    if made:
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    return path, made


def ensure_key(engine: Engine) -> str | None:
    """Make the key file when no key is configured and the database holds no audit event yet (a new installation),
    or only events chained before the key existed (plain SHA-256, which `risk audit rekey` chains again with it).
    A database whose events are keyed never gets a new key here: one could not verify them, and its writes are
    refused until the key it was written with is back. Returns a sentence when it made the key."""
    if os.environ.get("RISK_AUDIT_KEY", "").strip():
        return None
    path = key_file()
    if path.exists():
        return None
    with engine.connect() as conn:
        first = conn.execute(select(*_EVENT_COLUMNS).order_by(AuditEvent.id).limit(1)).first()
    if first is not None and first.hash != plain_hash(first.prev_hash, *_fields(first)):
        return None
    try:
        path, made = create_key_file(path)
    except OSError as exc:
        raise AuditKeyError(f"the audit key file {path} could not be made ({exc.strerror or exc}): make its folder "
                            "writable, or set RISK_AUDIT_KEY_FILE or RISK_AUDIT_KEY (docs/AUDIT.md)") from None
    if not made:
        return None
    return (f"made the audit key {path} (its owner's only): back it up apart from the database, it is needed to "
            "verify the audit log (docs/AUDIT.md)")


def predates_key(engine: Engine) -> bool:
    """Whether the audit log's last event is chained with plain SHA-256: a database from before the keyed chain,
    whose writes are refused until `risk audit rekey` chains it with the key."""
    with engine.connect() as conn:
        last = conn.execute(select(*_EVENT_COLUMNS).order_by(AuditEvent.id.desc()).limit(1)).first()
    return last is not None and last.hash == plain_hash(last.prev_hash, *_fields(last))


# --- the chain -------------------------------------------------------------------------------------------

def payload(prev_hash: str, at: str, actor: str, action: str, entity: str, entity_id: str, before: str,
            after: str) -> bytes:
    """The bytes an event's hash is computed over: the JSON array of the previous hash and the event's stored
    columns, without spaces, UTF-8."""
    return json.dumps([prev_hash, at, actor, action, entity, entity_id, before, after], separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


class Chain:
    """Hashes events under one key: hash = HMAC-SHA256(key, payload(previous hash, the event's columns))."""

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self.key_id = key_id(key)

    def hash(self, prev_hash: str, at: str, actor: str, action: str, entity: str, entity_id: str, before: str,
             after: str) -> str:
        mac = self._mac.copy()
        mac.update(payload(prev_hash, at, actor, action, entity, entity_id, before, after))
        return mac.hexdigest()


def event_hash(key: bytes, prev_hash: str, at: str, actor: str, action: str, entity: str, entity_id: str,
               before: str, after: str) -> str:
    """An event's chain hash under `key` (hex)."""
    return hmac.new(key, payload(prev_hash, at, actor, action, entity, entity_id, before, after),
                    hashlib.sha256).hexdigest()


def plain_hash(prev_hash: str, at: str, actor: str, action: str, entity: str, entity_id: str, before: str,
               after: str) -> str:
    """The hash of the chain before it had a key (plain SHA-256 of the same payload): read, never written."""
    return hashlib.sha256(payload(prev_hash, at, actor, action, entity, entity_id, before, after)).hexdigest()


_EVENT_COLUMNS = (AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.entity,
                  AuditEvent.entity_id, AuditEvent.before, AuditEvent.after, AuditEvent.prev_hash, AuditEvent.hash)


def _fields(ev: Any) -> tuple[str, str, str, str, str, str, str]:
    return ev.at, ev.actor, ev.action, ev.entity, ev.entity_id, ev.before, ev.after


def describe(ev: Any) -> str:
    """`audit event 12 (update risk 4 by alice at 2026-12-01T14:03:07+00:00)`."""
    what = f"{ev.action} {ev.entity}" + (f" {ev.entity_id}" if ev.entity_id else "")
    return f"audit event {ev.id} ({what} by {ev.actor} at {ev.at})"


# --- the head ----------------------------------------------------------------------------------------------

def head_of(conn: Any) -> str | None:
    """`ID:HASH` of the latest event, read through a connection or session (inside its transaction), or None."""
    row = conn.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return f"{row[0]}:{row[1]}" if row is not None else None


def head(engine: Engine) -> str | None:
    """`ID:HASH` of the audit log's latest event (what exports carry), or None when it holds no event."""
    with engine.connect() as conn:
        return head_of(conn)


def parse_head(text: str) -> tuple[int, str]:
    """("ID:HASH" ->) (id, hash); refuses anything else in words."""
    event, sep, digest = (text or "").strip().partition(":")
    digest = digest.lower()
    if not sep or not event.isdigit() or int(event) < 1 or len(digest) != 64 \
            or any(c not in "0123456789abcdef" for c in digest):
        raise AuditError(f"head {text!r}: expected ID:HASH, an event's number, a colon and 64 hexadecimal digits, "
                         "as `risk audit head` prints it and exports carry it")
    return int(event), digest


# --- the report ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifyReport:
    """What `verify` checked: the events of the chain, the rows of the audited tables (per table), the head."""

    events: int
    rows: int
    head: str | None
    tables: dict[str, int] = field(default_factory=dict)
    checked_head: str | None = None  # the published head that was found in the chain, when one was given
    key_id: str = ""

    def summary(self) -> str:
        text = (f"verified: {self.events:,} audit events and {self.rows:,} rows in {len(self.tables)} tables; "
                f"head {self.head or 'none (no events yet)'}")
        if self.checked_head:
            text += f"; the published head {self.checked_head} is in the chain"
        return text + (f"; key id {self.key_id}" if self.key_id else "")


def verify(engine: Engine, *, head: str | None = None, key: bytes | None = None,
           head_key: bytes | None = None) -> VerifyReport:
    """Check the audit record: every event's keyed hash and its link to the one before; with `head` (`ID:HASH` from
    an export) that this event is still in the chain, unchanged; and that every audited table's rows equal their
    last audited state. Raises AuditChainError or AuditDataError naming the first event, or table, row and field,
    that fails. `head_key`: the key a head published before a key rotation was made under."""
    key = audit_key() if key is None else key
    want = parse_head(head) if head else None
    chain = Chain(key)
    with _snapshot(engine) as conn:
        replay = Replay(conn)
        events, last = walk(conn, chain.hash, want=want, head_hasher=Chain(head_key).hash if head_key else None,
                            feed=replay.feed)
        tables = replay.check()
    return VerifyReport(events=events, rows=sum(tables.values()), head=last, tables=tables,
                        checked_head=f"{want[0]}:{want[1]}" if want else None, key_id=chain.key_id)


def verify_chain(engine: Engine, *, key: bytes | None = None) -> int:
    """The chain alone (no data check): the number of events, or AuditChainError naming the first that fails."""
    chain = Chain(audit_key() if key is None else key)
    with _snapshot(engine) as conn:
        return walk(conn, chain.hash)[0]


class _snapshot:
    """A read transaction that sees one state of the database from its first read to its end: SQLite's deferred
    transaction does; PostgreSQL needs REPEATABLE READ. The walk and the rows read then agree with each other while
    others write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> Connection:
        self.conn = self.engine.connect()
        if self.engine.dialect.name != "sqlite":
            self.conn = self.conn.execution_options(isolation_level="REPEATABLE READ")
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()


Hasher = Callable[[str, str, str, str, str, str, str, str], str]


def walk(conn: Connection, hasher: Hasher | None, *, want: tuple[int, str] | None = None,
         head_hasher: Hasher | None = None, feed: Callable[[Any], None] | None = None,
         links: bool = True) -> tuple[int, str | None]:
    """Walk the events in id order: each must hold the hash of the one before (`links`) and its own hash as
    `hasher` recomputes it (None: not recomputed). With `want` (id, hash), the event of that id must be there with
    that hash (recomputed by `head_hasher` when given: a head made under an earlier key). Each event is passed to
    `feed` once it is checked. Returns the number of events and the head."""
    prev, prev_id, count = GENESIS, None, 0
    head_prev, seen_head = GENESIS, False
    # options on the statement: a connection's own options would stay on it (a write transaction's too)
    result = conn.execute(select(*_EVENT_COLUMNS).order_by(AuditEvent.id).execution_options(yield_per=2000))
    for ev in result:
        fields = _fields(ev)
        if want is not None and not seen_head and ev.id > want[0]:
            raise AuditChainError(f"audit event {want[0]}, which the published head {want[0]}:{want[1]} names, is "
                                  f"missing: the log goes from event {prev_id} to event {ev.id}")
        if links and ev.prev_hash != prev:
            if prev_id is None:
                raise AuditChainError(f"{describe(ev)} does not follow the event before it: it is the first event "
                                      "and does not start the chain, so the events before it were removed")
            raise AuditChainError(f"{describe(ev)} does not follow the event before it (event {prev_id}): an event "
                                  "between them was removed, or events were reordered")
        if hasher is not None and ev.hash != hasher(prev, *fields):
            if ev.hash == plain_hash(prev, *fields):
                raise AuditChainError(
                    f"{describe(ev)} is chained with plain SHA-256, not with the audit key: the chain was computed "
                    "again without the key (its history rewritten), or the database predates the keyed chain and "
                    "needs `risk audit rekey` once (docs/AUDIT.md)")
            raise AuditChainError(
                f"{describe(ev)} does not match its keyed hash: it was changed after it was written"
                + (", or the audit key is not the one this database was written with" if count == 0 else ""))
        if want is not None and not seen_head and (head_hasher is not None or ev.id == want[0]):
            published = head_hasher(head_prev, *fields) if head_hasher is not None else ev.hash
            head_prev = published
            if ev.id == want[0]:
                if published != want[1]:
                    raise AuditChainError(
                        f"{describe(ev)} is not the event the published head {want[0]}:{want[1]} names (its hash "
                        f"is {published}): the history up to that head was rewritten, or the head comes from "
                        "another database" + ("" if head_hasher else " or was made under an earlier key "
                                              "(give that key to check it)"))
                seen_head = True
        if feed is not None:
            feed(ev)
        prev, prev_id = ev.hash, ev.id
        count += 1
    if want is not None and not seen_head:
        if prev_id is None:
            raise AuditChainError(f"the audit log holds no events, yet the published head names event {want[0]}: "
                                  "every event was removed, or the head comes from another database")
        raise AuditChainError(f"the audit log ends at event {prev_id}, before event {want[0]} of the published head "
                              f"{want[0]}:{want[1]}: the events after {prev_id} were removed, or the head comes from "
                              "another database")
    return count, (f"{prev_id}:{prev}" if prev_id is not None else None)


# --- the data checked against the record -------------------------------------------------------------------

def audited_tables() -> list[str]:
    """Every table whose rows the audit record holds, in dependency order."""
    return [t.name for t in SQLModel.metadata.sorted_tables if t.name not in NOT_AUDITED]


def unrecorded_columns() -> dict[str, tuple[str, ...]]:
    """Columns left out of every audit event (secrets: a password's hash, a session's token hash), per table."""
    out: dict[str, tuple[str, ...]] = {}
    for mapper in SQLModel._sa_registry.mappers:  # noqa: SLF001 - SQLModel's registry of table classes
        model = mapper.class_
        hidden = tuple(name for name, f in model.model_fields.items() if f.exclude)
        if hidden:
            out[model.__tablename__] = hidden
    return out


_MISSING = object()


class _Event:
    """An event as the data check names it."""

    __slots__ = ("id", "text")

    def __init__(self, ev: Any) -> None:
        self.id = ev.id
        self.text = describe(ev)


class _Lost:
    """A cell a later event overwrote without recording what it held (events from before the keyed chain)."""

    __slots__ = ("event",)

    def __init__(self, event: _Event) -> None:
        self.event = event


class _Bulk:
    """A bulk event (bulk_create, bulk_update, bulk_upsert, adopt): the rows it wrote and their digest. `recon` holds
    what it wrote into cells that later events overwrote (from their records of what they replaced); the cells it
    still owns come from the table as stored, and the digest of both must be the event's."""

    def __init__(self, event: _Event, ts: _Table, after: dict[str, Any]) -> None:
        self.event = event
        self.ts = ts
        self.columns = list(after["columns"])
        self.colset = frozenset(self.columns)
        self.ranges = [(int(a), int(b)) for a, b in after["ids"]]
        self.count = int(after["count"])
        self.sha256 = after["sha256"]
        self.column_sha256 = after.get("column_sha256") or {}
        self.recon: dict[tuple[int, str], Any] = {}
        self.owned = sum(b - a + 1 for a, b in self.ranges) * len(self.columns)
        self.alive = False
        self.acc: dict[str, list[Any]] = {}
        self.range_index = 0
        self.next_id: int | None = None

    def lose(self, row: int, column: str, value: Any) -> None:
        """A later event overwrote (row, column); `value` is what it recorded the cell held (what this event
        wrote), or _Lost."""
        if (row, column) not in self.recon:
            self.recon[(row, column)] = value
            self.owned -= 1

    def start(self) -> None:
        self.alive = self.owned > 0 and bool(self.ranges)
        if self.alive:
            self.acc = {c: [] for c in self.columns}
            self.range_index = 0
            self.next_id = self.ranges[0][0]

    def _step(self, n: int) -> None:
        """Move past `n` ids of the current range (the caller checked they are there)."""
        nxt = self.next_id + n
        a, b = self.ranges[self.range_index]
        if nxt <= b:
            self.next_id = nxt
            return
        self.range_index += 1
        if self.range_index < len(self.ranges):
            self.next_id = self.ranges[self.range_index][0]
        else:
            self.next_id = None
            self.finish()

    def _expect(self, row: int) -> None:
        if self.next_id != row:
            missing = self.next_id if self.next_id is not None and self.next_id < row else row
            raise self.ts.missing(missing, self.event)

    def take_run(self, first: int, n: int, columns: dict[str, list[Any]]) -> None:
        """Rows first .. first+n-1, all stored and all of whose cells this event still owns."""
        self._expect(first)
        if first + n - 1 > self.ranges[self.range_index][1]:
            raise AssertionError("a run crosses the end of its range")  # the caller cuts runs at range ends
        for c in self.columns:
            self.acc[c].extend(columns[c])
        self._step(n)

    def take_one(self, row: int, stored: tuple | None) -> None:
        """Row `row`: its cells from `recon` where a later event overwrote them, else as stored."""
        self._expect(row)
        index = self.ts.index
        for c in self.columns:
            value = self.recon.get((row, c), _MISSING)
            if value is _MISSING:
                if stored is None:
                    raise self.ts.missing(row, self.event)
                value = stored[index[c]]
            elif isinstance(value, _Lost):
                raise AuditDataError(
                    f"table {self.ts.name}, row {row}, field {c}: cannot be checked against {self.event.text}: "
                    f"{value.event.text} changed it without recording what it held (an event from before the keyed "
                    "chain); `risk audit rekey --adopt-data` records the data as it stands (docs/AUDIT.md)")
            self.acc[c].append(value)
        self._step(1)

    def finish(self) -> None:
        values, self.acc = self.acc, {}
        if store.bulk_digest(values) == self.sha256:
            return
        named = [c for c in self.columns if c in self.column_sha256
                 and hashlib.sha256(store.digest_json(values[c]).encode("utf-8")).hexdigest()
                 != self.column_sha256[c]]
        which = (f"field {named[0]} differs" if len(named) == 1 else f"fields {', '.join(named)} differ" if named
                 else f"one of the fields {', '.join(self.columns)} differs")
        raise AuditDataError(
            f"table {self.ts.name}, {ranges_text(self.ranges)}: {which}, in one or more of these rows, from what "
            f"{self.event.text} wrote (the rows' digest does not match the event's): changed around the services")


def ranges_text(ranges: list[tuple[int, int]], most: int = 4) -> str:
    """`rows 1–640`, `row 7`, `rows 1–3, 7, 9–12 and 5 more ranges`."""
    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in ranges[:most]]
    more = f" and {len(ranges) - most} more ranges" if len(ranges) > most else ""
    single = len(ranges) == 1 and ranges[0][0] == ranges[0][1]
    return f"row{'' if single else 's'} {', '.join(parts)}{more}"


class _Row:
    """A row some event wrote one by one (or deleted, or wrote in a bulk update): who owns each cell."""

    __slots__ = ("cols", "bulks", "deleted", "nobase", "last")

    def __init__(self) -> None:
        self.cols: dict[str, Any] = {}  # column -> (recorded value, _Event) or the _Bulk that wrote it
        self.bulks: list[_Bulk] = []  # bulk events other than its base range's that wrote it, in order
        self.deleted: _Event | None = None
        self.nobase = False  # its base range's bulk event no longer owns any of it (deleted, created again)
        self.last: _Event | None = None


class _Table:
    """The replayed record of one table: base ranges (rows a bulk insert or an adoption wrote, by id range) and
    rows written since, one by one or by bulk updates."""

    def __init__(self, name: str, hidden: tuple[str, ...]) -> None:
        self.name = name
        self.t = SQLModel.metadata.tables[name]
        self.columns = [c.name for c in self.t.columns if c.name != "id" and c.name not in hidden]
        self.colset = frozenset(self.columns)
        self.index = {c: k for k, c in enumerate(["id", *self.columns])}
        self.hidden = hidden
        self.reset()
        self.by_key: dict[tuple, int] | None = None
        self.legacy: list[_Event] = []

    def reset(self) -> None:
        self.firsts: list[int] = []
        self.lasts: list[int] = []
        self.owners: list[_Bulk] = []
        self.over: dict[int, _Row] = {}
        self.deleted: set[int] = set()
        self.bulks: list[_Bulk] = []

    def row(self, row_id: int) -> _Row:
        found = self.over.get(row_id)
        if found is None:
            found = self.over[row_id] = _Row()
        return found

    def base_owner(self, row_id: int) -> _Bulk | None:
        k = bisect.bisect_right(self.firsts, row_id) - 1
        return self.owners[k] if k >= 0 and self.lasts[k] >= row_id else None

    def assign(self, first: int, last: int, bulk: _Bulk) -> None:
        """Rows first..last were inserted by `bulk`: it owns them (ids of deleted rows used again move the deleted
        row's events aside)."""
        for row_id in [r for r in self.deleted if first <= r <= last]:
            o = self.over[row_id]
            o.deleted, o.cols, o.nobase = None, {}, False
            self.deleted.discard(row_id)
        i = bisect.bisect_left(self.lasts, first)
        j = bisect.bisect_right(self.firsts, last)
        pieces = []
        for k in range(i, j):
            f, la, owner = self.firsts[k], self.lasts[k], self.owners[k]
            if f < first:
                pieces.append((f, first - 1, owner))
            if la > last:
                pieces.append((last + 1, la, owner))
        pieces.append((first, last, bulk))
        pieces.sort(key=lambda p: p[0])
        self.firsts[i:j] = [p[0] for p in pieces]
        self.lasts[i:j] = [p[1] for p in pieces]
        self.owners[i:j] = [p[2] for p in pieces]

    def missing(self, row_id: int, event: _Event | None) -> AuditDataError:
        by = f"{event.text} wrote it" if event else "the audit record holds it"
        return AuditDataError(f"table {self.name}, row {row_id}: missing: {by} and no audit event deleted it "
                              "(removed around the services)")

    def recorded(self, column: str, value: Any) -> Any:
        """A value an event recorded (JSON), in digest form."""
        if value is None or isinstance(value, _Lost):
            return value
        return store.digest_values(self.t.c[column], [self.typed(column, value)])[0]

    def typed(self, column: str, value: Any) -> Any:
        """A recorded (JSON) value as the column's Python type."""
        if value is None or isinstance(value, _Lost):
            return value
        kind = self.t.c[column].type
        if isinstance(kind, TypeDecorator):
            kind = kind.impl_instance
        if isinstance(value, str):
            if isinstance(kind, DateTime):
                try:
                    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    return value
            if isinstance(kind, Date):
                try:
                    return dt.date.fromisoformat(value[:10])
                except ValueError:
                    return value
        return value


def _raw_form(column: Any) -> Callable[[Any], Any] | None:
    """How a value of this column, as the driver returns it, becomes its digest form (None: it already is)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, DateTime):
        return _raw_datetime
    if isinstance(kind, Date):
        return _raw_date
    if isinstance(kind, Boolean):
        return bool
    if isinstance(kind, Float):
        return float
    if isinstance(kind, JSON):
        return _raw_json
    return None


def _raw_datetime(value: Any) -> Any:
    if isinstance(value, str):  # SQLite's text, the UTC time without an offset
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return store.iso_utc(value)


def _raw_date(value: Any) -> Any:
    return value if isinstance(value, str) else value.isoformat()


def _raw_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Replay:
    """Replays the audit events over the tables (fed by `walk`), then reads every audited table once, in id order,
    and checks each row against its last audited state (`check`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        hidden = unrecorded_columns()
        self.tables = {name: _Table(name, hidden.get(name, ())) for name in audited_tables()}
        self.problems: list[AuditDataError] = []
        self.events = 0

    # -- the events ---------------------------------------------------------------------------------------

    def feed(self, ev: Any) -> None:
        self.events += 1
        action = ev.action
        if action in ROW_ACTIONS:
            ts = self.tables.get(ev.entity)
            if ts is not None:
                self._row_event(ts, ev)
        elif action in BULK_ACTIONS:
            after = json.loads(ev.after) if ev.after else {}
            ts = self.tables.get(after.get("table") if isinstance(after, dict) else None)
            if ts is not None:
                self._bulk_event(ts, ev, after)

    def _row_event(self, ts: _Table, ev: Any) -> None:
        before = json.loads(ev.before) if ev.before else None
        after = json.loads(ev.after) if ev.after else None
        before = before if isinstance(before, dict) else None
        after = after if isinstance(after, dict) else None
        event = _Event(ev)
        if ev.action == "delete":
            row_id = before.get("id") if before else None
            if row_id is None:
                return
            self._overtake(ts, row_id, ts.columns, before, event)
            o = ts.row(row_id)
            base = None if o.nobase else ts.base_owner(row_id)
            if base is not None and base not in o.bulks:
                o.bulks.append(base)
            o.cols, o.deleted, o.nobase, o.last = {}, event, True, event
            ts.deleted.add(row_id)
            return
        if after is None:
            return
        row_id = after.get("id") or (before.get("id") if before else None) or self._natural(ts, after, event)
        if row_id is None:
            return
        columns = [c for c in after if c in ts.colset]
        self._overtake(ts, row_id, columns, before, event)
        o = ts.row(row_id)
        if ev.action == "create":
            base = None if o.nobase else ts.base_owner(row_id)
            if base is not None and base not in o.bulks:
                o.bulks.append(base)
            o.cols, o.deleted, o.nobase = {}, None, True
            ts.deleted.discard(row_id)
        for c in columns:
            o.cols[c] = (after[c], event)
        o.last = event

    def _natural(self, ts: _Table, after: dict[str, Any], event: _Event) -> int | None:
        """The id of the row a legacy score or consensus event names by its key columns (looked up as stored)."""
        keys = NATURAL_KEYS.get(ts.name)
        if not keys or any(k not in after for k in keys):
            return None
        if ts.by_key is None:
            query = select(ts.t.c.id, *(ts.t.c[k] for k in keys))
            ts.by_key = {tuple(row[1:]): row[0] for row in self.conn.execute(query)}
        found = ts.by_key.get(tuple(after[k] for k in keys))
        if found is None:
            self.problems.append(AuditDataError(
                f"table {ts.name}: the row of {', '.join(f'{k} {after[k]}' for k in keys)} that {event.text} wrote "
                "is missing (removed around the services, or its key changed)"))
        return found

    def _overtake(self, ts: _Table, row_id: int, columns: list[str], before: dict[str, Any] | None,
                  event: _Event) -> None:
        """`event` writes these columns of the row: a bulk event that owned a cell keeps what it wrote there (the
        value `event` recorded as before), to check its digest later."""
        o = ts.over.get(row_id)
        base = None if o is not None and o.nobase else ts.base_owner(row_id)
        for c in columns:
            owner = o.cols.get(c) if o is not None else None
            if owner is None and base is not None and c in base.colset:
                owner = base
            if isinstance(owner, _Bulk):
                owner.lose(row_id, c, ts.recorded(c, before[c]) if before is not None and c in before
                           else _Lost(event))

    def _bulk_event(self, ts: _Table, ev: Any, after: dict[str, Any]) -> None:
        event = _Event(ev)
        if not {"table", "count", "columns", "ids", "sha256"} <= set(after):
            ts.legacy.append(event)  # from before bulk events recorded their rows' ids: its rows cannot be told
            return
        if any(c not in ts.t.c for c in after["columns"]):
            self.problems.append(AuditDataError(f"table {ts.name}: {event.text} wrote a column the table no longer "
                                                "has; its rows cannot be checked"))
            return
        bulk = _Bulk(event, ts, after)
        if ev.action == "adopt":
            ts.reset()
        if ev.action in ("bulk_create", "adopt"):
            for first, last in bulk.ranges:
                ts.assign(first, last, bulk)
        else:
            before = json.loads(ev.before) if ev.before else None
            stored = self._stored(ts, before)
            for first, last in bulk.ranges:
                for row_id in range(first, last + 1):
                    self._overtake(ts, row_id, bulk.columns, stored.get(row_id), event)
                    o = ts.row(row_id)
                    if o.deleted is not None:  # an upsert that inserts a deleted row's id again
                        o.deleted, o.nobase = None, True
                        ts.deleted.discard(row_id)
                    for c in bulk.columns:
                        o.cols[c] = bulk
                    o.bulks.append(bulk)
                    o.last = event
        ts.bulks.append(bulk)

    def _stored(self, ts: _Table, before: Any) -> dict[int, dict[str, Any]]:
        """What a bulk update recorded its rows held before it (`before["stored"]`), by row id."""
        stored = before.get("stored") if isinstance(before, dict) else None
        if not isinstance(stored, dict):
            return {}
        columns = stored.get("columns") or []
        return {row[0]: dict(zip(columns, row[1:], strict=False))
                for row in stored.get("rows") or []}

    # -- the rows -----------------------------------------------------------------------------------------

    def check(self) -> dict[str, int]:
        """Every audited table's rows against the replayed record: raises AuditDataError naming the first table,
        row and field that differs; returns the rows checked per table."""
        if self.problems:
            raise self.problems[0]
        return {name: self._check_table(ts) for name, ts in self.tables.items()}

    def _check_table(self, ts: _Table) -> int:
        for bulk in ts.bulks:
            bulk.start()
        over_keys = sorted(ts.over)
        oi, ri, seen = 0, 0, 0
        for ids, columns in self._rows(ts):
            i, n = 0, len(ids)
            seen += n
            while i < n:
                row_id = ids[i]
                while oi < len(over_keys) and over_keys[oi] < row_id:
                    self._visit(ts, over_keys[oi], None)
                    oi += 1
                if oi < len(over_keys) and over_keys[oi] == row_id:
                    self._visit(ts, row_id, tuple(column[i] for column in columns))
                    oi += 1
                    i += 1
                    continue
                while ri < len(ts.lasts) and ts.lasts[ri] < row_id:
                    ri += 1
                if ri == len(ts.lasts) or ts.firsts[ri] > row_id:
                    raise self._unowned(ts, row_id)
                owner = ts.owners[ri]
                limit = ts.lasts[ri] if oi == len(over_keys) else min(ts.lasts[ri], over_keys[oi] - 1)
                j = bisect.bisect_right(ids, limit, i, n)
                if ids[j - 1] - row_id != j - 1 - i:  # a gap: a row of this range is not there
                    if owner.alive:
                        owner._expect(row_id)  # rows before this run first
                    k = next(k for k in range(i, j - 1) if ids[k + 1] != ids[k] + 1)
                    raise ts.missing(ids[k] + 1, owner.event)
                if owner.alive:
                    owner.take_run(row_id, j - i, {c: columns[ts.index[c]][i:j] for c in owner.columns})
                i = j
        while oi < len(over_keys):
            self._visit(ts, over_keys[oi], None)
            oi += 1
        for bulk in ts.bulks:
            if bulk.alive and bulk.next_id is not None:
                raise ts.missing(bulk.next_id, bulk.event)
        return seen

    def _rows(self, ts: _Table) -> Iterator[tuple[list[int], list[list[Any]]]]:
        """The table's rows in id order, 10,000 at a time, as columns of values in digest form. Read as the driver
        returns them and converted once per distinct value: converting each row's timestamps through the SQL
        layer's types cost more than all the rest of the check."""
        quote = self.conn.dialect.identifier_preparer.quote
        names = ", ".join(map(quote, ["id", *ts.columns]))
        forms = [None, *(_raw_form(ts.t.c[name]) for name in ts.columns)]
        result = self.conn.exec_driver_sql(f"SELECT {names} FROM {quote(ts.name)} ORDER BY {quote('id')}",
                                           execution_options={"stream_results": True, "max_row_buffer": 10_000})
        # SQLite: the driver's own rows (SQLAlchemy's row objects cost a microsecond each); PostgreSQL: a server-side
        # cursor, whose first rows SQLAlchemy has already fetched into its buffer
        fetch = result.cursor.fetchmany if self.conn.dialect.name == "sqlite" else result.fetchmany
        try:
            while chunk := fetch(10_000):
                columns = [list(column) for column in zip(*chunk, strict=True)]
                for k, form in enumerate(forms):
                    if form is not None:
                        columns[k] = store.map_values(form, columns[k])
                yield columns[0], columns
        finally:
            result.close()

    def _unowned(self, ts: _Table, row_id: int) -> AuditDataError:
        why = "no audit event wrote it (added around the services)"
        if not self.events:
            why = "the audit log holds no events at all (were they all removed?)"
        elif ts.legacy:
            why += (f", or a bulk event from before bulk events recorded ids did ({ts.legacy[0].text}); "
                    "`risk audit rekey --adopt-data` records the data as it stands (docs/AUDIT.md)")
        return AuditDataError(f"table {ts.name}, row {row_id}: not in the audit record: {why}")

    def _visit(self, ts: _Table, row_id: int, stored: tuple | None) -> None:
        """A row that events wrote one by one, or a bulk update wrote, or that was deleted."""
        o = ts.over[row_id]
        if o.deleted is not None:
            if stored is not None:
                raise AuditDataError(f"table {ts.name}, row {row_id}: present, but {o.deleted.text} deleted it "
                                     "(put back around the services)")
        elif stored is None:
            raise ts.missing(row_id, o.last)
        else:
            for c, source in o.cols.items():
                if isinstance(source, tuple):
                    self._compare(ts, row_id, c, stored[ts.index[c]], source)
        owners: list[_Bulk] = []
        base = None if o.nobase else ts.base_owner(row_id)
        for bulk in ([base] if base is not None else []) + o.bulks:
            if bulk.alive and bulk not in owners:
                owners.append(bulk)
        if stored is not None and not o.cols and base is None and not o.bulks:
            raise self._unowned(ts, row_id)
        for bulk in owners:
            bulk.take_one(row_id, stored)

    def _compare(self, ts: _Table, row_id: int, column: str, stored: Any, source: tuple[Any, _Event]) -> None:
        recorded, event = source
        have, want = stored, ts.recorded(column, recorded)
        if store.digest_json(have) != store.digest_json(want):
            raise AuditDataError(f"table {ts.name}, row {row_id}, field {column}: {_shown(have)} is stored, but "
                                 f"{event.text} recorded {_shown(want)} (changed around the services)")


# --- chaining again: a database from before the key, a new key ----------------------------------------------

@dataclass(frozen=True)
class RekeyReport:
    events: int  # events chained again
    previous_head: str | None  # the head before, under the old chain
    head: str | None  # the head after (the rekey event)
    adopted: list[str]  # tables whose rows were recorded as they stand
    source: str  # "sha256", "hmac-sha256" (another key) or "unverified"


def rekey(engine: Engine, *, actor: str, old_key: bytes | None = None, unverified: bool = False,
          adopt: bool = False, key: bytes | None = None) -> RekeyReport:
    """Chain every audit event again under the audit key (`key`, default the configured one), in one write
    transaction, after checking the chain as it is: plain SHA-256 (a database from before the key), under
    `old_key` (a key rotation), or not at all (`unverified`: the old key is lost). The rows are checked against the
    old record first; with `adopt` (or when that check fails, refused unless `adopt`) every audited table's rows as
    they stand are recorded in an `adopt` event each. A `rekey` event records what was done, with the head before."""
    if old_key is not None and unverified:
        raise AuditError("give the old key, or say the chain is to be taken unverified, not both")
    key = audit_key() if key is None else key
    new = Chain(key)
    source = "unverified" if unverified else FORMAT if old_key is not None else "sha256"
    old: Hasher | None = None if unverified else Chain(old_key).hash if old_key is not None else plain_hash
    with store.write(engine, actor, "the re-chaining of the audit log", key=key) as unit:
        conn = unit.session.connection()
        try:
            count, _ = walk(conn, new.hash)
        except AuditChainError:
            pass
        else:
            if count:
                raise AuditError("the audit log already verifies with this key: there is nothing to chain again")
        replay = Replay(conn)
        try:
            count, previous = walk(conn, old, feed=replay.feed, links=not unverified)
        except AuditChainError as exc:
            hint = ("" if old_key is not None else "; if it was chained under a key, give that key (--old-key-file)")
            raise AuditChainError(f"the audit log as it is does not verify, so it is not chained again: {exc}{hint}"
                                  ) from None
        try:
            replay.check()
        except AuditDataError as exc:
            if not adopt:
                raise AuditDataError(f"the rows differ from the audit record, so it is not chained again: {exc}. "
                                     "Check them; `--adopt-data` records the data as it stands") from None
        pairs: list[tuple[int, str, str]] = []
        prev = GENESIS
        for ev in conn.execute(select(*_EVENT_COLUMNS).order_by(AuditEvent.id)):
            digest = new.hash(prev, *_fields(ev))
            pairs.append((ev.id, prev, digest))
            prev = digest
        store.rechain(unit, pairs)
        adopted = []
        if adopt:
            for name in audited_tables():
                store.adopt_table(unit, name, unrecorded_columns().get(name, ()))
                adopted.append(name)
        unit.audit("rekey", "audit", "", None, {"format": FORMAT, "from": source, "events": count,
                                                "previous_head": previous, "key_id": new.key_id,
                                                "adopted": adopted})
    return RekeyReport(events=count, previous_head=previous, head=head(engine), adopted=adopted, source=source)
