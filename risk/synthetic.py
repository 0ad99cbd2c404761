"""Synthetic portfolios for tests and benchmarks: proposals with partners, a team, risks from the catalogue and
one closed inherent and one closed residual round of random but plausible scores. The same seed gives the same
data; names carry the seed, so loads with different seeds never collide."""

from __future__ import annotations

import numpy as np

from risk.bundle import ProposalBundle, RoundBundle
from risk.catalogue import templates
from risk.scoring import CATEGORY_PREFIX, CORE_CATEGORIES

SERVICES = ("911/CAD", "ERP/payroll", "GIS", "Data centre", "Other")
LEVEL_P = np.array([0.10, 0.25, 0.30, 0.25, 0.10])  # where a risk's "true" likelihood or impact falls
NOISE = np.array([-2, -1, 0, 1, 2])
NOISE_P = np.array([0.04, 0.21, 0.50, 0.21, 0.04])


def synthetic_title(seed: int, k: int) -> str:
    return f"Synthetic {seed}-{k:04d}"


def generate(*, proposals: int, risks: int, assessors: int, seed: int) -> list[ProposalBundle]:
    """`proposals` bundles of `risks` risks scored by `assessors` people from two to five partners."""
    if proposals < 1 or risks < 1 or assessors < 1:
        raise ValueError("proposals, risks and assessors must each be at least 1")
    rng = np.random.default_rng(seed)
    pool = [t for t in templates() if t.category in CORE_CATEGORIES]
    out = []
    for k in range(1, proposals + 1):
        n_partners = min(assessors, 2 + int(rng.integers(0, 4)))
        partners = []
        for j in range(n_partners):
            kind = "county" if j == 0 else ("city" if j % 3 else "district")
            partners.append({
                "name": f"S{seed}-{k:04d} {kind} {j + 1}", "kind": kind, "role": "lead" if j == 0 else "participant",
                "population": int(rng.integers(2_000, 400_000)), "it_budget": float(rng.integers(2, 400)) * 10_000,
                "cost_drivers": {"road_miles": int(rng.integers(20, 900))},
            })
        team = [{"name": f"Assessor {a + 1}", "partner": partners[a % n_partners]["name"],
                 "team_role": "facilitator" if a == 0 else "assessor", "expertise": ""} for a in range(assessors)]
        chosen = [pool[int(i)] for i in rng.integers(0, len(pool), size=risks)]
        counters: dict[str, int] = {}
        risk_rows = []
        for t in chosen:
            counters[t.category] = counters.get(t.category, 0) + 1
            risk_rows.append({
                "risk_id": f"{CATEGORY_PREFIX[t.category]}-{counters[t.category]:02d}", "category": t.category,
                "title": t.title, "cause": t.cause, "event": t.event, "consequence": t.consequence,
                "owner_partner": partners[int(rng.integers(0, n_partners))]["name"], "owner": "",
                "treatment": t.treatment, "status": "Open", "tags": list(t.tags), "template_id": t.template_id,
            })
        # true values, then each assessor's noisy view; a few risks divide the partners
        true = rng.choice(np.arange(1, 6), size=(risks, 2), p=LEVEL_P)
        divided = rng.random(risks) < 0.1
        partner_of = np.array([a % n_partners for a in range(assessors)])
        shift = np.where(divided[:, None] & (partner_of[None, :] % 2 == 1), 2, 0)
        reduction = rng.choice(np.array([0, 1, 1, 2]), size=(risks, 2))
        rounds = []
        for number, phase, centre in ((1, "inherent", true), (1, "residual", np.maximum(true - reduction, 1))):
            noise = rng.choice(NOISE, size=(risks, assessors, 2), p=NOISE_P)
            values = np.clip(centre[:, None, :] + noise + shift[:, :, None], 1, 5)
            scores = [(risk_rows[r]["risk_id"], team[a]["name"], int(values[r, a, 0]), int(values[r, a, 1]), "")
                      for r in range(risks) for a in range(assessors)]
            rounds.append(RoundBundle(phase=phase, number=number, status="closed", scores=scores))
        out.append(ProposalBundle(
            proposal={"title": synthetic_title(seed, k), "service_type": SERVICES[int(rng.integers(0, 5))],
                      "description": f"Generated with seed {seed}.", "status": "In assessment",
                      "phase": "Assessment", "aggregation": "upper_median", "matrix": "nist-800-30",
                      "appetite": {c: ("Minimal" if c == "legal" else "Cautious") for c in CORE_CATEGORIES}},
            partners=partners, team=team, risks=risk_rows, rounds=rounds,
        ))
    return out
