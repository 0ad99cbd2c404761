"""Bulk loading of whole proposals (the demo, synthetic portfolios and imports share this path).

Every bundle is validated in full before anything is written; then the proposals are written with Core inserts
(ORM objects were 56x slower here), one audit event per table and transaction with the row count and a digest.
An import or the demo is one transaction, all or nothing; a synthetic load commits whole proposals in chunks so
that other writers get their turn, and a chunked load that was interrupted finishes when it is run again (titles
already stored are skipped)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from risk import scoring, store
from risk.bundle import ProposalBundle, validate
from risk.errors import NotFoundError, RefusedError, StorageError
from risk.memory import gc_paused
from risk.models import (
    Action,
    ActionStatus,
    Consensus,
    Partner,
    PartnerStrength,
    Proposal,
    ProposalPartner,
    Risk,
    Round,
    Score,
    TeamMember,
    utcnow,
)
from risk.models import RoundResult as RoundResultRow
from risk.services.matrices import get_matrix

CHUNK_SCORES = 20_000  # a write transaction holds whole proposals up to about this many scores (~50 ms of work)


def _digest(rows: Sequence[Sequence[Any]]) -> str:
    return hashlib.sha256(repr(rows).encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=64)
def _insert_sql(table_name: str, columns: tuple[str, ...], dialect_name: str) -> tuple[str, bool]:
    """The driver-level INSERT for `columns` of a table, and whether it takes positional parameters."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = sqlite.dialect() if dialect_name == "sqlite" else postgresql.psycopg.dialect()
    compiled = insert(SQLModel.metadata.tables[table_name]).compile(dialect=dialect, column_keys=list(columns))
    return str(compiled), compiled.positiontup is not None


def _fast_insert(unit: store.Unit, table, columns: Sequence[str], rows: list[tuple], entity: str,
                 digest: str | None = None) -> None:
    """Many rows through the driver's executemany (no per-row SQLAlchemy processing), one audit event.
    Values must already be in the driver's form (see _bind)."""
    if not rows:
        return
    conn = unit.session.connection()
    sql, positional = _insert_sql(table.__tablename__, tuple(columns), conn.dialect.name)
    conn.exec_driver_sql(sql, rows if positional else [dict(zip(columns, r, strict=True)) for r in rows])
    if digest is None:
        digest = _score_digest(rows) if entity == "score" else _digest(rows)
    unit.audit("bulk_create", entity, "", None, {"count": len(rows), "sha256": digest})


def _score_digest(rows: list[tuple]) -> str:
    """Digest of score rows: their numbers as int64 bytes, then their rationales (repr would take seconds)."""
    h = hashlib.sha256(np.array([r[:5] for r in rows], dtype=np.int64).tobytes())
    h.update("\x1f".join(r[5] for r in rows).encode("utf-8"))
    return h.hexdigest()


def _bind(unit: store.Unit, table, column: str, value: Any) -> Any:
    """`value` as the column's type would send it to the driver (timestamps as SQLAlchemy stores them)."""
    col = table.__table__.c[column]
    dialect = unit.session.connection().dialect
    proc = col.type.dialect_impl(dialect).bind_processor(dialect)
    return proc(value) if proc else value


def _insert_returning(unit: store.Unit, table, rows: list[dict[str, Any]], entity: str) -> list[int]:
    """Core insert of many rows, returning their ids in order; one audit event.

    On SQLite the write transaction holds the database's write lock (BEGIN IMMEDIATE), so the next ids are known
    and given explicitly: one executemany instead of a RETURNING statement per row. PostgreSQL takes ids from its
    sequences with RETURNING."""
    if not rows:
        return []
    conn = unit.session.connection()
    t = table.__table__
    if conn.dialect.name == "sqlite":
        start = conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one() + 1
        ids = list(range(start, start + len(rows)))
        columns = tuple(t.c.keys())  # the compiled INSERT lists the columns in the table's order
        if columns[0] == "id" and set(rows[0]) == set(columns[1:]) and all(len(r) == len(columns) - 1 for r in rows):
            # every column given: the driver's executemany, values bound column by column (a Core insert spent
            # most of a 10,000-risk import building per-row parameters)
            cols = [ids]
            for name in columns[1:]:
                values = [r[name] for r in rows]
                proc = t.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                if proc:
                    try:  # one timestamp shared by every row is bound once
                        memo = {v: proc(v) for v in set(values) if v is not None}
                        values = [None if v is None else memo[v] for v in values]
                    except TypeError:  # unhashable values (JSON lists and objects)
                        values = [None if v is None else proc(v) for v in values]
                cols.append(values)
            sql, _positional = _insert_sql(t.name, columns, "sqlite")
            bound = list(zip(*cols, strict=True))
            conn.exec_driver_sql(sql, bound)
            unit.audit("bulk_create", entity, "", None, {"count": len(rows), "sha256": _digest(bound)})
            return ids
        else:
            conn.execute(insert(t), [{**r, "id": i} for r, i in zip(rows, ids, strict=True)])
    else:
        result = conn.execute(insert(t).returning(t.c.id, sort_by_parameter_order=True), rows)
        ids = [r[0] for r in result]
    unit.audit("bulk_create", entity, "", None, {"count": len(rows), "sha256": _digest(rows)})
    return ids


RESULT_COLUMNS = ("round_id", "risk_pk", "n", "lik_upper_median", "imp_upper_median", "lik_max", "imp_max",
                  "lik_ojov", "imp_ojov", "mean_likelihood", "mean_impact", "flags")  # methods in AGGREGATIONS order


def _round_results(scores: np.ndarray, partner_of_member: dict[int, int | None], rounds: dict[int, tuple[int, Any]]
                   ) -> list[tuple]:
    """Result rows of the revealed rounds of a chunk, from its scores as an int array of (round_id, member_id,
    risk_pk, likelihood, impact) rows, all in numpy: grouped by (round, risk), ordered by partner within a group,
    and summarised for every group size at once. `rounds[round_id]` is (number, date shown)."""
    scores = scores[np.isin(scores[:, 0], np.fromiter(rounds, dtype=np.int64, count=len(rounds)))]
    if not len(scores):
        return []
    lut = np.full(max(partner_of_member) + 1, -1, dtype=np.int64)
    for member, partner in partner_of_member.items():
        lut[member] = -2 if partner is None else partner
    partner = lut[scores[:, 1]]
    order = np.lexsort((partner, scores[:, 2], scores[:, 0]))
    scores, partner = scores[order], partner[order]
    starts = np.flatnonzero(np.r_[True, (scores[1:, 0] != scores[:-1, 0]) | (scores[1:, 2] != scores[:-1, 2])])
    sizes = np.diff(np.r_[starts, len(scores)])
    group_start = np.zeros(len(scores), dtype=bool)
    group_start[starts] = True
    new_partner = np.r_[True, partner[1:] != partner[:-1]] | group_start
    counter = np.cumsum(new_partner)
    slot = counter - np.repeat(counter[starts], sizes)
    out: list[tuple] = []
    for n in np.unique(sizes).tolist():
        first = starts[sizes == n]
        idx = first[:, None] + np.arange(n)[None, :]
        a = scoring.summarise_arrays(scores[idx, 3], scores[idx, 4], slot[idx])
        flags = scoring.flag_strings(a)
        cols = [scores[first, 0].tolist(), scores[first, 2].tolist(), [n] * len(first)]
        for method in scoring.AGGREGATIONS:
            cols += [a[f"lik_{method}"].tolist(), a[f"imp_{method}"].tolist()]
        cols += [a["mean_likelihood"].tolist(), a["mean_impact"].tolist(), flags]
        out += list(zip(*cols, strict=True))
    return out


def chunks(bundles: Sequence[ProposalBundle], limit: int = CHUNK_SCORES) -> list[list[ProposalBundle]]:
    """Whole proposals grouped so that each group holds up to `limit` scores (a bigger proposal goes alone)."""
    out: list[list[ProposalBundle]] = []
    size = 0
    for b in bundles:
        n = sum(len(r.scores) for r in b.rounds)
        if not out or size + n > limit:
            out.append([])
            size = 0
        out[-1].append(b)
        size += n
    return out


EXISTING = ("add", "refuse", "skip")  # what load_bundles does with a title that is already stored


class _DryRun(Exception):
    """Raised at the end of a dry run's transaction, so that everything it wrote is rolled back."""


def load_bundles(engine: Engine, bundles: Sequence[ProposalBundle], *, actor: str,
                 progress: Callable[[int, int], None] | None = None, atomic: bool = False, dry_run: bool = False,
                 existing: str = "add", what: str | None = None) -> list[int]:
    """Validate every bundle, then write them; returns each bundle's proposal id, in the bundles' order.

    `atomic`: one transaction for everything, all or nothing (imports and the demo). Otherwise transactions of
    whole proposals holding up to CHUNK_SCORES scores each, so that concurrent writers wait at most a few tens of
    milliseconds during a synthetic load of hundreds of thousands of scores; a proposal is never split.
    `dry_run`: the whole atomic write, every check of the database included, then rolled back; so a file that
    passes a dry run imports (unless someone else changed the database meanwhile).
    `existing`: what a title already stored means, checked inside the writing transaction: "add" another proposal
    of that title, "refuse" the load, or "skip" the bundle and give the stored proposal's id (so that a chunked
    load that was interrupted finishes when it is run again).
    `what` names the load in a message when the storage fails ("the import of 33 proposals")."""
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {EXISTING}, not {existing!r}")
    for k, bundle in enumerate(bundles, start=1):
        validate(bundle, f"proposal {k} ({bundle.proposal.get('title', '')!r})")
    what = what or f"the load of {len(bundles)} proposal{'' if len(bundles) == 1 else 's'}"
    atomic = atomic or dry_run
    ids: list[int] = []
    try:
        with gc_paused():
            if atomic:
                with store.write(engine, actor, what) as unit:
                    for group in chunks(bundles):
                        ids += _write_group(unit, group, len(ids) + 1, existing)
                        if progress and not dry_run:
                            progress(len(ids), len(bundles))
                    if dry_run:
                        raise _DryRun
            else:
                for group in chunks(bundles):
                    with store.write(engine, actor, what) as unit:
                        written = _write_group(unit, group, len(ids) + 1, existing)
                    ids += written
                    if progress:
                        progress(len(ids), len(bundles))
    except _DryRun:
        pass
    except DBAPIError as exc:  # a constraint or column type the checks above did not catch
        refusal = store.database_refusal(exc, what)
        if refusal is None:
            raise
        raise _kept(refusal, 0 if atomic else len(ids), len(bundles), existing, what) from None
    except RefusedError as exc:
        if ids and not atomic:
            raise _kept(exc, len(ids), len(bundles), existing, what) from None
        raise
    return ids


def _kept(exc: RefusedError, saved: int, total: int, existing: str, what: str) -> RefusedError:
    """The failure of a chunked load, saying what earlier transactions saved (nothing, for an atomic load)."""
    if not saved:
        return exc
    again = "; running the same load again adds the rest" if existing == "skip" else ""
    if isinstance(exc, StorageError):
        return StorageError(f"{what} stopped at proposal {saved + 1} of {total}: {exc.reason}. The {saved} "
                            f"proposals before it were saved and are kept, nothing of the rest was{again}",
                            exc.reason)
    return type(exc)(f"{exc}. The {saved} proposals before proposal {saved + 1} of {total} were saved and are "
                     f"kept, nothing of the rest was{again}")


def _present(session, titles: Sequence[str]) -> dict[str, int]:
    """The stored proposals of these titles: title -> id (the first, if a title is stored twice)."""
    rows = session.execute(select(Proposal.title, func.min(Proposal.id)).where(Proposal.title.in_(set(titles)))
                           .group_by(Proposal.title)).all()
    return dict(rows)


def _write_group(unit: store.Unit, bundles: list[ProposalBundle], first: int, existing: str) -> list[int]:
    """Write whole proposals in `unit`'s transaction; `first` numbers the first of them in messages. Returns
    each bundle's proposal id (a stored one's, for a bundle skipped as already there)."""
    present = {} if existing == "add" else _present(unit.session, [b.proposal["title"] for b in bundles])
    if present and existing == "refuse":
        title = next(b.proposal["title"] for b in bundles if b.proposal["title"] in present)
        raise RefusedError(f"title: a proposal called {title!r} already exists; import it with --new and another "
                           "title")
    group = [b for b in bundles if b.proposal["title"] not in present]
    for k, b in enumerate(bundles, start=first):
        if b.proposal["title"] not in present:
            try:
                get_matrix(unit.session, b.proposal.get("matrix") or scoring.DEFAULT_MATRIX)
            except NotFoundError as exc:
                raise RefusedError(f"proposal {k} ({b.proposal['title']!r}): matrix: {exc}") from None
    written = iter(_write(unit, group) if group else [])
    return [present[b.proposal["title"]] if b.proposal["title"] in present else next(written) for b in bundles]


def _write(unit: store.Unit, group: list[ProposalBundle]) -> list[int]:
    now = utcnow()
    actor = unit.actor
    s = unit.session
    proposals = []
    for b in group:
        p = dict(b.proposal)
        p["appetite"] = scoring.check_appetite_map(p.get("appetite") or {})
        p.setdefault("matrix", scoring.DEFAULT_MATRIX)
        proposals.append(Proposal(**p).model_dump(exclude={"id"}))
    pids = _insert_returning(unit, Proposal, proposals, "proposal")

    # partners are shared between proposals: reuse one of the same name
    names = list(dict.fromkeys(x["name"] for b in group for x in b.partners))
    partner_id = dict(s.execute(select(Partner.name, Partner.id).where(Partner.name.in_(names))).all())
    new = {x["name"]: x for b in group for x in b.partners if x["name"] not in partner_id}
    created = _insert_returning(unit, Partner, [
        {"name": x["name"], "kind": x.get("kind", "county"), "population": x.get("population"),
         "it_budget": x.get("it_budget"), "cost_drivers": x.get("cost_drivers") or {}} for x in new.values()],
        "partner")
    partner_id.update(zip(new, created, strict=True))
    _insert_returning(unit, ProposalPartner, [
        {"proposal_id": pid, "partner_id": partner_id[x["name"]], "role": x.get("role", "participant")}
        for pid, b in zip(pids, group, strict=True) for x in b.partners], "proposal_partner")
    _insert_returning(unit, PartnerStrength, [
        {"proposal_id": pid, "partner_id": partner_id[pn], "capability": cap, "score": v, "note": ""}
        for pid, b in zip(pids, group, strict=True) for pn, cap, v in b.strengths], "partner_strength")
    member_ids = iter(_insert_returning(unit, TeamMember, [
        {"proposal_id": pid, "name": m["name"], "partner_id": partner_id.get(m.get("partner")),
         "team_role": m.get("team_role", "assessor"), "expertise": m.get("expertise", "")}
        for pid, b in zip(pids, group, strict=True) for m in b.team], "team_member"))
    members = [{m["name"]: next(member_ids) for m in b.team} for b in group]
    risk_ids = iter(_insert_returning(unit, Risk, [
        {"proposal_id": pid, "risk_id": r["risk_id"], "category": r["category"], "title": r["title"],
         "cause": r.get("cause", ""), "event": r.get("event", ""), "consequence": r.get("consequence", ""),
         "owner_partner_id": partner_id.get(r.get("owner_partner")), "owner": r.get("owner", ""),
         "controls": r.get("controls", ""), "treatment": r.get("treatment"),
         "target_likelihood": r.get("target_likelihood"), "target_impact": r.get("target_impact"),
         "status": r.get("status", "Open"), "tags": list(r.get("tags") or []),
         "template_id": r.get("template_id"), "version": r.get("version") or 1, "updated_at": now,
         "updated_by": actor}
        for pid, b in zip(pids, group, strict=True) for r in b.risks], "risk"))
    risk_pks = [{r["risk_id"]: next(risk_ids) for r in b.risks} for b in group]

    round_rows, round_refs = [], []
    for pid, b, rpk, mem in zip(pids, group, risk_pks, members, strict=True):
        for rnd in b.rounds:
            opened = rnd.opened_at or now
            revealed = rnd.revealed_at or (now if rnd.status != "open" else None)
            closed = rnd.closed_at or (now if rnd.status == "closed" else None)
            round_rows.append({"proposal_id": pid, "phase": rnd.phase, "number": rnd.number,
                               "status": rnd.status, "opened_at": opened, "revealed_at": revealed,
                               "closed_at": closed})
            round_refs.append((b, rnd, rpk, mem, opened, closed or revealed))
    round_ids = _insert_returning(unit, Round, round_rows, "round")

    score_rows, revealed_rounds = [], {}
    for round_id, (_b, rnd, rpk, mem, opened, shown) in zip(round_ids, round_refs, strict=True):
        stamp = _bind(unit, Score, "updated_at", opened)
        score_rows += [(round_id, mem[a], rpk[rid], lik, imp, why, stamp) for rid, a, lik, imp, why in rnd.scores]
        if rnd.status != "open" and rnd.scores:
            revealed_rounds[round_id] = (rnd.number, shown.date() if shown else None)
    _fast_insert(unit, Score, ("round_id", "assessor_id", "risk_pk", "likelihood", "impact", "rationale",
                               "updated_at"), score_rows, "score")
    if revealed_rounds:
        partner_of_member = {mid: partner_id.get(m.get("partner"))
                             for b, mem in zip(group, members, strict=True)
                             for m in b.team for mid in (mem[m["name"]],)}
        grid = np.array([r[:5] for r in score_rows], dtype=np.int64)
        results = _round_results(grid, partner_of_member, revealed_rounds)
        _fast_insert(unit, RoundResultRow, RESULT_COLUMNS, results, "round_result")
    _insert_returning(unit, Consensus, [
        {"risk_pk": rpk[c["risk_id"]], "phase": c["phase"], "likelihood": c["likelihood"],
         "impact": c["impact"], "rationale": c.get("rationale", ""), "dissent": c.get("dissent", ""),
         "recorded_by": c.get("recorded_by") or actor, "recorded_at": c.get("recorded_at") or now}
        for b, rpk in zip(group, risk_pks, strict=True) for c in b.consensus], "consensus")
    _insert_returning(unit, Action, [
        {"risk_pk": rpk[a["risk_id"]], "description": a["description"], "owner": a.get("owner", ""),
         "due_date": a.get("due_date"), "status": a.get("status", ActionStatus.planned.value),
         "cost": a.get("cost"), "paying_partner_id": partner_id.get(a.get("paying_partner"))}
        for b, rpk in zip(group, risk_pks, strict=True) for a in b.actions], "action")
    return pids
