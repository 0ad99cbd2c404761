"""Aggregated frames for the charts: small tables (one row per risk, cell or partner), never raw scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from risk import scoring
from risk.services.profile import ProposalProfile

NOT_SCORED = "Not scored"


def risk_frame(profile: ProposalProfile) -> pd.DataFrame:
    """One row per risk: id, category name, inherent and residual level, appetite, over appetite, owner."""
    return pd.DataFrame([{
        "risk_id": v.risk.risk_id, "category": scoring.CATEGORIES[v.risk.category],
        "inherent_level": v.inherent.level or "", "residual_level": v.residual.level or "",
        "level": v.residual.level or NOT_SCORED, "appetite": v.appetite, "over_appetite": bool(v.over_appetite),
        "owner_partner": v.owner_partner or "",
    } for v in profile.risks], columns=["risk_id", "category", "inherent_level", "residual_level", "level",
                                        "appetite", "over_appetite", "owner_partner"])


def partner_exposure_frame(engine: Engine, profile: ProposalProfile) -> pd.DataFrame:
    """Per partner and residual level: how many risks it owns, and how many where it is hit hardest (from the
    latest revealed round in which assessors scored the impact on their own government)."""
    from risk.services import rounds as rs
    from risk.services import workshop as ws
    from risk.services.proposals import proposal_partners

    level_of = {v.risk.risk_id: v.residual.level or NOT_SCORED for v in profile.risks}
    rows = [{"partner": v.owner_partner, "role": "owns", "level": level_of[v.risk.risk_id]}
            for v in profile.risks if v.owner_partner]
    per_partner = [r for r in rs.list_rounds(engine, profile.proposal.id) if r.per_partner and r.status != "open"]
    if per_partner:
        latest = max(per_partner, key=lambda r: (r.revealed_at or r.opened_at))
        for risk in ws.reveal(engine, latest.id, names=False).risks:
            rows += [{"partner": p, "role": "hit hardest", "level": level_of.get(risk.risk_id, NOT_SCORED)}
                     for p in risk.worst_hit]
    partners = [p.name for p, _ in proposal_partners(engine, profile.proposal.id)]
    frame = pd.DataFrame(rows, columns=["partner", "role", "level"])
    counts = frame.groupby(["partner", "role", "level"]).size().reset_index(name="count")
    return counts[counts["partner"].isin(partners)].reset_index(drop=True)


def disagreement_frame(engine: Engine, proposal_id: int) -> pd.DataFrame:
    """The spread of each risk's scores in every revealed round of the phase with the most rounds."""
    from risk.services import rounds as rs
    from risk.services import workshop as ws

    shown = [r for r in rs.list_rounds(engine, proposal_id) if r.status != "open"]
    if not shown:
        return pd.DataFrame(columns=["risk_id", "round", "spread"])
    phase = max(scoring.PHASES, key=lambda p: (sum(r.phase == p for r in shown), p == "inherent"))
    rows = []
    for rnd in [r for r in shown if r.phase == phase]:
        rows += [{"risk_id": risk.risk_id, "round": f"{phase.capitalize()} round {rnd.number}", "spread": risk.spread}
                 for risk in ws.reveal(engine, rnd.id, names=False).risks]
    return pd.DataFrame(rows, columns=["risk_id", "round", "spread"])


def portfolio_chart_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """From the portfolio frame: per proposal and category, how many risks, the worst residual level and how many
    are over appetite."""
    scored = frame.assign(over=frame["over_appetite"].astype(int))
    grouped = scored.groupby(["proposal", "category"], observed=True).agg(
        count=("risk_id", "size"), worst_rank=("rank", "max"), over=("over", "sum")).reset_index()
    grouped["worst"] = grouped["worst_rank"].map(lambda r: scoring.SCORE_LABELS[r] if r >= 0 else NOT_SCORED)
    over = grouped["over"].astype(int)
    grouped["label"] = grouped["count"].astype(str) + np.where(over > 0, " · " + over.astype(str) + " over", "")
    grouped["category"] = grouped["category"].map(scoring.CATEGORIES)
    return grouped[["proposal", "category", "count", "worst", "over", "label"]]
