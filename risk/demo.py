"""The demo portfolio (data/demo.yaml): three realistic proposals with partners, strengths, a team, risks from
the catalogue and of their own, two closed inherent rounds and one closed residual round of blind scores,
consensus on some risks, and actions. Scores are drawn from each risk's centre and pattern with a fixed seed,
so every load gives the same data."""

from __future__ import annotations

import datetime as dt
import random
import zlib
from pathlib import Path
from typing import Any

import yaml

from risk.bundle import ProposalBundle, RoundBundle
from risk.catalogue import template
from risk.scoring import CATEGORY_PREFIX
from risk.strengths import CAPABILITIES

DEMO_FILE = Path(__file__).resolve().parent.parent / "data" / "demo.yaml"
PATTERNS = ("agree", "spread", "outlier", "split")


def _clip(v: int) -> int:
    return max(1, min(5, v))


def _scores(rng: random.Random, centre: tuple[int, int], pattern: str, assessors: list[tuple[str, int]],
            first_round: bool, residual: bool = False) -> list[tuple[str, int, int]]:
    """(assessor, likelihood, impact) for each assessor; `assessors` are (name, partner index)."""
    lc, ic = centre
    out = []
    spread_offsets = [-2, -1, 0, 1, 2, -2, 2, 0, 1, -1]
    rng.shuffle(spread_offsets)
    outlier = rng.randrange(len(assessors))
    # agreement: most assessors on the centre, a few one step to the same side, so the range stays within one
    lean_l, lean_i = rng.choice((-1, 1)), rng.choice((-1, 1))
    if residual:  # with controls in place, doubts lean towards lower values
        lean_l = lean_i = -1
    for k, (name, partner) in enumerate(assessors):
        lik = lc + (lean_l if rng.random() < 0.3 else 0)
        imp = ic + (lean_i if rng.random() < 0.25 else 0)
        if pattern == "spread" and first_round:
            lik = lc + spread_offsets[k % len(spread_offsets)]
        elif pattern == "outlier" and first_round and k == outlier:
            lik = 1 if lc >= 3 else 5
            imp = 1 if ic >= 3 else 5
        elif pattern == "split":
            low = max(1, lc - 1)
            lik = min(5, low + 2) if partner % 2 else low
        out.append((name, _clip(lik), _clip(imp)))
    return out


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=dt.UTC)


def _risk_fields(spec: dict[str, Any], counters: dict[str, int]) -> dict[str, Any]:
    if "template" in spec:
        t = template(spec["template"])
        base = {"category": t.category, "title": t.title, "cause": t.cause, "event": t.event,
                "consequence": t.consequence, "tags": list(t.tags), "template_id": t.template_id,
                "treatment": t.treatment}
    else:
        base = {k: spec[k] for k in ("category", "title", "cause", "event", "consequence")}
        base["tags"] = list(spec.get("tags", []))
    counters[base["category"]] = counters.get(base["category"], 0) + 1
    base["risk_id"] = f"{CATEGORY_PREFIX[base['category']]}-{counters[base['category']]:02d}"
    for key in ("owner_partner", "owner", "controls", "treatment", "status", "frequency", "loss_low", "loss_high"):
        if key in spec:
            base[key] = spec[key]
    base.setdefault("status", "Open")
    if "target" in spec:
        base["target_likelihood"], base["target_impact"] = spec["target"]
    return base


def build(spec: dict[str, Any]) -> ProposalBundle:
    """One proposal of the demo file as a bundle for the bulk loader."""
    rng = random.Random(zlib.crc32(spec["title"].encode()))
    partners = spec["partners"]
    partner_index = {p["name"]: k for k, p in enumerate(partners)}
    assessors = [(m["name"], partner_index[m["partner"]]) for m in spec["team"] if m["team_role"] == "assessor"]
    facilitator = next(m["name"] for m in spec["team"] if m["team_role"] == "facilitator")
    dates = {k: v if isinstance(v, dt.date) else dt.date.fromisoformat(v) for k, v in spec["dates"].items()}
    counters: dict[str, int] = {}
    risks, consensus, actions = [], [], []
    rounds = {key: [] for key in ("inherent_1", "inherent_2", "residual_1")}
    for r in spec["risks"]:
        fields = _risk_fields(r, counters)
        risks.append(fields)
        rid = fields["risk_id"]
        pattern = r.get("pattern", "agree")
        if pattern not in PATTERNS:
            raise ValueError(f"demo risk {rid}: pattern {pattern!r} is not one of {PATTERNS}")
        for key, centre, first in (("inherent_1", r["inherent"], True), ("inherent_2", r["inherent"], False),
                                   ("residual_1", r["residual"], False)):
            for name, lik, imp in _scores(rng, tuple(centre), pattern, assessors, first, key == "residual_1"):
                rounds[key].append((rid, name, lik, imp, ""))
        if "consensus" in r:
            c = r["consensus"]
            day = dates["inherent_2" if c["phase"] == "inherent" else "residual_1"]
            consensus.append({"risk_id": rid, "phase": c["phase"], "likelihood": c["likelihood"],
                              "impact": c["impact"], "rationale": c.get("rationale", ""),
                              "dissent": c.get("dissent", ""), "recorded_by": facilitator,
                              "recorded_at": _at(day, 12)})
        for a in r.get("actions", []):
            due = a.get("due")
            actions.append({"risk_id": rid, "description": a["description"], "owner": a.get("owner", ""),
                            "due_date": due if isinstance(due, dt.date) or due is None else dt.date.fromisoformat(due),
                            "cost": a.get("cost"), "paying_partner": a.get("payer"),
                            "status": a.get("status", "Planned")})
    round_bundles = [
        RoundBundle(phase=key.split("_")[0], number=int(key.split("_")[1]), status="closed", scores=scores,
                    opened_at=_at(dates[key], 9), revealed_at=_at(dates[key], 11), closed_at=_at(dates[key], 12))
        for key, scores in rounds.items()
    ]
    strengths = [(name, cap, int(v)) for name, values in spec.get("strengths", {}).items()
                 for cap, v in zip(CAPABILITIES, values, strict=True)]
    proposal = {k: spec[k] for k in ("title", "service_type", "description", "phase", "status", "aggregation",
                                     "matrix", "cybersecurity", "appetite")}
    proposal |= {k: spec[k] for k in ("currency", "cost_horizon", "allocation") if k in spec}
    if spec.get("calibration") == "suggested":  # the starting table for the five NIST levels (risk/quantify.py)
        from risk.quantify import SUGGESTED_CALIBRATION, calibration_to_json

        proposal["calibration"] = calibration_to_json(SUGGESTED_CALIBRATION)
    elif "calibration" in spec:
        proposal["calibration"] = spec["calibration"]
    # the demo teams have walked through every category already
    walked = sorted({r["category"] for r in risks}, key=list(CATEGORY_PREFIX).index)
    proposal["walkthrough"] = {"current": "summary", "done": walked}
    return ProposalBundle(proposal=proposal, partners=partners, team=spec["team"], risks=risks,
                          rounds=round_bundles, consensus=consensus, actions=actions, strengths=strengths,
                          costs=[dict(c) for c in spec.get("costs", [])])


def demo_bundles(path: Path = DEMO_FILE) -> list[ProposalBundle]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [build(p) for p in doc["proposals"]]
