"""Importing the workbench's own JSON export: read back into proposal bundles and written by the bulk loader.

Only stored facts are read (settings, partners, team, risks, revealed and closed rounds with their scores,
consensus, actions, strengths); derived values (levels, standing values, flags, over-appetite, review dates) are
recomputed by the loader, never trusted. Every value is checked for its type as it is read, so that a list where
text belongs is refused by name rather than failing later in a traceback; every refusal names where in the file
the problem is (proposal n, risk id or n, the field, what was expected)."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from risk import scoring
from risk.bundle import ProposalBundle, RoundBundle
from risk.errors import RefusedError

MAX_BYTES = 50_000_000
_MISSING = object()


def _got(value: Any) -> str:
    """A value as a refusal quotes it: its kind, and its start when it is long text."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}… ({len(value):,} characters)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return "a list" if isinstance(value, list) else "an object"


def _when(value: Any, where: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RefusedError(f"{where}: expected a date and time as YYYY-MM-DDTHH:MM:SS, got {_got(value)}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _day(value: Any, where: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RefusedError(f"{where}: expected a date as YYYY-MM-DD, got {_got(value)}") from None


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise RefusedError(f"{where}: expected an object {{...}}, got {_got(value)}")
    return value


def _list(doc: dict, key: str, where: str) -> list:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RefusedError(f"{where}: {key}: expected a list [...], got {_got(value)}")
    return value


def _need(doc: dict, key: str, where: str) -> Any:
    if key not in doc:
        raise RefusedError(f"{where}: the field {key!r} is missing")
    return doc[key]


# what each kind of field takes: (the types, the words a refusal uses)
TEXT = ((str,), "text")
WHOLE = ((int,), "a whole number")
NUMBER = ((int, float), "a number")
OBJECT = ((dict,), "an object {...}")
FLAG = ((bool,), "true or false")


def _field(doc: dict, key: str, where: str, kind: tuple, default: Any = _MISSING, *, nullable: bool = False) -> Any:
    """`doc[key]` if it is of `kind`; `default` when it is absent (or null, for a nullable field); with no default
    the field is required. A bool is not taken for a number (JSON true is not 1)."""
    value = doc.get(key, _MISSING)
    if value is _MISSING or (value is None and (nullable or default is not _MISSING)):
        if default is not _MISSING:
            return default
        if nullable:
            return None
        raise RefusedError(f"{where}: the field {key!r} is missing")
    types, words = kind
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise RefusedError(f"{where}: {key}: expected {words}, got {_got(value)}")
    return value


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
    except RecursionError:  # Python's parser gives up on lists or objects nested about a thousand deep
        raise RefusedError("not a workbench export: lists or objects nested too deep to read (an export nests "
                           "seven levels: proposals, risks, scores and their fields)") from None
    if not isinstance(doc, dict) or doc.get("format") != "risk-workbench":
        raise RefusedError('not a workbench export: expected a JSON object with "format": "risk-workbench"')
    if doc.get("format_version") != 1:
        raise RefusedError(f"format_version {_got(doc.get('format_version'))} is not one this workbench reads (1)")
    return [_bundle(p, k) for k, p in enumerate(_list(doc, "proposals", "the file"), start=1)]


def _risk_id(r: dict, where: str) -> str:
    value = _need(r, "risk_id", where)
    try:
        return scoring.check_risk_id(value)
    except ValueError as exc:
        raise RefusedError(f"{where}: risk_id: {exc}") from None


def _bundle(p: Any, number: int) -> ProposalBundle:
    where = f"proposal {number}"
    _object(p, where)
    title = _field(p, "title", where, TEXT)
    where = f"{where} ({title[:60]!r}{'…' if len(title) > 60 else ''})"
    proposal = {"title": title, "service_type": _field(p, "service_type", where, TEXT, "Other"),
                "description": _field(p, "description", where, TEXT, ""),
                "phase": _field(p, "phase", where, TEXT, "Assessment"),
                "status": _field(p, "status", where, TEXT, "Draft"),
                "matrix": _field(p, "matrix", where, TEXT, scoring.DEFAULT_MATRIX),
                "aggregation": _field(p, "aggregation", where, TEXT, scoring.DEFAULT_AGGREGATION),
                "cybersecurity": _field(p, "cybersecurity", where, FLAG, False),
                "appetite": _field(p, "appetite", where, OBJECT, {})}
    for key, word in proposal["appetite"].items():
        if not isinstance(word, str):
            raise RefusedError(f"{where}: appetite: {key}: expected one of {', '.join(scoring.APPETITES)}, got "
                               f"{_got(word)}")
    partners = []
    for k, x in enumerate(_list(p, "partners", where), start=1):
        at = f"{where}, partner {k}"
        x = _object(x, at)
        partners.append({"name": _field(x, "name", at, TEXT), "kind": _field(x, "kind", at, TEXT, "county"),
                         "role": _field(x, "role", at, TEXT, "participant"),
                         "population": _amount(x, "population", at, WHOLE),
                         "it_budget": _amount(x, "it_budget", at, NUMBER),
                         "cost_drivers": _field(x, "cost_drivers", at, OBJECT, {})})
    for k, x in enumerate(partners, start=1):
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in x["cost_drivers"].values()):
            raise RefusedError(f"{where}, partner {k}: cost_drivers: expected names with numbers, such as "
                               '{"road_miles": 120}')
    team = []
    for k, m in enumerate(_list(p, "team", where), start=1):
        at = f"{where}, team member {k}"
        m = _object(m, at)
        team.append({"name": _field(m, "name", at, TEXT), "partner": _field(m, "partner", at, TEXT, nullable=True),
                     "team_role": _field(m, "team_role", at, TEXT, "assessor"),
                     "expertise": _field(m, "expertise", at, TEXT, "")})
    risks, consensus, actions = [], [], []
    scores: dict[tuple[str, int], list[tuple[str, str, int, int, str]]] = {}
    for k, r in enumerate(_list(p, "risks", where), start=1):
        at = f"{where}, risk {k}"
        r = _object(r, at)
        rid = _risk_id(r, at)
        at = f"{where}, risk {rid}"
        risks.append({"risk_id": rid, "category": _field(r, "category", at, TEXT),
                      "title": _field(r, "title", at, TEXT),
                      **{key: _field(r, key, at, TEXT, "") for key in ("cause", "event", "consequence", "owner",
                                                                      "controls")},
                      "owner_partner": _field(r, "owner_partner", at, TEXT, nullable=True),
                      "treatment": _field(r, "treatment", at, TEXT, nullable=True),
                      "target_likelihood": _field(r, "target_likelihood", at, WHOLE, nullable=True),
                      "target_impact": _field(r, "target_impact", at, WHOLE, nullable=True),
                      "status": _field(r, "status", at, TEXT, "Open"), "tags": _list(r, "tags", at),
                      "template_id": _field(r, "template_id", at, TEXT, nullable=True),
                      "version": _amount(r, "version", at, WHOLE, 1, least=1)})
        for j, s in enumerate(_list(r, "scores", at), start=1):
            sat = f"{at}, score {j}"
            s = _object(s, sat)
            key = (_field(s, "phase", sat, TEXT), _amount(s, "round", sat, WHOLE, least=1, required=True))
            scores.setdefault(key, []).append((rid, _field(s, "assessor", sat, TEXT), _need(s, "likelihood", sat),
                                               _need(s, "impact", sat), _field(s, "rationale", sat, TEXT, "")))
        for j, c in enumerate(_list(r, "consensus", at), start=1):
            cat = f"{at}, consensus {j}"
            c = _object(c, cat)
            consensus.append({"risk_id": rid, "phase": _field(c, "phase", cat, TEXT),
                              "likelihood": _need(c, "likelihood", cat), "impact": _need(c, "impact", cat),
                              "rationale": _field(c, "rationale", cat, TEXT, ""),
                              "dissent": _field(c, "dissent", cat, TEXT, ""),
                              "recorded_by": _field(c, "recorded_by", cat, TEXT, nullable=True),
                              "recorded_at": _when(c.get("recorded_at"), f"{cat}: recorded_at")})
        for j, a in enumerate(_list(r, "actions", at), start=1):
            aat = f"{at}, action {j}"
            a = _object(a, aat)
            actions.append({"risk_id": rid, "description": _field(a, "description", aat, TEXT),
                            "owner": _field(a, "owner", aat, TEXT, ""),
                            "due_date": _day(a.get("due_date"), f"{aat}: due_date"),
                            "status": _field(a, "status", aat, TEXT, "Planned"),
                            "cost": _amount(a, "cost", aat, NUMBER),
                            "paying_partner": _field(a, "paying_partner", aat, TEXT, nullable=True)})
    rounds = []
    for k, rnd in enumerate(_list(p, "rounds", where), start=1):
        at = f"{where}, round {k}"
        rnd = _object(rnd, at)
        key = (_field(rnd, "phase", at, TEXT), _amount(rnd, "number", at, WHOLE, least=1, required=True))
        status = _field(rnd, "status", at, TEXT, "closed")
        if status == "open":
            raise RefusedError(f"{at}: an export holds revealed and closed rounds only, this one is open")
        rounds.append(RoundBundle(phase=key[0], number=key[1], status=status, scores=scores.pop(key, []),
                                  opened_at=_when(rnd.get("opened_at"), f"{at}: opened_at"),
                                  revealed_at=_when(rnd.get("revealed_at"), f"{at}: revealed_at"),
                                  closed_at=_when(rnd.get("closed_at"), f"{at}: closed_at")))
    if scores:
        phase, number = next(iter(scores))
        raise RefusedError(f"{where}: scores name {phase} round {number}, which is not in the rounds list")
    strengths = []
    for k, x in enumerate(_list(p, "strengths", where), start=1):
        at = f"{where}, strength {k}"
        x = _object(x, at)
        strengths.append((_field(x, "partner", at, TEXT), _field(x, "capability", at, TEXT), _need(x, "score", at)))
    return ProposalBundle(proposal=proposal, partners=partners, team=team, risks=risks, rounds=rounds,
                          consensus=consensus, actions=actions, strengths=strengths)


def _amount(doc: dict, key: str, where: str, kind: tuple, default: Any = None, *, least: int = 0,
            required: bool = False) -> Any:
    """A number of at least `least` (the database's own checks), `default` when absent unless `required`."""
    value = _field(doc, key, where, kind) if required else _field(doc, key, where, kind, default,
                                                                   nullable=default is None)
    if value is not None and not (least <= value < math.inf):  # also NaN and Infinity, which Python's JSON reads
        raise RefusedError(f"{where}: {key}: expected {kind[1]} of at least {least}, got {_got(value)}")
    return value


def import_json(engine, data: bytes, *, actor: str, new_title: str | None = None, dry_run: bool = False,
                progress=None) -> dict:
    """Add every proposal of a JSON export as a new proposal (with `new_title`, the file must hold exactly one,
    which gets that title). All or nothing: the whole file is written in one transaction, so a refused or failed
    import (a check, a constraint, a full disk, a lost connection) leaves the database as it was. A dry run makes
    the same write and rolls it back, so it runs every check the real run does.
    Returns {"added", "changed", "unchanged", "problems", "proposal_ids"}: counts of risks."""
    from risk.services.bulk import load_bundles

    try:
        bundles = read_export(data)
        if new_title is not None:
            if len(bundles) != 1:
                raise RefusedError(f"--new: the file holds {len(bundles)} proposals; --new takes a file with one")
            if not new_title.strip():
                raise RefusedError("--new: the new proposal needs a title")
            bundles[0].proposal["title"] = new_title.strip()
        first: dict[str, int] = {}
        for k, b in enumerate(bundles, start=1):
            title = b.proposal["title"]
            if title in first:
                raise RefusedError(f"proposal {k}: title: proposal {first[title]} is called {title!r} too; each "
                                   "proposal of a file needs its own title")
            first[title] = k
        what = f"the import of {len(bundles)} proposal{'' if len(bundles) == 1 else 's'}"
        # every bundle is validated first; titles already stored are refused inside the writing transaction,
        # where no other writer can add one meanwhile
        ids = load_bundles(engine, bundles, actor=actor, progress=progress, atomic=True, dry_run=dry_run,
                           existing="refuse", what=what)
    except RefusedError as exc:
        return {"added": 0, "changed": 0, "unchanged": 0, "problems": [{"row": None, "field": None,
                                                                        "message": str(exc)}], "proposal_ids": []}
    added = sum(len(b.risks) for b in bundles)
    return {"added": added, "changed": 0, "unchanged": 0, "problems": [], "proposal_ids": [] if dry_run else ids}
