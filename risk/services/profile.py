"""A proposal's risk profile: every risk's standing inherent and residual value, level, flags, appetite and
review date. Only revealed and closed rounds are read: blind scores never leave the database."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import scoring
from risk.errors import NotFoundError
from risk.models import Consensus, Partner, Proposal, Risk, Round, Score, TeamMember
from risk.scoring import ConsensusValue, Matrix, RoundScores, Standing
from risk.services.matrices import get_matrix

FEEDING = ("revealed", "closed")


@dataclass(frozen=True)
class RiskView:
    """One risk as the register, the charts and the exports see it."""

    risk: Risk
    inherent: Standing
    residual: Standing
    appetite: str
    over_appetite: bool
    next_review: dt.date | None
    owner_partner: str


@dataclass(frozen=True)
class ProposalProfile:
    proposal: Proposal
    matrix: Matrix
    risks: list[RiskView]


def as_date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


def _score_rows(session: Session, *, proposal_id: int | None = None, risk_pk: int | None = None):
    q = (
        select(Score.risk_pk, Round.phase, Round.number, Round.revealed_at, Round.closed_at, Score.likelihood,
               Score.impact, TeamMember.partner_id)
        .join(Round, Round.id == Score.round_id)
        .join(TeamMember, TeamMember.id == Score.assessor_id)
        .where(Round.status.in_(FEEDING))
    )
    if proposal_id is not None:
        q = q.where(Round.proposal_id == proposal_id)
    if risk_pk is not None:
        q = q.where(Score.risk_pk == risk_pk)
    return session.execute(q).all()


def group_rounds(rows) -> dict[tuple[int, str], list[RoundScores]]:
    bucket: dict[tuple[int, str, int], tuple[list[int], list[int], list[object], dt.date | None]] = {}
    for risk_pk, phase, number, revealed_at, closed_at, lik, imp, partner in rows:
        key = (risk_pk, phase, number)
        if key not in bucket:
            bucket[key] = ([], [], [], as_date(closed_at or revealed_at))
        b = bucket[key]
        b[0].append(lik)
        b[1].append(imp)
        b[2].append(partner)
    out: dict[tuple[int, str], list[RoundScores]] = defaultdict(list)
    for (risk_pk, phase, number), (liks, imps, partners, when) in bucket.items():
        out[(risk_pk, phase)].append(RoundScores(number, tuple(liks), tuple(imps), tuple(partners), when))
    return out


def risk_standing(engine: Engine, risk_pk: int, phase: str, matrix: Matrix, method: str, *,
                  with_consensus: bool = True) -> Standing:
    with Session(engine) as session:
        rounds = group_rounds(_score_rows(session, risk_pk=risk_pk)).get((risk_pk, phase), [])
        consensus = None
        if with_consensus:
            c = session.execute(select(Consensus).where(Consensus.risk_pk == risk_pk, Consensus.phase == phase)
                                ).scalar_one_or_none()
            if c is not None:
                consensus = ConsensusValue(c.likelihood, c.impact, as_date(c.recorded_at))
    return scoring.standing_value(rounds, consensus, matrix, method)


def build_views(proposal: Proposal, matrix: Matrix, risks: list[Risk], rounds, consensus, partner_names,
                ) -> list[RiskView]:
    """Pure assembly of the views from rows already read (also used by the bulk exports)."""
    views = []
    for risk in risks:
        values = {}
        for phase in scoring.PHASES:
            c = consensus.get((risk.id, phase))
            values[phase] = scoring.standing_value(rounds.get((risk.id, phase), []), c, matrix,
                                                   proposal.aggregation)
        appetite = (proposal.appetite or {}).get(risk.category, scoring.DEFAULT_APPETITE)
        residual = values["residual"]
        reviewed = residual if residual.source != "none" else values["inherent"]
        views.append(RiskView(
            risk=risk,
            inherent=values["inherent"],
            residual=residual,
            appetite=appetite,
            over_appetite=scoring.over_appetite(residual.level_index, appetite, matrix),
            next_review=scoring.next_review(reviewed.level_index, matrix, reviewed.when),
            owner_partner=partner_names.get(risk.owner_partner_id, ""),
        ))
    return views


def proposal_profile(engine: Engine, proposal_id: int) -> ProposalProfile:
    """Standing values, levels, flags, appetite and review date of every risk of a proposal."""
    with Session(engine) as session:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        matrix = get_matrix(session, proposal.matrix)
        risks = list(session.execute(
            select(Risk).where(Risk.proposal_id == proposal_id).order_by(Risk.id)).scalars())
        rounds = group_rounds(_score_rows(session, proposal_id=proposal_id))
        consensus = {
            (c.risk_pk, c.phase): ConsensusValue(c.likelihood, c.impact, as_date(c.recorded_at))
            for c in session.execute(
                select(Consensus).join(Risk, Risk.id == Consensus.risk_pk).where(Risk.proposal_id == proposal_id)
            ).scalars()
        }
        partner_names = dict(session.execute(select(Partner.id, Partner.name)).all())
    return ProposalProfile(proposal, matrix, build_views(proposal, matrix, risks, rounds, consensus,
                                                         partner_names))
