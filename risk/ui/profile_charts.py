"""What the profile page draws from a proposal's data: its charts (how each is built, under which key) and its risk in
money (the simulation's small summary). One home for both, used by the page (risk/ui/pages/profile.py) and by the
server's start (warm_profiles), which makes them for the proposals changed most recently before anyone asks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from risk import charts, config, quantify
from risk.services import quantify as qs
from risk.services import rounds as rs
from risk.services.views import disagreement_frame, partner_exposure_frame, risk_frame
from risk.ui import common

TITLES = {"inherent": "Inherent risk (before controls)", "residual": "Residual risk (with controls)",
          "target": "Target risk (set by the owners)"}
# the page's first settings: likelihood on the vertical axis, the default years and seed of the simulation
AXIS = "vertical"
YEARS = (10_000, qs.DEFAULT_ITERATIONS, 1_000_000)  # the choices of simulated years
# the profiles made at the server's start: those of the proposals changed most recently
WARM_PROFILES = 3

# a chart of the page: (build, key, file name, the settings it depends on)
Recipe = tuple[Callable[[], Any], str, str, tuple]


def points(profile: Any) -> dict[str, list[tuple[str, int | None, int | None]]]:
    """Each risk's (id, likelihood, impact) for the inherent, residual and target heat maps."""
    views = profile.risks
    return {"inherent": [(v.risk.risk_id, v.inherent.likelihood, v.inherent.impact) for v in views],
            "residual": [(v.risk.risk_id, v.residual.likelihood, v.residual.impact) for v in views],
            "target": [(v.risk.risk_id, v.risk.target_likelihood, v.risk.target_impact) for v in views]}


def shows_partners(profile: Any, rounds: list) -> bool:
    """Whether the partner-exposure chart has something to show: a risk with an owner partner, or a closed round
    that scored the impact on each partner."""
    return bool(profile.risks) and (any(v.owner_partner for v in profile.risks)
                                    or any(r.per_partner and r.status != "open" for r in rounds))


def chart_recipes(eng: Any, profile: Any, rounds: list, axis: str) -> dict[str, Recipe]:
    """The risk-profile charts the page shows for `profile`, by key: the heat maps (the target's when a risk has
    one), the categories and the movement (when there are risks), each partner's exposure (shows_partners) and the
    assessors' disagreement (when a round is closed)."""
    matrix, pid = profile.matrix, profile.proposal.id
    at = points(profile)

    def heat(kind: str) -> Recipe:
        return (lambda: charts.heatmap(charts.heatmap_cells(matrix, at[kind]), matrix.levels, TITLES[kind],
                                       likelihood_axis=axis), f"heat_{kind}", f"{kind}-heat-map", (axis,))

    has_target = any(lik and imp for _r, lik, imp in at["target"])
    out = {f"heat_{kind}": heat(kind) for kind in ("inherent", "residual", *(["target"] if has_target else []))}
    if profile.risks:
        out["category_profile"] = (lambda: charts.category_profile(risk_frame(profile), matrix.levels),
                                   "category_profile", "category-profile", ())
        out["movement"] = (lambda: charts.movement(risk_frame(profile), matrix.levels), "movement", "movement", ())
    if shows_partners(profile, rounds):
        out["partner_exposure"] = (lambda: charts.partner_exposure(partner_exposure_frame(eng, profile),
                                                                   matrix.levels),
                                   "partner_exposure", "partner-exposure", ())
    if any(r.status != "open" for r in rounds):
        out["disagreement"] = (lambda: charts.disagreement(disagreement_frame(eng, pid)), "disagreement",
                               "disagreement", ())
    return out


def money_summary(priced: qs.PricedRisks, comparison: quantify.Comparison) -> dict:
    """What the risk-in-money section shows, small enough to keep: no simulated years."""
    return {"risks": len(priced.residual), "unpriced": priced.unpriced, "titles": priced.titles,
            "split": priced.split, "stats": comparison.residual.proposal,
            "reduction": comparison.total.reduction, "inherent": comparison.total.inherent_eal,
            "eal": charts.expected_loss_frame(comparison.residual, priced.titles),
            "curves": charts.exceedance_frame(comparison.exceedance(60)),
            "partners": [(p.partner, p.eal) for p in comparison.residual.partners],
            "treatments": charts.treatment_value_frame(comparison.risks, priced.action_costs)}


def money(eng: Any, pid: int, iterations: int, seed: int,
          progress: Callable[[float], None] | None = None) -> dict:
    """The risk in money of proposal `pid` (money_summary), simulated once per version of the proposal and setting
    in this process for every browser session (common.shared); `progress` hears how far a simulation is."""
    def simulate() -> dict:
        return money_summary(*qs.compare(eng, pid, iterations, seed, progress=progress))

    return common.shared(("money", config.database_url(), pid, common.proposal_version(pid), iterations, seed),
                         simulate)


def money_recipes(money_now: dict, currency: str, iterations: int, seed: int) -> dict[str, Recipe]:
    """The risk-in-money charts for the summary `money_now`, by key (none when no risk is priced)."""
    if not money_now["risks"]:
        return {}
    out = {"money_eal": (lambda: charts.expected_loss(money_now["eal"], currency), "money_eal",
                         "expected-annual-loss", (iterations, seed)),
           "money_exceedance": (lambda: charts.loss_exceedance(money_now["curves"], currency), "money_exceedance",
                                "loss-exceedance", (iterations, seed))}
    if len(money_now["treatments"]):
        out["money_treatments"] = (lambda: charts.treatment_value(money_now["treatments"], currency),
                                   "money_treatments", "treatments-value", (iterations, seed))
    return out


def draw(pid: int, recipe: Recipe) -> None:
    """Draw one chart of proposal `pid`'s profile (keyed by the proposal's newest change)."""
    build, key, file_name, parts = recipe
    common.chart(build, key, file_name, *parts, proposal=pid)


def make(pid: int, recipe: Recipe) -> None:
    """Build one chart's spec into the charts' cache without drawing it (the server's start)."""
    build, key, _file, parts = recipe
    common.chart_spec(build, key, *parts, proposal=pid)


def warm_profiles(limit: int = WARM_PROFILES) -> list[int]:
    """At the server's start: the profile pages of the `limit` proposals changed most recently, as their first
    visit with the page's first settings would make them (charts and simulation). Returns their ids."""
    from risk.services import costs as cost_service
    from risk.services.changes import recently_changed
    from risk.services.profile import proposal_profile

    eng = common.engine()
    made: list[int] = []
    for pid in recently_changed(eng, limit):
        profile = proposal_profile(eng, pid)
        for recipe in chart_recipes(eng, profile, rs.list_rounds(eng, pid), AXIS).values():
            make(pid, recipe)
        now = money(eng, pid, qs.DEFAULT_ITERATIONS, qs.DEFAULT_SEED)
        for recipe in money_recipes(now, cost_service.cost_model(eng, pid).currency, qs.DEFAULT_ITERATIONS,
                                    qs.DEFAULT_SEED).values():
            make(pid, recipe)
        made.append(pid)
    return made
