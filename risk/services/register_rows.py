"""The risk register: one row per risk with the columns of docs/USER_GUIDE.md, Register, in that order."""

from __future__ import annotations

from risk.scoring import CATEGORIES
from risk.services.profile import ProposalProfile

REGISTER_COLUMNS = (
    "proposal", "risk_id", "category", "title", "cause", "event", "consequence", "owner_partner", "owner",
    "inherent_likelihood", "inherent_impact", "inherent_level", "controls", "treatment", "residual_likelihood",
    "residual_impact", "residual_level", "appetite", "over_appetite", "assessors", "disagreement", "status",
    "next_review", "inherent_assessed_on", "residual_assessed_on",
)
# docs/USER_GUIDE.md, Register's columns end at next_review; the two dates after it say when each standing value was
# assessed (the consensus recorded, or the round closed), so that a re-imported register keeps its review dates.
# Columns a user may change from the register; the rest are derived from scores or are keys.
EDITABLE = ("title", "cause", "event", "consequence", "owner", "controls", "treatment", "status")


def register_rows(profile: ProposalProfile) -> list[dict]:
    """The register of one proposal, plus `risk_pk`, `version`, `residual_rank` and `sentence` after the
    required columns (for editing and sorting)."""
    from risk.scoring import risk_sentence

    out = []
    matrix = profile.matrix
    for v in profile.risks:
        r = v.risk
        out.append({
            "proposal": profile.proposal.title,
            "risk_id": r.risk_id,
            "category": CATEGORIES[r.category],
            "title": r.title,
            "cause": r.cause,
            "event": r.event,
            "consequence": r.consequence,
            "owner_partner": v.owner_partner,
            "owner": r.owner,
            "inherent_likelihood": v.inherent.likelihood,
            "inherent_impact": v.inherent.impact,
            "inherent_level": v.inherent.level or "",
            "controls": r.controls,
            "treatment": r.treatment or "",
            "residual_likelihood": v.residual.likelihood,
            "residual_impact": v.residual.impact,
            "residual_level": v.residual.level or "",
            "appetite": v.appetite,
            "over_appetite": "yes" if v.over_appetite else "no",
            "assessors": v.inherent.assessors,
            "disagreement": ", ".join(v.inherent.flags),
            "status": r.status,
            "next_review": v.next_review.isoformat() if v.next_review else "",
            "inherent_assessed_on": v.inherent.when.isoformat() if v.inherent.when else "",
            "residual_assessed_on": v.residual.when.isoformat() if v.residual.when else "",
            "risk_pk": r.id,
            "version": r.version,
            "residual_rank": matrix.rank5(v.residual.level_index) if v.residual.level_index is not None else -1,
            "sentence": risk_sentence(r.cause, r.event, r.consequence),
        })
    return out
