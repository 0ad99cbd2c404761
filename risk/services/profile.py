"""A proposal's risk profile: every risk's standing inherent and residual value, level, flags, appetite and
review date. Only revealed and closed rounds are read (blind scores never leave the database), through the
round results stored when each round was revealed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Engine, bindparam, select

from risk import scoring
from risk.errors import NotFoundError
from risk.models import Consensus, Partner, Proposal, ProposalPartner, Risk, Round
from risk.models import RoundResult as RoundResultRow
from risk.scoring import AGGREGATIONS, ConsensusValue, Matrix, RoundResult, Standing
from risk.services import rawread
from risk.services.matrices import get_matrix

FEEDING = ("revealed", "closed")


class RiskView(NamedTuple):
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


def as_date(value) -> dt.date | None:
    value = rawread.as_datetime(value)
    return value.date() if value is not None else None


_rr = RoundResultRow.__table__.c
_rd = Round.__table__.c
_rt = Risk.__table__
_pt = Proposal.__table__
_ct = Consensus.__table__.c
_RESULT_COLS = (_rr.risk_pk, _rr.round_id, _rr.n,
                *(_rr[c] for pair in scoring.AGGREGATION_RESULT_COLUMNS.values() for c in pair),
                _rr.mean_likelihood, _rr.mean_impact, _rr.flags)
_FEEDING = _rd.status != "open"  # revealed or closed
_RESULTS = select(*_RESULT_COLS).join(Round.__table__, _rd.id == _rr.round_id).where(_FEEDING)
_ROUNDS = select(_rd.id, _rd.phase, _rd.number, _rd.revealed_at, _rd.closed_at).where(_FEEDING)
_CONSENSUS = select(_ct.risk_pk, _ct.phase, _ct.likelihood, _ct.impact, _ct.recorded_at)
RiskRow = rawread.record_type(_rt)
ProposalRow = rawread.record_type(_pt)


def _result_map(rounds_rows, result_rows) -> dict[tuple[int, str], list[RoundResult]]:
    rounds = {rid: (phase, number, as_date(closed or revealed)) for rid, phase, number, revealed, closed in rounds_rows}
    out: dict[tuple[int, str], list[RoundResult]] = defaultdict(list)
    um, mx, oj = AGGREGATIONS
    for risk, round_id, n, lu, iu, lm, im, lo, io, ml, mi, flags in result_rows:
        phase, number, when = rounds[round_id]
        out[(risk, phase)].append(RoundResult(number, n, ((um, lu, iu), (mx, lm, im), (oj, lo, io)), ml, mi,
                                              tuple(flags.split(",")) if flags else (), when))
    return out


def load_results(conn, *, proposal_id: int | None = None, risk_pk: int | None = None
                 ) -> dict[tuple[int, str], list[RoundResult]]:
    """Stored round results of revealed and closed rounds, by (risk, phase). `conn`: a Connection or Session."""
    q, rq = _RESULTS, _ROUNDS
    if proposal_id is not None:
        q = q.where(_rd.proposal_id == proposal_id)
        rq = rq.where(_rd.proposal_id == proposal_id)
    if risk_pk is not None:
        q = q.where(_rr.risk_pk == risk_pk)
        rq = rq.where(_rd.id.in_(select(_rr.round_id).where(_rr.risk_pk == risk_pk)))
    return _result_map(conn.execute(rq), conn.execute(q))


def load_consensus(conn, *, proposal_id: int | None = None, risk_pk: int | None = None
                   ) -> dict[tuple[int, str], ConsensusValue]:
    q = _CONSENSUS
    if proposal_id is not None:
        q = q.join(_rt, _rt.c.id == _ct.risk_pk).where(_rt.c.proposal_id == proposal_id)
    if risk_pk is not None:
        q = q.where(_ct.risk_pk == risk_pk)
    return {(r, p): ConsensusValue(lik, imp, as_date(at)) for r, p, lik, imp, at in conn.execute(q)}


def risk_standing(engine: Engine, risk_pk: int, phase: str, matrix: Matrix, method: str, *,
                  with_consensus: bool = True) -> Standing:
    with engine.connect() as session:
        results = load_results(session, risk_pk=risk_pk).get((risk_pk, phase), [])
        consensus = load_consensus(session, risk_pk=risk_pk).get((risk_pk, phase)) if with_consensus else None
    return scoring.standing_value(results, consensus, matrix, method)


def build_views(proposal, matrix: Matrix, risks, results, consensus, partner_names) -> list[RiskView]:
    """Pure assembly of the views from rows already read (`proposal` and `risks` are rows or ORM objects)."""
    method = proposal.aggregation
    appetites = proposal.appetite or {}
    standing, over_appetite, next_review = scoring.standing_value, scoring.over_appetite, scoring.risk_next_review
    views = []
    for risk in risks:
        key_i, key_r = (risk.id, "inherent"), (risk.id, "residual")
        inherent = standing(results.get(key_i, ()), consensus.get(key_i), matrix, method)
        residual = standing(results.get(key_r, ()), consensus.get(key_r), matrix, method)
        appetite = appetites.get(risk.category, scoring.DEFAULT_APPETITE)
        views.append(RiskView(
            risk, inherent, residual, appetite, over_appetite(residual.level_index, appetite, matrix),
            next_review(inherent, residual, matrix), partner_names.get(risk.owner_partner_id, ""),
        ))
    return views


_P_PROPOSAL = select(_pt).where(_pt.c.id == bindparam("pid"))
_P_RISKS = select(_rt).where(_rt.c.proposal_id == bindparam("pid")).order_by(_rt.c.id)
_P_ROUNDS = _ROUNDS.where(_rd.proposal_id == bindparam("pid"))
_P_RESULTS = _RESULTS.where(_rd.proposal_id == bindparam("pid"))
_P_CONSENSUS = _CONSENSUS.join(_rt, _rt.c.id == _ct.risk_pk).where(_rt.c.proposal_id == bindparam("pid"))
_P_PARTNERS = select(Partner.__table__.c.id, Partner.__table__.c.name).join(
    ProposalPartner.__table__, ProposalPartner.__table__.c.partner_id == Partner.__table__.c.id).where(
    ProposalPartner.__table__.c.proposal_id == bindparam("pid"))
_RISK_JSON = [k for k, c in enumerate(_rt.c) if c.name == "tags"]
_RISK_TIMES = [k for k, c in enumerate(_rt.c) if c.name == "updated_at"]


def _record(kind, raw: tuple, json_at: list[int], time_at: list[int]):
    values = list(raw)
    for k in json_at:
        values[k] = rawread.as_json(values[k])
    for k in time_at:
        values[k] = rawread.as_datetime(values[k])
    return kind._make(values)


def proposal_profile(engine: Engine, proposal_id: int) -> ProposalProfile:
    """Standing values, levels, flags, appetite and review date of every risk of a proposal.

    The hot path of every page: six small reads in one transaction, rows as tuples (rawread), no ORM objects."""
    with engine.connect() as conn, conn.begin():
        found = rawread.rows(conn, "profile.proposal", _P_PROPOSAL, pid=proposal_id)
        if not found:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        cols = list(_pt.c.keys())
        proposal = _record(ProposalRow, found[0], [cols.index("appetite")],
                           [cols.index("created_at"), cols.index("updated_at")])
        matrix = get_matrix(conn, proposal.matrix)
        risks = [_record(RiskRow, r, _RISK_JSON, _RISK_TIMES)
                 for r in rawread.rows(conn, "profile.risks", _P_RISKS, pid=proposal_id)]
        results = _result_map(rawread.rows(conn, "profile.rounds", _P_ROUNDS, pid=proposal_id),
                              rawread.rows(conn, "profile.results", _P_RESULTS, pid=proposal_id))
        consensus = {(r, p): ConsensusValue(lik, imp, as_date(at))
                     for r, p, lik, imp, at in rawread.rows(conn, "profile.consensus", _P_CONSENSUS, pid=proposal_id)}
        partner_names = dict(rawread.rows(conn, "profile.partners", _P_PARTNERS, pid=proposal_id))
    return ProposalProfile(proposal, matrix, build_views(proposal, matrix, risks, results, consensus,
                                                         partner_names))
