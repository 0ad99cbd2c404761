"""A whole proposal as plain values (a bundle): what the demo, synthetic portfolios and the JSON and register
imports produce, and what the bulk loader (risk.services.bulk) validates and writes. It sits below the services so
that the producers need not import them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from risk import rules
from risk.errors import RefusedError
from risk.models import (
    PartnerRole,
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
    # risk_id, phase, likelihood, impact, ...; "at" (optional) names the row's place in the file it came from
    consensus: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)  # risk_id, description, owner, due_date, ...; "at"
    strengths: list[tuple[str, str, int]] = field(default_factory=list)  # (partner, capability, score)
    # name, kind, amount, first_year, years, credit_partner (docs/COSTS.md)
    costs: list[dict[str, Any]] = field(default_factory=list)
    # taken_at, taken_by, reason, sha256, audit_head, content; and partner, decision, rationale, by, recorded_by,
    # recorded_at, snapshot (its sha256), reaffirms (a position in the list), conditions (docs/DECISIONS.md)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)


def _refuse(where: str, message: str) -> RefusedError:
    return RefusedError(f"{where}: {message}")


_VALID_SCORES = frozenset(range(int(rules.SCORE.low), int(rules.SCORE.high) + 1))


def _text(value: Any) -> bool:
    """Whether `value` is text: names and keys are looked up in sets and dicts, where a list or an object (from a
    JSON file) raised TypeError instead of a refusal."""
    return isinstance(value, str)


def _scores_look_valid(scores: list[tuple], risk_ids: set[str], scorers: set[str]) -> bool:
    """The common case, checked with set operations in C: every score valid (rules.SCORE), no duplicates, every
    rationale short text."""
    if not scores:
        return True
    rids, assessors, liks, imps, whys = zip(*scores, strict=True)
    limit = rules.SCORE_ROW["rationale"].limit
    return ({type(v) for v in rids} | {type(v) for v in assessors}) == {str} \
        and ({type(v) for v in liks} | {type(v) for v in imps}) == {int} \
        and set(liks) <= _VALID_SCORES and set(imps) <= _VALID_SCORES \
        and {type(w) for w in whys} == {str} and max(map(len, whys)) <= limit \
        and set(rids) <= risk_ids and set(assessors) <= scorers \
        and len(set(zip(rids, assessors, strict=True))) == len(scores)


def _check_scores(scores: list[tuple], risk_ids: set[str], scorers: set[str], at: str) -> list[tuple]:
    """Walk the scores to name the first bad one (only when the fast check failed); the checked rows."""
    keys = set()
    out = []
    for k, (rid, assessor, lik, imp, why) in enumerate(scores, start=1):
        place = f"{at}, score {k}" + (f" ({rid})" if _text(rid) else "")
        if not _text(rid) or rid not in risk_ids:
            raise rules.refusal(place, "risk_id", f"expected a risk of this proposal, got {rules.described(rid)}")
        if not _text(assessor) or assessor not in scorers:
            raise rules.refusal(place, "assessor", f"expected an assessor or facilitator on the team, got "
                                                   f"{rules.described(assessor)}")
        row = rules.check_row(rules.SCORE_ROW, {"likelihood": lik, "impact": imp, "rationale": why},
                              f"{at}, score {k} ({rid}, {assessor})")
        if (rid, assessor) in keys:
            raise _refuse(place, f"{assessor} scored {rid} twice")
        keys.add((rid, assessor))
        out.append((rid, assessor, row["likelihood"], row["impact"], row["rationale"]))
    return out


def _ref(row: dict[str, Any], field: str, known: set[str], what: str, where: str) -> None:
    """A reference by name (a partner, a risk_id) must name one of `known`."""
    value = row.get(field)
    if value is None or value == "":
        row[field] = None
        return
    if not _text(value) or value.strip() not in known:
        raise rules.refusal(where, field, f"expected {what}, got {rules.described(value)}")
    row[field] = value.strip()


# observers, and facilitators (often regional or state staff who run the workshop), may come from no partner
_WITHOUT_PARTNER = (TeamRole.observer.value, TeamRole.facilitator.value)
_CONSENSUS_BUT_WHO = rules.without(rules.CONSENSUS, "recorded_by")  # who recorded it: checked apart


def validate(bundle: ProposalBundle, where: str) -> None:
    """Check a bundle completely by the rules (risk/rules.py), and put every value in its stored form (text
    stripped, words in their stored case); the refusal names the place (`where`, then the row) and the field."""
    p = bundle.proposal
    bundle.proposal = {**p, **rules.check_row(rules.PROPOSAL, p, where, whole=True)}
    partner_names: set[str] = set()
    leads = 0
    for k, partner in enumerate(bundle.partners, start=1):
        at = f"{where}, partner {k}"
        partner.update(rules.check_row(rules.PARTNER, partner, at, whole=True))
        if partner["name"] in partner_names:
            raise rules.refusal(at, "name", f"{partner['name']!r} appears twice")
        leads += partner.get("role") == PartnerRole.lead.value
        partner_names.add(partner["name"])
    if leads > 1:
        raise _refuse(where, "partners: role: at most one partner can lead or host")
    members: dict[str, dict] = {}
    for k, m in enumerate(bundle.team, start=1):
        at = f"{where}, team member {k}"
        m.update(rules.check_row(rules.TEAM_MEMBER, m, at, whole=True))
        _ref(m, "partner", partner_names, "a partner of this proposal", at)
        if m["name"] in members:
            raise rules.refusal(at, "name", f"{m['name']!r} appears twice")
        if m["partner"] is None and m.get("team_role", TeamRole.assessor.value) not in _WITHOUT_PARTNER:
            raise rules.refusal(at, "partner", "an assessor or reviewer must come from one of the proposal's "
                                               "partner governments")
        members[m["name"]] = m
    risk_ids: set[str] = set()
    for k, r in enumerate(bundle.risks, start=1):
        at = f"{where}, risk {r['risk_id']}" if _text(r.get("risk_id")) and r["risk_id"] else f"{where}, risk {k}"
        r.update(rules.check_row(rules.RISK, r, at, whole=True))
        rules.check_risk_money(*(r.get(k) for k in rules.RISK_MONEY), at)
        if r["risk_id"] in risk_ids:
            raise rules.refusal(at, "risk_id", f"{r['risk_id']} appears twice; a risk_id appears once")
        if r["category"] == "cybersecurity" and not bundle.proposal.get("cybersecurity"):
            raise rules.refusal(at, "category", rules.CYBERSECURITY_OFF)
        _ref(r, "owner_partner", partner_names, "a partner of this proposal", at)
        risk_ids.add(r["risk_id"])
    scorers = {name for name, m in members.items() if m.get("team_role", "assessor") != TeamRole.observer.value}
    seen_rounds = set()
    for rnd in bundle.rounds:
        row = rules.check_row(rules.ROUND, {"phase": rnd.phase, "number": rnd.number, "status": rnd.status},
                              f"{where}, round", whole=True)
        rnd.phase, rnd.number, rnd.status = row["phase"], row["number"], row["status"]
        at = f"{where}, {rnd.phase} round {rnd.number}"
        if (rnd.phase, rnd.number) in seen_rounds:
            raise _refuse(at, "appears twice")
        seen_rounds.add((rnd.phase, rnd.number))
        if not _scores_look_valid(rnd.scores, risk_ids, scorers):
            rnd.scores = _check_scores(rnd.scores, risk_ids, scorers, at)
    agreed: set[tuple[str, str]] = set()
    for k, c in enumerate(bundle.consensus, start=1):
        at = c.get("at") or f"{where}, consensus {k}"
        _ref(c, "risk_id", risk_ids, "a risk of this proposal", at)
        if c["risk_id"] is None:
            raise rules.refusal(at, "risk_id", "a value is required")
        c.update(rules.check_row(_CONSENSUS_BUT_WHO, c, at, whole=True))
        if c.get("recorded_by") is not None:  # absent: the person loading records it
            c["recorded_by"] = rules.check(rules.CONSENSUS, "recorded_by", c["recorded_by"], at)
            if c["recorded_by"] not in scorers:
                raise rules.refusal(at, "recorded_by", f"expected a facilitator or assessor on the team, got "
                                                       f"{c['recorded_by']!r}")
        if (c["risk_id"], c["phase"]) in agreed:
            raise rules.refusal(at, "phase", f"{c['risk_id']} has a {c['phase']} consensus already; a risk has one "
                                             "per phase")
        agreed.add((c["risk_id"], c["phase"]))
    for k, a in enumerate(bundle.actions, start=1):
        at = a.get("at") or f"{where}, action {k}"
        _ref(a, "risk_id", risk_ids, "a risk of this proposal", at)
        if a["risk_id"] is None:
            raise rules.refusal(at, "risk_id", "a value is required")
        a.update(rules.check_row(rules.ACTION, a, at, whole=True))
        _ref(a, "paying_partner", partner_names, "a partner of this proposal", at)
    bundle.costs = [rules.check_cost_line(line, f"{where}, cost {k}", partner_names)
                    for k, line in enumerate(bundle.costs, start=1)]
    if bundle.proposal.get("allocation"):
        rules.check_allocation_partners(bundle.proposal["allocation"], partner_names, f"{where}, allocation")
    _check_decisions(bundle, where, partner_names, risk_ids)
    strengths = []
    for k, (partner, capability, value) in enumerate(bundle.strengths, start=1):
        at = f"{where}, strength {k}"
        if not _text(partner) or partner.strip() not in partner_names:
            raise rules.refusal(at, "partner", f"expected a partner of this proposal, got {rules.described(partner)}")
        row = rules.check_row(rules.STRENGTH, {"capability": capability, "score": value}, at, whole=True)
        if (partner.strip(), row["capability"]) in {(x[0], x[1]) for x in strengths}:
            raise rules.refusal(at, "capability", f"{partner.strip()} has a score for {row['capability']!r} already")
        strengths.append((partner.strip(), row["capability"], row["score"]))
    bundle.strengths = strengths


_NAME_40 = rules.Rule("text", required=True, limit=40)
_NAME_200 = rules.Rule("text", required=True, limit=200)


def _check_decisions(bundle: ProposalBundle, where: str, partners: set[str], risk_ids: set[str]) -> None:
    """Snapshots whose content matches their SHA-256, and decisions that name a partner, a snapshot and (when
    re-affirmed) an earlier decision of the file, with their conditions (docs/DECISIONS.md)."""
    from risk import snapshots

    shas = set()
    for k, x in enumerate(bundle.snapshots, start=1):
        at = x.pop("at", None) or f"{where}, snapshot {k}"
        if not isinstance(x.get("content"), dict):
            raise rules.refusal(at, "content", f"expected the snapshot's content, an object, got "
                                               f"{rules.described(x.get('content'))}")
        if not isinstance(x.get("sha256"), str) or snapshots.digest(x["content"]) != x["sha256"]:
            raise rules.refusal(at, "sha256", "the content does not match its SHA-256: the snapshot was changed "
                                              "after it was taken")
        x["taken_by"] = rules.check({"taken_by": _NAME_200}, "taken_by", x.get("taken_by"), at)
        for name, limit in (("reason", 300), ("audit_head", 200)):
            x[name] = rules.check({name: rules.Rule("text", limit=limit)}, name, x.get(name) or "", at)
        shas.add(x["sha256"])
    for k, d in enumerate(bundle.decisions, start=1):
        at = d.pop("at", None) or f"{where}, decision {k}"
        d.update(rules.check_row(rules.DECISION, d, at, whole=True))
        _ref(d, "partner", partners, "a partner of this proposal", at)
        if d["partner"] is None:
            raise rules.refusal(at, "partner", "a value is required")
        if d.get("snapshot") not in shas:
            raise rules.refusal(at, "snapshot", f"expected the SHA-256 of one of the file's snapshots, got "
                                                f"{rules.described(d.get('snapshot'))}")
        d["by"] = rules.check({"by": _NAME_40}, "by", d.get("by"), at)
        d["recorded_by"] = rules.check({"recorded_by": _NAME_200}, "recorded_by", d.get("recorded_by"), at)
        again = d.get("reaffirms")
        if again is not None and (isinstance(again, bool) or not isinstance(again, int) or not 1 <= again < k):
            raise rules.refusal(at, "reaffirms", f"expected the position of an earlier decision (1 to {k - 1}), "
                                                 f"got {rules.described(again)}")
        conditions = d.get("conditions") or []
        if (d["decision"] == "approve_with_conditions") != bool(conditions):
            raise rules.refusal(at, "conditions", "an approval with conditions has at least one condition, and "
                                                  "only it has conditions")
        checked = []
        for j, c in enumerate(conditions, start=1):
            cat = f"{at}, condition {j}"
            row = rules.check_row(rules.CONDITION, c, cat, whole=True)
            _ref(c, "risk_id", risk_ids, "a risk of this proposal", cat)
            checked.append({**row, "risk_id": c["risk_id"]})
        d["conditions"] = checked
