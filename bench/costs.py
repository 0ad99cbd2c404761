"""Benchmark of the cost-allocation core (risk/costs.py): every method for every proposal of a synthetic
portfolio, as the Costs page's comparison does for one proposal."""

from __future__ import annotations

import random
import time

from risk.costs import Agreement, CostLine, Method, PartnerFigures, compare

DRIVER = "calls_for_service"


def _proposal(rng: random.Random, partners_per: tuple[int, int], lines_per: tuple[int, int]):
    """One synthetic proposal: its partners' figures, its cost lines, an agreement (horizon, sometimes floors
    and caps) and the seven methods to compare."""
    n = rng.randint(*partners_per)
    names = [f"Partner {i + 1}" for i in range(n)]
    partners = [PartnerFigures(name, population=rng.randint(2_000, 800_000), assessed_value=rng.uniform(1e8, 1e11),
                               drivers={DRIVER: rng.randint(1_000, 200_000)},
                               status_quo_cost=rng.choice((None, rng.uniform(5e4, 5e6))),
                               exit_cost=rng.choice((None, rng.uniform(1e4, 1e6))))
                for name in names]
    horizon = rng.randint(3, 10)
    lines = [CostLine(f"line {k + 1}", rng.choice(("one_time", "recurring")), round(rng.uniform(1e3, 5e6), 2),
                      first_year=rng.randint(1, horizon), years=rng.randint(1, horizon),
                      credit_partner=rng.choice(names) if rng.random() < 0.1 else None)
             for k in range(rng.randint(*lines_per))]
    floors = {names[-1]: 100 / n / 2} if rng.random() < 0.3 else {}
    caps = {names[0]: 100 / n + 20} if n > 1 and rng.random() < 0.3 else {}
    raw = [rng.random() + 0.01 for _ in names]
    methods = [
        Method("equal"), Method("population"), Method("assessed_value"), Method("driver", driver=DRIVER),
        Method("blend", weights={f"driver:{DRIVER}": 0.54, "assessed_value": 0.23, "population": 0.23}),
        Method("base_plus_usage", driver=DRIVER, base_share=0.25),
        Method("fixed", percentages={p: 100 * r / sum(raw) for p, r in zip(names, raw, strict=True)}),
    ]
    return lines, partners, Agreement(Method("equal"), horizon=horizon, floors=floors, caps=caps), methods


def bench_allocation(proposals: int = 1000, partners_per: tuple[int, int] = (2, 8),
                     lines_per: tuple[int, int] = (3, 12), seed: int = 2026) -> dict:
    """Time to allocate every method (equal, population, assessed_value, driver, blend, base_plus_usage, fixed) for
    every one of `proposals` synthetic proposals (generated first, not timed), through `compare`."""
    rng = random.Random(seed)
    cases = [_proposal(rng, partners_per, lines_per) for _ in range(proposals)]
    t = time.perf_counter()
    allocations = 0
    for lines, partners, agreement, methods in cases:
        allocations += len(compare(lines, partners, agreement, methods))
    ours_ms = (time.perf_counter() - t) * 1000
    return {"name": f"allocation of every method, {proposals:,} proposals", "ours_ms": ours_ms, "plain_ms": None,
            "target": None, "target_ms": 1000,
            "ours": f"risk.costs.compare: {allocations:,} allocations ({partners_per[0]}-{partners_per[1]} partners, "
                    f"{lines_per[0]}-{lines_per[1]} lines, 3-10 years; cents by largest remainder, Decimal results)",
            "plain": ""}
