"""The one module that writes. Every change happens inside `write(engine, actor)`, which opens a write
transaction (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), and appends one audit event per change,
each hashed with the audit key over the hash of the one before (risk/audit.py), in that same transaction. Bulk work
writes one event per batch."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Table,
    TypeDecorator,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy import update as sql_update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, SQLModel

from risk import audit
from risk.db import is_sqlite, writer
from risk.errors import (
    AuditChainError,
    AuditKeyError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RefusedError,
    StorageError,
)
from risk.models import AuditEvent, Consensus, CreationToken, Risk, Score, utcnow

AUDIT_LOCK = 0x41554449  # "AUDI": serialises the hash chain on PostgreSQL
GENESIS = "0" * 64
_MISSING = object()


def _dialect_insert(bind: Any) -> Callable[..., Any]:
    """The INSERT of the database's own dialect (for ON CONFLICT); imported on first use, so that a command that only
    reads does not load the PostgreSQL dialect."""
    if is_sqlite(bind):
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces: the text an audit hash is computed over."""
    if value is None or value == "":
        return ""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def snapshot(obj: SQLModel | None) -> dict[str, Any] | None:
    return None if obj is None else obj.model_dump(mode="json")


@dataclass
class Unit:
    """One write transaction: a session, who is acting, and the audit events to append on commit."""

    session: Session
    actor: str
    events: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    key: bytes | None = None  # the audit key to chain with; None: the configured one (audit.audit_key)

    def audit(self, action: str, entity: str, entity_id: object = "", before: Any = None,
              after: Any = None) -> None:
        self.events.append((action, entity, str(entity_id), canonical(before), canonical(after)))


_commits = itertools.count(1)
_last_commit = 0


def _count_commit() -> None:
    global _last_commit
    _last_commit = next(_commits)


def commits_here() -> int:
    """How many write transactions this process has committed: it changes with each, so a value remembered for the
    length of one script run (risk/ui/common.py, once_per_run) is read again after a change made in that run."""
    return _last_commit


@contextmanager
def write(engine: Engine, actor: str, what: str = "the change", *, key: bytes | None = None) -> Iterator[Unit]:
    """A write transaction that commits with its audit events, or rolls back entirely. When the storage fails (a
    full disk, a lost connection) it raises StorageError saying in words that `what` could not be saved. `key`: the
    audit key to chain with instead of the configured one (`risk audit rekey` to another key)."""
    actor = (actor or "").strip()
    if not actor:
        raise ForbiddenError("who is acting: a change needs a name to record in the audit log, none was given "
                             "(nobody is signed in)")
    committing = False
    try:
        with Session(writer(engine), expire_on_commit=False) as session:
            unit = Unit(session=session, actor=actor, key=key)
            try:
                if not is_sqlite(engine):
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
                yield unit
                session.flush()
                _append_events(unit)
                committing = True
                session.commit()
                _count_commit()
            except BaseException:
                _roll_back(session)
                raise
    except DBAPIError as exc:
        failure = storage_failure(exc, what, committing=committing and not is_sqlite(engine))
        if failure is None:
            raise
        raise failure from None  # the driver's error holds SQL and values: it goes nowhere near a user


def _roll_back(session: Session) -> None:
    """Roll back; on a connection that is already gone there is nothing to roll back (the server did it)."""
    try:
        session.rollback()
    except DBAPIError:
        pass


# --- storage failures in words ----------------------------------------------------------------------

DISK_FULL = "the disk is full (the database could not grow)"
UNREACHABLE = "the database could not be reached (the connection failed or was lost)"
SHUT_DOWN = "the database server ended the connection (it shut down, restarted or ended the session)"
# SQLite's primary result codes (the low byte of an extended code) that mean the storage failed
_SQLITE_REASONS = {
    13: DISK_FULL,  # SQLITE_FULL
    10: "the disk could not be read or written (an input/output error: it may be full, removed or failing)",
    14: "the database file could not be opened (its folder or disk is not there, or not accessible)",
    8: "the database is read-only",
    5: "another writer held the database for longer than the busy timeout",  # SQLITE_BUSY
    6: "another writer held the database for longer than the busy timeout",  # SQLITE_LOCKED
    7: "the database ran out of memory",
    11: "the database file is damaged",  # SQLITE_CORRUPT
    26: "the database file is not a database",  # SQLITE_NOTADB
}
# PostgreSQL SQLSTATEs, most specific first
_PG_REASONS = (
    ("53100", DISK_FULL),
    ("53", "the database server ran out of resources (disk, memory or connections)"),
    ("08", UNREACHABLE),
    ("57P04", "the database is not there (it was removed or renamed)"),
    ("57P", SHUT_DOWN),
    ("3D000", "the database is not there (it was removed or renamed)"),
    ("58", "the database server could not read or write its files"),
    ("25006", "the database is read-only"),
    ("XX001", "the database's files are damaged"),
    ("XX002", "the database's files are damaged"),
)


def storage_reason(exc: BaseException) -> str | None:
    """What failed, in words, when `exc` is the storage failing (a full disk, a lost or refused connection, a file
    that cannot be opened); None for anything else, such as a constraint the data broke."""
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        return _SQLITE_REASONS.get((getattr(orig, "sqlite_errorcode", None) or 0) & 0xFF)
    state = getattr(orig, "sqlstate", None) or ""
    if exc.connection_invalidated or (not state and isinstance(exc, OperationalError)):
        return UNREACHABLE  # psycopg gives no SQLSTATE when it cannot connect or the server went away
    return next((reason for prefix, reason in _PG_REASONS if state.startswith(prefix)), None)


def storage_failure(exc: BaseException, what: str, *, committing: bool = False) -> StorageError | None:
    """A StorageError saying that `what` could not be saved and why, or None when `exc` is not a storage failure.
    A connection lost while committing on a server cannot tell whether the commit happened: the message says so."""
    reason = storage_reason(exc)
    if reason is None:
        return None
    if committing and (reason in (UNREACHABLE, SHUT_DOWN) or getattr(exc, "connection_invalidated", False)):
        return StorageError(f"{what} may not have been saved: {reason} while it was being committed. Check whether "
                            "it is there before making it again", reason)
    return StorageError(f"{what} could not be saved: {reason}. Nothing was changed; what was saved before is "
                        "intact", reason)


def database_refusal(exc: BaseException, what: str) -> RefusedError | None:
    """A constraint or a column type the data broke, in words (the constraint's name or the database's one-line
    reason, never the statement or its values), or None for other errors."""
    if not isinstance(exc, IntegrityError | DataError):
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        reason = str(orig)  # "CHECK constraint failed: ck_action_cost": SQLite's message names, it does not quote
    else:
        diag = getattr(orig, "diag", None)
        reason = (getattr(diag, "constraint_name", None) and f"constraint {diag.constraint_name}") \
            or getattr(diag, "message_primary", None) or type(orig).__name__
    return RefusedError(f"{what} was refused by the database ({reason}). Nothing was changed")


def _append_events(unit: Unit) -> None:
    """Append the transaction's events, each hashed with the audit key over the one before. The key is read first:
    without it nothing is written (AuditKeyError). So is the last stored event: a chain whose end does not verify
    with this key (another key, or a database from before the key) gets nothing appended that no key could verify."""
    if not unit.events:
        return
    chain = audit.Chain(unit.key if unit.key is not None else audit.audit_key())
    session = unit.session
    last = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    if last is not None:
        _check_tail(session, chain, last)
    prev = last.hash if last is not None else GENESIS
    at = utcnow().isoformat()
    rows = []
    for action, entity, entity_id, before, after in unit.events:
        h = chain.hash(prev, at, unit.actor, action, entity, entity_id, before, after)
        rows.append(dict(at=at, actor=unit.actor, action=action, entity=entity, entity_id=entity_id,
                         before=before, after=after, prev_hash=prev, hash=h))
        prev = h
    session.execute(insert(AuditEvent), rows)
    unit.events.clear()
    _good_tails[(str(session.get_bind().url), chain.key_id)] = prev


# the last event hash each database's chain was seen to end with, under each key: a write whose chain still ends
# there reads no more than that hash
_good_tails: dict[tuple[str, str], str] = {}


def _check_tail(session: Session, chain: audit.Chain, last: Any) -> None:
    place = (str(session.get_bind().url), chain.key_id)
    if _good_tails.get(place) == last.hash:
        return
    ev = session.execute(select(AuditEvent).where(AuditEvent.id == last.id)).scalar_one()
    fields = (ev.at, ev.actor, ev.action, ev.entity, ev.entity_id, ev.before, ev.after)
    if chain.hash(ev.prev_hash, *fields) == ev.hash:
        _good_tails[place] = ev.hash
        return
    if audit.plain_hash(ev.prev_hash, *fields) == ev.hash:
        raise AuditChainError(
            f"the audit log's last event ({ev.id}) is chained with plain SHA-256, not with the audit key: a database "
            "from before the keyed chain needs `risk audit rekey` once (docs/AUDIT.md); otherwise its history was "
            "rewritten (`risk audit verify` says where). Nothing was changed")
    raise AuditKeyError(
        f"the audit log's last event ({ev.id}) does not verify with the audit key (key id {chain.key_id}): the key "
        "is not the one this database was written with, or the event was changed (`risk audit verify` says more). "
        "Nothing was changed")


def data_version(engine: Engine) -> int:
    """The newest audit event's id: it grows with every change, so it keys caches that must not go stale."""
    with Session(engine) as session:
        return session.execute(select(func.max(AuditEvent.id))).scalar() or 0


def verify_chain(engine: Engine) -> int:
    """Walk the audit chain in order with the audit key; return the number of events, or raise AuditChainError
    naming the first that fails (risk/audit.py; `audit.verify` checks the data against it too)."""
    return audit.verify_chain(engine)


def rechain(unit: Unit, hashes: Sequence[tuple[int, str, str]]) -> None:
    """Give audit events (id, prev_hash, hash) new hashes in this write transaction: the one place the chain is
    rewritten, by `risk audit rekey` once it has checked the chain as it was (risk/audit.py)."""
    if not hashes:
        return
    t = AuditEvent.__table__
    unit.session.connection().execute(
        sql_update(t).where(t.c.id == bindparam("event_id")).values(prev_hash=bindparam("p"), hash=bindparam("h")),
        [{"event_id": i, "p": p, "h": h} for i, p, h in hashes])


def adopt_table(unit: Unit, table_name: str, hidden: Sequence[str] = ()) -> None:
    """Record every row of a table as it stands in one `adopt` event (the bulk summary of all its recorded columns):
    the audited state a database from before the keyed chain starts from (`risk audit rekey --adopt-data`)."""
    t = SQLModel.metadata.tables[table_name]
    names = [c.name for c in t.columns if c.name != "id" and c.name not in hidden]
    ids: list[int] = []
    values: dict[str, list[Any]] = {name: [] for name in names}
    result = unit.session.connection().execute(
        select(t.c.id, *(t.c[name] for name in names)).order_by(t.c.id).execution_options(yield_per=10_000))
    for chunk in result.partitions():
        columns = list(zip(*chunk, strict=True))
        ids.extend(columns[0])
        for name, column in zip(names, columns[1:], strict=True):
            values[name].extend(column)
    unit.audit("adopt", table_name, "", None, _bulk_summary(t, ids, values))


# --- single-row writes ----------------------------------------------------------------------------

def add(*, unit: Unit, obj: SQLModel, entity: str) -> SQLModel:
    """Insert one row and audit it as `create`."""
    unit.session.add(obj)
    unit.session.flush()
    unit.audit("create", entity, getattr(obj, "id", ""), None, snapshot(obj))
    return obj


def update(*, unit: Unit, obj: SQLModel, entity: str, changes: dict[str, Any]) -> SQLModel:
    """Apply `changes` to a loaded row and audit before and after (nothing is written when nothing changes)."""
    before = snapshot(obj)
    changed = {k: v for k, v in changes.items() if getattr(obj, k) != v}
    if not changed:
        return obj
    for key, value in changed.items():
        setattr(obj, key, value)
    if hasattr(obj, "updated_at"):
        obj.updated_at = utcnow()
    unit.session.add(obj)
    unit.session.flush()
    unit.audit("update", entity, getattr(obj, "id", ""), before, snapshot(obj))
    return obj


def delete(*, unit: Unit, obj: SQLModel, entity: str) -> None:
    before = snapshot(obj)
    unit.session.delete(obj)
    unit.session.flush()
    unit.audit("delete", entity, before.get("id", "") if before else "", before, None)


def update_versioned(*, unit: Unit, obj: SQLModel, entity: str, label: str, expected_version: int | None,
                     changes: dict[str, Any]) -> SQLModel:
    """Change a row only if nobody saved it since `expected_version` was on the user's screen; bumps the version
    and records who saved. `expected_version` None (scripts, imports) skips the check."""
    current = obj.version  # type: ignore[attr-defined]
    already = not any(getattr(obj, k) != v for k, v in changes.items())
    # an edit whose values are already stored (sent again after a rerun was cut short) is no conflict
    if expected_version is not None and current != expected_version and not already:
        who = getattr(obj, "updated_by", "") or "someone else"
        when = getattr(obj, "updated_at", None)
        at = f" at {when:%Y-%m-%d %H:%M} UTC" if when else ""
        raise ConflictError(
            f"{label} was changed by {who}{at} after you opened it (version {current}, yours {expected_version}): "
            "what is stored is shown again; make your change once more if it still applies"
        )
    changes = dict(changes)
    if already:
        return obj
    changes["version"] = current + 1
    changes["updated_by"] = unit.actor
    return update(unit=unit, obj=obj, entity=entity, changes=changes)


def update_risk(*, unit: Unit, risk_pk: int, expected_version: int | None, changes: dict[str, Any]) -> Risk:
    """Change a risk only if nobody saved it since `expected_version` was read; bumps the version."""
    risk = unit.session.get(Risk, risk_pk)
    if risk is None:
        raise NotFoundError(f"risk {risk_pk} does not exist")
    return update_versioned(unit=unit, obj=risk, entity="risk", label=risk.risk_id,  # type: ignore[return-value]
                            expected_version=expected_version, changes=changes)


def created_by_token(*, unit: Unit, token: str | None) -> int | None:
    """The id of what an earlier submit of the same form instance created, if it did."""
    if not token:
        return None
    row = unit.session.get(CreationToken, token)
    return row.entity_id if row is not None else None


def remember_creation(*, unit: Unit, token: str | None, entity: str, entity_id: int) -> None:
    """Note in the creating transaction that form instance `token` made `entity` `entity_id`."""
    if token:
        unit.session.add(CreationToken(token=token, entity=entity, entity_id=entity_id))
        unit.session.flush()


def _upsert(unit: Unit, table: type[SQLModel], values: dict[str, Any], keys: Sequence[str],
            update_cols: Sequence[str]) -> int:
    """Insert or update one row on its unique `keys`; returns its id (RETURNING, SQLite 3.35 and later)."""
    dialect_insert = _dialect_insert(unit.session.get_bind())
    stmt = dialect_insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in update_cols}
    ).returning(table.__table__.c.id)
    return unit.session.execute(stmt).scalar_one()


def upsert_score(*, unit: Unit, round_id: int, assessor_id: int, risk_pk: int, likelihood: int, impact: int,
                 rationale: str = "") -> None:
    """One score per (round, assessor, risk): a score sent again replaces the earlier one."""
    session = unit.session
    old = session.execute(
        select(Score).where(Score.round_id == round_id, Score.assessor_id == assessor_id,
                            Score.risk_pk == risk_pk)
    ).scalar_one_or_none()
    before = snapshot(old)
    if old is not None and (old.likelihood, old.impact, old.rationale) == (likelihood, impact, rationale):
        return
    values = dict(round_id=round_id, assessor_id=assessor_id, risk_pk=risk_pk, likelihood=likelihood,
                  impact=impact, rationale=rationale, updated_at=utcnow())
    row_id = _upsert(unit, Score, values, ("round_id", "assessor_id", "risk_pk"),
                     ("likelihood", "impact", "rationale", "updated_at"))
    if old is not None:
        session.expire(old)
    after = {"id": row_id, **{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()}}
    unit.audit("update" if old else "create", "score", f"{round_id}/{assessor_id}/{risk_pk}", before, after)


def upsert_consensus(*, unit: Unit, risk_pk: int, phase: str, likelihood: int, impact: int, rationale: str,
                     dissent: str, recorded_by: str | None = None) -> None:
    """One consensus per (risk, phase), recorded by `recorded_by` (default: the actor)."""
    session = unit.session
    old = session.execute(
        select(Consensus).where(Consensus.risk_pk == risk_pk, Consensus.phase == phase)
    ).scalar_one_or_none()
    before = snapshot(old)
    values = dict(risk_pk=risk_pk, phase=phase, likelihood=likelihood, impact=impact, rationale=rationale,
                  dissent=dissent, recorded_by=recorded_by or unit.actor, recorded_at=utcnow())
    row_id = _upsert(unit, Consensus, values, ("risk_pk", "phase"),
                     ("likelihood", "impact", "rationale", "dissent", "recorded_by", "recorded_at"))
    if old is not None:
        session.expire(old)
    after = {"id": row_id, **{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()}}
    unit.audit("update" if old else "create", "consensus", f"{risk_pk}/{phase}", before, after)


# --- bulk writes ----------------------------------------------------------------------------------
#
# Many rows are written column by column through the driver's executemany (ORM objects were 56x slower, a Core
# insert spent most of its time building per-row parameters; docs/PERFORMANCE.md), with one audit event per table
# and call. That event summarises the rows so that an auditor can recompute it from the database alone
# (docs/AUDIT.md): the table, the count, the columns written, the ids, and `sha256`, the bulk digest of the rows as
# stored (bulk_digest).

def insert_many(*, unit: Unit, table: type[SQLModel], entity: str, rows: Sequence[Mapping[str, Any]] = (),
                columns: Mapping[str, Sequence[Any]] | None = None) -> list[int]:
    """Insert many rows and audit them as one `bulk_create` event; returns their ids, in the rows' order.

    The rows come either as `rows`, dicts with the same keys, or as `columns`, a list of values per column name.
    The ids are assigned here: on SQLite the write transaction holds the database's write lock (BEGIN IMMEDIATE),
    so the next ids are max(id)+1...; on PostgreSQL they are taken from the table's sequence. When every column but
    the id is given, the rows go through the driver's executemany with the values bound column by column; otherwise
    through a Core insert, so that the columns left out get their defaults."""
    values = dict(columns) if columns is not None else _columns_of(rows)
    n = len(next(iter(values.values()))) if values else 0
    if not n:
        return []
    if any(len(v) != n for v in values.values()):
        raise ValueError("insert_many: every column needs one value per row")
    if "id" in values:
        raise ValueError("insert_many: the ids are assigned here, not given")
    t = table.__table__
    _fill_defaults(table, t, values, n)
    conn = unit.session.connection()
    ids = _next_ids(conn, t, n)
    names = list(values)
    if set(names) == set(t.c.keys()) - {"id"}:
        order = tuple(t.c.keys())
        bound = [ids] + [_bound(conn.dialect, t.c[name], values[name]) for name in order[1:]]
        conn.exec_driver_sql(_insert_sql(t.name, order, conn.dialect.name), list(zip(*bound, strict=True)))
    else:
        keys = ["id", *names]
        conn.execute(insert(t), [dict(zip(keys, r, strict=True))
                                 for r in zip(ids, *(values[name] for name in names), strict=True)])
    unit.audit("bulk_create", entity, "", None, _bulk_summary(t, ids, values))
    return ids


def _fill_defaults(table: type[SQLModel], t: Table, values: dict[str, Any], n: int) -> None:
    """Give the columns left out their model defaults, here rather than in the database, so that the rows' audit
    event records every column they were written with (a default the database filled in would be unrecorded)."""
    for name in t.c.keys():
        if name == "id" or name in values:
            continue
        spec = table.model_fields.get(name)
        if spec is None or spec.is_required():
            continue
        values[name] = [spec.get_default(call_default_factory=True)] * n


def update_many(*, unit: Unit, table: type[SQLModel], rows: Sequence[Mapping[str, Any]], entity: str,
                entity_id: object = "", expected_versions: Sequence[int] | None = None,
                before: Sequence[Any] | None = None, before_key: str = "rows",
                conflict: str = "somebody changed one of these rows meanwhile; nothing was saved") -> None:
    """Update many rows by id: each row is {"id": ..., column: new value, ...}. Rows are grouped by the columns they
    change; each group is one executemany and one `bulk_update` audit event, holding the group's `before` (one item
    per row, when given) as {before_key: [...]}. A table's `updated_at` and `updated_by` are set to now and the
    actor. With `expected_versions` (one per row) a row is updated only at that version, which grows by one; when
    any row was at another version, ConflictError(`conflict`) is raised and the transaction rolls back."""
    if not rows:
        return
    t = table.__table__
    conn = unit.session.connection()
    now = utcnow()
    groups: dict[tuple[str, ...], list[int]] = {}
    for k, row in enumerate(rows):
        groups.setdefault(tuple(sorted(name for name in row if name != "id")), []).append(k)
    for names, members in groups.items():
        if not names:
            continue
        where = [t.c.id == bindparam("where_id")]
        sets: dict[str, Any] = {name: bindparam(name) for name in names}
        if expected_versions is not None:
            where.append(t.c.version == bindparam("where_version"))
            sets["version"] = t.c.version + 1
        stamps = {name: value for name, value in (("updated_at", now), ("updated_by", unit.actor))
                  if name in t.c and name not in names}
        sets.update(stamps)
        params = [{"where_id": rows[k]["id"], **{name: rows[k][name] for name in names},
                   **({"where_version": expected_versions[k]} if expected_versions is not None else {})}
                  for k in members]
        members = sorted(members, key=lambda k: rows[k]["id"])
        columns = sorted({*names, *stamps, *(("version",) if expected_versions is not None else ())})
        stored = _stored_values(conn, t, [rows[k]["id"] for k in members], columns)
        done = conn.execute(sql_update(t).where(*where).values(sets), params).rowcount
        if done != len(members):
            raise ConflictError(conflict)
        written: dict[str, list[Any]] = {name: [rows[k][name] for k in members] for name in names}
        if expected_versions is not None:
            written["version"] = [expected_versions[k] + 1 for k in members]
        for name, value in stamps.items():
            written[name] = [value] * len(members)
        summary = _bulk_summary(t, [rows[k]["id"] for k in members], written)
        summary["rows"] = [dict(rows[k]) for k in members]
        replaced: dict[str, Any] = {before_key: [before[k] for k in members]} if before else {}
        replaced["stored"] = stored
        unit.audit("bulk_update", entity, entity_id, replaced, summary)


def bulk_upsert(*, unit: Unit, table: type[SQLModel], rows: list[dict[str, Any]], keys: Sequence[str],
                update_cols: Sequence[str], entity: str, before: list[dict[str, Any]] | None = None) -> None:
    """Insert or update many rows on their unique `keys` (one statement, executemany), one `bulk_upsert` audit
    event holding `before` (what the updated rows replaced), the rows written, and their bulk digest (the ids are
    read back by their keys)."""
    if not rows:
        return
    rows = list({tuple(r[k] for k in keys): r for r in rows}.values())  # a key given twice: its last row is stored
    t = table.__table__
    wanted = {tuple(r[k] for k in keys) for r in rows}
    there = sorted(i for key, i in _ids_by_keys(unit, t, keys, rows).items() if key in wanted)
    stored = _stored_values(unit.session.connection(), t, there, sorted(rows[0])) if there else None
    dialect_insert = _dialect_insert(unit.session.get_bind())
    stmt = dialect_insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update_cols})
    unit.session.execute(stmt, rows)
    found = _ids_by_keys(unit, t, keys, rows)
    ordered = sorted(rows, key=lambda r: found[tuple(r[k] for k in keys)])
    ids = [found[tuple(r[k] for k in keys)] for r in ordered]
    summary = _bulk_summary(t, ids, {name: [r[name] for r in ordered] for name in rows[0]})
    summary["rows"] = rows
    replaced: dict[str, Any] = {"rows": before} if before else {}
    if stored is not None:
        replaced["stored"] = stored
    unit.audit("bulk_upsert", entity, "", replaced or None, summary)


def _ids_by_keys(unit: Unit, t: Table, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[tuple, int]:
    """The ids of the stored rows whose first key column is one of the rows' (key values -> id)."""
    found: dict[tuple, int] = {}
    firsts = sorted({r[keys[0]] for r in rows}, key=repr)
    for k in range(0, len(firsts), 5000):
        query = select(t.c.id, *(t.c[name] for name in keys)).where(t.c[keys[0]].in_(firsts[k:k + 5000]))
        found.update({tuple(r[1:]): r[0] for r in unit.session.execute(query)})
    return found


def _stored_values(conn: Connection, t: Table, ids: Sequence[int], columns: Sequence[str]) -> dict[str, Any]:
    """What rows hold now in these columns, in digest form, as a bulk event's `before["stored"]` records it:
    {"columns": [...], "rows": [[id, value, ...], ...]} in id order. A later check of the data rebuilds from it what
    the event that wrote those cells before wrote (docs/AUDIT.md)."""
    got: list[tuple] = []
    ordered = sorted(ids)
    for k in range(0, len(ordered), 5000):
        got += conn.execute(select(t.c.id, *(t.c[c] for c in columns))
                            .where(t.c.id.in_(ordered[k:k + 5000])).order_by(t.c.id)).all()
    formed = [digest_values(t.c[c], [row[i + 1] for row in got]) for i, c in enumerate(columns)]
    return {"columns": list(columns), "rows": [[row[0], *(col[n] for col in formed)] for n, row in enumerate(got)]}


# --- the bulk digest --------------------------------------------------------------------------------

def bulk_digest(values: Mapping[str, Sequence[Any]]) -> str:
    """SHA-256 (hex) of the canonical JSON of {column: [its values, in id order]}, the values in digest form
    (digest_values): sorted keys, separators (",", ":"), ensure_ascii=False, UTF-8. Computed column by column,
    which gives the same text as json.dumps of the whole object."""
    return bulk_digests(values)[0]


def bulk_digests(values: Mapping[str, Sequence[Any]]) -> tuple[str, dict[str, str]]:
    """The bulk digest, and the SHA-256 of each column's own JSON list (the text between its key and the next
    comma), which lets a check name the column that differs."""
    h = hashlib.sha256(b"{")
    columns = {}
    for k, name in enumerate(sorted(values)):
        h.update(("," if k else "").encode() + _digest_json(name).encode("utf-8") + b":")
        text = _digest_json(list(values[name])).encode("utf-8")
        h.update(text)
        columns[name] = hashlib.sha256(text).hexdigest()
    h.update(b"}")
    return h.hexdigest(), columns


def digest_values(column: Any, values: Sequence[Any]) -> list[Any]:
    """`values` of a table column in digest form, the same whichever engine returns them: datetimes as UTC naive ISO
    text, dates as ISO text, booleans as true/false, floats as JSON numbers, JSON columns as their parsed values,
    integers and text as they are, NULL as null."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, DateTime):
        form = iso_utc
    elif isinstance(kind, Date):
        form = dt.date.isoformat
    elif isinstance(kind, Boolean):
        form = bool
    elif isinstance(kind, Float):
        form = float
    else:
        return list(values)
    return map_values(form, values)


def id_ranges(ids: Sequence[int]) -> list[list[int]]:
    """Sorted ids as [first, last] ranges of consecutive ids: [1, 2, 3, 7] -> [[1, 3], [7, 7]]."""
    if ids and ids[-1] - ids[0] == len(ids) - 1 and list(ids) == list(range(ids[0], ids[-1] + 1)):
        return [[ids[0], ids[-1]]]  # the usual case, a bulk insert's ids
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def recompute_bulk_digest(engine: Engine, event_id: int) -> str:
    """The bulk digest of audit event `event_id` recomputed from the rows stored now: the event's columns of the rows
    of its ids, in id order. It equals the event's `sha256` while nobody changed those rows since (docs/AUDIT.md).
    Raises NotFoundError for an event that has no bulk digest (single-row events, and bulk events written before
    the digest was defined this way)."""
    with Session(engine) as session:
        ev = session.get(AuditEvent, event_id)
        after = json.loads(ev.after) if ev is not None and ev.after else {}
        if not {"table", "columns", "ids", "sha256"} <= set(after):
            raise NotFoundError(f"audit event {event_id} holds no bulk digest")
        t = SQLModel.metadata.tables[after["table"]]
        stored: dict[str, list[Any]] = {name: [] for name in after["columns"]}
        ranges = after["ids"]
        for k in range(0, len(ranges), 500):
            query = select(*(t.c[name] for name in after["columns"])).where(
                or_(*(t.c.id.between(a, b) for a, b in ranges[k:k + 500]))).order_by(t.c.id)
            for row in session.execute(query):
                for name, value in zip(after["columns"], row, strict=True):
                    stored[name].append(value)
    return bulk_digest({name: digest_values(t.c[name], v) for name, v in stored.items()})


def bulk_events(engine: Engine) -> list[tuple[int, str, str, str]]:
    """(id, action, table, sha256) of every audit event holding a bulk digest, in order."""
    out = []
    with Session(engine) as session:
        query = select(AuditEvent.id, AuditEvent.action, AuditEvent.after).where(
            AuditEvent.action.in_(("bulk_create", "bulk_update", "bulk_upsert"))).order_by(AuditEvent.id)
        for event_id, action, after in session.execute(query):
            summary = json.loads(after) if after else {}
            if "ids" in summary and "sha256" in summary:
                out.append((event_id, action, summary["table"], summary["sha256"]))
    return out


def digest_json(value: Any) -> str:
    """Canonical JSON of a value in digest form (sorted keys, no spaces, UTF-8 characters kept)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_digest_json = digest_json


def iso_utc(value: dt.datetime) -> str:
    """A datetime's digest form: ISO text of the UTC time without an offset (a naive one is taken as UTC)."""
    if value.utcoffset() is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat()


def _bulk_summary(t: Table, ids: Sequence[int], values: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """What a bulk audit event's `after` holds: the table, the count, the columns written (besides the id), the ids
    as ranges, and the bulk digest of those columns of those rows. `ids` and `values` are in the same order, which
    is the ids' ascending order."""
    digest, columns = bulk_digests({name: digest_values(t.c[name], v) for name, v in values.items()})
    return {"table": t.name, "count": len(ids), "columns": sorted(values), "ids": id_ranges(ids), "sha256": digest,
            "column_sha256": columns}


def _columns_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    if not rows:
        return {}
    names = list(rows[0])
    if any(len(r) != len(names) for r in rows):
        raise ValueError("insert_many: every row needs the same columns")
    return {name: [r[name] for r in rows] for name in names}


def _next_ids(conn: Connection, t: Table, n: int) -> list[int]:
    """`n` new ids for table `t`, ascending. SQLite: the write transaction holds the write lock, so max(id)+1... are
    free until it commits. PostgreSQL: taken from the table's sequence (writers hold the audit lock, so they are
    consecutive in practice; the event records them as ranges either way)."""
    if conn.dialect.name == "sqlite":
        start = conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one() + 1
        return list(range(start, start + n))
    query = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
    return sorted(conn.execute(query, {"t": t.name, "n": n}).scalars())


@functools.lru_cache(maxsize=64)
def _insert_sql(table_name: str, columns: tuple[str, ...], dialect_name: str) -> str:
    """The driver-level INSERT of `columns` of a table, with positional parameters."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = sqlite.dialect() if dialect_name == "sqlite" else postgresql.psycopg.dialect(paramstyle="format")
    compiled = insert(SQLModel.metadata.tables[table_name]).compile(dialect=dialect, column_keys=list(columns))
    assert compiled.positiontup == list(columns)
    return str(compiled)


def _bound(dialect: Any, column: Any, values: Sequence[Any]) -> Sequence[Any]:
    """`values` as the column's type sends them to the driver (a value shared by many rows is bound once)."""
    proc = column.type.dialect_impl(dialect).bind_processor(dialect)
    return values if proc is None else map_values(proc, values)


def map_values(form: Any, values: Sequence[Any]) -> list[Any]:
    """[form(v) for v in values] with None kept; a value is looked up again only when it is another object than the
    one before (a bulk load repeats one timestamp object for a whole round, and hashing aware datetimes costs), and
    converted again only when it was not seen (an import's dates are equal objects of their own)."""
    out: list[Any] = []
    append = out.append
    seen: dict[Any, Any] = {}
    last: Any = _MISSING
    formed: Any = None
    for value in values:
        if value is not last:
            last = value
            if value is None:
                formed = None
            else:
                try:
                    formed = seen[value]
                except KeyError:
                    formed = seen[value] = form(value)
                except TypeError:  # unhashable: JSON lists and objects
                    formed = form(value)
        append(formed)
    return out


def count_rows(engine: Engine, table: type[SQLModel]) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def record_refusal(engine: Engine, actor: str, action: str, entity: str, entity_id: object, reason: str, *,
                   permission: str | None = None, proposal_id: int | None = None) -> None:
    """Audit an attempt the services refused for lack of permission (in its own transaction, since the attempt's
    own transaction was rolled back): the service attempted, the permission it needed (risk/access.py), why, and
    the proposal it was about when known (for the proposal's Activity history)."""
    after: dict[str, Any] = {"attempted": action, "reason": reason}
    if permission:
        after["permission"] = permission
    if proposal_id is not None:
        after["proposal_id"] = proposal_id
    with write(engine, (actor or "").strip()[:200] or "anonymous") as unit:
        unit.audit("refused", entity, entity_id, None, after)
