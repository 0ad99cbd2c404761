"""Blind scoring rounds (estimate - talk - estimate) and the consensus the facilitator records."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from risk import scoring, store
from risk.errors import NotFoundError, RefusedError
from risk.models import Proposal, Risk, Round, RoundStatus, TeamMember, TeamRole, utcnow
from risk.services.matrices import get_matrix

SCORING_ROLES = (TeamRole.assessor.value, TeamRole.facilitator.value)


def _phase(phase: str) -> str:
    p = (phase or "").strip().lower()
    if p not in scoring.PHASES:
        raise RefusedError(f"phase: expected inherent or residual, got {phase!r}")
    return p


def open_round(engine: Engine, *, actor: str, proposal_id: int, phase: str) -> int:
    """Open the next round of a phase (numbered 1, 2, ...); only one round of a phase is open at a time."""
    phase = _phase(phase)
    with store.write(engine, actor) as unit:
        s = unit.session
        if s.get(Proposal, proposal_id) is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        if s.execute(select(Round.id).where(Round.proposal_id == proposal_id, Round.phase == phase,
                                            Round.status == RoundStatus.open.value)).first():
            raise RefusedError(f"a {phase} round is already open for this proposal; reveal it first")
        number = (s.execute(select(func.max(Round.number)).where(Round.proposal_id == proposal_id,
                                                                 Round.phase == phase)).scalar() or 0) + 1
        rnd = Round(proposal_id=proposal_id, phase=phase, number=number)
        return store.add(unit=unit, obj=rnd, entity="round").id  # type: ignore[return-value]


def _move(engine: Engine, actor: str, round_id: int, came_from: str, to: str, stamp: str) -> None:
    with store.write(engine, actor) as unit:
        rnd = unit.session.get(Round, round_id)
        if rnd is None:
            raise NotFoundError(f"round {round_id} does not exist")
        if rnd.status != came_from:
            raise RefusedError(f"round {rnd.phase} {rnd.number} is {rnd.status}; only a {came_from} round can be {to}")
        store.update(unit=unit, obj=rnd, entity="round", changes={"status": to, stamp: utcnow()})


def reveal_round(engine: Engine, *, actor: str, round_id: int) -> None:
    """Show the round's scores to the team; from now on they feed values, charts and exports. The round's
    verdict on each risk is computed here once and stored, since its scores can no longer change."""
    from risk.services.results import store_round_results

    with store.write(engine, actor) as unit:
        rnd = unit.session.get(Round, round_id)
        if rnd is None:
            raise NotFoundError(f"round {round_id} does not exist")
        if rnd.status != RoundStatus.open.value:
            raise RefusedError(f"round {rnd.phase} {rnd.number} is {rnd.status}; only an open round can be revealed")
        store.update(unit=unit, obj=rnd, entity="round",
                     changes={"status": RoundStatus.revealed.value, "revealed_at": utcnow()})
        store_round_results(unit, round_id)


def close_round(engine: Engine, *, actor: str, round_id: int) -> None:
    _move(engine, actor, round_id, RoundStatus.revealed.value, RoundStatus.closed.value, "closed_at")


def submit_score(engine: Engine, *, actor: str, round_id: int, assessor_id: int, risk_pk: int,
                 likelihood: object, impact: object, rationale: str = "") -> None:
    """Record one assessor's blind score in an open round; sending it again replaces the earlier one."""
    try:
        lik = scoring.check_score(likelihood, "likelihood")
        imp = scoring.check_score(impact, "impact")
    except ValueError as exc:
        raise RefusedError(str(exc)) from None
    with store.write(engine, actor) as unit:
        s = unit.session
        rnd = s.get(Round, round_id)
        if rnd is None:
            raise NotFoundError(f"round {round_id} does not exist")
        if rnd.status != RoundStatus.open.value:
            raise RefusedError(f"round {rnd.phase} {rnd.number} is {rnd.status}; scores go into an open round")
        member = s.get(TeamMember, assessor_id)
        if member is None or member.proposal_id != rnd.proposal_id:
            raise RefusedError(f"assessor: team member {assessor_id} is not on this proposal's team")
        if member.team_role not in SCORING_ROLES:
            raise RefusedError(f"assessor: {member.name} is an {member.team_role} and does not score")
        risk = s.get(Risk, risk_pk)
        if risk is None or risk.proposal_id != rnd.proposal_id:
            raise RefusedError(f"risk: risk {risk_pk} does not belong to this proposal")
        store.upsert_score(unit=unit, round_id=round_id, assessor_id=assessor_id, risk_pk=risk_pk,
                           likelihood=lik, impact=imp, rationale=(rationale or "").strip())


def record_consensus(engine: Engine, *, actor: str, risk_pk: int, phase: str, likelihood: object,
                     impact: object, rationale: str = "", dissent: str = "") -> None:
    """The team's agreed value, recorded by the person acting; it overrides the aggregate, and needs a written
    rationale when it differs from it."""
    from risk.services.profile import risk_standing

    phase = _phase(phase)
    try:
        lik = scoring.check_score(likelihood, "likelihood")
        imp = scoring.check_score(impact, "impact")
    except ValueError as exc:
        raise RefusedError(str(exc)) from None
    with Session(engine) as s:
        risk = s.get(Risk, risk_pk)
        if risk is None:
            raise NotFoundError(f"risk {risk_pk} does not exist")
        proposal = s.get(Proposal, risk.proposal_id)
        matrix = get_matrix(s, proposal.matrix)
    aggregate = risk_standing(engine, risk_pk, phase, matrix, proposal.aggregation, with_consensus=False)
    if aggregate.source == "aggregate" and (aggregate.likelihood, aggregate.impact) != (lik, imp) \
            and not (rationale or "").strip():
        raise RefusedError(
            f"rationale: the consensus ({lik}, {imp}) differs from the {phase} aggregate "
            f"({aggregate.likelihood}, {aggregate.impact}); write why the team agreed on it"
        )
    with store.write(engine, actor) as unit:
        store.upsert_consensus(unit=unit, risk_pk=risk_pk, phase=phase, likelihood=lik, impact=imp,
                               rationale=(rationale or "").strip(), dissent=(dissent or "").strip())
