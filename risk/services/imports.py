"""Importing the workbench's own JSON export: read back into proposal bundles and written by the bulk loader.

Only stored facts are read (settings, partners, team, risks, revealed and closed rounds with their scores,
consensus, actions, strengths); derived values (levels, standing values, flags, over-appetite, review dates) are
recomputed by the loader, never trusted. Every refusal names where in the file the problem is."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from risk.errors import RefusedError
from risk.services.bulk import ProposalBundle, RoundBundle

MAX_BYTES = 50_000_000


def _when(value: Any, where: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise RefusedError(f"{where}: expected a date and time as YYYY-MM-DDTHH:MM:SS, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _day(value: Any, where: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise RefusedError(f"{where}: expected a date as YYYY-MM-DD, got {value!r}") from None


def _list(doc: dict, key: str, where: str) -> list:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise RefusedError(f"{where}.{key}: expected a list")
    return value


def _need(doc: dict, key: str, where: str) -> Any:
    if key not in doc:
        raise RefusedError(f"{where}: the field {key!r} is missing")
    return doc[key]


def read_export(data: bytes) -> list[ProposalBundle]:
    """Bundles for every proposal in a workbench JSON export; raises RefusedError naming the place."""
    if len(data) > MAX_BYTES:
        raise RefusedError(f"the file is {len(data):,} bytes; an import may be at most {MAX_BYTES:,} bytes")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise RefusedError("the file is not UTF-8 text; a workbench JSON export is UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RefusedError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(doc, dict) or doc.get("format") != "risk-workbench":
        raise RefusedError('not a workbench export: expected a JSON object with "format": "risk-workbench"')
    if doc.get("format_version") != 1:
        raise RefusedError(f"format_version {doc.get('format_version')!r} is not one this workbench reads (1)")
    return [_bundle(p, f"proposals[{k}]") for k, p in enumerate(_list(doc, "proposals", "$"))]


def _bundle(p: Any, where: str) -> ProposalBundle:
    if not isinstance(p, dict):
        raise RefusedError(f"{where}: expected an object")
    title = _need(p, "title", where)
    proposal = {"title": title, "service_type": p.get("service_type", "Other"),
                "description": p.get("description", "") or "", "phase": p.get("phase", "Assessment"),
                "status": p.get("status", "Draft"), "matrix": p.get("matrix", "nist-800-30"),
                "aggregation": p.get("aggregation", "upper_median"), "cybersecurity": bool(p.get("cybersecurity")),
                "appetite": p.get("appetite") or {}}
    where = f"{where} ({title!r})"
    partners = [{"name": _need(x, "name", f"{where}.partners[{k}]"), "kind": x.get("kind", "county"),
                 "role": x.get("role", "participant"), "population": x.get("population"),
                 "it_budget": x.get("it_budget"), "cost_drivers": x.get("cost_drivers") or {}}
                for k, x in enumerate(_list(p, "partners", where))]
    team = [{"name": _need(m, "name", f"{where}.team[{k}]"), "partner": m.get("partner"),
             "team_role": m.get("team_role", "assessor"), "expertise": m.get("expertise", "") or ""}
            for k, m in enumerate(_list(p, "team", where))]
    risks, consensus, actions = [], [], []
    scores: dict[tuple[str, int], list[tuple[str, str, int, int, str]]] = {}
    for k, r in enumerate(_list(p, "risks", where)):
        at = f"{where}.risks[{k}]"
        rid = _need(r, "risk_id", at)
        at = f"{where} risk {rid}"
        risks.append({"risk_id": rid, "category": _need(r, "category", at), "title": _need(r, "title", at),
                      "cause": r.get("cause", ""), "event": r.get("event", ""), "consequence": r.get("consequence", ""),
                      "owner_partner": r.get("owner_partner"), "owner": r.get("owner", "") or "",
                      "controls": r.get("controls", "") or "", "treatment": r.get("treatment"),
                      "target_likelihood": r.get("target_likelihood"), "target_impact": r.get("target_impact"),
                      "status": r.get("status", "Open"), "tags": r.get("tags") or [],
                      "template_id": r.get("template_id"), "version": r.get("version", 1)})
        for j, s in enumerate(_list(r, "scores", at)):
            sat = f"{at} scores[{j}]"
            key = (_need(s, "phase", sat), _need(s, "round", sat))
            scores.setdefault(key, []).append((rid, _need(s, "assessor", sat), _need(s, "likelihood", sat),
                                               _need(s, "impact", sat), s.get("rationale", "") or ""))
        for j, c in enumerate(_list(r, "consensus", at)):
            cat = f"{at} consensus[{j}]"
            consensus.append({"risk_id": rid, "phase": _need(c, "phase", cat),
                              "likelihood": _need(c, "likelihood", cat), "impact": _need(c, "impact", cat),
                              "rationale": c.get("rationale", "") or "", "dissent": c.get("dissent", "") or "",
                              "recorded_by": c.get("recorded_by"),
                              "recorded_at": _when(c.get("recorded_at"), f"{cat}.recorded_at")})
        for j, a in enumerate(_list(r, "actions", at)):
            aat = f"{at} actions[{j}]"
            actions.append({"risk_id": rid, "description": _need(a, "description", aat), "owner": a.get("owner", ""),
                            "due_date": _day(a.get("due_date"), f"{aat}.due_date"),
                            "status": a.get("status", "Planned"), "cost": a.get("cost"),
                            "paying_partner": a.get("paying_partner")})
    rounds = []
    for k, rnd in enumerate(_list(p, "rounds", where)):
        at = f"{where}.rounds[{k}]"
        key = (_need(rnd, "phase", at), _need(rnd, "number", at))
        status = rnd.get("status", "closed")
        if status == "open":
            raise RefusedError(f"{at}: an export holds revealed and closed rounds only, this one is open")
        rounds.append(RoundBundle(phase=key[0], number=key[1], status=status, scores=scores.pop(key, []),
                                  opened_at=_when(rnd.get("opened_at"), f"{at}.opened_at"),
                                  revealed_at=_when(rnd.get("revealed_at"), f"{at}.revealed_at"),
                                  closed_at=_when(rnd.get("closed_at"), f"{at}.closed_at")))
    if scores:
        phase, number = next(iter(scores))
        raise RefusedError(f"{where}: scores name {phase} round {number}, which is not in the rounds list")
    strengths = [(_need(x, "partner", f"{where}.strengths[{k}]"), _need(x, "capability", f"{where}.strengths[{k}]"),
                  _need(x, "score", f"{where}.strengths[{k}]")) for k, x in enumerate(_list(p, "strengths", where))]
    return ProposalBundle(proposal=proposal, partners=partners, team=team, risks=risks, rounds=rounds,
                          consensus=consensus, actions=actions, strengths=strengths)


def import_json(engine, data: bytes, *, actor: str, new_title: str | None = None, dry_run: bool = False,
                progress=None) -> dict:
    """Add every proposal of a JSON export as a new proposal (with `new_title`, the file must hold exactly one,
    which gets that title). Everything is checked before anything is written; a dry run writes nothing.
    Returns {"added", "changed", "unchanged", "problems", "proposal_ids"}: counts of risks."""
    from sqlalchemy import select
    from sqlmodel import Session

    from risk.models import Proposal
    from risk.services.bulk import load_bundles, validate

    try:
        bundles = read_export(data)
        if new_title is not None:
            if len(bundles) != 1:
                raise RefusedError(f"--new: the file holds {len(bundles)} proposals; --new takes a file with one")
            if not new_title.strip():
                raise RefusedError("--new: the new proposal needs a title")
            bundles[0].proposal["title"] = new_title.strip()
        for k, b in enumerate(bundles, start=1):
            validate(b, f"proposal {k} ({b.proposal['title']!r})")
        with Session(engine) as s:
            taken = set(s.execute(select(Proposal.title).where(
                Proposal.title.in_([b.proposal["title"] for b in bundles]))).scalars())
        if taken:
            raise RefusedError(f"title: a proposal called {sorted(taken)[0]!r} already exists; import it with --new "
                               "and another title")
    except RefusedError as exc:
        return {"added": 0, "changed": 0, "unchanged": 0, "problems": [{"row": None, "field": None,
                                                                        "message": str(exc)}], "proposal_ids": []}
    added = sum(len(b.risks) for b in bundles)
    if dry_run:
        return {"added": added, "changed": 0, "unchanged": 0, "problems": [], "proposal_ids": []}
    ids = load_bundles(engine, bundles, actor=actor, progress=progress)
    return {"added": added, "changed": 0, "unchanged": 0, "problems": [], "proposal_ids": ids}
