"""A whole proposal as plain values (a bundle): what the demo, synthetic portfolios and the JSON and register
imports produce, and what the bulk loader (risk.services.bulk) validates and writes. It sits below the services so
that the producers need not import them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from risk import scoring
from risk.errors import RefusedError
from risk.models import (
    ActionStatus,
    LifecyclePhase,
    PartnerKind,
    PartnerRole,
    ProposalStatus,
    RoundStatus,
    ServiceType,
    TeamRole,
)


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


def _refuse(where: str, message: str) -> RefusedError:
    return RefusedError(f"{where}: {message}")


_VALID_SCORES = frozenset(range(1, 6))


def _text(value: Any) -> bool:
    """Whether `value` is text: names and keys are looked up in sets and dicts, where a list or an object (from a
    JSON file) raised TypeError instead of a refusal."""
    return isinstance(value, str)


def _whole(value: Any, low: int, high: int) -> bool:
    """A whole number from `low` to `high`; JSON true is not 1."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _scores_look_valid(scores: list[tuple], risk_ids: set[str], scorers: set[str]) -> bool:
    """The common case, checked with set operations in C: every score valid, no duplicates."""
    if not scores:
        return True
    rids, assessors, liks, imps, _ = zip(*scores, strict=True)
    return ({type(v) for v in liks} | {type(v) for v in imps}) == {int} \
        and set(liks) <= _VALID_SCORES and set(imps) <= _VALID_SCORES \
        and set(rids) <= risk_ids and set(assessors) <= scorers \
        and len(set(zip(rids, assessors, strict=True))) == len(scores)


def _find_bad_score(scores: list[tuple], risk_ids: set[str], scorers: set[str], where: str, label: str) -> None:
    """Walk the scores to name the first bad one (only when the fast check failed)."""
    keys = set()
    for k, (rid, assessor, lik, imp, _why) in enumerate(scores, start=1):
        if rid not in risk_ids:
            raise _refuse(where, f"{label} score {k}: risk_id {rid!r} is not a risk of this proposal")
        if assessor not in scorers:
            raise _refuse(where, f"{label} score {k}: {assessor!r} is not an assessor on the team")
        for name, value in (("likelihood", lik), ("impact", imp)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise _refuse(where, f"{label} score {k} ({rid}, {assessor}): {name}: expected a whole "
                                     f"number from 1 to 5, got {value!r}")
        if (rid, assessor) in keys:
            raise _refuse(where, f"{label} score {k}: {assessor} scored {rid} twice")
        keys.add((rid, assessor))


def validate(bundle: ProposalBundle, where: str) -> None:
    """Check a bundle completely; the message names the proposal, the row and the field."""
    p = bundle.proposal
    if not str(p.get("title", "")).strip():
        raise _refuse(where, "title: a value is required")
    for key, allowed in (("service_type", [s.value for s in ServiceType]), ("phase", [x.value for x in LifecyclePhase]),
                         ("status", [s.value for s in ProposalStatus]), ("aggregation", list(scoring.AGGREGATIONS))):
        if key in p and p[key] not in allowed:
            raise _refuse(where, f"{key}: expected one of {', '.join(allowed)}, got {p[key]!r}")
    try:
        scoring.check_appetite_map(p.get("appetite") or {})
    except ValueError as exc:
        raise _refuse(where, f"appetite: {exc}") from None
    partner_names = set()
    leads = 0
    for k, partner in enumerate(bundle.partners, start=1):
        name = partner.get("name", "")
        if not _text(name) or not name.strip():
            raise _refuse(where, f"partner {k}: name: a name (text) is required")
        name = name.strip()
        if name in partner_names:
            raise _refuse(where, f"partner {name!r} appears twice")
        if partner.get("kind", "county") not in [x.value for x in PartnerKind]:
            raise _refuse(where, f"partner {name}: kind must be county, city, district or other")
        if partner.get("role", "participant") not in [r.value for r in PartnerRole]:
            raise _refuse(where, f"partner {name}: role must be lead or participant")
        leads += partner.get("role") == "lead"
        partner_names.add(name)
    if leads > 1:
        raise _refuse(where, "partners: at most one partner can lead or host")
    members = {}
    for k, m in enumerate(bundle.team, start=1):
        if not _text(m.get("name")) or not m["name"].strip():
            raise _refuse(where, f"team member {k}: name: a name (text) is required")
        if m.get("partner") is not None and not _text(m["partner"]):
            raise _refuse(where, f"team member {k} ({m['name']}): partner: expected a partner's name")
        if m.get("partner") is not None and m["partner"] not in partner_names:
            raise _refuse(where, f"team member {k} ({m.get('name')}): partner {m['partner']!r} is not a partner")
        if m.get("team_role", "assessor") not in [r.value for r in TeamRole]:
            raise _refuse(where, f"team member {k}: team_role must be facilitator, assessor or observer")
        if m["name"] in members:
            raise _refuse(where, f"team member {k}: {m['name']!r} appears twice")
        members[m["name"]] = m
    risk_ids = set()
    for k, r in enumerate(bundle.risks, start=1):
        rid = r.get("risk_id")
        if not _text(rid) or not rid or rid in risk_ids:
            raise _refuse(where, f"risk {k}: risk_id {rid!r} is missing, not text, or repeated")
        risk_ids.add(rid)
        if not _text(r.get("category")) or r["category"] not in scoring.CATEGORIES:
            raise _refuse(where, f"risk {rid}: category {r.get('category')!r} is not a category key "
                                 f"({', '.join(scoring.CATEGORIES)})")
        if not _text(r.get("title")) or not r["title"].strip():
            raise _refuse(where, f"risk {rid}: title: a title (text) is required")
        if r.get("owner_partner") and (not _text(r["owner_partner"]) or r["owner_partner"] not in partner_names):
            raise _refuse(where, f"risk {rid}: owner_partner {r['owner_partner']!r} is not a partner")
        if r.get("status", "Open") not in scoring.RISK_STATUSES:
            raise _refuse(where, f"risk {rid}: status: expected one of {', '.join(scoring.RISK_STATUSES)}, "
                                 f"got {r.get('status')!r}")
        if r.get("treatment") not in (None, *scoring.TREATMENTS):
            raise _refuse(where, f"risk {rid}: treatment: expected one of {', '.join(scoring.TREATMENTS)}, "
                                 f"got {r.get('treatment')!r}")
        for name in ("target_likelihood", "target_impact"):
            value = r.get(name)
            if value is not None and not _whole(value, 1, 5):
                raise _refuse(where, f"risk {rid}: {name}: expected a whole number from 1 to 5, got {value!r}")
        if not isinstance(r.get("tags", []), list) or not all(isinstance(t, str) for t in r.get("tags", [])):
            raise _refuse(where, f"risk {rid}: tags: expected a list of words")
    seen_rounds = set()
    for rnd in bundle.rounds:
        label = f"{rnd.phase} round {rnd.number}"
        if not _text(rnd.phase) or rnd.phase not in scoring.PHASES or rnd.status not in [s.value for s in RoundStatus]:
            raise _refuse(where, f"{label}: phase or status is not valid")
        if (rnd.phase, rnd.number) in seen_rounds:
            raise _refuse(where, f"{label}: appears twice")
        seen_rounds.add((rnd.phase, rnd.number))
        scorers = {name for name, m in members.items() if m.get("team_role", "assessor") != "observer"}
        if not _scores_look_valid(rnd.scores, risk_ids, scorers):
            _find_bad_score(rnd.scores, risk_ids, scorers, where, label)
    for k, c in enumerate(bundle.consensus, start=1):
        if not (_text(c["risk_id"]) and _text(c["phase"])) or c["risk_id"] not in risk_ids \
                or c["phase"] not in scoring.PHASES:
            raise _refuse(where, f"consensus {k}: unknown risk_id or phase")
        for name in ("likelihood", "impact"):
            if not _whole(c[name], 1, 5):
                raise _refuse(where, f"consensus {k} ({c['risk_id']}): {name}: expected a whole number from 1 to 5")
    for k, a in enumerate(bundle.actions, start=1):
        if not _text(a["risk_id"]) or a["risk_id"] not in risk_ids:
            raise _refuse(where, f"action {k}: risk_id {a['risk_id']!r} is not a risk of this proposal")
        if a.get("paying_partner") and (not _text(a["paying_partner"]) or a["paying_partner"] not in partner_names):
            raise _refuse(where, f"action {k}: paying_partner {a['paying_partner']!r} is not a partner")
        if a.get("status", ActionStatus.planned.value) not in [x.value for x in ActionStatus]:
            raise _refuse(where, f"action {k}: status: expected one of {', '.join(x.value for x in ActionStatus)}")
    for k, (partner, _cap, value) in enumerate(bundle.strengths, start=1):
        if not _text(partner) or partner not in partner_names or not _whole(value, 0, 5):
            raise _refuse(where, f"strength {k}: partner must be a partner and score 0 to 5")
