"""The workshop's reveal and the comparison of two rounds: read-only views that exist only once a round is
revealed (an open round's scores never leave the database, except to their own author)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import scoring
from risk.errors import RefusedError
from risk.models import Partner, Proposal, Risk, Round, RoundStatus, Score, TeamMember, TeamRole
from risk.services.matrices import get_matrix
from risk.services.rounds import round_risks


@dataclass(frozen=True)
class RevealedScore:
    assessor: str  # a name, or "Assessor A", "Assessor B"... when the reveal is anonymous
    partner: str
    likelihood: int
    impact: int
    level: str
    rationale: str
    mine: bool = False  # the score of the person viewing the reveal


@dataclass(frozen=True)
class RevealedRisk:
    risk_pk: int
    risk_id: str
    title: str
    category: str
    scores: list[RevealedScore]
    likelihood: int
    impact: int
    level: str
    mean_likelihood: float
    mean_impact: float
    flags: list[str]
    partner_impact: dict[str, int] = field(default_factory=dict)  # partner -> upper median of its impact scores
    worst_hit: list[str] = field(default_factory=list)
    assessors: int = 0  # how many assessors the round had (its team's assessors and anyone else who scored in it)
    missing: list[str] = field(default_factory=list)  # those of them who did not score this risk, as shown

    @property
    def spread(self) -> int:
        """How far apart the scores were: (highest - lowest) likelihood plus (highest - lowest) impact; 0 when
        everyone gave the same score, 8 at most."""
        liks = [s.likelihood for s in self.scores]
        imps = [s.impact for s in self.scores]
        return max(liks) - min(liks) + max(imps) - min(imps)


@dataclass(frozen=True)
class Reveal:
    round: Round
    method: str
    levels: tuple[str, ...]
    risks: list[RevealedRisk]  # most disagreement first
    you: str | None = None  # how the reveal shows the viewer, when the viewer is one of the round's assessors
    unscored: list[tuple[int, str, str]] = field(default_factory=list)  # (risk_pk, risk_id, title) nobody scored


def reveal(engine: Engine, round_id: int, *, names: bool | None = None, viewer: int | None = None) -> Reveal:
    """Each risk's scores, aggregate by the proposal's method, mean, level and flags, most disagreement first,
    and who of the round's assessors did not score it.

    An anonymous reveal letters the round's assessors (the team's assessors and anyone else who scored) in the
    order they joined the team; `viewer` (a team member id) is told only their own letter. Refused while the
    round is open: nobody sees another's blind score."""
    with Session(engine) as s:
        rnd = s.get(Round, round_id)
        if rnd is None:
            raise RefusedError(f"round {round_id} does not exist")
        if rnd.status == RoundStatus.open.value:
            raise RefusedError(f"round {rnd.phase} {rnd.number} is still open: its scores are blind until revealed")
        proposal = s.get(Proposal, rnd.proposal_id)
        matrix = get_matrix(s, proposal.matrix)
        scope = round_risks(s, rnd)
        risks = {r.id: r for r in s.execute(select(Risk).where(Risk.id.in_(scope))).scalars()}
        rows = s.execute(
            select(Score.risk_pk, TeamMember.id, TeamMember.name, Partner.name, Score.likelihood, Score.impact,
                   Score.rationale)
            .join(TeamMember, TeamMember.id == Score.assessor_id)
            .join(Partner, Partner.id == TeamMember.partner_id, isouter=True)
            .where(Score.round_id == round_id).order_by(TeamMember.id)
        ).all()
        scorers = {r[1] for r in rows}
        panel = [(m_id, m_name) for m_id, m_name, role in s.execute(
            select(TeamMember.id, TeamMember.name, TeamMember.team_role)
            .where(TeamMember.proposal_id == rnd.proposal_id).order_by(TeamMember.id))
            if role == TeamRole.assessor.value or m_id in scorers]
    show = rnd.show_names if names is None else names
    shown_as = {m_id: m_name if show else _letter(k) for k, (m_id, m_name) in enumerate(panel)}
    by_risk: dict[int, list] = {}
    for row in rows:
        by_risk.setdefault(row[0], []).append(row)
    out = []
    method = proposal.aggregation
    for risk_pk, scored in by_risk.items():
        risk = risks.get(risk_pk)
        if risk is None:
            continue
        who = {r[1] for r in scored}
        liks = [r[4] for r in scored]
        imps = [r[5] for r in scored]
        partners = [r[3] or "—" for r in scored]
        lik = scoring.aggregate(liks, partners, method)
        imp = scoring.aggregate(imps, partners, method)
        partner_impact = scoring.partner_medians(imps, partners)
        worst = max(partner_impact.values())
        out.append(RevealedRisk(
            risk_pk=risk_pk, risk_id=risk.risk_id, title=risk.title, category=risk.category,
            scores=[RevealedScore(shown_as[r[1]], r[3] or "—", r[4], r[5], matrix.level(r[4], r[5]), r[6],
                                  mine=r[1] == viewer) for r in scored],
            likelihood=lik, impact=imp, level=matrix.level(lik, imp),
            mean_likelihood=scoring.mean_half_up(liks), mean_impact=scoring.mean_half_up(imps),
            flags=scoring.disagreement_flags(liks, imps, partners),
            partner_impact=partner_impact, worst_hit=sorted(p for p, v in partner_impact.items() if v == worst),
            assessors=len(panel),
            missing=[shown_as[m_id] for m_id, _name in panel if m_id not in who],
        ))
    out.sort(key=lambda r: (-len(r.flags), -r.spread, r.risk_id))
    unscored = sorted(((pk, risks[pk].risk_id, risks[pk].title) for pk in scope if pk in risks and pk not in by_risk),
                      key=lambda u: u[1])
    return Reveal(rnd, method, matrix.levels, out, you=shown_as.get(viewer) if viewer is not None else None,
                  unscored=unscored)


def _letter(k: int) -> str:
    """Assessor A ... Assessor Z, then Assessor AA, AB ... (a panel of more than 26 keeps distinct letters)."""
    letters = ""
    k += 1
    while k:
        k, rem = divmod(k - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return f"Assessor {letters}"


@dataclass(frozen=True)
class Movement:
    risk_id: str
    title: str
    before: tuple[int, int, str]  # aggregate likelihood, impact, level
    after: tuple[int, int, str]
    spread_before: int  # (max - min) of likelihood plus that of impact: RevealedRisk.spread
    spread_after: int
    flags_before: list[str]
    flags_after: list[str]

    @property
    def converged(self) -> bool:
        """The panel came closer: a smaller spread and no new flag."""
        return self.spread_after < self.spread_before and set(self.flags_after) <= set(self.flags_before) \
            or (self.spread_after == 0 and self.spread_before == 0)


def compare(engine: Engine, first_round: int, second_round: int) -> list[Movement]:
    """How far the scores of the risks in both rounds moved, and whether the panel converged."""
    a, b = reveal(engine, first_round, names=False), reveal(engine, second_round, names=False)
    before = {r.risk_pk: r for r in a.risks}
    out = []
    for r in b.risks:
        p = before.get(r.risk_pk)
        if p is None:
            continue
        out.append(Movement(r.risk_id, r.title, (p.likelihood, p.impact, p.level), (r.likelihood, r.impact, r.level),
                            p.spread, r.spread, p.flags, r.flags))
    return sorted(out, key=lambda m: m.risk_id)


def flagged_risks(engine: Engine, round_id: int) -> list[int]:
    """The risks of a revealed round that raised a disagreement flag: what round two re-scores by default."""
    return [r.risk_pk for r in reveal(engine, round_id, names=False).risks if r.flags]
