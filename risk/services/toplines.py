"""The highest risks of one proposal, in words: what the Review page and the meeting packet show (one home for
both; no pandas here, so that the packet made from the command line does not import it)."""

from __future__ import annotations

from dataclasses import dataclass

from risk import scoring
from risk.services.profile import ProposalProfile, RiskView


def top_risks(profile: ProposalProfile, n: int = 10) -> list[RiskView]:
    """The `n` highest risks of a proposal: residual level first, then inherent level (both highest first,
    unscored last), then risk id."""
    def level(index: int | None) -> int:
        return -1 if index is None else index

    return sorted(profile.risks, key=lambda v: (-level(v.residual.level_index), -level(v.inherent.level_index),
                                                v.risk.risk_id))[:n]


@dataclass(frozen=True)
class RiskLine:
    """One risk in plain words: `heading` ("LEG-01 · High · over appetite") and `sentence` (cause, event and
    consequence, then owner and treatment). Both are plain text, for the caller to escape."""

    heading: str
    sentence: str


def risk_line(view: RiskView) -> RiskLine:
    """The line the Review page and the meeting packet show for a risk; the owner is the partner with the
    person in brackets (either alone when only one is known)."""
    r = view.risk
    heading = " · ".join([r.risk_id, view.residual.level or "not scored",
                          *(["over appetite"] if view.over_appetite else [])])
    if view.owner_partner and r.owner:
        owner = f" Owner: {view.owner_partner} ({r.owner})."
    elif view.owner_partner or r.owner:
        owner = f" Owner: {view.owner_partner or r.owner}."
    else:
        owner = ""
    treatment = f" Treatment: {r.treatment}." if r.treatment else ""
    return RiskLine(heading, scoring.risk_sentence(r.cause, r.event, r.consequence) + owner + treatment)


__all__ = ["RiskLine", "risk_line", "top_risks"]
