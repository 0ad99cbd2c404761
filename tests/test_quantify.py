"""Risk in money (risk/quantify.py): the lognormal fit, the closed form, and the Monte Carlo against both."""

from __future__ import annotations

import json
import math
import tracemalloc
from statistics import NormalDist

import numpy as np
import pytest

from risk.errors import RefusedError
from risk.quantify import (
    SUGGESTED_CALIBRATION,
    Z90,
    Calibration,
    RiskFigures,
    compare,
    expected_annual_loss,
    fit_lognormal,
    simulate,
)


def fig(risk_id="R1", frequency=0.1, lo=100_000.0, hi=1_000_000.0, **kw) -> RiskFigures:
    return RiskFigures(risk_id, frequency, lo, hi, **kw)


# --- the fit and the closed form -----------------------------------------------------------------------------------

def test_z90_is_the_95th_percentile_of_the_standard_normal():
    assert Z90 == pytest.approx(NormalDist().inv_cdf(0.95), abs=1e-15)


def test_closed_form_gives_the_issues_figure_to_the_cent():
    assert round(expected_annual_loss(0.1, 100_000, 1_000_000), 2) == 40_400.13
    # the issue's rounded z (1.6449) would give 40,399.57: the exact quantile is the one that matches
    mu, sigma = (math.log(1e5) + math.log(1e6)) / 2, (math.log(1e6) - math.log(1e5)) / (2 * 1.6449)
    assert round(0.1 * math.exp(mu + sigma**2 / 2), 2) == 40_399.57
    assert fig().expected_annual_loss == expected_annual_loss(0.1, 100_000, 1_000_000)
    assert expected_annual_loss(0, 100_000, 1_000_000) == 0.0


@pytest.mark.parametrize("lo,hi", [(100_000, 1_000_000), (5_000, 50_000), (1, 2), (0.5, 1e9)])
def test_fit_lognormal_round_trip(lo, hi):
    mu, sigma = fit_lognormal(lo, hi)
    assert math.exp(mu - Z90 * sigma) == pytest.approx(lo, rel=1e-12)
    assert math.exp(mu + Z90 * sigma) == pytest.approx(hi, rel=1e-12)
    assert mu == pytest.approx((math.log(lo) + math.log(hi)) / 2)


# --- the simulation against the closed form ------------------------------------------------------------------------

PAIRS = [(0.1, 100_000, 1_000_000), (0.5, 5_000, 50_000), (3, 1_000_000, 10_000_000), (1, 20_000, 40_000),
         (0.05, 1_000, 100_000)]


@pytest.fixture(scope="module")
def pairs_run():
    risks = [fig(f"P{i}", lam, lo, hi) for i, (lam, lo, hi) in enumerate(PAIRS)]
    return risks, simulate(risks, 200_000, seed=11)


def test_simulated_mean_agrees_with_the_closed_form_within_four_standard_errors(pairs_run):
    risks, sim = pairs_run
    for r, res in zip(risks, sim.risks, strict=True):
        assert res.risk_id == r.risk_id
        assert res.mean_se > 0
        assert abs(res.eal - r.expected_annual_loss) <= 4 * res.mean_se, (r, res)
    assert sim.proposal.eal == pytest.approx(sum(r.eal for r in sim.risks), rel=1e-12)


def test_poisson_event_counts(pairs_run):
    risks, sim = pairs_run
    for r, res in zip(risks, sim.risks, strict=True):
        assert abs(res.events - r.frequency) <= 4 * math.sqrt(r.frequency / sim.iterations), (r, res.events)
    # a single risk's share of years with a loss is P(N >= 1) = 1 - exp(-λ)
    for lam in (0.1, 1.0, 3.0):
        alone = simulate([fig("one", lam)], 200_000, seed=3)
        p = 1 - math.exp(-lam)
        assert abs(float(alone.exceedance_at([0.0])[0]) - p) <= 4 * math.sqrt(p * (1 - p) / 200_000)


def test_single_event_losses_have_the_given_5th_and_95th_percentiles():
    # λ small: a year with a loss nearly always holds exactly one event (P(N >= 2 | N >= 1) ≈ λ/2 = 0.0005), so the
    # share of those years above lo and above hi is the single-event lognormal's: 0.95 and 0.05
    lam, lo, hi, n = 0.001, 20_000.0, 400_000.0, 5_000_000
    sim = simulate([fig("rare", lam, lo, hi)], n, seed=5)
    with_loss = float(sim.exceedance_at([0.0])[0]) * n
    above_lo, above_hi = (sim.exceedance_at([lo, hi]) * n / with_loss).tolist()
    se = math.sqrt(0.05 * 0.95 / with_loss)
    assert abs(above_lo - 0.95) <= 4 * se + 0.001
    assert abs(above_hi - 0.05) <= 4 * se + 0.001


def test_percentiles_ordered_and_exact(pairs_run):
    _, sim = pairs_run
    for s in [*sim.risks, sim.proposal]:
        assert 0 <= s.p50 <= s.p90 <= s.p95 <= s.p99
    assert [sim.proposal.p50, sim.proposal.p90, sim.proposal.p95, sim.proposal.p99] == \
        np.percentile(sim.annual, [50, 90, 95, 99]).tolist()
    # a single risk: its annual losses are the proposal's, its percentiles those of np.percentile
    alone = simulate([fig("R", 0.3)], 50_000, seed=1)
    r = alone.risks[0]
    assert [r.p50, r.p90, r.p95, r.p99] == np.percentile(alone.annual, [50, 90, 95, 99]).tolist()
    assert r.eal == pytest.approx(alone.annual.mean(), rel=1e-12)
    assert r.mean_se == pytest.approx(alone.annual.std(ddof=1) / math.sqrt(50_000), rel=1e-9)


def test_frequency_zero_gives_zero_loss():
    sim = simulate([fig("none", 0.0), fig("some", 1.0)], 10_000)
    none = sim.risks[0]
    assert (none.eal, none.p50, none.p90, none.p95, none.p99, none.mean_se, none.events) == (0,) * 7
    assert sim.proposal.eal == pytest.approx(sim.risks[1].eal)
    empty = simulate([fig("none", 0.0)], 1_000)
    assert empty.proposal.to_json() == {"eal": 0.0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0}
    assert not empty.annual.any() and empty.exceedance() == []
    assert simulate([], 10).proposal.eal == 0.0


# --- reproducible, risk by risk ------------------------------------------------------------------------------------

def test_same_seed_same_results_other_seed_other_results():
    risks = [fig("A", 0.5), fig("B", 2.0, 1_000, 9_000)]
    a, b = simulate(risks, 20_000, seed=42), simulate(risks, 20_000, seed=42)
    assert a.to_json() == b.to_json() and np.array_equal(a.annual, b.annual)
    assert simulate(risks, 20_000, seed=43).to_json() != a.to_json()


def test_each_risk_has_its_own_stream():
    a, b, c = fig("A", 0.5), fig("B", 2.0, 1_000, 9_000), fig("C", 0.1, 10, 100)
    three = simulate([a, b, c], 30_000, seed=7)
    alone = simulate([a], 30_000, seed=7)
    assert three.risks[0] == alone.risks[0]  # adding B and C changes nothing in A
    reordered = simulate([c, a, b], 30_000, seed=7)
    assert {r.risk_id: r for r in reordered.risks} == {r.risk_id: r for r in three.risks}
    assert reordered.proposal == three.proposal and np.array_equal(reordered.annual, three.annual)
    # the chunk size (memory) changes nothing either
    small = simulate([a, b, c], 30_000, seed=7, chunk=777)
    assert small.to_json() == three.to_json() and np.array_equal(small.annual, three.annual)


def test_progress_reported_after_each_chunk_up_to_one():
    seen: list[float] = []
    simulate([fig("A", 0.5), fig("B", 0.0), fig("C", 2.0)], 10_000, chunk=1_000, progress=seen.append)
    assert len(seen) == 20 and seen == sorted(seen) and seen[-1] == 1.0 and seen[0] > 0
    seen.clear()
    simulate([fig("B", 0.0)], 10, progress=seen.append)
    assert seen == [1.0]


# --- partners, exceedance, comparison ------------------------------------------------------------------------------

def test_partner_split_sums_to_the_total_when_weights_sum_to_one():
    risks = [fig("A", 0.5, partner_weights={"Town": 0.25, "County": 0.75}),
             fig("B", 2.0, 1_000, 9_000, partner_weights={"Town": 0.5, "City": 0.3, "County": 0.2})]
    sim = simulate(risks, 20_000)
    shares = {p.partner: p.eal for p in sim.partners}
    assert list(shares) == ["Town", "County", "City"]
    assert sum(shares.values()) == pytest.approx(sim.proposal.eal, rel=1e-12)
    a, b = sim.risks
    assert shares["Town"] == pytest.approx(0.25 * a.eal + 0.5 * b.eal)
    # a risk without weights is not split: the partners then carry only the weighted risks
    mixed = simulate([*risks, fig("C", 1.0)], 20_000)
    assert sum(p.eal for p in mixed.partners) == pytest.approx(sim.proposal.eal, rel=1e-12)
    assert simulate([fig("C", 1.0)], 1_000).partners == []


def test_exceedance_curve_is_non_increasing():
    sim = simulate([fig("A", 0.5), fig("B", 2.0, 1_000, 9_000)], 50_000)
    curve = sim.exceedance(40)
    xs, ps = [x for x, _ in curve], [p for _, p in curve]
    assert len(curve) == 40 and xs == sorted(xs) and xs[-1] == sim.annual.max()
    assert all(a >= b for a, b in zip(ps, ps[1:], strict=False)) and ps[-1] == 0.0
    assert ps[0] <= float(sim.exceedance_at([0.0])[0]) and ps[0] > 0
    assert all(b / a == pytest.approx(xs[1] / xs[0]) for a, b in zip(xs, xs[1:], strict=False))  # log-spaced
    with pytest.raises(RefusedError, match="at least 2 points"):
        sim.exceedance(1)


def test_compare_gives_what_the_treatments_buy():
    inherent = [fig("A", 1.0, 100_000, 1_000_000), fig("B", 0.3, 5_000, 50_000), fig("C", 0.5)]
    residual = [fig("A", 0.2, 50_000, 500_000), fig("C", 0.5), fig("B", 0.1, 5_000, 50_000)]
    cmp = compare(inherent, residual, 20_000, seed=9)
    by_id = {r.risk_id: r for r in cmp.residual.risks}
    for red, inh in zip(cmp.risks, cmp.inherent.risks, strict=True):
        assert red.risk_id == inh.risk_id
        assert red.inherent_eal == inh.eal and red.residual_eal == by_id[inh.risk_id].eal
        assert red.reduction == inh.eal - by_id[inh.risk_id].eal
    assert cmp.total.reduction == cmp.inherent.proposal.eal - cmp.residual.proposal.eal > 0
    assert [r.risk_id for r in cmp.risks] == ["A", "B", "C"]
    assert cmp.risks[2].reduction == 0.0  # the same figures draw the same numbers on both sides
    curve = cmp.exceedance(30)
    assert len(curve) == 30 and all(len(p) == 3 for p in curve)
    assert all(pi >= pr for _, pi, pr in curve[len(curve) // 2:])  # the treated tail lies below the untreated
    body = json.loads(json.dumps(cmp.to_json()))
    assert body["total"]["reduction"] == round(cmp.total.reduction, 2) and len(body["risks"]) == 3
    with pytest.raises(RefusedError, match="the residual figures lack B"):
        compare(inherent, residual[:2], 100)


def test_to_json_shape_and_cents():
    sim = simulate([fig("A", 0.5, 1_234.567, 98_765.4321, derived=True)], 1_000, seed=3)
    body = sim.to_json()
    assert list(body) == ["iterations", "seed", "risks", "proposal", "partners"]
    assert (body["iterations"], body["seed"], body["partners"]) == (1_000, 3, [])
    (risk,) = body["risks"]
    assert list(risk) == ["risk_id", "frequency", "loss_low", "loss_high", "derived", "eal", "p50", "p90", "p95",
                          "p99"]
    assert risk["derived"] is True and risk["loss_low"] == 1_234.57 and risk["eal"] == round(sim.risks[0].eal, 2)
    assert list(body["proposal"]) == ["eal", "p50", "p90", "p95", "p99"]
    assert json.loads(json.dumps(body)) == body


# --- calibration ---------------------------------------------------------------------------------------------------

def test_suggested_calibration():
    levels = ["Very Low", "Low", "Moderate", "High", "Very High"]
    assert list(SUGGESTED_CALIBRATION.levels) == levels
    assert [SUGGESTED_CALIBRATION.levels[k][0] for k in levels] == [0.05, 0.1, 0.3, 1.0, 3.0]
    eals = [SUGGESTED_CALIBRATION.figures("R", k).expected_annual_loss for k in levels]
    assert eals == sorted(eals)
    f = SUGGESTED_CALIBRATION.figures("R7", "very  high", {"Town": 1.0})
    assert f == RiskFigures("R7", 3.0, 1_000_000, 10_000_000, derived=True, partner_weights={"Town": 1.0})
    assert SUGGESTED_CALIBRATION.figures("R7", "Extreme") is None
    g = SUGGESTED_CALIBRATION.figures_from_scores("R8", "Low", "High")
    assert (g.frequency, g.loss_low, g.loss_high, g.derived) == (0.1, 300_000, 3_000_000, True)
    assert SUGGESTED_CALIBRATION.figures_from_scores("R8", "Low", "?") is None


# --- refused -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,message", [
    (lambda: fit_lognormal(0, 10), "must be more than 0"),
    (lambda: fit_lognormal(-5, 10), "must be more than 0"),
    (lambda: fit_lognormal(10, 10), r"high end of the loss range \(loss_high, 10.00\) must be more than its low"),
    (lambda: fit_lognormal(10, 5), "must be more than its low end"),
    (lambda: fit_lognormal(float("nan"), 5), "must be a finite number"),
    (lambda: fit_lognormal(1, float("inf")), "must be a finite number"),
    (lambda: fit_lognormal("1", 5), "must be a number"),
    (lambda: expected_annual_loss(-0.1, 1, 5), r"frequency \(events per year\) must be 0 or more"),
    (lambda: fig(frequency=-1), r"risk R1: the frequency \(events per year\) must be 0 or more"),
    (lambda: fig(frequency=True), "must be a number"),
    (lambda: fig(frequency=5_000), "at most 1,000 events per year"),
    (lambda: fig(lo=0), r"risk R1: the low end of the loss range \(loss_low\) must be more than 0"),
    (lambda: fig(risk_id=""), "a risk needs an id"),
    (lambda: fig(partner_weights={"Town": 0.6, "City": 0.3}), "partner weights sum to 0.9; they must sum to 1"),
    (lambda: fig(partner_weights={"Town": 1.5, "City": -0.5}), "weight of partner City must be 0 or more"),
    (lambda: simulate([fig()], 0), r"iterations\) must be a whole number from 1 to 10,000,000, not 0"),
    (lambda: simulate([fig()], 10_000_001), "from 1 to 10,000,000"),
    (lambda: simulate([fig()], 10.5), "must be a whole number"),
    (lambda: simulate([fig()], 10, seed=-1), "seed must be a whole number, 0 or more"),
    (lambda: simulate([fig()], 10, chunk=0), "chunk"),
    (lambda: simulate([fig(), fig()], 10), "risk R1 is given twice"),
    (lambda: simulate([(0.1, 1, 2)], 10), "must be RiskFigures"),
    (lambda: simulate([fig(lo=1e-300, hi=1e300)], 1_000), "too wide to simulate"),
    (lambda: Calibration({"Low": (0.1, 10)}), "needs three numbers"),
    (lambda: Calibration({"Low": (0.1, 10, 5)}), "calibration level 'Low': the high end"),
])
def test_refused_in_words(call, message):
    with pytest.raises(RefusedError, match=message):
        call()


# --- memory --------------------------------------------------------------------------------------------------------

def _peak_mb(years: int, risks: list[RiskFigures]) -> float:
    tracemalloc.start()
    try:
        simulate(risks, years)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _varied(count: int) -> list[RiskFigures]:
    return [fig(f"R{i}", float(lam), 5_000 * 1.15**i, 5_000 * 1.15**i * 10)
            for i, lam in enumerate(np.geomspace(0.05, 3, count))]


def test_memory_stays_bounded_by_the_years_not_the_risks():
    # two float64 arrays of the years (the total and one risk's buffer) plus one step's arrays
    years = 200_000
    few, many = _peak_mb(years, _varied(2)), _peak_mb(years, _varied(12))
    assert many < 2 * years * 8 / 2**20 + 40
    assert many < few + 5


@pytest.mark.slow
def test_memory_of_a_million_years_by_forty_risks():
    assert _peak_mb(1_000_000, _varied(40)) < 100
