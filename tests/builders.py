"""Small builders for tests: a proposal with partners, a team and risks, in one call."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from risk.services import proposals as ps
from risk.services import rounds as rs

ACTOR = "test:facilitator"


@dataclass
class Built:
    proposal_id: int
    partners: list[int]
    members: list[int]  # the assessors (the facilitator, named ACTOR, is on the team too)
    risks: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # assessor id -> name


def make_proposal(engine: Engine, *, partners: int = 3, assessors_per_partner: int = 1, risks: int = 2,
                  title: str = "Regional 911/CAD", **fields) -> Built:
    pid = ps.create_proposal(engine, actor=ACTOR, title=title, service_type="911/CAD", **fields)
    partner_ids = []
    for k in range(partners):
        partner_id = ps.add_partner(engine, actor=ACTOR, name=f"{title} partner {k + 1}",
                                    kind="county" if k == 0 else "city", population=10_000 * (k + 1),
                                    it_budget=1_000_000.0 * (k + 1))
        ps.link_partner(engine, actor=ACTOR, proposal_id=pid, partner_id=partner_id,
                        role="lead" if k == 0 else "participant")
        partner_ids.append(partner_id)
    members = []
    if partner_ids:  # the facilitator who runs the rounds; ACTOR is their name
        ps.add_team_member(engine, actor=ACTOR, proposal_id=pid, name=ACTOR, partner_id=partner_ids[0],
                           team_role="facilitator")
    for k, partner_id in enumerate(partner_ids):
        for j in range(assessors_per_partner):
            members.append(ps.add_team_member(engine, actor=ACTOR, proposal_id=pid, name=f"Assessor {k + 1}.{j + 1}",
                                              partner_id=partner_id, team_role="assessor"))
    built = Built(pid, partner_ids, members, names={m.id: m.name for m in ps.team(engine, pid)})
    for k in range(risks):
        built.risks.append(ps.add_risk(engine, actor=ACTOR, proposal_id=pid, category="legal",
                                       title=f"Risk {k + 1}", cause="a cause", event="an event",
                                       consequence="a consequence"))
    return built


def score_round(engine: Engine, built: Built, phase: str, scores: dict[int, list[tuple[int, int]]],
                *, reveal: bool = True) -> int:
    """Open a round, submit `scores[risk_pk][k]` for member k, and reveal it."""
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=built.proposal_id, phase=phase)
    for risk_pk, values in scores.items():
        for member, (lik, imp) in zip(built.members, values, strict=False):
            rs.submit_score(engine, actor=built.names[member], round_id=rid, assessor_id=member, risk_pk=risk_pk,
                            likelihood=lik, impact=imp)
    if reveal:
        rs.reveal_round(engine, actor=ACTOR, round_id=rid)
    return rid


def database_state(engine) -> dict:
    """What a refused or failed write must leave as it was: every table's row count and the audit chain's head."""
    from sqlalchemy import func, select
    from sqlmodel import Session, SQLModel

    from risk.models import AuditEvent

    with Session(engine) as s:
        counts = {t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
                  for t in SQLModel.metadata.sorted_tables}
        head = s.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return {"rows": counts, "audit_head": tuple(head) if head else None}
