"""The benchmark's data: a synthetic portfolio from the same generator `risk demo --synthetic` uses, so the
benchmark loads exactly what a user's synthetic load would, through the same bulk path."""

from __future__ import annotations

from risk.services.bulk import ProposalBundle
from risk.synthetic import generate


def generate_portfolio(proposals: int, risks: int, assessors: int, seed: int) -> list[ProposalBundle]:
    """`proposals` proposals of `risks` risks, each scored by `assessors` people in one inherent and one residual
    closed round."""
    return generate(proposals=proposals, risks=risks, assessors=assessors, seed=seed)
