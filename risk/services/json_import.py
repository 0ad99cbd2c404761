"""Importing the workbench's own JSON export: read back into proposal bundles and written by the bulk loader.

Only stored facts are read (settings, partners, team, risks, revealed and closed rounds with their scores,
consensus, actions, strengths); derived values (levels, standing values, flags, over-appetite, review dates) are
recomputed by the loader, never trusted. Every value is checked for its type as it is read, so that a list where
text belongs is refused by name rather than failing later in a traceback; every refusal names where in the file
the problem is (proposal n, risk id or n, the field, what was expected)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from risk import access, config, rules
from risk.bundle import ProposalBundle, RoundBundle
from risk.errors import ForbiddenError, RefusedError

_got = rules.described


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


# a risk's version as an export gives it (it counts saved changes; the database column is a 32-bit integer)
_VERSION = {"version": rules.Rule("whole", low=1, high=2_147_483_647)}


def read_export(data: bytes) -> list[ProposalBundle]:
    """Bundles for every proposal in a workbench JSON export; raises RefusedError naming the place."""
    most = config.import_max_bytes()
    if len(data) > most:
        raise RefusedError(f"the file is {len(data) / 1e6:,.1f} MB; an import takes at most {most / 1e6:,.0f} MB "
                           "(RISK_IMPORT_MAX_MB)")
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
    return rules.check(rules.RISK, "risk_id", _need(r, "risk_id", where), where)


def _round_key(doc: dict, number_field: str, where: str) -> tuple[str, int]:
    """(phase, number) of a round or of a score's round, checked by the rules: the scores are grouped by it."""
    return (rules.check(rules.ROUND, "phase", _need(doc, "phase", where), where),
            rules.check(rules.ROUND, "number", _need(doc, number_field, where), where, name=number_field))


def _given(doc: dict, *keys: str) -> dict[str, Any]:
    """The fields of `doc` among `keys` that the file gives, as they are: the bundle check (risk/bundle.py)
    applies the rules to them, the same rules as every other door."""
    return {k: doc[k] for k in keys if k in doc}


def _bundle(p: Any, number: int) -> ProposalBundle:
    where = f"proposal {number}"
    _object(p, where)
    title = rules.check(rules.PROPOSAL, "title", _need(p, "title", where), where)
    where = f"{where} ({title[:60]!r}{'…' if len(title) > 60 else ''})"
    proposal = _given(p, *rules.PROPOSAL)
    partners = [_given(_object(x, f"{where}, partner {k}"), *rules.PARTNER)
                for k, x in enumerate(_list(p, "partners", where), start=1)]
    team = [_given(_object(m, f"{where}, team member {k}"), *rules.TEAM_MEMBER, "partner")
            for k, m in enumerate(_list(p, "team", where), start=1)]
    risks, consensus, actions = [], [], []
    scores: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
    first_score: dict[tuple[str, int], str] = {}  # where each round's first score is, for a round not listed
    for k, r in enumerate(_list(p, "risks", where), start=1):
        at = f"{where}, risk {k}"
        r = _object(r, at)
        rid = _risk_id(r, at)
        at = f"{where}, risk {rid}"
        risks.append({**_given(r, *rules.RISK, "owner_partner"), "risk_id": rid,
                      "version": rules.check(_VERSION, "version", r.get("version", 1), at)})
        for j, s in enumerate(_list(r, "scores", at), start=1):
            sat = f"{at}, score {j}"
            s = _object(s, sat)
            key = _round_key(s, "round", sat)
            first_score.setdefault(key, sat)
            scores.setdefault(key, []).append(
                (rid, s.get("assessor"), _need(s, "likelihood", sat), _need(s, "impact", sat), s.get("rationale", "")))
        for j, c in enumerate(_list(r, "consensus", at), start=1):
            cat = f"{at}, consensus {j}"
            c = _object(c, cat)
            consensus.append({**_given(c, *rules.CONSENSUS), "risk_id": rid, "at": cat,
                              "recorded_at": _when(c.get("recorded_at"), f"{cat}: recorded_at")})
        for j, a in enumerate(_list(r, "actions", at), start=1):
            aat = f"{at}, action {j}"
            a = _object(a, aat)
            actions.append({**_given(a, *rules.ACTION, "paying_partner"), "risk_id": rid, "at": aat})
    rounds = []
    for k, rnd in enumerate(_list(p, "rounds", where), start=1):
        at = f"{where}, round {k}"
        rnd = _object(rnd, at)
        key = _round_key(rnd, "number", at)
        status = rules.check(rules.ROUND, "status", rnd.get("status", "closed"), at)
        if status == "open":
            raise RefusedError(f"{at}: status: an export holds revealed and closed rounds only, this one is open")
        rounds.append(RoundBundle(phase=key[0], number=key[1], status=status, scores=scores.pop(key, []),
                                  opened_at=_when(rnd.get("opened_at"), f"{at}: opened_at"),
                                  revealed_at=_when(rnd.get("revealed_at"), f"{at}: revealed_at"),
                                  closed_at=_when(rnd.get("closed_at"), f"{at}: closed_at")))
    if scores:
        phase, number = next(iter(scores))
        raise RefusedError(f"{first_score[phase, number]}: round: {phase} round {number} is not in the rounds list")
    strengths = []
    for k, x in enumerate(_list(p, "strengths", where), start=1):
        at = f"{where}, strength {k}"
        x = _object(x, at)
        strengths.append((x.get("partner"), x.get("capability"), _need(x, "score", at)))
    costs = [_given(_object(x, f"{where}, cost {k}"), *rules.COST_LINE)
             for k, x in enumerate(_list(p, "costs", where), start=1)]
    shots = []
    for k, x in enumerate(_list(p, "snapshots", where), start=1):
        at = f"{where}, snapshot {k}"
        x = _object(x, at)
        shots.append({**x, "taken_at": _when(x.get("taken_at"), f"{at}: taken_at"), "at": at})
    decisions = []
    for k, x in enumerate(_list(p, "decisions", where), start=1):
        at = f"{where}, decision {k}"
        x = _object(x, at)
        decisions.append({**x, "recorded_at": _when(x.get("recorded_at"), f"{at}: recorded_at"), "at": at,
                          "conditions": [_object(c, f"{at}, condition {j}")
                                         for j, c in enumerate(_list(x, "conditions", at), start=1)]})
    return ProposalBundle(proposal=proposal, partners=partners, team=team, risks=risks, rounds=rounds,
                          consensus=consensus, actions=actions, strengths=strengths, costs=costs, snapshots=shots,
                          decisions=decisions)


@access.audited("proposal")
def import_json(engine, data: bytes, *, actor: str, new_title: str | None = None, dry_run: bool = False,
                progress=None) -> dict:
    """Add every proposal of a JSON export as a new proposal (with `new_title`, the file must hold exactly one,
    which gets that title). All or nothing: the whole file is written in one transaction, so a refused or failed
    import (a check, a constraint, a full disk, a lost connection) leaves the database as it was. A dry run makes
    the same write and rolls it back, so it runs every check the real run does.
    Returns {"added", "changed", "unchanged", "problems", "proposal_ids"}: counts of risks. An actor who may not
    import new proposals (risk/access.py, "import_new") is refused with ForbiddenError, not a problem of the file."""
    from sqlmodel import Session

    from risk.services.bulk import load_bundles

    with Session(engine) as session:  # refused before the file is read; checked again in the writing transaction
        access.require(session, actor, "import_new")
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
    except ForbiddenError:
        raise
    except RefusedError as exc:
        return {"added": 0, "changed": 0, "unchanged": 0, "problems": [{"row": None, "field": None,
                                                                        "message": str(exc)}], "proposal_ids": []}
    added = sum(len(b.risks) for b in bundles)
    return {"added": added, "changed": 0, "unchanged": 0, "problems": [], "proposal_ids": [] if dry_run else ids}
