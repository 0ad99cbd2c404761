"""Partner strengths per capability for a proposal, and who is best placed to lead each capability."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, rules, store
from risk.errors import ConflictError, RefusedError
from risk.models import Partner, PartnerStrength, ProposalPartner
from risk.strengths import CAPABILITIES, best_placed


@dataclass(frozen=True)
class StrengthGrid:
    scores: dict[str, dict[str, int]]  # partner name -> capability -> 0..5
    best: dict[str, list[str]]  # capability -> best-placed partner names


def proposal_strengths(engine: Engine, proposal_id: int) -> StrengthGrid:
    with Session(engine) as s:
        partners = s.execute(select(Partner.name).join(ProposalPartner, ProposalPartner.partner_id == Partner.id)
                             .where(ProposalPartner.proposal_id == proposal_id).order_by(ProposalPartner.id)
                             ).scalars().all()
        scores: dict[str, dict[str, int]] = {name: {} for name in partners}
        for name, cap, value in s.execute(
            select(Partner.name, PartnerStrength.capability, PartnerStrength.score)
            .join(Partner, Partner.id == PartnerStrength.partner_id)
            .where(PartnerStrength.proposal_id == proposal_id)
        ):
            scores.setdefault(name, {})[cap] = value
    return StrengthGrid(scores, best_placed(scores))


_UNSET = object()


@access.audited("proposal")
def set_strength(engine: Engine, *, actor: str, proposal_id: int, partner_id: int, capability: str,
                 score: object, expected: object = _UNSET) -> None:
    """Record how well placed a partner is for a capability, 0 (none) to 5 (excellent). `expected` is the score
    that was on the user's screen (0 when none was stored): when somebody saved another one since, the change is
    refused rather than overwriting theirs."""
    score = rules.check(rules.STRENGTH, "score", score)
    capability = rules.check(rules.STRENGTH, "capability", capability)
    with store.write(engine, actor) as unit:
        s = unit.session
        access.require(s, actor, "edit_partners", proposal_id)
        if not s.execute(select(ProposalPartner.id).where(ProposalPartner.proposal_id == proposal_id,
                                                          ProposalPartner.partner_id == partner_id)).first():
            raise RefusedError(f"partner: partner {partner_id} does not take part in proposal {proposal_id}")
        row = s.execute(select(PartnerStrength).where(
            PartnerStrength.proposal_id == proposal_id, PartnerStrength.partner_id == partner_id,
            PartnerStrength.capability == capability)).scalar_one_or_none()
        stored = row.score if row is not None else 0
        if expected is not _UNSET and stored != expected and stored != score:  # the same value twice is no conflict
            partner = s.get(Partner, partner_id)
            raise ConflictError(f"{partner.name if partner else partner_id}, {capability}: somebody saved "
                                f"{stored} after you opened the grid (you saw {expected})")
        if row is None:
            store.add(unit=unit, obj=PartnerStrength(proposal_id=proposal_id, partner_id=partner_id,
                                                     capability=capability, score=score), entity="partner_strength")
        else:
            store.update(unit=unit, obj=row, entity="partner_strength", changes={"score": score})


__all__ = ["CAPABILITIES", "StrengthGrid", "proposal_strengths", "set_strength"]
