"""The full-fidelity JSON export of one proposal or all of them.

Shape: {"format": "risk-workbench", "format_version": 1, "exported_at", "audit_head", "proposals": [...]}, where
`audit_head` is the audit log's head (`ID:HASH`, docs/AUDIT.md) when the export was read, or null; each proposal has
its settings, partners, team, rounds (revealed and closed only), and risks with their scores (names, not ids;
round numbers within the phase), standing inherent and residual values, consensus and actions."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access
from risk.audit import head_of
from risk.models import (
    Action,
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
from risk.scoring import CATEGORIES
from risk.services.matrices import get_matrix
from risk.services.profile import FEEDING, build_views, load_consensus, load_results

FORMAT_VERSION = 1


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_document(engine: Engine, proposal_ids: Sequence[int] | None = None, *, actor: str | None = None) -> dict:
    """The export as a dict; `proposal_ids=None` exports every proposal, ordered by id. With `actor`, only the
    proposals it may see: None exports those, and an id it may not see is refused (risk/access.py)."""
    if actor is not None:
        proposal_ids = access.check_visible(engine, actor, proposal_ids, "export")
    with Session(engine) as session:
        audit_head = head_of(session)  # first: the data read after it holds at least what the head covers
        q = select(Proposal).order_by(Proposal.id)
        if proposal_ids is not None:
            q = q.where(Proposal.id.in_(list(proposal_ids)))
        proposals = list(session.execute(q).scalars())
        out = []
        for p in proposals:
            partners = {x.id: x for x in session.execute(
                select(Partner).join(ProposalPartner, ProposalPartner.partner_id == Partner.id)
                .where(ProposalPartner.proposal_id == p.id)).scalars()}
            out.append(_proposal(session, p, partners))
    return {"format": "risk-workbench", "format_version": FORMAT_VERSION, "exported_at": utcnow().isoformat(),
            "audit_head": audit_head, "proposals": out}


def export_json(engine: Engine, proposal_ids: Sequence[int] | None = None, *, actor: str | None = None) -> bytes:
    return json.dumps(export_document(engine, proposal_ids, actor=actor), indent=2, ensure_ascii=False).encode("utf-8")


def _proposal(session: Session, proposal: Proposal, partners: dict[int, Partner]) -> dict:
    pid = proposal.id
    matrix = get_matrix(session, proposal.matrix)
    links = session.execute(select(ProposalPartner).where(ProposalPartner.proposal_id == pid)
                            .order_by(ProposalPartner.id)).scalars().all()
    members = session.execute(select(TeamMember).where(TeamMember.proposal_id == pid)
                              .order_by(TeamMember.id)).scalars().all()
    member_by_id = {m.id: m for m in members}
    rounds = session.execute(select(Round).where(Round.proposal_id == pid, Round.status.in_(FEEDING))
                             .order_by(Round.phase, Round.number)).scalars().all()
    round_by_id = {r.id: r for r in rounds}
    risks = session.execute(select(Risk).where(Risk.proposal_id == pid).order_by(Risk.id)).scalars().all()
    scores = session.execute(select(Score).where(Score.round_id.in_(list(round_by_id)))
                             .order_by(Score.risk_pk, Score.round_id, Score.assessor_id)).scalars().all() \
        if round_by_id else []
    consensus_rows = session.execute(
        select(Consensus).join(Risk, Risk.id == Consensus.risk_pk).where(Risk.proposal_id == pid)
    ).scalars().all()
    actions = session.execute(
        select(Action).join(Risk, Risk.id == Action.risk_pk).where(Risk.proposal_id == pid).order_by(Action.id)
    ).scalars().all()

    name_of = {k: p.name for k, p in partners.items()}
    scores_by_risk: dict[int, list[Score]] = defaultdict(list)
    for s in scores:
        scores_by_risk[s.risk_pk].append(s)
    views = build_views(proposal, matrix, list(risks), load_results(session, proposal_id=pid),
                        load_consensus(session, proposal_id=pid), name_of)
    consensus_full = {(c.risk_pk, c.phase): c for c in consensus_rows}
    actions_by_risk: dict[int, list[Action]] = defaultdict(list)
    for a in actions:
        actions_by_risk[a.risk_pk].append(a)

    risk_docs = []
    for view in views:
        risk = view.risk
        risk_docs.append({
            "risk_id": risk.risk_id,
            "category": risk.category,
            "category_name": CATEGORIES[risk.category],
            "title": risk.title,
            "cause": risk.cause,
            "event": risk.event,
            "consequence": risk.consequence,
            "owner_partner": view.owner_partner or None,
            "owner": risk.owner,
            "controls": risk.controls,
            "treatment": risk.treatment,
            "target_likelihood": risk.target_likelihood,
            "target_impact": risk.target_impact,
            "status": risk.status,
            "tags": list(risk.tags or []),
            "template_id": risk.template_id,
            "frequency": risk.frequency,
            "loss_low": risk.loss_low,
            "loss_high": risk.loss_high,
            "version": risk.version,
            "scores": [
                {
                    "round": round_by_id[s.round_id].number,
                    "phase": round_by_id[s.round_id].phase,
                    "assessor": member_by_id[s.assessor_id].name,
                    "partner": name_of.get(member_by_id[s.assessor_id].partner_id),
                    "likelihood": s.likelihood,
                    "impact": s.impact,
                    "rationale": s.rationale,
                }
                for s in scores_by_risk.get(risk.id, [])
            ],
            "consensus": [
                {"phase": phase, "likelihood": c.likelihood, "impact": c.impact, "rationale": c.rationale,
                 "dissent": c.dissent, "recorded_by": c.recorded_by, "recorded_at": _iso(c.recorded_at)}
                for phase in ("inherent", "residual")
                if (c := consensus_full.get((risk.id, phase))) is not None
            ],
            "inherent": view.inherent.as_dict(),
            "residual": view.residual.as_dict(),
            "appetite": view.appetite,
            "over_appetite": view.over_appetite,
            "next_review": _iso(view.next_review),
            "actions": [
                {"description": a.description, "owner": a.owner, "due_date": _iso(a.due_date), "status": a.status,
                 "cost": a.cost, "paying_partner": name_of.get(a.paying_partner_id)}
                for a in actions_by_risk.get(risk.id, [])
            ],
        })

    return {
        "id": pid,
        "title": proposal.title,
        "service_type": proposal.service_type,
        "description": proposal.description,
        "phase": proposal.phase,
        "status": proposal.status,
        "matrix": matrix.name,
        "levels": list(matrix.levels),
        "aggregation": proposal.aggregation,
        "cybersecurity": proposal.cybersecurity,
        "appetite": dict(proposal.appetite or {}),
        "currency": proposal.currency,
        "cost_horizon": proposal.cost_horizon,
        "allocation": dict(proposal.allocation or {}),
        "calibration": dict(proposal.calibration or {}),
        "created_at": _iso(proposal.created_at),
        "updated_at": _iso(proposal.updated_at),
        "partners": [
            {"name": partners[link.partner_id].name, "kind": partners[link.partner_id].kind,
             "role": link.role, "population": partners[link.partner_id].population,
             "it_budget": partners[link.partner_id].it_budget,
             "cost_drivers": partners[link.partner_id].cost_drivers,
             "assessed_value": partners[link.partner_id].assessed_value,
             "status_quo_cost": link.status_quo_cost, "drivers": dict(link.drivers or {}),
             "exit_cost": link.exit_cost}
            for link in links
        ],
        "costs": [
            {"name": c.name, "kind": c.kind, "amount": c.amount, "first_year": c.first_year, "years": c.years,
             "credit_partner": name_of.get(c.credit_partner_id)}
            for c in session.execute(select(CostLine).where(CostLine.proposal_id == pid).order_by(CostLine.id))
            .scalars()
        ],
        "team": [
            {"name": m.name, "partner": name_of.get(m.partner_id), "team_role": m.team_role,
             "expertise": m.expertise}
            for m in members
        ],
        "rounds": [
            {"phase": r.phase, "number": r.number, "status": r.status, "opened_at": _iso(r.opened_at),
             "revealed_at": _iso(r.revealed_at), "closed_at": _iso(r.closed_at)}
            for r in rounds
        ],
        "strengths": [
            {"partner": name_of.get(pid_), "capability": cap, "score": score}
            for pid_, cap, score in session.execute(
                select(PartnerStrength.partner_id, PartnerStrength.capability, PartnerStrength.score)
                .where(PartnerStrength.proposal_id == pid).order_by(PartnerStrength.id))
        ],
        "risks": risk_docs,
        **_decisions(session, pid, name_of, {r.id: r.risk_id for r in risks}),
    }


def _decisions(session: Session, pid: int, name_of: dict[int, str], risk_ids: dict[int, str]) -> dict:
    """The proposal's snapshots and its partners' decisions with their conditions (docs/DECISIONS.md): a decision
    names its snapshot by the snapshot's SHA-256, and a re-affirmed one by its position in the list."""
    shots = session.execute(select(Snapshot).where(Snapshot.proposal_id == pid).order_by(Snapshot.id)).scalars().all()
    sha_of = {x.id: x.sha256 for x in shots}
    decisions = session.execute(select(Decision).where(Decision.proposal_id == pid).order_by(Decision.id)
                                ).scalars().all()
    position = {d.id: k for k, d in enumerate(decisions, start=1)}
    conditions: dict[int, list[DecisionCondition]] = defaultdict(list)
    if decisions:
        for c in session.execute(select(DecisionCondition).where(DecisionCondition.decision_id.in_(list(position)))
                                 .order_by(DecisionCondition.id)).scalars():
            conditions[c.decision_id].append(c)
    return {
        "snapshots": [{"taken_at": _iso(x.taken_at), "taken_by": x.taken_by, "reason": x.reason,
                       "sha256": x.sha256, "audit_head": x.audit_head, "content": x.content} for x in shots],
        "decisions": [{"partner": name_of.get(d.partner_id), "decision": d.decision, "rationale": d.rationale,
                       "by": d.decided_by, "recorded_by": d.recorded_by, "recorded_at": _iso(d.recorded_at),
                       "snapshot": sha_of.get(d.snapshot_id), "reaffirms": position.get(d.reaffirms_id),
                       "conditions": [{"text": c.text, "owner": c.owner, "due_date": _iso(c.due_date),
                                       "status": c.status, "risk_id": risk_ids.get(c.risk_pk)}
                                      for c in conditions[d.id]]} for d in decisions],
    }
