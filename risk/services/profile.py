"""A proposal's risk profile: every risk's standing inherent and residual value, level, flags, appetite and
review date. Only revealed and closed rounds are read (blind scores never leave the database), through the
round results stored when each round was revealed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import scoring
from risk.errors import NotFoundError
from risk.models import Consensus, Partner, Proposal, Risk, Round
from risk.models import RoundResult as RoundResultRow
from risk.scoring import AGGREGATIONS, ConsensusValue, Matrix, RoundResult, Standing
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


_RESULT_COLUMNS = (
    RoundResultRow.risk_pk, Round.phase, Round.number, Round.revealed_at, Round.closed_at, RoundResultRow.n,
    RoundResultRow.lik_upper_median, RoundResultRow.imp_upper_median, RoundResultRow.lik_max,
    RoundResultRow.imp_max, RoundResultRow.lik_ojov, RoundResultRow.imp_ojov, RoundResultRow.mean_likelihood,
    RoundResultRow.mean_impact, RoundResultRow.flags,
)


def load_results(session: Session, *, proposal_id: int | None = None, risk_pk: int | None = None
                 ) -> dict[tuple[int, str], list[RoundResult]]:
    """Stored round results of revealed and closed rounds, by (risk, phase)."""
    q = select(*_RESULT_COLUMNS).join(Round, Round.id == RoundResultRow.round_id).where(Round.status.in_(FEEDING))
    if proposal_id is not None:
        q = q.where(Round.proposal_id == proposal_id)
    if risk_pk is not None:
        q = q.where(RoundResultRow.risk_pk == risk_pk)
    out: dict[tuple[int, str], list[RoundResult]] = defaultdict(list)
    for (risk, phase, number, revealed_at, closed_at, n, lu, iu, lm, im, lo, io, ml, mi,
         flags) in session.execute(q):
        out[(risk, phase)].append(RoundResult(
            round_number=number, n=n,
            by_method=((AGGREGATIONS[0], lu, iu), (AGGREGATIONS[1], lm, im), (AGGREGATIONS[2], lo, io)),
            mean_likelihood=ml, mean_impact=mi, flags=tuple(flags.split(",")) if flags else (),
            when=as_date(closed_at or revealed_at),
        ))
    return out


def load_consensus(session: Session, *, proposal_id: int | None = None, risk_pk: int | None = None
                   ) -> dict[tuple[int, str], ConsensusValue]:
    q = select(Consensus.risk_pk, Consensus.phase, Consensus.likelihood, Consensus.impact, Consensus.recorded_at)
    if proposal_id is not None:
        q = q.join(Risk, Risk.id == Consensus.risk_pk).where(Risk.proposal_id == proposal_id)
    if risk_pk is not None:
        q = q.where(Consensus.risk_pk == risk_pk)
    return {(r, p): ConsensusValue(lik, imp, as_date(at)) for r, p, lik, imp, at in session.execute(q)}


def risk_standing(engine: Engine, risk_pk: int, phase: str, matrix: Matrix, method: str, *,
                  with_consensus: bool = True) -> Standing:
    with Session(engine) as session:
        results = load_results(session, risk_pk=risk_pk).get((risk_pk, phase), [])
        consensus = load_consensus(session, risk_pk=risk_pk).get((risk_pk, phase)) if with_consensus else None
    return scoring.standing_value(results, consensus, matrix, method)


def build_views(proposal: Proposal, matrix: Matrix, risks: list[Risk], results, consensus, partner_names,
                ) -> list[RiskView]:
    """Pure assembly of the views from rows already read."""
    views = []
    appetites = proposal.appetite or {}
    for risk in risks:
        values = {}
        for phase in scoring.PHASES:
            values[phase] = scoring.standing_value(results.get((risk.id, phase), ()),
                                                   consensus.get((risk.id, phase)), matrix, proposal.aggregation)
        appetite = appetites.get(risk.category, scoring.DEFAULT_APPETITE)
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
        results = load_results(session, proposal_id=proposal_id)
        consensus = load_consensus(session, proposal_id=proposal_id)
        owners = {r.owner_partner_id for r in risks if r.owner_partner_id is not None}
        partner_names = dict(session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(owners)))
                             .all()) if owners else {}
    return ProposalProfile(proposal, matrix, build_views(proposal, matrix, risks, results, consensus,
                                                         partner_names))
