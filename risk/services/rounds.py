"""Blind scoring rounds (estimate - talk - estimate) and the consensus the team records.

Who may do what is checked here through risk/access.py, whatever a page shows: a facilitator of the proposal's
team (or an administrator) opens, reveals and closes rounds and records the consensus; an assessor or facilitator
scores only as themselves, signed in to the account linked to their team member; observers and reviewers do not
score. Until a round is revealed its scores are read back only to their own author."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from risk import access, rules, store
from risk.errors import ConflictError, NotFoundError, RefusedError
from risk.models import Consensus, Proposal, Risk, Round, RoundStatus, Score, TeamMember, TeamRole, utcnow
from risk.services.matrices import get_matrix
from risk.wording import article

SCORING_ROLES = (TeamRole.assessor.value, TeamRole.facilitator.value)


def _phase(phase: str) -> str:
    return rules.check(rules.ROUND, "phase", phase)


def _member_of(session: Session, proposal_id: int, account_id: int | None) -> TeamMember | None:
    """The team member of a proposal linked to an account, if any."""
    if account_id is None:
        return None
    return session.execute(select(TeamMember).where(TeamMember.proposal_id == proposal_id,
                                                    TeamMember.account_id == account_id)
                           .order_by(TeamMember.id).limit(1)).scalar_one_or_none()


def _round(session: Session, round_id: int) -> Round:
    rnd = session.get(Round, round_id)
    if rnd is None:
        raise NotFoundError(f"round {round_id} does not exist")
    return rnd


@access.audited("round")
def open_round(engine: Engine, *, actor: str, proposal_id: int, phase: str, risk_pks: list[int] | None = None,
               per_partner: bool = False) -> int:
    """Open the next round of a phase (numbered 1, 2, ...) for some risks (default: all); only one round of a
    phase is open at a time."""
    phase = _phase(phase)
    with store.write(engine, actor) as unit:
        s = unit.session
        access.require(s, actor, "run_rounds", proposal_id)
        if s.get(Proposal, proposal_id) is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        if s.execute(select(Round.id).where(Round.proposal_id == proposal_id, Round.phase == phase,
                                            Round.status == RoundStatus.open.value)).first():
            raise RefusedError(f"a {phase} round is already open for this proposal; reveal it first")
        scope = sorted(set(risk_pks or []))
        if scope:
            known = set(s.execute(select(Risk.id).where(Risk.proposal_id == proposal_id, Risk.id.in_(scope)))
                        .scalars())
            if len(known) != len(scope):
                raise RefusedError(f"risks: {sorted(set(scope) - known)} are not risks of this proposal")
        elif not s.execute(select(Risk.id).where(Risk.proposal_id == proposal_id).limit(1)).first():
            raise RefusedError("risks: the proposal has no risks to score yet")
        # the talk has moved on: an earlier revealed round of this phase is closed when the next one opens
        for earlier in s.execute(select(Round).where(Round.proposal_id == proposal_id, Round.phase == phase,
                                                     Round.status == RoundStatus.revealed.value)).scalars():
            store.update(unit=unit, obj=earlier, entity="round",
                         changes={"status": RoundStatus.closed.value, "closed_at": utcnow()})
        number = (s.execute(select(func.max(Round.number)).where(Round.proposal_id == proposal_id,
                                                                 Round.phase == phase)).scalar() or 0) + 1
        rnd = Round(proposal_id=proposal_id, phase=phase, number=number, scope=scope, per_partner=bool(per_partner))
        return store.add(unit=unit, obj=rnd, entity="round").id  # type: ignore[return-value]


@contextmanager
def _facilitator_round(engine: Engine, actor: str, round_id: int, doing: str,
                       allowed: tuple[str, str] | None = None):
    """A write on one round by a facilitator of its proposal. `allowed` is (the status the round must have, the
    refusal's ending), for example ("open", "only an open round can be revealed")."""
    with store.write(engine, actor) as unit:
        rnd = _round(unit.session, round_id)
        access.require(unit.session, actor, "run_rounds", rnd.proposal_id)
        if allowed is not None and rnd.status != allowed[0]:
            raise RefusedError(f"round {rnd.phase} {rnd.number} is {rnd.status}; {allowed[1]}")
        yield unit, rnd


@access.audited("round")
def reveal_round(engine: Engine, *, actor: str, round_id: int) -> None:
    """Show the round's scores to the team; from now on they feed values, charts and exports. The round's
    verdict on each risk is computed here once and stored, since its scores can no longer change."""
    from risk.services.results import store_round_results

    with _facilitator_round(engine, actor, round_id, "reveal a round",
                            (RoundStatus.open.value, "only an open round can be revealed")) as (unit, rnd):
        store.update(unit=unit, obj=rnd, entity="round",
                     changes={"status": RoundStatus.revealed.value, "revealed_at": utcnow()})
        store_round_results(unit, round_id)


@access.audited("round")
def close_round(engine: Engine, *, actor: str, round_id: int) -> None:
    with _facilitator_round(engine, actor, round_id, "close a round",
                            (RoundStatus.revealed.value, "only a revealed round can be closed")) as (unit, rnd):
        store.update(unit=unit, obj=rnd, entity="round",
                     changes={"status": RoundStatus.closed.value, "closed_at": utcnow()})


@access.audited("round")
def show_names(engine: Engine, *, actor: str, round_id: int, show: bool) -> None:
    """Whether the reveal names the assessors (it is anonymous by default)."""
    with _facilitator_round(engine, actor, round_id, "choose how the reveal shows assessors") as (unit, rnd):
        store.update(unit=unit, obj=rnd, entity="round", changes={"show_names": bool(show)})


def round_risks(session: Session, rnd: Round) -> list[int]:
    """The risks in a round, by id."""
    if rnd.scope:
        return list(rnd.scope)
    return list(session.execute(select(Risk.id).where(Risk.proposal_id == rnd.proposal_id).order_by(Risk.id))
                .scalars())


@access.audited("score")
def submit_score(engine: Engine, *, actor: str, round_id: int, assessor_id: int, risk_pk: int,
                 likelihood: object, impact: object, rationale: str = "") -> None:
    """Record one assessor's blind score in an open round; sending it again replaces the earlier one. Only the
    assessor can send their own score."""
    lik = rules.check(rules.SCORE_ROW, "likelihood", likelihood)
    imp = rules.check(rules.SCORE_ROW, "impact", impact)
    with store.write(engine, actor) as unit:
        s = unit.session
        rnd = _round(s, round_id)
        access.require(s, actor, "score", rnd.proposal_id, member_id=assessor_id)  # only as oneself
        if rnd.status != RoundStatus.open.value:
            raise RefusedError(f"round {rnd.phase} {rnd.number} is {rnd.status}; scores go into an open round, "
                               "and this one no longer takes them")
        member = s.get(TeamMember, assessor_id)
        if member is None or member.proposal_id != rnd.proposal_id:
            raise RefusedError(f"assessor: team member {assessor_id} is not on this proposal's team")
        if member.team_role not in SCORING_ROLES:
            raise RefusedError(f"assessor: {member.name} is {article(member.team_role)} and does not score")
        risk = s.get(Risk, risk_pk)
        if risk is None or risk.proposal_id != rnd.proposal_id:
            raise RefusedError(f"risk: risk {risk_pk} does not belong to this proposal")
        if rnd.scope and risk_pk not in rnd.scope:
            raise RefusedError(f"risk: {risk.risk_id} is not in round {rnd.phase} {rnd.number}")
        store.upsert_score(unit=unit, round_id=round_id, assessor_id=assessor_id, risk_pk=risk_pk,
                           likelihood=lik, impact=imp, rationale=rules.check(rules.SCORE_ROW, "rationale", rationale))


_NOT_CHECKED = object()


@access.audited("consensus")
def record_consensus(engine: Engine, *, actor: str, risk_pk: int, phase: str, likelihood: object,
                     impact: object, rationale: str = "", dissent: str = "",
                     expected: object = _NOT_CHECKED) -> None:
    """The team's agreed value, recorded by a facilitator (or an administrator); it overrides the aggregate, and
    needs a written rationale when it differs from it. It is recorded under the name of the team member linked to
    the account (so that an export names a member of the team), else under the actor. `expected` is the consensus
    that was on the user's screen ((likelihood, impact), or None when there was none): when somebody recorded
    another since, the change is refused."""
    from risk.services.profile import risk_standing

    phase = _phase(phase)
    lik = rules.check(rules.SCORE_ROW, "likelihood", likelihood)
    imp = rules.check(rules.SCORE_ROW, "impact", impact)
    rationale = rules.check(rules.CONSENSUS, "rationale", rationale)
    dissent = rules.check(rules.CONSENSUS, "dissent", dissent)
    with Session(engine) as s:
        risk = s.get(Risk, risk_pk)
        if risk is None:
            raise NotFoundError(f"risk {risk_pk} does not exist")
        access.require(s, actor, "record_consensus", risk.proposal_id)  # refused before anything is computed
        proposal = s.get(Proposal, risk.proposal_id)
        matrix = get_matrix(s, proposal.matrix)
    aggregate = risk_standing(engine, risk_pk, phase, matrix, proposal.aggregation, with_consensus=False)
    if aggregate.source == "aggregate" and (aggregate.likelihood, aggregate.impact) != (lik, imp) \
            and not rationale:
        raise RefusedError(
            f"rationale: the consensus ({lik}, {imp}) differs from the {phase} aggregate "
            f"({aggregate.likelihood}, {aggregate.impact}); write why the team agreed on it"
        )
    with store.write(engine, actor) as unit:
        who = access.require(unit.session, actor, "record_consensus", risk.proposal_id)
        member = _member_of(unit.session, risk.proposal_id, who.account_id)
        if expected is not _NOT_CHECKED:
            stored = unit.session.execute(
                select(Consensus).where(Consensus.risk_pk == risk_pk, Consensus.phase == phase)).scalar_one_or_none()
            now = (stored.likelihood, stored.impact) if stored is not None else None
            if now != (tuple(expected) if expected is not None else None):  # type: ignore[arg-type]
                raise ConflictError(
                    f"the {phase} consensus of {risk.risk_id} was recorded as {now[0]}×{now[1]} by "
                    f"{stored.recorded_by} at {stored.recorded_at:%Y-%m-%d %H:%M} UTC after you opened it"
                    if now else f"the {phase} consensus of {risk.risk_id} was removed after you opened it")
        store.upsert_consensus(unit=unit, risk_pk=risk_pk, phase=phase, likelihood=lik, impact=imp,
                               rationale=rationale, dissent=dissent,
                               recorded_by=member.name if member is not None else None)


# --- what the workshop shows ----------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    assessor_id: int
    name: str
    partner_id: int | None
    scored: int
    total: int


def current_round(engine: Engine, proposal_id: int) -> Round | None:
    """The round the workshop is on: an open one; else the most recent round if it is revealed and not yet
    closed; else none (a closed round is finished)."""
    with Session(engine) as s:
        rounds = s.execute(select(Round).where(Round.proposal_id == proposal_id)
                           .order_by(Round.opened_at.desc(), Round.id.desc())).scalars().all()
    for rnd in rounds:
        if rnd.status == RoundStatus.open.value:
            return rnd
    if rounds and rounds[0].status == RoundStatus.revealed.value:
        return rounds[0]
    return None


def list_rounds(engine: Engine, proposal_id: int) -> list[Round]:
    with Session(engine) as s:
        return list(s.execute(select(Round).where(Round.proposal_id == proposal_id)
                              .order_by(Round.phase, Round.number)).scalars())


def progress(engine: Engine, round_id: int) -> list[Progress]:
    """Who of the assessors has scored how much in a round: counts only, never values (safe to show while the
    round is blind). The facilitator runs the round and is not listed."""
    with Session(engine) as s:
        rnd = _round(s, round_id)
        total = len(round_risks(s, rnd))
        counts = dict(s.execute(select(Score.assessor_id, func.count()).where(Score.round_id == round_id)
                                .group_by(Score.assessor_id)).all())
        members = s.execute(select(TeamMember).where(TeamMember.proposal_id == rnd.proposal_id,
                                                     TeamMember.team_role == TeamRole.assessor.value)
                            .order_by(TeamMember.id)).scalars().all()
    return [Progress(m.id, m.name, m.partner_id, counts.get(m.id, 0), total) for m in members]


@dataclass(frozen=True)
class RecordedConsensus:
    likelihood: int
    impact: int
    recorded_by: str
    rationale: str
    dissent: str
    recorded_at: dt.datetime  # changes with every recording: a form showing it is keyed by it


def recorded_consensus(engine: Engine, risk_pks: list[int], phase: str) -> dict[int, RecordedConsensus]:
    """The consensus already recorded for some risks in a phase, with its rationale and any dissent, by risk."""
    from risk.models import Consensus

    with Session(engine) as s:
        return {r: RecordedConsensus(*values) for r, *values in s.execute(
            select(Consensus.risk_pk, Consensus.likelihood, Consensus.impact, Consensus.recorded_by,
                   Consensus.rationale, Consensus.dissent, Consensus.recorded_at)
            .where(Consensus.risk_pk.in_(risk_pks), Consensus.phase == phase))}


def my_scores(engine: Engine, *, round_id: int, assessor_id: int) -> dict[int, tuple[int, int, str]]:
    """An assessor's own scores in a round, by risk: the only scores anyone sees before the reveal."""
    with Session(engine) as s:
        return {risk: (lik, imp, why) for risk, lik, imp, why in s.execute(
            select(Score.risk_pk, Score.likelihood, Score.impact, Score.rationale)
            .where(Score.round_id == round_id, Score.assessor_id == assessor_id))}


@dataclass(frozen=True)
class EarlierScore:
    round_number: int
    likelihood: int
    impact: int


def previous_scores(engine: Engine, *, round_id: int, assessor_id: int) -> dict[int, EarlierScore]:
    """An assessor's own score for each risk of a round in the latest earlier round of the same phase in which
    they scored it: what a re-scoring round reminds them of. Never anyone else's score."""
    with Session(engine) as s:
        rnd = _round(s, round_id)
        rows = s.execute(
            select(Score.risk_pk, Round.number, Score.likelihood, Score.impact)
            .join(Round, Round.id == Score.round_id)
            .where(Score.assessor_id == assessor_id, Round.proposal_id == rnd.proposal_id, Round.phase == rnd.phase,
                   Round.number < rnd.number, Round.status != RoundStatus.open.value)
            .order_by(Round.number)
        ).all()
    return {risk: EarlierScore(number, lik, imp) for risk, number, lik, imp in rows}  # the latest round wins
