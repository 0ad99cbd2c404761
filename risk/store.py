"""The one module that writes. Every change happens inside `write(engine, actor)`, which opens a write
transaction (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), and appends one audit event per change,
each holding the hash of the one before, in that same transaction. Bulk work writes one event per batch."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, SQLModel

from risk.db import is_sqlite, writer
from risk.errors import AuditChainError, ConflictError, NotFoundError, RefusedError, StorageError
from risk.models import AuditEvent, Consensus, CreationToken, Risk, Score, utcnow

AUDIT_LOCK = 0x41554449  # "AUDI": serialises the hash chain on PostgreSQL
GENESIS = "0" * 64


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces: the text an audit hash is computed over."""
    if value is None or value == "":
        return ""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def event_hash(prev_hash: str, at: str, actor: str, action: str, entity: str, entity_id: str,
               before: str, after: str) -> str:
    payload = json.dumps([prev_hash, at, actor, action, entity, entity_id, before, after],
                         separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def snapshot(obj: SQLModel | None) -> dict[str, Any] | None:
    return None if obj is None else obj.model_dump(mode="json")


@dataclass
class Unit:
    """One write transaction: a session, who is acting, and the audit events to append on commit."""

    session: Session
    actor: str
    events: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def audit(self, action: str, entity: str, entity_id: object = "", before: Any = None,
              after: Any = None) -> None:
        self.events.append((action, entity, str(entity_id), canonical(before), canonical(after)))


@contextmanager
def write(engine: Engine, actor: str, what: str = "the change") -> Iterator[Unit]:
    """A write transaction that commits with its audit events, or rolls back entirely. When the storage fails (a
    full disk, a lost connection) it raises StorageError saying in words that `what` could not be saved."""
    actor = (actor or "").strip()
    if not actor:
        raise RefusedError("who is acting: a change needs a name to record in the audit log, none was given")
    committing = False
    try:
        with Session(writer(engine), expire_on_commit=False) as session:
            unit = Unit(session=session, actor=actor)
            try:
                if not is_sqlite(engine):
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
                yield unit
                session.flush()
                _append_events(unit)
                committing = True
                session.commit()
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
    if not unit.events:
        return
    session = unit.session
    prev = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    prev = prev or GENESIS
    at = utcnow().isoformat()
    rows = []
    for action, entity, entity_id, before, after in unit.events:
        h = event_hash(prev, at, unit.actor, action, entity, entity_id, before, after)
        rows.append(dict(at=at, actor=unit.actor, action=action, entity=entity, entity_id=entity_id,
                         before=before, after=after, prev_hash=prev, hash=h))
        prev = h
    session.execute(insert(AuditEvent), rows)
    unit.events.clear()


def data_version(engine: Engine) -> int:
    """The newest audit event's id: it grows with every change, so it keys caches that must not go stale."""
    with Session(engine) as session:
        return session.execute(select(func.max(AuditEvent.id))).scalar() or 0


def verify_chain(engine: Engine) -> int:
    """Walk the audit chain in order; return the number of events, or raise naming the first that fails."""
    prev = GENESIS
    count = 0
    with Session(engine) as session:
        result = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        for ev in result.yield_per(2000):
            if ev.prev_hash != prev:
                raise AuditChainError(
                    f"audit event {ev.id} ({ev.action} {ev.entity} {ev.entity_id} by {ev.actor} at {ev.at}) does "
                    "not follow the event before it: an event was removed or reordered"
                )
            expected = event_hash(prev, ev.at, ev.actor, ev.action, ev.entity, ev.entity_id, ev.before, ev.after)
            if ev.hash != expected:
                raise AuditChainError(
                    f"audit event {ev.id} ({ev.action} {ev.entity} {ev.entity_id} by {ev.actor} at {ev.at}) does "
                    "not match its hash: it was changed after it was written"
                )
            prev = ev.hash
            count += 1
    return count


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
            update_cols: Sequence[str]):
    dialect_insert = sqlite_insert if is_sqlite(unit.session.get_bind()) else pg_insert
    stmt = dialect_insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in update_cols}
    )
    unit.session.execute(stmt)


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
    _upsert(unit, Score, values, ("round_id", "assessor_id", "risk_pk"),
            ("likelihood", "impact", "rationale", "updated_at"))
    if old is not None:
        session.expire(old)
    after = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()}
    unit.audit("update" if old else "create", "score", f"{round_id}/{assessor_id}/{risk_pk}", before, after)


def upsert_consensus(*, unit: Unit, risk_pk: int, phase: str, likelihood: int, impact: int, rationale: str,
                     dissent: str) -> None:
    session = unit.session
    old = session.execute(
        select(Consensus).where(Consensus.risk_pk == risk_pk, Consensus.phase == phase)
    ).scalar_one_or_none()
    before = snapshot(old)
    values = dict(risk_pk=risk_pk, phase=phase, likelihood=likelihood, impact=impact, rationale=rationale,
                  dissent=dissent, recorded_by=unit.actor, recorded_at=utcnow())
    _upsert(unit, Consensus, values, ("risk_pk", "phase"),
            ("likelihood", "impact", "rationale", "dissent", "recorded_by", "recorded_at"))
    if old is not None:
        session.expire(old)
    after = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()}
    unit.audit("update" if old else "create", "consensus", f"{risk_pk}/{phase}", before, after)


# --- bulk writes ----------------------------------------------------------------------------------

def bulk_insert(*, unit: Unit, table: type[SQLModel], rows: list[dict[str, Any]], entity: str,
                returning_ids: bool = False) -> list[int]:
    """Insert many rows with one Core statement and one audit event holding their count and a digest."""
    if not rows:
        return []
    digest = canonical_digest(rows)
    ids: list[int] = []
    if returning_ids:
        # executemany with RETURNING keeps the order of `rows` (SQLAlchemy's "insertmanyvalues").
        result = unit.session.execute(insert(table).returning(table.id, sort_by_parameter_order=True), rows)
        ids = [r[0] for r in result]
    else:
        unit.session.execute(insert(table), rows)
    unit.audit("bulk_create", entity, "", None, {"count": len(rows), "sha256": digest})
    return ids


def canonical_digest(rows: Any) -> str:
    return hashlib.sha256(canonical(rows).encode("utf-8")).hexdigest()


def bulk_upsert(*, unit: Unit, table: type[SQLModel], rows: list[dict[str, Any]], keys: Sequence[str],
                update_cols: Sequence[str], entity: str, before: list[dict[str, Any]] | None = None) -> None:
    """Insert or update many rows on their unique `keys` (one statement, executemany), one audit event holding
    `before` (what the updated rows replaced) and the rows written."""
    if not rows:
        return
    dialect_insert = sqlite_insert if is_sqlite(unit.session.get_bind()) else pg_insert
    stmt = dialect_insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update_cols})
    unit.session.execute(stmt, rows)
    unit.audit("bulk_upsert", entity, "", {"rows": before} if before else None,
               {"count": len(rows), "sha256": canonical_digest(rows), "rows": rows})


def count_rows(engine: Engine, table: type[SQLModel]) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def record_refusal(engine: Engine, actor: str, action: str, entity: str, entity_id: object, reason: str) -> None:
    """Audit an attempt the services refused for lack of permission (in its own transaction, since the attempt's
    own transaction was rolled back)."""
    with write(engine, actor or "anonymous") as unit:
        unit.audit("refused", entity, entity_id, None, {"attempted": action, "reason": reason})
