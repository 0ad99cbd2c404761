"""The workshop's reveal and the comparison of two rounds: read-only views that exist only once a round is
revealed (an open round's scores never leave the database, except to their own author)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import scoring
from risk.errors import RefusedError
from risk.models import Partner, Proposal, Risk, Round, RoundStatus, Score, TeamMember
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


@dataclass(frozen=True)
class Reveal:
    round: Round
    method: str
    levels: tuple[str, ...]
    risks: list[RevealedRisk]  # most disagreement first


def reveal(engine: Engine, round_id: int, *, names: bool | None = None) -> Reveal:
    """Each risk's scores, aggregate by the proposal's method, mean, level and flags, most disagreement first.

    Refused while the round is open: nobody sees another's blind score."""
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
    show = rnd.show_names if names is None else names
    aliases: dict[int, str] = {}
    for _risk, member_id, *_rest in rows:
        aliases.setdefault(member_id, f"Assessor {chr(ord('A') + len(aliases) % 26)}")
    by_risk: dict[int, list] = {}
    for row in rows:
        by_risk.setdefault(row[0], []).append(row)
    out = []
    method = proposal.aggregation
    for risk_pk, scored in by_risk.items():
        risk = risks.get(risk_pk)
        if risk is None:
            continue
        liks = [r[4] for r in scored]
        imps = [r[5] for r in scored]
        partners = [r[3] or "—" for r in scored]
        lik = scoring.aggregate(liks, partners, method)
        imp = scoring.aggregate(imps, partners, method)
        by_partner: dict[str, list[int]] = {}
        for p, i in zip(partners, imps, strict=True):
            by_partner.setdefault(p, []).append(i)
        partner_impact = {p: scoring.upper_median(v) for p, v in by_partner.items()}
        worst = max(partner_impact.values())
        out.append(RevealedRisk(
            risk_pk=risk_pk, risk_id=risk.risk_id, title=risk.title, category=risk.category,
            scores=[RevealedScore(r[2] if show else aliases[r[1]], r[3] or "—", r[4], r[5],
                                  matrix.level(r[4], r[5]), r[6]) for r in scored],
            likelihood=lik, impact=imp, level=matrix.level(lik, imp),
            mean_likelihood=scoring.mean_half_up(liks), mean_impact=scoring.mean_half_up(imps),
            flags=scoring.disagreement_flags(liks, imps, partners),
            partner_impact=partner_impact, worst_hit=sorted(p for p, v in partner_impact.items() if v == worst),
        ))
    out.sort(key=lambda r: (-len(r.flags), -(max(s.likelihood for s in r.scores) - min(s.likelihood for s in r.scores)
                                             + max(s.impact for s in r.scores) - min(s.impact for s in r.scores)),
                            r.risk_id))
    return Reveal(rnd, method, matrix.levels, out)


@dataclass(frozen=True)
class Movement:
    risk_id: str
    title: str
    before: tuple[int, int, str]  # aggregate likelihood, impact, level
    after: tuple[int, int, str]
    mean_before: tuple[float, float]
    mean_after: tuple[float, float]
    spread_before: int  # (max - min) of likelihood plus that of impact
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

        def spread(x: RevealedRisk) -> int:
            return (max(s.likelihood for s in x.scores) - min(s.likelihood for s in x.scores)
                    + max(s.impact for s in x.scores) - min(s.impact for s in x.scores))

        out.append(Movement(r.risk_id, r.title, (p.likelihood, p.impact, p.level), (r.likelihood, r.impact, r.level),
                            (p.mean_likelihood, p.mean_impact), (r.mean_likelihood, r.mean_impact), spread(p),
                            spread(r), p.flags, r.flags))
    return sorted(out, key=lambda m: m.risk_id)


def flagged_risks(engine: Engine, round_id: int) -> list[int]:
    """The risks of a revealed round that raised a disagreement flag: what round two re-scores by default."""
    return [r.risk_pk for r in reveal(engine, round_id, names=False).risks if r.flags]
