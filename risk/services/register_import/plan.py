"""What an import would do: into an existing proposal, the risks added or changed and the values to record as
consensus (a Plan); into a new one, the proposal bundle that risk/services/bulk.py loads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine, select

from risk import rules, scoring
from risk.bundle import ProposalBundle, RoundBundle
from risk.models import Partner, ProposalPartner, utcnow
from risk.services.register_import.columns import PAIRS, TEXT, UPDATABLE
from risk.services.register_import.problems import Problems
from risk.services.register_import.rows import Register


@dataclass
class Plan:
    """What an import into an existing proposal would do, row by row."""

    added: list[int] = field(default_factory=list)  # positions in the register
    changed: list[tuple[int, int, int, dict, dict]] = field(default_factory=list)  # position, pk, version, new, old
    unchanged: int = 0
    consensus: list[dict] = field(default_factory=list)  # for an existing proposal: risk position or pk, values


def _value_of(register: Register, k: int, lik: str, imp: str) -> tuple[int, int] | None:
    if lik not in register.data:
        return None
    a, b = register.data[lik][k], register.data[imp][k]
    return None if a is None or b is None else (a, b)


def plan_existing(engine: Engine, register: Register, proposal_id: int, problems: Problems) -> Plan:
    """Into `proposal_id`: each row matched on risk_id (added, changed or unchanged) and each score that differs
    from the standing value planned as consensus; the file's proposal, categories and partners checked too."""
    from risk.services.profile import proposal_profile

    profile = proposal_profile(engine, proposal_id)
    partners = {p.lower(): p for p in _partner_names(engine, proposal_id)}
    existing = {v.risk.risk_id.upper(): v for v in profile.risks}
    data, rows = register.data, register.rows
    title = profile.proposal.title
    if register.titles and register.titles[0] != title:
        problems.add(int(rows[0]), "proposal", f"the file is the register of {register.titles[0]!r}, not of "
                                               f"{title!r}; choose that proposal, or leave the proposal column out")
    if not profile.proposal.cybersecurity:
        problems.where(np.array([c == "cybersecurity" for c in data["category"]], dtype=bool), rows,
                       data["category"], "category",
                       lambda v: rules.CYBERSECURITY_OFF)
    if "owner_partner" in data:
        for k, value in enumerate(data["owner_partner"]):
            if value and value.lower() not in partners:
                problems.add(int(rows[k]), "owner_partner",
                             f"{value!r} is not a partner of this proposal; its partners are "
                             f"{', '.join(partners.values()) or 'none yet'}")
            elif value:
                data["owner_partner"][k] = partners[value.lower()]
    plan = Plan()
    for k, rid in enumerate(data["risk_id"]):
        view = existing.get(rid.upper())
        if view is None:
            plan.added.append(k)
            continue
        risk, changes, before = view.risk, {}, {}
        for name in UPDATABLE:
            if name not in data:
                continue
            value = data[name][k]
            if name == "status" and value is None:
                continue
            current = view.owner_partner or "" if name == "owner_partner" else getattr(risk, name)
            if (value or None) != (current or None):
                changes[name], before[name] = value, current
        for phase, lik, imp, _when in PAIRS:
            value = _value_of(register, k, lik, imp)
            standing = getattr(view, phase)
            if value is not None and value != (standing.likelihood, standing.impact):
                changes[phase] = value
                # a value changed in the file is agreed now (the file's date belongs to the value it replaces)
                plan.consensus.append({"risk_pk": risk.id, "phase": phase, "likelihood": value[0],
                                       "impact": value[1], "when": None,
                                       "before": {"risk_id": risk.risk_id, "phase": phase,
                                                  "likelihood": standing.likelihood, "impact": standing.impact,
                                                  "source": standing.source}})
        if changes:
            plan.changed.append((k, risk.id, risk.version, changes, {"risk_id": risk.risk_id, **before}))
        else:
            plan.unchanged += 1
    for k in plan.added:
        for phase, lik, imp, when in PAIRS:
            value = _value_of(register, k, lik, imp)
            if value is not None:
                plan.consensus.append({"position": k, "phase": phase, "likelihood": value[0], "impact": value[1],
                                       "when": data.get(when, [None] * (k + 1))[k]})
    return plan


def _partner_names(engine: Engine, proposal_id: int) -> list[str]:
    from sqlmodel import Session

    with Session(engine) as s:
        return list(s.execute(select(Partner.name).join(ProposalPartner, ProposalPartner.partner_id == Partner.id)
                              .where(ProposalPartner.proposal_id == proposal_id).order_by(Partner.name)).scalars())


def midnight(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) if day else None


def plan_new(register: Register, title: str, actor: str, source: str) -> ProposalBundle:
    """A new proposal holding the register: rounds from the Scores sheet, and a consensus wherever the register's
    value (or its date) is not what those rounds give."""
    data, n = register.data, len(register.rows)
    method = register.method.get("aggregation", scoring.DEFAULT_AGGREGATION)
    partners = {p["name"]: p for p in register.partners}
    for name in [*data.get("owner_partner", []), *(s["partner"] for s in register.scores),
                 *(a["paying_partner"] for a in register.actions)]:
        if name and name not in partners:
            partners[name] = {"name": name, "kind": "other"}
    team = {m["name"]: m for m in register.team}
    for s in register.scores:
        if s["assessor"] not in team or team[s["assessor"]].get("team_role") == "observer":
            team[s["assessor"]] = {"name": s["assessor"], "partner": s["partner"] or None, "team_role": "assessor"}
    for m in team.values():
        if m.get("partner") and m["partner"] not in partners:
            partners[m["partner"]] = {"name": m["partner"], "kind": "other"}
    rounds: dict[tuple[str, int], RoundBundle] = {}
    for s in register.scores:
        key = (s["phase"], s["round"])
        if key not in rounds:
            day = midnight(s["closed_on"])
            rounds[key] = RoundBundle(phase=key[0], number=key[1], status="closed", scores=[], opened_at=day,
                                      revealed_at=day, closed_at=day)
        rounds[key].scores.append((s["risk_id"], s["assessor"], s["likelihood"], s["impact"], s["rationale"]))
    latest: dict[tuple[str, str], tuple[RoundBundle, list]] = {}
    partner_of = {m["name"]: m.get("partner") for m in team.values()}
    for rnd in sorted(rounds.values(), key=lambda r: r.number):
        for score in rnd.scores:
            entry = latest.get((score[0], rnd.phase))
            if entry is None or entry[0] is not rnd:
                entry = latest[(score[0], rnd.phase)] = (rnd, [])
            entry[1].append(score)
    risks, consensus = [], []
    now = utcnow()
    for k in range(n):
        rid = data["risk_id"][k]
        risks.append({"risk_id": rid, "category": data["category"][k], "title": data["title"][k],
                      **{name: data[name][k] for name in TEXT[1:] if name in data},
                      "owner_partner": (data.get("owner_partner") or [None] * n)[k] or None,
                      "treatment": data["treatment"][k] if "treatment" in data else None,
                      "status": (data["status"][k] if "status" in data else None) or "Open"})
        for phase, lik, imp, when in PAIRS:
            value = _value_of(register, k, lik, imp)
            if value is None:
                continue
            day = data[when][k] if when in data else None
            entry = latest.get((rid, phase))
            if entry is not None:
                rnd, scores = entry
                summary = scoring.summarise_round(scoring.RoundScores(
                    rnd.number, tuple(s[2] for s in scores), tuple(s[3] for s in scores),
                    tuple(partner_of.get(s[1]) for s in scores)))
                closed = rnd.closed_at.date() if rnd.closed_at else None
                if summary.value(method) == value and (day is None or day == closed) and closed is not None:
                    continue
            consensus.append({"risk_id": rid, "phase": phase, "likelihood": value[0], "impact": value[1],
                              "rationale": f"Imported from {source}",
                              "recorded_at": midnight(day) or now})
    proposal = {"title": title, **register.method,
                "cybersecurity": any(c == "cybersecurity" for c in data["category"])}
    return ProposalBundle(proposal=proposal, partners=list(partners.values()), team=list(team.values()),
                          risks=risks, rounds=sorted(rounds.values(), key=lambda r: (r.phase, r.number)),
                          consensus=consensus, actions=register.actions)
