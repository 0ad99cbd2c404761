"""Bulk loading of whole proposals (the demo, synthetic portfolios and imports share this path).

Every bundle is validated in full before anything is written; then the proposals' rows are built here and written
by store.insert_many (the driver's executemany, column by column: ORM objects were 56x slower here), one audit
event per table and transaction with the row count, the ids and the bulk digest (docs/AUDIT.md).
An import or the demo is one transaction, all or nothing; a synthetic load commits whole proposals in chunks so
that other writers get their turn, and a chunked load that was interrupted finishes when it is run again (titles
already stored are skipped).

Every load creates proposals: the actor needs the permission "import_new" (risk/access.py), checked in each
writing transaction. Team members are linked to the accounts that match them; an account that is not an
administrator and is on none of the teams it loads joins each as a facilitator, so that it sees what it loaded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from risk import access, scoring, store
from risk.bundle import ProposalBundle, validate
from risk.errors import NotFoundError, RefusedError, StorageError
from risk.memory import gc_paused
from risk.models import (
    Action,
    ActionStatus,
    Consensus,
    CostLine,
    Decision,
    DecisionCondition,
    Partner,
    PartnerStrength,
    Proposal,
    ProposalPartner,
    Risk,
    Round,
    Score,
    Snapshot,
    TeamMember,
    utcnow,
)
from risk.models import RoundResult as RoundResultRow
from risk.services.matrices import get_matrix

CHUNK_SCORES = 20_000  # a write transaction holds whole proposals up to about this many scores (~50 ms of work)


SCORE_COLUMNS = ("round_id", "assessor_id", "risk_pk", "likelihood", "impact", "rationale", "updated_at")
RESULT_COLUMNS = scoring.RESULT_COLUMNS  # the stored round-result columns, methods in AGGREGATIONS order


def _round_results(scores: np.ndarray, partner_of_member: dict[int, int | None], rounds: dict[int, tuple[int, Any]]
                   ) -> dict[str, list]:
    """Result columns (RESULT_COLUMNS, a list of values each) of the revealed rounds of a chunk, from its scores
    as an int array of (round_id, member_id, risk_pk, likelihood, impact) rows, all in numpy: grouped by (round,
    risk), ordered by partner within a group, and summarised for every group size at once. `rounds[round_id]` is
    (number, date shown)."""
    scores = scores[np.isin(scores[:, 0], np.fromiter(rounds, dtype=np.int64, count=len(rounds)))]
    out: dict[str, list] = {name: [] for name in RESULT_COLUMNS}
    if not len(scores):
        return out
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
    for n in np.unique(sizes).tolist():
        first = starts[sizes == n]
        idx = first[:, None] + np.arange(n)[None, :]
        a = scoring.summarise_arrays(scores[idx, 3], scores[idx, 4], slot[idx])
        flags = scoring.flag_strings(a)
        cols = [scores[first, 0].tolist(), scores[first, 2].tolist(), [n] * len(first)]
        for method in scoring.AGGREGATIONS:
            cols += [a[f"lik_{method}"].tolist(), a[f"imp_{method}"].tolist()]
        cols += [a["mean_likelihood"].tolist(), a["mean_impact"].tolist(), flags]
        for name, values in zip(RESULT_COLUMNS, cols, strict=True):
            out[name] += values
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


@access.audited("proposal")
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
                    who = access.require(unit.session, actor, "import_new")
                    for group in chunks(bundles):
                        ids += _write_group(unit, group, len(ids) + 1, existing, who)
                        if progress and not dry_run:
                            progress(len(ids), len(bundles))
                    if dry_run:
                        raise _DryRun
            else:
                for group in chunks(bundles):
                    with store.write(engine, actor, what) as unit:
                        who = access.require(unit.session, actor, "import_new")
                        written = _write_group(unit, group, len(ids) + 1, existing, who)
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


def _write_group(unit: store.Unit, bundles: list[ProposalBundle], first: int, existing: str,
                 who: access.Principal) -> list[int]:
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
    written = iter(_write(unit, group, who) if group else [])
    return [present[b.proposal["title"]] if b.proposal["title"] in present else next(written) for b in bundles]


def _write(unit: store.Unit, group: list[ProposalBundle], who: access.Principal) -> list[int]:
    now = utcnow()
    actor = unit.actor
    s = unit.session
    proposals = []
    for b in group:
        p = dict(b.proposal)
        p["appetite"] = p.get("appetite") or scoring.default_appetite()  # validate() gave the full map
        p.setdefault("matrix", scoring.DEFAULT_MATRIX)
        proposals.append(Proposal(**p).model_dump(exclude={"id"}))
    pids = store.insert_many(unit=unit, table=Proposal, rows=proposals, entity="proposal")

    # partners are shared between proposals: reuse one of the same name
    names = list(dict.fromkeys(x["name"] for b in group for x in b.partners))
    partner_id = dict(s.execute(select(Partner.name, Partner.id).where(Partner.name.in_(names))).all())
    new = {x["name"]: x for b in group for x in b.partners if x["name"] not in partner_id}
    created = store.insert_many(unit=unit, table=Partner, rows=[
        {"name": x["name"], "kind": x.get("kind", "county"), "population": x.get("population"),
         "it_budget": x.get("it_budget"), "cost_drivers": x.get("cost_drivers") or {},
         "assessed_value": x.get("assessed_value")} for x in new.values()],
        entity="partner")
    partner_id.update(zip(new, created, strict=True))
    store.insert_many(unit=unit, table=ProposalPartner, rows=[
        {"proposal_id": pid, "partner_id": partner_id[x["name"]], "role": x.get("role", "participant"),
         "status_quo_cost": x.get("status_quo_cost"), "drivers": x.get("drivers") or {},
         "exit_cost": x.get("exit_cost")}
        for pid, b in zip(pids, group, strict=True) for x in b.partners], entity="proposal_partner")
    store.insert_many(unit=unit, table=CostLine, rows=[
        {"proposal_id": pid, "name": c["name"], "kind": c["kind"], "amount": c["amount"],
         "first_year": c["first_year"], "years": c["years"], "credit_partner_id": partner_id.get(c["credit_partner"])}
        for pid, b in zip(pids, group, strict=True) for c in b.costs], entity="cost_line")
    store.insert_many(unit=unit, table=PartnerStrength, rows=[
        {"proposal_id": pid, "partner_id": partner_id[pn], "capability": cap, "score": v, "note": ""}
        for pid, b in zip(pids, group, strict=True) for pn, cap, v in b.strengths], entity="partner_strength")
    all_members = store.insert_many(unit=unit, table=TeamMember, rows=[
        {"proposal_id": pid, "name": m["name"], "partner_id": partner_id.get(m.get("partner")),
         "team_role": m.get("team_role", "assessor"), "expertise": m.get("expertise", "")}
        for pid, b in zip(pids, group, strict=True) for m in b.team], entity="team_member")
    member_ids = iter(all_members)
    members = [{m["name"]: next(member_ids) for m in b.team} for b in group]
    access.link_members(unit, all_members)
    if who.account_id is not None and not who.is_admin:  # the loader sees what it loaded: on its team
        from risk.services.proposals import join_as_facilitator

        for pid in pids:
            join_as_facilitator(unit, pid, who.account_id)
    risk_ids = iter(store.insert_many(unit=unit, table=Risk, rows=[
        {"proposal_id": pid, "risk_id": r["risk_id"], "category": r["category"], "title": r["title"],
         "cause": r.get("cause", ""), "event": r.get("event", ""), "consequence": r.get("consequence", ""),
         "owner_partner_id": partner_id.get(r.get("owner_partner")), "owner": r.get("owner", ""),
         "controls": r.get("controls", ""), "treatment": r.get("treatment"),
         "target_likelihood": r.get("target_likelihood"), "target_impact": r.get("target_impact"),
         "status": r.get("status", "Open"), "tags": list(r.get("tags") or []),
         "template_id": r.get("template_id"), "frequency": r.get("frequency"), "loss_low": r.get("loss_low"),
         "loss_high": r.get("loss_high"), "version": r.get("version") or 1, "updated_at": now,
         "updated_by": actor}
        for pid, b in zip(pids, group, strict=True) for r in b.risks], entity="risk"))
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
    round_ids = store.insert_many(unit=unit, table=Round, rows=round_rows, entity="round")

    scores: dict[str, list] = {name: [] for name in SCORE_COLUMNS}
    revealed_rounds = {}
    for round_id, (_b, rnd, rpk, mem, opened, shown) in zip(round_ids, round_refs, strict=True):
        if not rnd.scores:
            continue
        rids, assessors, liks, imps, whys = zip(*rnd.scores, strict=True)
        n = len(rids)
        scores["round_id"] += [round_id] * n
        scores["assessor_id"] += [mem[a] for a in assessors]
        scores["risk_pk"] += [rpk[rid] for rid in rids]
        scores["likelihood"] += liks
        scores["impact"] += imps
        scores["rationale"] += whys
        scores["updated_at"] += [opened] * n
        if rnd.status != "open":
            revealed_rounds[round_id] = (rnd.number, shown.date() if shown else None)
    store.insert_many(unit=unit, table=Score, columns=scores, entity="score")
    if revealed_rounds:
        partner_of_member = {mid: partner_id.get(m.get("partner"))
                             for b, mem in zip(group, members, strict=True)
                             for m in b.team for mid in (mem[m["name"]],)}
        grid = np.array([scores[name] for name in SCORE_COLUMNS[:5]], dtype=np.int64).T
        results = _round_results(grid, partner_of_member, revealed_rounds)
        store.insert_many(unit=unit, table=RoundResultRow, columns=results, entity="round_result")
    store.insert_many(unit=unit, table=Consensus, rows=[
        {"risk_pk": rpk[c["risk_id"]], "phase": c["phase"], "likelihood": c["likelihood"],
         "impact": c["impact"], "rationale": c.get("rationale", ""), "dissent": c.get("dissent", ""),
         "recorded_by": c.get("recorded_by") or actor, "recorded_at": c.get("recorded_at") or now}
        for b, rpk in zip(group, risk_pks, strict=True) for c in b.consensus], entity="consensus")
    store.insert_many(unit=unit, table=Action, rows=[
        {"risk_pk": rpk[a["risk_id"]], "description": a["description"], "owner": a.get("owner", ""),
         "due_date": a.get("due_date"), "status": a.get("status", ActionStatus.planned.value),
         "cost": a.get("cost"), "paying_partner_id": partner_id.get(a.get("paying_partner"))}
        for b, rpk in zip(group, risk_pks, strict=True) for a in b.actions], entity="action")
    _write_decisions(unit, pids, group, partner_id, risk_pks)
    return pids


def _write_decisions(unit: store.Unit, pids: list[int], group: list[ProposalBundle], partner_id: dict[str, int],
                     risk_pks: list[dict[str, int]]) -> None:
    """The bundles' snapshots, decisions and conditions (docs/DECISIONS.md). Decisions go one at a time, in their
    order, since a re-affirmed one names an earlier one."""
    for pid, b, rpk in zip(pids, group, risk_pks, strict=True):
        if not b.snapshots and not b.decisions:
            continue
        shot_ids = store.insert_many(unit=unit, table=Snapshot, entity="snapshot", rows=[
            {"proposal_id": pid, "taken_at": x.get("taken_at") or utcnow(), "taken_by": x["taken_by"],
             "reason": x["reason"], "sha256": x["sha256"], "audit_head": x["audit_head"], "content": x["content"]}
            for x in b.snapshots])
        by_sha: dict[str, int] = {}
        for x, sid in zip(b.snapshots, shot_ids, strict=True):
            by_sha.setdefault(x["sha256"], sid)
        decision_ids: list[int] = []
        for d in b.decisions:
            (did,) = store.insert_many(unit=unit, table=Decision, entity="decision", rows=[
                {"proposal_id": pid, "partner_id": partner_id[d["partner"]], "decision": d["decision"],
                 "rationale": d["rationale"], "decided_by": d["by"], "recorded_by": d["recorded_by"],
                 "recorded_at": d.get("recorded_at") or utcnow(), "snapshot_id": by_sha[d["snapshot"]],
                 "reaffirms_id": decision_ids[d["reaffirms"] - 1] if d.get("reaffirms") else None}])
            decision_ids.append(did)
            if d["conditions"]:
                store.insert_many(unit=unit, table=DecisionCondition, entity="decision_condition", rows=[
                    {"decision_id": did, "text": c["text"], "owner": c.get("owner", ""),
                     "due_date": c.get("due_date"), "status": c.get("status", "open"),
                     "risk_pk": rpk.get(c["risk_id"]) if c.get("risk_id") else None, "action_id": None}
                    for c in d["conditions"]])
