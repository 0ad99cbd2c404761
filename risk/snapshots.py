"""What changed between two states of an assessment: the pure part of snapshots (risk/services/decisions.py).

A snapshot's content is the proposal's JSON document as the JSON export writes it (settings, partners, costs,
team, revealed rounds, strengths, and each risk with its scores, consensus, standing values, appetite and actions),
plus the cost shares of the chosen allocation. What says when or which row rather than what (ids, created and
updated times, row versions) is left out, so that two snapshots of the same assessment are equal and have the same
SHA-256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# bookkeeping, not assessment: left out of a snapshot's content
_NOT_CONTENT = frozenset({"id", "created_at", "updated_at", "version"})
# the record of decisions itself is not the assessment they were taken on
_NOT_ASSESSMENT = frozenset({"decisions", "snapshots"})
PHASES = ("inherent", "residual")
# the parts of a risk compared on their own (the rest of its fields are compared one by one)
_RISK_PARTS = ("scores", "consensus", "actions", *PHASES)


def content(proposal_doc: Mapping[str, Any], cost_shares: Mapping[str, Any] | None) -> dict[str, Any]:
    """A snapshot's content from the JSON export's document of one proposal and its cost shares (or None)."""
    doc = {k: v for k, v in proposal_doc.items() if k not in _NOT_CONTENT and k not in _NOT_ASSESSMENT}
    doc["risks"] = [{k: v for k, v in r.items() if k not in _NOT_CONTENT} for r in proposal_doc.get("risks", [])]
    doc["cost_shares"] = dict(cost_shares) if cost_shares is not None else None
    return doc


def canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def digest(doc: Mapping[str, Any]) -> str:
    """The SHA-256 of a snapshot's content in its canonical form (keys sorted, no spaces, UTF-8)."""
    return hashlib.sha256(canonical(doc)).hexdigest()


def standing_words(standing: Mapping[str, Any] | None) -> str:
    if not standing or standing.get("level") is None:
        return "not scored"
    return (f"L{standing.get('likelihood')} I{standing.get('impact')} {standing.get('level')} "
            f"({standing.get('source')})")


def _part_words(part: str, value: Any) -> Any:
    if part in PHASES:
        return standing_words(value)
    if part == "scores":
        return f"{len(value or [])} scores"
    if part == "consensus":
        return "; ".join(f"{c['phase']} L{c['likelihood']} I{c['impact']}" for c in value or []) or "none"
    if part == "actions":
        return "; ".join(f"{a['description'][:60]} ({a['status']})" for a in value or []) or "none"
    return value


def compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from `before` to `after` (two snapshots' contents, or a snapshot and now):

    - `added`, `removed`: risk_ids;
    - `changed`: {risk_id, field, before, after}, one per field of a risk that changed (its scores, consensus,
      actions and standing values each as one field, in words), and one per setting of the proposal (risk_id None:
      appetite, costs, allocation, cost shares, partners, team, matrix...);
    - `level_moves`: {risk_id, phase, before, after, direction (up or down)} where a standing level moved;
    - `breaches_appeared`, `breaches_cleared`: risk_ids that went over their appetite, or came back within it."""
    old = {r["risk_id"]: r for r in before.get("risks", [])}
    new = {r["risk_id"]: r for r in after.get("risks", [])}
    levels = list(after.get("levels") or before.get("levels") or [])
    changed: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    for key in sorted((set(before) | set(after)) - {"risks"}):
        if before.get(key) != after.get(key):
            changed.append({"risk_id": None, "field": key, "before": before.get(key), "after": after.get(key)})
    for rid in sorted(set(old) & set(new)):
        a, b = old[rid], new[rid]
        for key in sorted((set(a) | set(b)) - {"risk_id"}):
            if a.get(key) == b.get(key):
                continue
            if key in _RISK_PARTS:
                changed.append({"risk_id": rid, "field": key, "before": _part_words(key, a.get(key)),
                                "after": _part_words(key, b.get(key))})
            else:
                changed.append({"risk_id": rid, "field": key, "before": a.get(key), "after": b.get(key)})
        for phase in PHASES:
            was, now = (a.get(phase) or {}).get("level"), (b.get(phase) or {}).get("level")
            if was != now:
                rank = {name: k for k, name in enumerate(levels)}
                direction = "up" if rank.get(now, -1) > rank.get(was, -1) else "down"
                moves.append({"risk_id": rid, "phase": phase, "before": was, "after": now, "direction": direction})
    over_before = {rid for rid, r in old.items() if r.get("over_appetite")}
    over_after = {rid for rid, r in new.items() if r.get("over_appetite")}
    return {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)), "changed": changed,
            "level_moves": moves, "breaches_appeared": sorted(over_after - over_before),
            "breaches_cleared": sorted(over_before - over_after)}


_SETTING_WORDS = {"appetite": "the appetites", "costs": "the cost lines", "allocation": "the chosen allocation",
                  "cost_shares": "the cost shares", "partners": "the partners or their figures", "team": "the team",
                  "matrix": "the matrix", "aggregation": "the aggregation rule", "rounds": "the rounds",
                  "strengths": "the partners' strengths", "calibration": "the calibration table",
                  "cost_horizon": "the cost horizon", "currency": "the currency", "title": "the title",
                  "description": "the description", "cybersecurity": "the cybersecurity category",
                  "levels": "the matrix's levels", "phase": "the phase", "status": "the status",
                  "service_type": "the service type"}


_RISK_FIELD_WORDS = {"next_review": "next review date", "over_appetite": "over appetite", "owner_partner": "owning "
                     "partner", "target_likelihood": "target likelihood", "target_impact": "target impact",
                     "loss_low": "loss range (low end)", "loss_high": "loss range (high end)",
                     "template_id": "catalogue template"}


def in_words(diff: Mapping[str, Any], limit: int = 12) -> list[str]:
    """The changes as short sentences for people ("LEG-01: residual level High → Moderate"), at most `limit` and
    a last one saying how many more."""
    out = []
    moved = {(m["risk_id"], m["phase"]) for m in diff["level_moves"]}
    if diff["added"]:
        out.append(f"risks added: {', '.join(diff['added'])}")
    if diff["removed"]:
        out.append(f"risks removed: {', '.join(diff['removed'])}")
    for m in diff["level_moves"]:
        out.append(f"{m['risk_id']}: {m['phase']} level {m['before'] or 'not scored'} → {m['after'] or 'not scored'}")
    if diff["breaches_appeared"]:
        out.append(f"now over appetite: {', '.join(diff['breaches_appeared'])}")
    if diff["breaches_cleared"]:
        out.append(f"back within appetite: {', '.join(diff['breaches_cleared'])}")
    for c in diff["changed"]:
        if c["risk_id"] is None:
            out.append(f"{_SETTING_WORDS.get(c['field'], c['field'])} changed")
        elif c["field"] in PHASES:
            if (c["risk_id"], c["field"]) not in moved:  # a level move says it already
                out.append(f"{c['risk_id']}: {c['field']} {c['before']} → {c['after']}")
        elif c["field"] in _RISK_PARTS:
            out.append(f"{c['risk_id']}: {c['field']} changed ({c['before']} → {c['after']})")
        else:
            out.append(f"{c['risk_id']}: {_RISK_FIELD_WORDS.get(c['field'], c['field'])} changed")
    if len(out) > limit:
        out = [*out[:limit], f"and {len(out) - limit} more changes"]
    return out


def is_empty(diff: Mapping[str, Any]) -> bool:
    return not any(diff[k] for k in ("added", "removed", "changed", "level_moves"))


# what a proposal is called and where it is in its workflow: a change to them is shown by a compare, but a decision
# taken on the assessment does not go stale over them (a rename, an import under another title, the status moved
# to "Approved" once the governments have decided)
NOT_STALING = frozenset({"title", "status"})


def staling(diff: Mapping[str, Any]) -> dict[str, Any]:
    """`diff` without the changes that do not make a decision stale (NOT_STALING)."""
    return {**diff, "changed": [c for c in diff["changed"]
                                if not (c["risk_id"] is None and c["field"] in NOT_STALING)]}
