"""Hypothesis builders for the property tests of the data doors (tests/test_properties.py): valid proposal bundles
with awkward but valid text, the JSON export document such a bundle gives, and the stored facts of an export."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hypothesis import strategies as st

from risk import rules, scoring
from risk.bundle import ProposalBundle, RoundBundle
from risk.models import ActionStatus, LifecyclePhase, PartnerKind, ProposalStatus, ServiceType

ACTOR = "system:properties"  # the operator (risk/access.py) loads the generated bundles

# pieces that spreadsheets, CSV, JSON or SQL treat specially; every one is valid text for the workbench
AWKWARD = ("=1+2", "=HYPERLINK(\"http://x\")", "+1", "-5", "@SUM(A1)", "'", "'=x", "''", '"', '""quoted""', "\\",
           "\\n", "%s", "{x}", "${x}", "<b>&amp;</b>", "NULL", "None", "true", "0", "1e5", "; ", ", ", " (", ")",
           "(county)", "é", "ß", "Ω", "日本語", "עברית", "🙂", "👩‍👩‍👧", "\u0301", "\u200b", "\n", "a\nb", "\t", "x\ty",
           "'\n", "LEG-01")
# a carriage return (an XLSX cell holds it as _x000D_), and text that looks like such an escape (held as _x005F_x000D_;
# two may share an underscore); names with "; ", parentheses or newlines (which the Summary sheet's lines hold) come
# from AWKWARD
CARRIAGE = ("\r\n", "a\rb", "\r=1", "_x000D_", "_x005F_x000D_", "x005F_", "_x0041_x0042_", "_x00")
# any printable code point of any script (no surrogates, control characters or non-characters, which neither a
# JSON file nor an XLSX cell can hold); newlines and tabs come in through AWKWARD
CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co"))


def awkward_text(limit: int, *, required: bool = False, pieces: tuple[str, ...] = AWKWARD, full: bool = True
                 ) -> st.SearchStrategy[str]:
    """Text of at most `limit` characters without leading or trailing white space (the services strip it),
    sometimes exactly `limit` characters long; non-empty when `required`."""
    piece = st.one_of(st.text(CHARS, max_size=8), st.sampled_from(pieces))
    short = st.lists(piece, max_size=5).map(lambda parts: "".join(parts).strip()[:limit].strip())
    filled = short.map(lambda s: (("x" + s) * (limit // (len(s) + 1) + 1))[:limit - 1] + "z")
    out = st.one_of(short, short, short, filled) if full else short
    return out.filter(bool) if required else out


def _moment(low: int = 2019, high: int = 2031) -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(min_value=dt.datetime(low, 1, 1), max_value=dt.datetime(high, 12, 31)).map(
        lambda d: d.replace(microsecond=0, tzinfo=dt.UTC))


risk_ids = st.builds(lambda prefix, digits: f"{prefix}-{digits}", st.from_regex(r"[A-Z][A-Z0-9]{1,9}", fullmatch=True),
                     st.from_regex(r"[0-9]{1,4}", fullmatch=True))
SCORE = st.integers(1, 5)


@st.composite
def bundles(draw, *, rich: bool = False, names: st.SearchStrategy[str] | None = None, full: bool = True,
            cheap: bool = False) -> ProposalBundle:
    """A valid proposal bundle; `rich` guarantees at least two risks, partners and team members, a scored round in
    each phase, a consensus, an action and a strength (something for every mutation to change); `full` makes
    text of the greatest length allowed now and then (slow to generate and to import: the round trips use it);
    `cheap` takes each text from the awkward pieces alone, without random code points (ten times faster to make:
    the refusal tests, which need a valid document more than varied text, use it)."""
    pieces = AWKWARD + CARRIAGE

    def text(limit: int, *, required: bool = False) -> st.SearchStrategy[str]:
        if cheap:
            one = st.sampled_from(sorted({p.strip()[:limit].strip() for p in pieces} | {"x", "Ann", "Żółw"}))
            return one.filter(bool) if required else one
        return awkward_text(limit, required=required, pieces=pieces, full=full)

    names = text(200, required=True) if names is None else names
    cyber = draw(st.booleans())
    proposal = {"title": draw(text(200, required=True)), "service_type": draw(st.sampled_from(list(ServiceType))).value,
                "description": draw(text(400)), "phase": draw(st.sampled_from(list(LifecyclePhase))).value,
                "status": draw(st.sampled_from(list(ProposalStatus))).value,
                "matrix": draw(st.sampled_from(sorted(scoring.BUILTIN_MATRICES))),
                "aggregation": draw(st.sampled_from(scoring.AGGREGATIONS)), "cybersecurity": cyber,
                "appetite": draw(st.dictionaries(st.sampled_from(list(scoring.CATEGORIES)),
                                                 st.sampled_from(scoring.APPETITES)))}
    partner_names = draw(st.lists(names, min_size=2 if rich else 1, max_size=3, unique=True))
    lead = draw(st.one_of(st.none(), st.integers(0, len(partner_names) - 1)))
    partners = [{"name": n, "kind": draw(st.sampled_from(list(PartnerKind))).value,
                 "role": "lead" if k == lead else "participant",
                 "population": draw(st.one_of(st.none(), st.integers(0, 10_000_000))),
                 "it_budget": draw(st.one_of(st.none(), st.integers(0, 10**11).map(lambda c: c / 100))),
                 "cost_drivers": draw(st.dictionaries(text(30, required=True),
                                                      st.one_of(st.integers(0, 10**6), st.integers(0, 10**6).map(
                                                          lambda c: c / 4)), max_size=2))}
                for k, n in enumerate(partner_names)]
    member_names = draw(st.lists(names, min_size=2 if rich else 1, max_size=4, unique=True))
    roles = [draw(st.sampled_from(["assessor", "assessor", "facilitator", "observer"])) for _ in member_names]
    roles[0] = "assessor"  # somebody scores
    # an assessor or facilitator comes from one of the partners (the rules being written into risk/rules.py); an
    # observer may come from none
    team = [{"name": n, "partner": partner_names[0] if rich and k == 0 else
             draw(st.sampled_from(partner_names) if roles[k] != "observer" else
                  st.one_of(st.none(), st.sampled_from(partner_names))),
             "team_role": roles[k], "expertise": draw(text(100))} for k, n in enumerate(member_names)]
    ids = draw(st.lists(risk_ids, min_size=2 if rich else 1, max_size=4, unique=True))
    categories = list(scoring.CORE_CATEGORIES) + (["cybersecurity"] if cyber else [])
    risks = [{"risk_id": rid, "category": draw(st.sampled_from(categories)), "title": draw(text(300, required=True)),
              "cause": draw(text(5000)), "event": draw(text(5000)), "consequence": draw(text(5000)),
              "owner_partner": draw(st.one_of(st.none(), st.sampled_from(partner_names))),
              "owner": draw(text(200)), "controls": draw(text(5000)),
              "treatment": draw(st.one_of(st.none(), st.sampled_from(scoring.TREATMENTS))),
              "target_likelihood": draw(st.one_of(st.none(), SCORE)),
              "target_impact": draw(st.one_of(st.none(), SCORE)),
              "status": draw(st.sampled_from(scoring.RISK_STATUSES)),
              # tags are stored lower-cased, sorted and once each (rules.RISK["tags"]): drawn in that form
              "tags": sorted({t.strip().lower() for t in draw(st.lists(text(20, required=True), max_size=2))}
                             - {""}),
              "template_id": draw(st.one_of(st.none(), text(30, required=True))), "version": draw(st.integers(1, 3))}
             for rid in ids]
    scorers = [m["name"] for m in team if m["team_role"] != "observer"]
    pairs = [(rid, a) for rid in ids for a in scorers]
    rounds = []
    for phase in scoring.PHASES:
        for number in range(1, draw(st.integers(1 if rich else 0, 2)) + 1):
            opened = draw(_moment())
            revealed = opened + dt.timedelta(seconds=draw(st.integers(0, 10**7)))
            status = draw(st.sampled_from(["revealed", "closed"]))
            closed = revealed + dt.timedelta(seconds=draw(st.integers(0, 10**7))) if status == "closed" else None
            chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
            if rich and number == 1 and pairs[0] not in chosen:
                chosen.insert(0, pairs[0])
            scores = [(rid, a, draw(SCORE), draw(SCORE), draw(text(300))) for rid, a in chosen]
            rounds.append(RoundBundle(phase=phase, number=number, status=status, scores=scores, opened_at=opened,
                                      revealed_at=revealed, closed_at=closed))
    slots = [(rid, phase) for rid in ids for phase in scoring.PHASES]
    agreed = draw(st.lists(st.sampled_from(slots), unique=True, min_size=1 if rich else 0, max_size=len(slots)))
    consensus = [{"risk_id": rid, "phase": phase, "likelihood": draw(SCORE), "impact": draw(SCORE),
                  "rationale": draw(text(300)), "dissent": draw(text(300)),
                  "recorded_by": draw(st.sampled_from(scorers)), "recorded_at": draw(_moment())}
                 for rid, phase in agreed]
    actions = [{"risk_id": rid, "description": draw(text(5000, required=True)), "owner": draw(text(200)),
                "due_date": draw(st.one_of(st.none(), st.dates(dt.date(2019, 1, 1), dt.date(2035, 12, 31)))),
                "status": draw(st.sampled_from(list(ActionStatus))).value,
                "cost": draw(st.one_of(st.none(), st.integers(0, 10**11).map(lambda c: c / 100))),
                "paying_partner": draw(st.one_of(st.none(), st.sampled_from(partner_names)))}
               for rid in draw(st.lists(st.sampled_from(ids), min_size=1 if rich else 0, max_size=4))]
    strengths = draw(st.lists(st.tuples(st.sampled_from(partner_names), text(100, required=True), st.integers(0, 5)),
                              min_size=1 if rich else 0, max_size=3, unique_by=lambda s: (s[0], s[1])))
    return ProposalBundle(proposal=proposal, partners=partners, team=team, risks=risks, rounds=rounds,
                          consensus=consensus, actions=actions, strengths=strengths)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def doc_of(bundle: ProposalBundle) -> dict:
    """The JSON export document (format 1) of one bundle, as risk/services/json_export.py writes it (stored facts
    only: derived values are left out, the import recomputes them)."""
    b = copy.deepcopy(bundle)
    partner_of = {m["name"]: m["partner"] for m in b.team}
    risks = []
    for r in b.risks:
        rid = r["risk_id"]
        risks.append({**r,
                      "scores": [{"round": rnd.number, "phase": rnd.phase, "assessor": a,
                                  "partner": partner_of[a], "likelihood": lik, "impact": imp, "rationale": why}
                                 for rnd in b.rounds for (sr, a, lik, imp, why) in rnd.scores if sr == rid],
                      "consensus": [{k: (_iso(v) if k == "recorded_at" else v) for k, v in c.items() if k != "risk_id"}
                                    for c in b.consensus if c["risk_id"] == rid],
                      "actions": [{k: (_iso(v) if k == "due_date" else v) for k, v in a.items() if k != "risk_id"}
                                  for a in b.actions if a["risk_id"] == rid]})
    proposal = {**b.proposal, "partners": b.partners, "team": b.team,
                "rounds": [{"phase": r.phase, "number": r.number, "status": r.status, "opened_at": _iso(r.opened_at),
                            "revealed_at": _iso(r.revealed_at), "closed_at": _iso(r.closed_at)} for r in b.rounds],
                "strengths": [{"partner": p, "capability": c, "score": s} for p, c, s in b.strengths],
                "risks": risks}
    return {"format": "risk-workbench", "format_version": 1, "exported_at": "2026-01-01T00:00:00+00:00",
            "proposals": [proposal]}


# --- the stored facts of an export document, to compare ---------------------------------------------------

def _moment_text(value: str | None) -> str | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()


def _number(value: Any) -> Any:
    return None if value is None else float(value)


def facts(doc: dict) -> list[dict]:
    """Every stored fact of the export's proposals (no ids, export times or derived values); lists whose order
    the export does not promise are sorted."""
    out = []
    for p in doc["proposals"]:
        out.append({
            **{k: p[k] for k in ("title", "service_type", "description", "phase", "status", "matrix", "aggregation",
                                 "cybersecurity")},
            "appetite": rules.PROPOSAL["appetite"](p["appetite"]),
            # a partner's cost figures (docs/COSTS.md), empty when a bundle does not give them
            "partners": [{"assessed_value": None, "status_quo_cost": None, "drivers": {}, "exit_cost": None, **x,
                          "it_budget": _number(x["it_budget"])} for x in p["partners"]],
            "team": p["team"],
            "rounds": sorted(({**r, **{k: _moment_text(r[k]) for k in ("opened_at", "revealed_at", "closed_at")}}
                              for r in p["rounds"]), key=lambda r: (r["phase"], r["number"])),
            "strengths": p["strengths"],
            "risks": sorted(({
                **{k: r[k] for k in ("risk_id", "category", "title", "cause", "event", "consequence", "owner_partner",
                                     "owner", "controls", "treatment", "target_likelihood", "target_impact", "status",
                                     "tags", "template_id", "version")},
                "scores": sorted((s["phase"], s["round"], s["assessor"], s["partner"], s["likelihood"], s["impact"],
                                  s["rationale"]) for s in r["scores"]),
                "consensus": sorted(({**c, "recorded_at": _moment_text(c["recorded_at"])} for c in r["consensus"]),
                                    key=lambda c: c["phase"]),
                "actions": [{**a, "cost": _number(a["cost"])} for a in r["actions"]],
            } for r in p["risks"]), key=lambda r: r["risk_id"]),
        })
    return out


def sheet_facts(doc: dict) -> dict:
    """What the XLSX workbook of one proposal carries back into a new proposal: the settings of its Summary and
    Method sheets, partners and team (their sheets), the register's columns and standing values, the Scores sheet
    (rounds by the day they closed) and the Actions sheet."""
    [p] = doc["proposals"]
    closed_on = {(r["phase"], r["number"]): (r["closed_at"] or r["revealed_at"])[:10] for r in p["rounds"]}
    return {
        **{k: p[k] for k in ("service_type", "phase", "status", "matrix", "aggregation")},
        "appetite": rules.PROPOSAL["appetite"](p["appetite"]),
        "partners": [(x["name"], x["kind"], x["role"]) for x in p["partners"]],
        "team": [(m["name"], m["partner"], m["team_role"]) for m in p["team"]],
        "risks": sorted(({
            **{k: r[k] for k in ("risk_id", "category", "title", "cause", "event", "consequence", "owner_partner",
                                 "owner", "controls", "treatment", "status")},
            **{phase: {k: r[phase][k] for k in ("likelihood", "impact", "level", "flags")}
               for phase in scoring.PHASES},
            "scores": sorted((s["phase"], s["round"], closed_on[(s["phase"], s["round"])][:10], s["assessor"],
                              s["partner"], s["likelihood"], s["impact"], s["rationale"]) for s in r["scores"]),
            "actions": [{**a, "cost": _number(a["cost"])} for a in r["actions"]],
        } for r in p["risks"]), key=lambda r: r["risk_id"]),
    }
