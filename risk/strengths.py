"""Capabilities a shared service needs, and which partner is best placed to lead each ("seek the strengths of
each participating government", County Manager's Guide)."""

from __future__ import annotations

from collections.abc import Mapping

CAPABILITIES = (
    "IT staff depth",
    "Data centre",
    "24/7 operations",
    "Procurement",
    "Legal counsel",
    "Finance and billing",
    "GIS",
    "Help desk",
    "Cybersecurity",
)
STRENGTH_SCALE = {0: "none", 1: "minimal", 2: "basic", 3: "solid", 4: "strong", 5: "excellent"}


def best_placed(scores: Mapping[str, Mapping[str, int]]) -> dict[str, list[str]]:
    """For each capability, the partners with the highest score (ties all named; none when the best is 0).

    `scores[partner][capability]` -> `{capability: [partner, ...]}`.
    """
    out: dict[str, list[str]] = {}
    capabilities = list(CAPABILITIES) + sorted({c for s in scores.values() for c in s} - set(CAPABILITIES))
    for cap in capabilities:
        values = {p: s.get(cap, 0) for p, s in scores.items()}
        top = max(values.values(), default=0)
        out[cap] = sorted(p for p, v in values.items() if v == top) if top > 0 else []
    return out
