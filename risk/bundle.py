"""A whole proposal as plain values (a bundle): what the demo, synthetic portfolios and the JSON and register
imports produce, and what the bulk loader (risk.services.bulk) validates and writes. It sits below the services so
that the producers need not import them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoundBundle:
    phase: str
    number: int
    status: str
    scores: list[tuple[str, str, int, int, str]]  # (risk_id, assessor name, likelihood, impact, rationale)
    opened_at: dt.datetime | None = None
    revealed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None


@dataclass
class ProposalBundle:
    """A whole proposal as plain values, keyed by names and risk ids rather than database ids."""

    proposal: dict[str, Any]
    partners: list[dict[str, Any]]  # name, kind, population, it_budget, cost_drivers, role
    team: list[dict[str, Any]]  # name, partner, team_role, expertise
    risks: list[dict[str, Any]]  # risk_id, category, title, cause, event, consequence, owner_partner, ...
    rounds: list[RoundBundle] = field(default_factory=list)
    consensus: list[dict[str, Any]] = field(default_factory=list)  # risk_id, phase, likelihood, impact, ...
    actions: list[dict[str, Any]] = field(default_factory=list)  # risk_id, description, owner, due_date, ...
    strengths: list[tuple[str, str, int]] = field(default_factory=list)  # (partner, capability, score)
