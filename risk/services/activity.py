"""The history of a proposal read from the audit log (docs/USER_GUIDE.md, Activity): who did what and when, with
each changed field before and after, in words. Read only; the audit log is written by risk/store.py.

An event belongs to a proposal when it is about the proposal itself, about a row that carries the proposal's id
(a risk, a team member, a round, a partner link, a strength), about a row of one of its risks (a score, a
consensus, an action) or of one of its rounds, or, for a bulk event, when some of the rows it wrote are the
proposal's. Blind scores are never shown with their values: a score event says only that a score was sent, since
the Activity page is read by the whole team while a round may be open."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, or_, select
from sqlmodel import Session

from risk.models import (
    Account,
    Action,
    AuditEvent,
    Consensus,
    CostLine,
    PartnerStrength,
    ProposalPartner,
    Risk,
    Round,
    Score,
    TeamMember,
)

# fields that say when and by whom, not what: left out of the changes shown
_BOOKKEEPING = frozenset({"id", "version", "updated_at", "updated_by", "created_at", "last_seen_at"})
# tables whose rows carry proposal_id, and those that hang from a risk
_BY_PROPOSAL = {"risk": Risk, "team_member": TeamMember, "round": Round, "proposal_partner": ProposalPartner,
                "partner_strength": PartnerStrength, "cost_line": CostLine}
_BY_RISK = {"score": Score, "consensus": Consensus, "action": Action}
KINDS = {  # kind of change shown in the filter -> the entities it covers
    "Proposal and walkthrough": ("proposal",),
    "Partner governments and strengths": ("partner", "proposal_partner", "partner_strength"),
    "Team and sign-in": ("team_member", "signin_link"),
    "Risks": ("risk",),
    "Actions": ("action",),
    "Rounds and scores": ("round", "score", "round_result"),
    "Consensus": ("consensus",),
    "Costs": ("cost_line",),
    "Decisions": ("decision", "decision_condition", "snapshot"),
    "Refused attempts": ("refused",),
}
_WHAT = {"proposal": "the proposal", "partner": "a partner government", "proposal_partner": "a partner link",
         "partner_strength": "a strength score", "team_member": "a team member", "risk": "a risk",
         "action": "an action", "round": "a round", "score": "a score", "round_result": "a round's results",
         "consensus": "a consensus", "signin_link": "a sign-in link", "cost_line": "a cost line",
         "decision": "a partner government's decision", "decision_condition": "a condition of a decision",
         "snapshot": "a snapshot of the assessment"}
_ROWS = {"proposal": "proposal", "partner": "partner government", "proposal_partner": "partner link",
         "partner_strength": "strength score", "team_member": "team member", "risk": "risk", "action": "action",
         "round": "round", "score": "blind score", "round_result": "round result", "consensus": "consensus record",
         "cost_line": "cost line", "decision": "decision", "decision_condition": "condition",
         "snapshot": "snapshot"}
CSV_COLUMNS = ("event", "at", "who", "kind", "risk_id", "what", "field", "before", "after")


@dataclass
class Entry:
    """One event of a proposal's history, in words."""

    event: int
    at: str
    actor: str
    action: str
    entity: str
    kind: str
    what: str
    risk_id: str | None = None
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (field, before, after)


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _in_ranges(column: Any, ranges: Sequence[Sequence[int]]) -> Any:
    return or_(*[column.between(int(a), int(b)) for a, b in ranges]) if ranges else column.is_(None)


def _kind(entity: str, action: str) -> str:
    if action == "refused":
        return "Refused attempts"
    return next((k for k, entities in KINDS.items() if entity in entities), "Other")


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _changes(before: Any, after: Any, entity: str) -> list[tuple[str, str, str]]:
    if entity == "score":
        return []  # blind: never the values
    b = before if isinstance(before, dict) else {}
    a = after if isinstance(after, dict) else {}
    out = []
    for name in sorted(set(a) | set(b)):
        if name in _BOOKKEEPING or name.endswith("_hash") or name in ("table", "ids", "sha256", "columns"):
            continue
        if b.get(name) != a.get(name):
            out.append((name, _text(b.get(name)), _text(a.get(name))))
    return out


def proposal_activity(engine: Engine, proposal_id: int) -> list[Entry]:
    """Every event of the proposal's history, newest first."""
    with Session(engine) as s:
        risks = dict(s.execute(select(Risk.id, Risk.risk_id).where(Risk.proposal_id == proposal_id)).all())
        rounds = set(s.execute(select(Round.id).where(Round.proposal_id == proposal_id)).scalars())
        events = s.execute(select(AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action,
                                  AuditEvent.entity, AuditEvent.entity_id, AuditEvent.before, AuditEvent.after)
                           .order_by(AuditEvent.id.desc())).all()
        names = _people(s)
        out = []
        for ev in events:
            entry = _entry(s, ev, proposal_id, risks, rounds, names)
            if entry is not None:
                out.append(entry)
    return out


def _people(s: Session) -> dict[str, str]:
    """username -> "Full Name (username)", for showing who acted."""
    return {u: f"{n} ({u})" for u, n in s.execute(select(Account.username, Account.full_name)).all()}


def _partner_name(s: Session, partner_id: object) -> str:
    from risk.models import Partner

    found = s.get(Partner, partner_id) if isinstance(partner_id, int) else None
    return found.name if found is not None else "a partner government"


def _decisions_of(s: Session, pid: int) -> set[int]:
    from risk.models import Decision

    return set(s.execute(select(Decision.id).where(Decision.proposal_id == pid)).scalars())


def _entry(s: Session, ev: Any, pid: int, risks: dict[int, str], rounds: set[int],
           names: dict[str, str]) -> Entry | None:
    before, after = _json(ev.before), _json(ev.after)
    who = names.get(ev.actor, ev.actor)
    entity, action = ev.entity, ev.action
    if action.startswith("bulk_"):
        return _bulk_entry(s, ev, pid, after, who)
    if action == "refused":
        reason = (after or {}).get("reason", "") if isinstance(after, dict) else ""
        target = str(ev.entity_id)
        about = after.get("proposal_id") if isinstance(after, dict) else None
        mine = about == pid if about is not None else (entity == "proposal" and target == str(pid)) or (
            entity in ("risk", "score", "consensus", "action") and target.isdigit() and int(target) in risks) or (
            entity == "round" and target.isdigit() and int(target) in rounds)
        if not mine:
            return None
        attempted = (after or {}).get("attempted", "a change") if isinstance(after, dict) else "a change"
        risk_id = risks.get(int(target)) if target.isdigit() and entity != "proposal" and entity != "round" else None
        return Entry(ev.id, ev.at, who, action, entity, "Refused attempts",
                     f"was refused {attempted.replace('_', ' ')}: {reason}", risk_id)
    row = after if isinstance(after, dict) else before if isinstance(before, dict) else {}
    risk_pk = row.get("risk_pk") if isinstance(row, dict) else None
    if entity == "proposal":
        mine = str(ev.entity_id) == str(pid)
    elif entity == "risk":
        mine = row.get("proposal_id") == pid
        risk_pk = row.get("id", int(ev.entity_id) if str(ev.entity_id).isdigit() else None)
    elif "proposal_id" in row:
        mine = row.get("proposal_id") == pid
    elif risk_pk is not None:
        mine = risk_pk in risks
    elif "round_id" in row:
        mine = row.get("round_id") in rounds
    elif "decision_id" in row:
        mine = row.get("decision_id") in _decisions_of(s, pid)
    else:
        mine = False
    if not mine:
        return None
    risk_id = risks.get(risk_pk) if risk_pk is not None else None
    if entity == "risk" and risk_id is None:
        risk_id = row.get("risk_id")
    verb = {"create": "added", "update": "changed", "delete": "removed"}.get(action, action.replace("_", " "))
    label = _WHAT.get(entity, entity.replace("_", " "))
    if entity == "score":
        what = f"sent a blind score for {risk_id or 'a risk'} (values not shown)"
    elif entity == "risk":
        what = f"{verb} risk {risk_id}" + (f" “{row.get('title')}”" if action == "create" else "")
    elif entity == "consensus":
        what = (f"recorded the {row.get('phase', '')} consensus of {risk_id}: likelihood {row.get('likelihood')}, "
                f"impact {row.get('impact')}")
    elif entity == "team_member" and action == "create":
        what = f"added {row.get('name')} to the team as {row.get('team_role')}"
    elif entity == "action" and action == "create":
        what = f"added an action to {risk_id}: {row.get('description', '')}"
    elif entity == "decision" and action == "create":
        what = (f"recorded the decision of {_partner_name(s, row.get('partner_id'))}: "
                f"{str(row.get('decision', '')).replace('_', ' ')}, by {row.get('decided_by')}")
    elif entity == "snapshot" and action == "create":
        what = f"froze a snapshot of the assessment ({row.get('reason', '')}), SHA-256 {row.get('sha256', '')[:16]}…"
    else:
        what = f"{verb} {label}" + (f" of {risk_id}" if risk_id and entity != "risk" else "")
    return Entry(ev.id, ev.at, who, action, entity, _kind(entity, action), what, risk_id,
                 [] if action == "create" and entity != "proposal" else _changes(before, after, entity))


def _bulk_entry(s: Session, ev: Any, pid: int, after: Any, who: str) -> Entry | None:
    if not isinstance(after, dict) or "table" not in after:
        return None
    table, ranges = after["table"], after.get("ids") or []
    if table == "proposal":
        count = sum(1 for a, b in ranges if int(a) <= pid <= int(b))
    elif table in _BY_PROPOSAL:
        model = _BY_PROPOSAL[table]
        count = len(s.execute(select(model.id).where(model.proposal_id == pid, _in_ranges(model.id, ranges))).all())
    elif table in _BY_RISK:
        model = _BY_RISK[table]
        count = len(s.execute(select(model.id).join(Risk, Risk.id == model.risk_pk)
                              .where(and_(Risk.proposal_id == pid, _in_ranges(model.id, ranges)))).all())
    elif table == "round_result":
        count = 1 if str(ev.entity_id) == str(pid) else 0
    else:
        count = 0
    if not count:
        return None
    verb = {"bulk_create": "added", "bulk_update": "changed", "bulk_upsert": "wrote"}.get(ev.action, ev.action)
    noun = _ROWS.get(table, table.replace("_", " "))
    what = f"{verb} {count:,} {noun}{'s' if count != 1 else ''} at once (load or import)"
    return Entry(ev.id, ev.at, who, ev.action, table, _kind(table, ev.action), what)


def filtered(entries: Iterable[Entry], *, people: Sequence[str] = (), risk_ids: Sequence[str] = (),
             kinds: Sequence[str] = ()) -> list[Entry]:
    """The entries by any of `people`, about any of `risk_ids`, of any of `kinds` (an empty choice: all)."""
    return [e for e in entries if (not people or e.actor in people) and (not risk_ids or e.risk_id in risk_ids)
            and (not kinds or e.kind in kinds)]


def risk_history(engine: Engine, proposal_id: int, risk_id: str) -> list[Entry]:
    """The history of one risk (its own changes, its actions, consensus and refused attempts), newest first."""
    return filtered(proposal_activity(engine, proposal_id), risk_ids=[risk_id])


def activity_csv(entries: Iterable[Entry]) -> bytes:
    """The entries as UTF-8 CSV (with a byte-order mark for spreadsheets): one line per changed field, or one line
    for an event that changed none. Text that a spreadsheet would run as a formula is written as text."""
    from risk.exchange.spreadsheet import safe_text

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        base = [e.event, e.at, e.actor, e.kind, e.risk_id or "", e.what]
        for name, before, after in e.changes or [("", "", "")]:
            writer.writerow([safe_text(v) if isinstance(v, str) else v for v in [*base, name, before, after]])
    return out.getvalue().encode("utf-8")
