"""Benchmark of risk/quantify.py: `simulate` of a proposal's risks in money beside a plain numpy loop that makes the
same draws (the same SeedSequence streams per risk, Poisson counts, then lognormal losses, then the per-year sum)
and keeps only the proposal's total per year: no percentiles, no per-risk statistics, no progress, no checks.

    uv run --no-sync python -m bench.quantify [years] [risks]
"""

from __future__ import annotations

import json
import sys

import numpy as np

from bench.run import paired_ms
from risk.quantify import RiskFigures, _stream, fit_lognormal, simulate


def bench_risks(risks: int = 40) -> list[RiskFigures]:
    """`risks` risks with frequencies spread evenly on a log scale over 0.05..3 events a year and single-event loss
    ranges from 5,000..25,000 up to about 1.5M..30M (the 95th percentile 5, 10, 15 or 20 times the 5th)."""
    freqs = np.geomspace(0.05, 3, risks) if risks > 1 else np.array([1.0])
    lows = np.geomspace(5_000, 1_500_000, risks) if risks > 1 else np.array([50_000.0])
    return [RiskFigures(f"R{i + 1:03d}", float(f), float(lo), float(lo) * (5 + 5 * (i % 4)))
            for i, (f, lo) in enumerate(zip(freqs, lows, strict=True))]


def plain_simulation(risks: list[RiskFigures], years: int, seed: int) -> np.ndarray:
    """The proposal's total loss per simulated year, drawn as `simulate` draws it, all years of a risk at once."""
    total = np.zeros(years)
    index = np.arange(years)
    for r in sorted(risks, key=lambda r: r.risk_id):
        if r.frequency == 0:
            continue
        mu, sigma = fit_lognormal(r.loss_low, r.loss_high)
        count_rng, loss_rng = _stream(seed, r.risk_id)
        counts = count_rng.poisson(r.frequency, years)
        losses = loss_rng.lognormal(mu, sigma, int(counts.sum()))
        total += np.bincount(np.repeat(index, counts), weights=losses, minlength=years)
    return total


def bench_simulation(years: int = 1_000_000, risks: int = 40, seed: int = 2026, runs: int = 3) -> dict:
    figures = bench_risks(risks)
    sim = simulate(figures, years, seed)
    plain = plain_simulation(figures, years, seed)
    # the same draws: the proposal's years agree to the last bit
    assert np.array_equal(sim.annual, plain), "simulate and the plain loop drew different years"
    ours_ms, plain_ms = paired_ms(lambda: simulate(figures, years, seed),
                                  lambda: plain_simulation(figures, years, seed), runs)
    return {"name": f"risk in money: simulate {years:,} years x {risks} risks", "ours_ms": ours_ms,
            "plain_ms": plain_ms, "target": 1.5,
            "ours": "quantify.simulate: checks, chunked draws, per-risk EAL, standard error and percentiles, the "
                    "proposal's percentiles, partner shares, progress",
            "plain": "plain numpy: the same seeded Poisson and lognormal draws per risk, summed per year with "
                     "np.bincount, all years at once, nothing else"}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    row = bench_simulation(*args)
    row["ratio"] = row["ours_ms"] / row["plain_ms"]
    print(json.dumps(row, indent=1))
