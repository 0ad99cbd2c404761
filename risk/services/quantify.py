"""Risk in money for one proposal (docs/COSTS.md, Risk in money): each risk's price from its own figures or from
the proposal's calibration table, simulated by risk/quantify.py, and split among the partners.

- A risk's own figures (frequency, loss_low, loss_high) price it as it stands: its residual price. Its inherent
  price comes from the calibration table at its inherent level; without a table (or an inherent level) it is taken
  as the residual one, so that no treatment is credited with a reduction nobody estimated.
- A risk without figures of its own is priced from the table at its residual and inherent levels ("derived").
- A risk priced neither way is listed as not priced.
- Each risk's loss is split among the partners by the impact their own assessors gave it (the latest revealed
  round that scored the impact on each government; shares in proportion to those impacts), otherwise by the
  fractions of the proposal's chosen allocation (equal shares when none is chosen)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import costs, quantify
from risk.models import Action, Risk
from risk.services import costs as cost_service
from risk.services.profile import proposal_profile

DEFAULT_ITERATIONS = 100_000
DEFAULT_SEED = 2026


@dataclass
class PricedRisks:
    """The proposal's risks as the simulation takes them."""

    proposal_id: int
    title: str
    currency: str
    residual: list[quantify.RiskFigures]
    inherent: list[quantify.RiskFigures]
    unpriced: list[str]  # risk_ids
    titles: dict[str, str] = field(default_factory=dict)
    split: str = ""  # how the partners' shares of each loss were set, in words
    action_costs: dict[str, float] = field(default_factory=dict)  # risk_id -> the cost of its actions


def _partner_weights(engine: Engine, proposal_id: int, model: cost_service.CostModel
                     ) -> tuple[dict[str, dict[str, float]], dict[str, float], str]:
    """Per risk (by risk_id) the split measured in a per-partner round, and the fallback split for the others."""
    from risk.services import rounds as rs
    from risk.services import workshop as ws

    by_risk: dict[str, dict[str, float]] = {}
    per_partner = [r for r in rs.list_rounds(engine, proposal_id) if r.per_partner and r.status != "open"]
    names = {p.name for p in model.partners}
    if per_partner:
        latest = max(per_partner, key=lambda r: (r.revealed_at or r.opened_at))
        for risk in ws.reveal(engine, latest.id, names=False).risks:
            impacts = {p: v for p, v in risk.partner_impact.items() if p in names and v}
            total = sum(impacts.values())
            if total:
                by_risk[risk.risk_id] = {p: v / total for p, v in impacts.items()}
    fallback: dict[str, float] = {}
    words = ""
    if model.partners:
        try:
            method = model.agreement().method
            fallback = costs.fractions_for(method, model.partner_figures())
            words = f"by the cost shares ({costs.method_label(method)})"
        except Exception:  # noqa: BLE001 - figures missing for the chosen method: equal shares, said in words
            fallback = costs.fractions_for(costs.Method("equal"), model.partner_figures())
            words = "equally (the chosen allocation lacks figures)"
    if by_risk:
        words = "by the impact each government's assessors gave it where they did, otherwise " + words
    return by_risk, fallback, words


def priced_risks(engine: Engine, proposal_id: int) -> PricedRisks:
    profile = proposal_profile(engine, proposal_id)
    model = cost_service.cost_model(engine, proposal_id)
    table = quantify.calibration_from_json(model.calibration) if model.calibration else None
    by_risk, fallback, words = _partner_weights(engine, proposal_id, model)
    residual, inherent, unpriced, titles = [], [], [], {}
    for view in profile.risks:
        risk = view.risk
        titles[risk.risk_id] = risk.title
        weights = by_risk.get(risk.risk_id, fallback)
        if risk.frequency is not None and risk.loss_low is not None and risk.loss_high is not None:
            now = quantify.RiskFigures(risk.risk_id, risk.frequency, risk.loss_low, risk.loss_high, False, weights)
        else:
            now = table.figures(risk.risk_id, view.residual.level, weights) \
                if table is not None and view.residual.level else None
        if now is None:
            unpriced.append(risk.risk_id)
            continue
        before = table.figures(risk.risk_id, view.inherent.level, weights) \
            if table is not None and view.inherent.level else None
        residual.append(now)
        inherent.append(before or now)
    with Session(engine) as s:
        spent = s.execute(select(Risk.risk_id, Action.cost).join(Action, Action.risk_pk == Risk.id)
                          .where(Risk.proposal_id == proposal_id, Action.cost.is_not(None))).all()
    action_costs: dict[str, float] = {}
    for risk_id, cost in spent:
        action_costs[risk_id] = action_costs.get(risk_id, 0.0) + float(cost)
    return PricedRisks(proposal_id=proposal_id, title=model.title, currency=model.currency, residual=residual,
                       inherent=inherent, unpriced=unpriced, titles=titles, split=words, action_costs=action_costs)


def simulate(engine: Engine, proposal_id: int, iterations: int = DEFAULT_ITERATIONS, seed: int = DEFAULT_SEED,
             progress: Callable[[float], None] | None = None) -> tuple[PricedRisks, quantify.Simulation]:
    """The proposal's risks as they stand (residual), simulated."""
    priced = priced_risks(engine, proposal_id)
    return priced, quantify.simulate(priced.residual, iterations, seed, progress=progress)


def compare(engine: Engine, proposal_id: int, iterations: int = DEFAULT_ITERATIONS, seed: int = DEFAULT_SEED,
            progress: Callable[[float], None] | None = None) -> tuple[PricedRisks, quantify.Comparison]:
    """Inherent against residual: what the treatments buy."""
    priced = priced_risks(engine, proposal_id)
    return priced, quantify.compare(priced.inherent, priced.residual, iterations, seed, progress=progress)


__all__ = ["DEFAULT_ITERATIONS", "DEFAULT_SEED", "PricedRisks", "compare", "priced_risks", "simulate"]
