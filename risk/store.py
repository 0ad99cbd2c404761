"""The one module that writes. Every change happens inside `write(engine, actor)`, which opens a write
transaction (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), and appends one audit event per change,
each holding the hash of the one before, in that same transaction. Bulk work writes one event per batch."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel

from risk.db import is_sqlite, writer
from risk.errors import AuditChainError, ConflictError, NotFoundError, RefusedError
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
def write(engine: Engine, actor: str) -> Iterator[Unit]:
    """A write transaction that commits with its audit events, or rolls back entirely."""
    actor = (actor or "").strip()
    if not actor:
        raise RefusedError("who is acting: a change needs a name to record in the audit log, none was given")
    with Session(writer(engine), expire_on_commit=False) as session:
        if not is_sqlite(engine):
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
        unit = Unit(session=session, actor=actor)
        try:
            yield unit
            session.flush()
            _append_events(unit)
            session.commit()
        except BaseException:
            session.rollback()
            raise


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
    if expected_version is not None and current != expected_version:
        who = getattr(obj, "updated_by", "") or "someone else"
        when = getattr(obj, "updated_at", None)
        at = f" at {when:%Y-%m-%d %H:%M} UTC" if when else ""
        raise ConflictError(
            f"{label} was changed by {who}{at} after you opened it (version {current}, yours {expected_version}): "
            "what is stored is shown again; make your change once more if it still applies"
        )
    changes = dict(changes)
    if not any(getattr(obj, k) != v for k, v in changes.items()):
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
