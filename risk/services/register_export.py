"""Scored registers for councils, auditors and records: CSV (the register) and XLSX (the whole assessment)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from risk import access, scoring
from risk.errors import RefusedError
from risk.exchange.spreadsheet import Workbook, register_csv, register_xlsx
from risk.services.json_export import export_document
from risk.services.profile import proposal_profile
from risk.services.proposals import list_proposals
from risk.services.register_rows import REGISTER_COLUMNS, register_rows
from risk.wording import count

_NOT_ALNUM = re.compile(r"[\W_]+")  # letters and digits of any script stay


def file_stem(title: str, fallback: str, limit: int = 60) -> str:
    """A file name stem from a title: lower case, each run of other characters one hyphen, at most `limit`
    characters. `file_stem("Tri-County Regional 911 -- CAD", "x")` -> "tri-county-regional-911-cad"."""
    stem = _NOT_ALNUM.sub("-", title.lower())[:limit].strip("-")
    return stem or fallback


# The disagreement flags (docs/SCORING.md, Disagreement flags) in the words the workbook uses; the CSV and JSON keep
# the codes.
FLAG_WORDS = {
    "range": ("wide range", "the highest and lowest scores are 3 or more apart"),
    "iqr": ("wide middle half", "the middle half of the scores spans 2 or more"),
    "spread": ("scattered", "fewer than 70% of the scores are within 1 of the upper median"),
    "polarised": ("two camps", "at least a third of the scores are 1-2 and at least a third 4-5"),
    "partners": ("split between partners", "two partners' upper medians differ by 2 or more"),
}
# columns of the workbook's sheets that hold dates (ISO text in the register rows and the JSON document)
DATE_COLUMNS = ("next_review", "inherent_assessed_on", "residual_assessed_on", "round_closed_on", "due_date")


def flag_words(flags: str) -> str:
    """`"partners, range"` -> `"wide range, split between partners"` (in the order of FLAG_WORDS)."""
    raised = [f for f in map(str.strip, flags.split(",")) if f]
    return ", ".join([FLAG_WORDS[f][0] for f in FLAG_WORDS if f in raised] + [f for f in raised if f not in FLAG_WORDS])


def _for_workbook(row: dict) -> dict:
    """A register, Scores or Actions row as the workbook shows it: dates as dates, disagreement in words."""
    out = dict(row)
    for column in DATE_COLUMNS:
        if isinstance(value := out.get(column), str):
            out[column] = dt.date.fromisoformat(value[:10]) if value else None
    if isinstance(value := out.get("disagreement"), str):
        out["disagreement"] = flag_words(value)
    return out


def check_proposal_ids(engine: Engine, proposal_ids: Sequence[int] | None, *, actor: str | None = None
                       ) -> list[int]:
    """The ids asked for (all when None), refusing any that do not exist. With `actor`, all means all it may see,
    and an id it may not see is refused (ForbiddenError, recorded), whether it exists or not (risk/access.py)."""
    if actor is not None:
        proposal_ids = access.check_visible(engine, actor, proposal_ids, "export")
    known = [p.id for p in list_proposals(engine)]
    if proposal_ids is None:
        return known
    missing = [p for p in proposal_ids if p not in known]
    if missing:
        raise RefusedError(f"proposal: no proposal with id {', '.join(map(str, missing))}")
    return list(proposal_ids)


def register_table(engine: Engine, proposal_ids: Sequence[int] | None = None, *, actor: str | None = None
                   ) -> list[dict]:
    """The register rows (docs/USER_GUIDE.md, Register) of some proposals, or of all (that `actor` may see)."""
    rows: list[dict] = []
    for pid in check_proposal_ids(engine, proposal_ids, actor=actor):
        rows += register_rows(proposal_profile(engine, pid))
    return rows


def export_csv(engine: Engine, proposal_ids: Sequence[int] | None = None, *, actor: str | None = None) -> bytes:
    return register_csv(register_table(engine, proposal_ids, actor=actor), REGISTER_COLUMNS)


def _grid(profile, phase: str) -> list[list[str]]:
    placed: dict[tuple[int, int], list[str]] = {}
    for v in profile.risks:
        value = getattr(v, phase)
        if value.likelihood is not None:
            placed.setdefault((value.likelihood, value.impact), []).append(v.risk.risk_id)
    return [[f"{len(ids)}: {', '.join(sorted(ids))}" if (ids := placed.get((lik, imp))) else ""
             for imp in range(1, 6)] for lik in range(5, 0, -1)]


def export_xlsx(engine: Engine, proposal_ids: Sequence[int] | None = None,
                progress: Callable[[float], None] | None = None, *, actor: str | None = None) -> bytes:
    """One workbook; with several proposals, one row per risk of every proposal (the method and heat maps of the
    first). With `actor`, only proposals it may see."""
    ids = check_proposal_ids(engine, proposal_ids, actor=actor)
    if not ids:
        raise RefusedError("proposal: there is no proposal to export")
    profiles = [proposal_profile(engine, pid) for pid in ids]
    doc = export_document(engine, ids)
    register = [row for p in profiles for row in register_rows(p)]
    first, first_doc = profiles[0], doc["proposals"][0]
    levels = Counter(r["residual_level"] or "not scored" for r in register)
    if len(ids) == 1:
        title = first.proposal.title
        summary = [
            ("Proposal", first.proposal.title), ("Service", first.proposal.service_type),
            ("Status", first.proposal.status), ("Lifecycle phase", first.proposal.phase),
            ("Decision", "not decided"),
            ("Partners", "; ".join(f"{p['name']} ({p['kind']}{', lead/host' if p['role'] == 'lead' else ''})"
                                   for p in first_doc["partners"])),
            ("Assessment team", "; ".join(f"{m['name']} ({m['partner'] or 'no partner'}, {m['team_role']})"
                                          for m in first_doc["team"])),
        ]
    else:
        title = f"{len(ids)} shared-service proposals"
        summary = [("Proposals", "; ".join(p.proposal.title for p in profiles)), ("Decision", "not decided")]
    summary += [("Risks", len(register))]
    summary += [(f"Residual {name}", levels.get(name, 0)) for name in reversed(first.matrix.levels)]
    summary += [("Not scored", levels.get("not scored", 0)),
                ("Over appetite", sum(r["over_appetite"] == "yes" for r in register))]
    method = [("Matrix", first.matrix.title or first.matrix.name),
              ("Levels, lowest first", ", ".join(first.matrix.levels)),
              ("Aggregation", first.proposal.aggregation.replace("_", " ")),
              ("Mean", "shown for information, one decimal, rounded half up")]
    method += [(f"Appetite: {scoring.CATEGORIES[c]}", (first.proposal.appetite or {}).get(c, scoring.DEFAULT_APPETITE))
               for c in scoring.CATEGORIES]
    method += [("Disagreement", "; ".join(f"{word}: {meaning}" for word, meaning in FLAG_WORDS.values()))]
    method += [("Audit head", doc["audit_head"] or "none (no audit events yet)")]  # `risk audit verify --head`
    scores, actions = [], []
    # partners and team one row each (the Summary's lines are for people; a name may hold "; " or parentheses)
    partners = [{"proposal": p["title"], "name": x["name"], "kind": x["kind"], "role": x["role"]}
                for p in doc["proposals"] for x in p["partners"]]
    team = [{"proposal": p["title"], "name": m["name"], "partner": m["partner"], "team_role": m["team_role"]}
            for p in doc["proposals"] for m in p["team"]]
    for p in doc["proposals"]:
        closed_on = {(r["phase"], r["number"]): (r["closed_at"] or r["revealed_at"] or "")[:10] for r in p["rounds"]}
        for risk in p["risks"]:
            scores += [{"proposal": p["title"], "risk_id": risk["risk_id"], "phase": s["phase"], "round": s["round"],
                        "round_closed_on": closed_on.get((s["phase"], s["round"]), ""), "assessor": s["assessor"],
                        "partner": s["partner"], "likelihood": s["likelihood"], "impact": s["impact"],
                        "rationale": s["rationale"]} for s in risk["scores"]]
            actions += [{"proposal": p["title"], "risk_id": risk["risk_id"], "description": a["description"],
                         "owner": a["owner"], "due_date": a["due_date"], "status": a["status"], "cost": a["cost"],
                         "paying_partner": a["paying_partner"]} for a in risk["actions"]]
    book = Workbook(title=title, summary=summary, register_columns=REGISTER_COLUMNS,
                    register=[_for_workbook(row) for row in register],
                    matrix=first.matrix, method=method,
                    heatmaps=[(f"Inherent risk: {first.proposal.title}", _grid(first, "inherent")),
                              (f"Residual risk: {first.proposal.title}", _grid(first, "residual"))],
                    scores=[_for_workbook(row) for row in scores], actions=[_for_workbook(row) for row in actions],
                    partners=partners, team=team)
    return register_xlsx(book, progress)


def export_packet(engine: Engine, proposal_id: int, progress: Callable[[float, str], None] | None = None, *,
                  actor: str | None = None) -> bytes:
    """The meeting packet (PDF) of one proposal, stamped with the SHA-256 of the data it was made from (the
    proposals part of the JSON export, with sorted keys) and the audit log's head when it was read."""
    import hashlib
    import json

    from risk import charts
    from risk.exchange.packet import Packet, packet_pdf
    from risk.models import utcnow
    from risk.services.proposals import OPEN_ACTION_STATUSES
    from risk.services.summary import risk_line, top_risks
    from risk.services.views import risk_frame

    def step(done: float, what: str) -> None:
        if progress:
            progress(done, what)

    check_proposal_ids(engine, [proposal_id], actor=actor)
    step(0.05, "Reading the proposal")
    doc = export_document(engine, [proposal_id])
    digest = hashlib.sha256(json.dumps(doc["proposals"], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    profile = proposal_profile(engine, proposal_id)
    matrix, views, data = profile.matrix, profile.risks, doc["proposals"][0]
    levels = Counter(v.residual.level or "not scored" for v in views)
    summary = [
        ("Service", data["service_type"]), ("Status", data["status"]), ("Decision", "not decided"),
        ("Partners", "; ".join(f"{p['name']}{' (lead/host)' if p['role'] == 'lead' else ''}"
                               for p in data["partners"])),
        ("Assessment team", f"{count(len(data['team']), 'member')} from "
                            f"{count(len({m['partner'] for m in data['team']}), 'partner')}"),
        ("Risks", str(len(views))),
        ("By residual level", ", ".join(f"{name} {levels.get(name, 0)}" for name in reversed(matrix.levels))),
        ("Over appetite", str(sum(v.over_appetite for v in views))),
        ("Matrix and method", f"{matrix.title or matrix.name}; {data['aggregation'].replace('_', ' ')}"),
    ]
    step(0.2, "Drawing the heat maps")
    heatmaps = [charts.to_png(charts.heatmap(charts.heatmap_cells(
        matrix, [(v.risk.risk_id, getattr(v, phase).likelihood, getattr(v, phase).impact) for v in views]),
        matrix.levels, title), scale=2) for phase, title in (("inherent", "Inherent risk (before controls)"),
                                                             ("residual", "Residual risk (with controls)"))]
    frame = risk_frame(profile)
    step(0.6, "Drawing the category profile")
    category = charts.to_png(charts.category_profile(frame, matrix.levels), scale=2) if len(frame) else None
    top = [(line.heading, line.sentence) for line in map(risk_line, top_risks(profile, 10))]
    actions = [[risk["risk_id"], a["description"], a["owner"], a["due_date"] or "", a["status"],
                a["paying_partner"] or ""]
               for risk in data["risks"] for a in risk["actions"] if a["status"] in OPEN_ACTION_STATUSES]
    packet = Packet(title=data["title"], subtitle=data["description"], summary=summary, heatmaps_png=heatmaps,
                    category_png=category, top_risks=top, actions=actions, data_sha256=digest,
                    made_at=utcnow().strftime("%Y-%m-%d %H:%M UTC"), audit_head=doc["audit_head"] or "none")
    step(0.85, "Laying out the pages")
    pdf = packet_pdf(packet)
    step(1.0, "Done")
    return pdf
