"""Each partner government's decision on a proposal, on a frozen snapshot of the assessment (docs/DECISIONS.md).

- A reviewer of a partner government (a team member with the reviewer role, from that government) records its
  decision: approve, approve with conditions, reject, or send back for more assessment, with a rationale. An
  administrator or the operator may record it for the reviewer (`by`), as after a council meeting; the audit log
  names both. Conditions (what, who, by when, where it stands; optionally a risk or an action) come with an approval
  with conditions, and only with one.
- Recording a decision freezes a snapshot: the proposal's JSON document (risk/snapshots.py) with its SHA-256 and the
  audit head. The snapshot is written once and never changed.
- A decision is stale when the assessment it saw has changed since: its snapshot's content differs from the
  proposal's content now, and `changed_since` says how, in words. Re-affirming takes a new snapshot.
- Where the partners stand: all in, in with conditions, who is out, who sent it back, who has not decided."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, audit, rules, snapshots, store
from risk.errors import ConflictError, NotFoundError, RefusedError
from risk.models import (
    Account,
    Action,
    Decision,
    DecisionCondition,
    Partner,
    Proposal,
    ProposalPartner,
    Risk,
    Snapshot,
    TeamMember,
)

WORDS = {"approve": "approved", "approve_with_conditions": "approved with conditions", "reject": "rejected",
         "send_back": "sent back for more assessment"}


# --- snapshots ------------------------------------------------------------------------------------------------

def current_content(engine: Engine, proposal_id: int) -> dict[str, Any]:
    """The proposal's assessment as it stands, as a snapshot holds it."""
    from risk.services import costs as cost_service
    from risk.services.json_export import export_document

    docs = export_document(engine, [proposal_id])["proposals"]
    if not docs:
        raise NotFoundError(f"proposal {proposal_id} does not exist")
    try:
        shares = cost_service.allocate(engine, proposal_id).to_json()
    except RefusedError:  # no partners, or figures missing for the chosen method: no shares to freeze
        shares = None
    return snapshots.content(docs[0], shares)


def _snapshot(unit: store.Unit, proposal_id: int, content: dict[str, Any], reason: str) -> Snapshot:
    row = Snapshot(proposal_id=proposal_id, taken_by=unit.actor, reason=reason[:300],
                   sha256=snapshots.digest(content), audit_head=audit.head_of(unit.session) or "", content=content)
    return store.add(unit=unit, obj=row, entity="snapshot")  # type: ignore[return-value]


@dataclass
class SnapshotInfo:
    id: int
    taken_at: dt.datetime
    taken_by: str
    reason: str
    sha256: str
    audit_head: str


def list_snapshots(engine: Engine, proposal_id: int) -> list[SnapshotInfo]:
    with Session(engine) as s:
        rows = s.execute(select(Snapshot.id, Snapshot.taken_at, Snapshot.taken_by, Snapshot.reason, Snapshot.sha256,
                                Snapshot.audit_head).where(Snapshot.proposal_id == proposal_id)
                         .order_by(Snapshot.id)).all()
    return [SnapshotInfo(*row) for row in rows]


def snapshot_content(engine: Engine, proposal_id: int, snapshot: int | str) -> dict[str, Any]:
    """A snapshot's content (checked against its SHA-256), or the proposal's content now for "now"."""
    if snapshot == "now":
        return current_content(engine, proposal_id)
    with Session(engine) as s:
        row = s.get(Snapshot, int(snapshot))
        if row is None or row.proposal_id != proposal_id:
            raise NotFoundError(f"snapshot {snapshot} is not a snapshot of proposal {proposal_id}")
        if snapshots.digest(row.content) != row.sha256:
            raise RefusedError(f"snapshot {snapshot}: its content no longer matches its SHA-256 {row.sha256}: it was "
                               "changed after it was taken (risk audit verify names the change)")
        return row.content


def compare_snapshots(engine: Engine, proposal_id: int, a: int | str, b: int | str) -> dict[str, Any]:
    """What changed from snapshot `a` to snapshot `b` (either may be "now"): risk/snapshots.py's compare."""
    return snapshots.compare(snapshot_content(engine, proposal_id, a), snapshot_content(engine, proposal_id, b))


# --- who decides ----------------------------------------------------------------------------------------------

def _partner(s: Session, proposal_id: int, partner: int | str) -> Partner:
    q = select(Partner).join(ProposalPartner, ProposalPartner.partner_id == Partner.id).where(
        ProposalPartner.proposal_id == proposal_id)
    q = q.where(Partner.id == partner) if isinstance(partner, int) else q.where(Partner.name == str(partner).strip())
    found = s.execute(q).scalar_one_or_none()
    if found is None:
        names = s.execute(select(Partner.name).join(ProposalPartner, ProposalPartner.partner_id == Partner.id)
                          .where(ProposalPartner.proposal_id == proposal_id).order_by(Partner.name)).scalars()
        raise RefusedError(f"partner: expected one of the proposal's partner governments ({', '.join(names)}), "
                           f"got {partner!r}")
    return found


def reviewers(s: Session, proposal_id: int, partner_id: int) -> list[str]:
    """The usernames that may decide for a partner government: accounts linked to a reviewer of the proposal's
    team who comes from that government."""
    return list(s.execute(select(Account.username).join(TeamMember, TeamMember.account_id == Account.id).where(
        TeamMember.proposal_id == proposal_id, TeamMember.team_role == "reviewer",
        TeamMember.partner_id == partner_id, Account.disabled.is_(False)).order_by(Account.username)).scalars())


def reviewers_by_partner(engine: Engine, proposal_id: int) -> dict[str, list[str]]:
    """Each partner government of the proposal with the usernames that may decide for it (maybe none)."""
    with Session(engine) as s:
        partners = s.execute(select(Partner.id, Partner.name).join(
            ProposalPartner, ProposalPartner.partner_id == Partner.id).where(
            ProposalPartner.proposal_id == proposal_id).order_by(Partner.name)).all()
        return {name: reviewers(s, proposal_id, partner_id) for partner_id, name in partners}


def governments_of(engine: Engine, actor: str | None, proposal_id: int) -> list[str]:
    """The partner governments of the proposal whose decision `actor` may record as their reviewer."""
    if not actor:
        return []
    with Session(engine) as s:
        return list(s.execute(select(Partner.name).join(TeamMember, TeamMember.partner_id == Partner.id)
                              .join(Account, TeamMember.account_id == Account.id).where(
            TeamMember.proposal_id == proposal_id, TeamMember.team_role == "reviewer",
            Account.username == actor, Account.disabled.is_(False)).order_by(Partner.name)).scalars())


def _decider(s: Session, actor: str, by: str | None, proposal_id: int, partner: Partner) -> str:
    """The reviewer whose decision it is: the actor itself, or `by` when an administrator records it."""
    p = access.principal(s, actor)
    allowed = reviewers(s, proposal_id, partner.id)
    who = (by or "").strip().lower() or (None if p.is_admin else actor)
    if who is None:
        raise RefusedError(f"by: name the reviewer of {partner.name} whose decision this is (its reviewers: "
                           f"{', '.join(allowed) or 'none yet: add one to the team with the reviewer role'})")
    if not p.is_admin and who != actor:
        raise access.refusal(p, "record_decision", proposal_id, access.roles(s, p, proposal_id), reason=(
            f"{actor} may not record a decision in place of {who}: each reviewer records their own government's "
            "decision (an administrator may record it for them)"))
    if who not in allowed:
        raise RefusedError(f"by: {who} is not a reviewer of {partner.name} on this proposal (its reviewers: "
                           f"{', '.join(allowed) or 'none yet: add one to the team with the reviewer role'})")
    return who


def _conditions(conditions: Sequence[Mapping[str, Any] | str], decision: str, s: Session,
                proposal_id: int) -> list[dict[str, Any]]:
    if conditions and decision != "approve_with_conditions":
        raise RefusedError(f"conditions: only an approval with conditions has conditions; this decision is to "
                           f"{decision.replace('_', ' ')}")
    if decision == "approve_with_conditions" and not conditions:
        raise RefusedError("conditions: an approval with conditions needs at least one condition")
    out = []
    for k, c in enumerate(conditions, start=1):
        row = {"text": c} if isinstance(c, str) else dict(c)
        values = rules.check_row(rules.CONDITION, {f: row[f] for f in rules.CONDITION if f in row},
                                 f"condition {k}", whole=True)
        for ref, what in (("risk_id", "risk"), ("action_id", "action")):
            if row.get(ref) in (None, ""):
                continue
            if ref == "risk_id":
                pk = s.execute(select(Risk.id).where(Risk.proposal_id == proposal_id,
                                                     Risk.risk_id == row[ref])).scalar_one_or_none()
            else:
                pk = s.execute(select(Action.id).join(Risk, Risk.id == Action.risk_pk).where(
                    Risk.proposal_id == proposal_id, Action.id == row[ref])).scalar_one_or_none()
            if pk is None:
                raise RefusedError(f"condition {k}: {ref}: expected a {what} of this proposal, got {row[ref]!r}")
            values["risk_pk" if ref == "risk_id" else "action_id"] = pk
        out.append(values)
    return out


# --- writes ---------------------------------------------------------------------------------------------------

@access.audited("proposal")
def record_decision(engine: Engine, *, actor: str, proposal_id: int, partner: int | str, decision: str,
                    rationale: str, conditions: Sequence[Mapping[str, Any] | str] = (), by: str | None = None,
                    reaffirms: int | None = None) -> int:
    """Record a partner government's decision on the proposal as it stands now, freezing a snapshot of it.
    Returns the decision's id. Refused, and nothing written, when the assessment changes while it is recorded."""
    values = rules.check_row(rules.DECISION, {"decision": decision, "rationale": rationale}, whole=True)
    with Session(engine) as s:
        head_before = audit.head_of(s)
    content = current_content(engine, proposal_id)
    with store.write(engine, actor, "the decision") as unit:
        s = unit.session
        access.require(s, actor, "record_decision", proposal_id)
        if s.get(Proposal, proposal_id) is None:
            raise NotFoundError(f"proposal {proposal_id} does not exist")
        if audit.head_of(s) != head_before:
            raise ConflictError("the assessment changed while the decision was being recorded; look at it again "
                                "and record the decision once more")
        government = _partner(s, proposal_id, partner)
        who = _decider(s, actor, by, proposal_id, government)
        checked = _conditions(conditions, values["decision"], s, proposal_id)
        shot = _snapshot(unit, proposal_id, content, f"decision of {government.name} by {who}")
        row = store.add(unit=unit, obj=Decision(
            proposal_id=proposal_id, partner_id=government.id, decision=values["decision"],
            rationale=values["rationale"], decided_by=who, recorded_by=unit.actor, snapshot_id=shot.id,
            reaffirms_id=reaffirms), entity="decision")
        for c in checked:
            store.add(unit=unit, obj=DecisionCondition(decision_id=row.id, **c), entity="decision_condition")
        return row.id  # type: ignore[return-value]


@access.audited("proposal")
def reaffirm_decision(engine: Engine, *, actor: str, proposal_id: int, decision_id: int,
                      rationale: str | None = None, by: str | None = None) -> int:
    """Take a stale decision again on the assessment as it stands now: the same decision and conditions (their
    status kept), a new snapshot, and the rationale given or the old one."""
    with Session(engine) as s:
        old = s.get(Decision, decision_id)
        if old is None or old.proposal_id != proposal_id:
            raise NotFoundError(f"decision {decision_id} is not a decision on proposal {proposal_id}")
        kept = [{"text": c.text, "owner": c.owner, "due_date": c.due_date, "status": c.status,
                 **({"risk_id": s.get(Risk, c.risk_pk).risk_id} if c.risk_pk else {}),
                 **({"action_id": c.action_id} if c.action_id else {})}
                for c in s.execute(select(DecisionCondition).where(DecisionCondition.decision_id == decision_id)
                                   .order_by(DecisionCondition.id)).scalars()]
    return record_decision(engine, actor=actor, proposal_id=proposal_id, partner=old.partner_id,
                           decision=old.decision, rationale=rationale or old.rationale, conditions=kept,
                           by=by or (old.decided_by if access_is_admin(engine, actor) else None),
                           reaffirms=decision_id)


def access_is_admin(engine: Engine, actor: str) -> bool:
    with Session(engine) as s:
        return access.principal(s, actor).is_admin


@access.audited("proposal")
def set_condition_status(engine: Engine, *, actor: str, proposal_id: int, condition_id: int, status: str) -> None:
    """A condition met, missed or waived (or open again): by the proposal's facilitators, its reviewers or an
    administrator."""
    status = rules.check(rules.CONDITION, "status", status)
    with store.write(engine, actor, "the condition") as unit:
        s = unit.session
        access.require(s, actor, "update_conditions", proposal_id)
        row = s.get(DecisionCondition, condition_id)
        decision = s.get(Decision, row.decision_id) if row is not None else None
        if decision is None or decision.proposal_id != proposal_id:
            raise NotFoundError(f"condition {condition_id} is not a condition of a decision on proposal "
                                f"{proposal_id}")
        store.update(unit=unit, obj=row, entity="decision_condition", changes={"status": status})


# --- reads ----------------------------------------------------------------------------------------------------

@dataclass
class ConditionView:
    id: int
    text: str
    owner: str
    due_date: dt.date | None
    status: str
    risk_id: str | None = None
    action_id: int | None = None

    @property
    def overdue(self) -> bool:
        return self.status == "open" and self.due_date is not None and self.due_date < dt.date.today()


@dataclass
class DecisionView:
    """A partner's standing decision (None: not decided yet), whether it is stale and what changed since."""

    partner: str
    decision: str | None = None
    decision_id: int | None = None
    rationale: str = ""
    by: str | None = None
    recorded_by: str | None = None
    recorded_at: dt.datetime | None = None
    snapshot: int | None = None
    sha256: str | None = None
    stale: bool = False
    changed_since: list[str] = field(default_factory=list)
    conditions: list[ConditionView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"partner": self.partner, "decision": self.decision, "decision_id": self.decision_id,
                "rationale": self.rationale, "by": self.by, "recorded_by": self.recorded_by,
                "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
                "snapshot": self.snapshot, "sha256": self.sha256, "stale": self.stale,
                "changed_since": self.changed_since,
                "conditions": [{"id": c.id, "text": c.text, "owner": c.owner,
                                "due_date": c.due_date.isoformat() if c.due_date else None, "status": c.status,
                                "risk_id": c.risk_id, "action_id": c.action_id, "overdue": c.overdue}
                               for c in self.conditions]}


def list_decisions(engine: Engine, proposal_id: int) -> list[DecisionView]:
    """Each partner government of the proposal with its standing decision (the latest), stale or not."""
    now, now_sha = None, None
    out = []
    with Session(engine) as s:
        partners = s.execute(select(Partner.id, Partner.name).join(
            ProposalPartner, ProposalPartner.partner_id == Partner.id).where(
            ProposalPartner.proposal_id == proposal_id).order_by(Partner.name)).all()
        latest: dict[int, Decision] = {}
        for d in s.execute(select(Decision).where(Decision.proposal_id == proposal_id).order_by(Decision.id)
                           ).scalars():
            latest[d.partner_id] = d
        risk_ids = dict(s.execute(select(Risk.id, Risk.risk_id).where(Risk.proposal_id == proposal_id)).all())
        for pid, name in partners:
            d = latest.get(pid)
            if d is None:
                out.append(DecisionView(partner=name))
                continue
            shot = s.get(Snapshot, d.snapshot_id)
            if now is None:
                now = current_content(engine, proposal_id)
                now_sha = snapshots.digest(now)
            diff = EMPTY_DIFF if shot.sha256 == now_sha else snapshots.staling(snapshots.compare(shot.content, now))
            conditions = [ConditionView(c.id, c.text, c.owner, c.due_date, c.status, risk_ids.get(c.risk_pk),
                                        c.action_id)
                          for c in s.execute(select(DecisionCondition).where(
                              DecisionCondition.decision_id == d.id).order_by(DecisionCondition.id)).scalars()]
            out.append(DecisionView(
                partner=name, decision=d.decision, decision_id=d.id, rationale=d.rationale, by=d.decided_by,
                recorded_by=d.recorded_by, recorded_at=d.recorded_at, snapshot=shot.id, sha256=shot.sha256,
                stale=not snapshots.is_empty(diff), changed_since=snapshots.in_words(diff), conditions=conditions))
    return out


EMPTY_DIFF: dict[str, Any] = {"added": [], "removed": [], "changed": [], "level_moves": [], "breaches_appeared": [],
                              "breaches_cleared": []}


def decision_counts(engine: Engine, proposal_ids: Sequence[int] | None = None) -> dict[int, str]:
    """For the portfolio: each proposal with a decision, in a few words ("2 of 3 decided, 1 stale, 1 rejected").
    Proposals nobody has decided on yet cost one query in all; a proposal with decisions one stale check."""
    with Session(engine) as s:
        decided = sorted(set(s.execute(select(Decision.proposal_id).distinct()).scalars()))
    if proposal_ids is not None:
        decided = [pid for pid in decided if pid in set(proposal_ids)]
    out = {}
    for pid in decided:
        views = list_decisions(engine, pid)
        made = [v for v in views if v.decision]
        words = [f"{len(made)} of {len(views)} decided"]
        for count_, word in ((sum(v.stale for v in made), "stale"),
                             (sum(v.decision == "reject" for v in made), "rejected"),
                             (sum(v.decision == "send_back" for v in made), "sent back")):
            if count_:
                words.append(f"{count_} {word}")
        out[pid] = ", ".join(words)
    return out


def standing(views: Sequence[DecisionView]) -> str:
    """Where the partners stand, in one sentence."""
    if not views:
        return "No partner governments yet."
    out = [v.partner for v in views if v.decision == "reject"]
    back = [v.partner for v in views if v.decision == "send_back"]
    waiting = [v.partner for v in views if v.decision is None]
    conditional = [v.partner for v in views if v.decision == "approve_with_conditions"]
    stale = [v.partner for v in views if v.stale]
    parts = []
    if out:
        parts.append(f"Out: {', '.join(out)} rejected it")
    if back:
        parts.append(f"sent back for more assessment by {', '.join(back)}")
    if waiting:
        parts.append(f"waiting for {', '.join(waiting)}")
    if not parts:
        parts.append("All in, with conditions from " + ", ".join(conditional) if conditional else "All in")
    elif conditional:
        parts.append(f"in with conditions: {', '.join(conditional)}")
    if stale:
        parts.append(f"the assessment changed since the decision of {', '.join(stale)} (stale)")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


__all__ = ["ConditionView", "DecisionView", "SnapshotInfo", "WORDS", "compare_snapshots", "current_content",
           "decision_counts", "governments_of", "list_decisions", "list_snapshots", "reaffirm_decision",
           "record_decision", "review_due", "reviewers", "reviewers_by_partner", "set_condition_status",
           "snapshot_content", "standing"]


# --- what needs review across the portfolio ----------------------------------------------------------------------

def review_due(engine: Engine, *, actor: str, today: dt.date | None = None) -> list[dict[str, Any]]:
    """What needs looking at, across the proposals `actor` may see: risks past their next review date, conditions
    of standing decisions open past their due date, and stale decisions. Each item: kind (risk, condition,
    decision), proposal_id, proposal, item, due (a date or None), detail (in words)."""
    from risk.services.register_export import register_table

    today = today or dt.date.today()
    with Session(engine) as s:
        visible = access.visible_proposal_ids(s, actor)
        titles = dict(s.execute(select(Proposal.id, Proposal.title)).all())
        proposal_of = dict(s.execute(select(Risk.id, Risk.proposal_id)).all())
        with_decisions = set(s.execute(select(Decision.proposal_id).distinct()).scalars())
    out: list[dict[str, Any]] = []
    for row in register_table(engine, None, actor=actor):
        due = row.get("next_review")
        if due and dt.date.fromisoformat(str(due)[:10]) < today:
            pid = proposal_of.get(row["risk_pk"])
            out.append({"kind": "risk", "proposal_id": pid, "proposal": row["proposal"], "item": row["risk_id"],
                        "due": str(due)[:10], "detail": f"{row['title']}: its review was due on {str(due)[:10]}"})
    for pid in sorted(with_decisions):
        if visible is not None and pid not in visible:
            continue
        for view in list_decisions(engine, pid):
            if view.stale:
                out.append({"kind": "decision", "proposal_id": pid, "proposal": titles[pid], "item": view.partner,
                            "due": None, "detail": f"the decision of {view.partner} ({WORDS[view.decision]}) is "
                                                   "stale: " + "; ".join(view.changed_since)})
            for c in view.conditions:
                if c.overdue:
                    out.append({"kind": "condition", "proposal_id": pid, "proposal": titles[pid],
                                "item": view.partner, "due": c.due_date.isoformat(),
                                "detail": f"{view.partner}'s condition “{c.text}” was due on {c.due_date} "
                                          f"({c.owner or 'no owner named'})"})
    order = {"decision": 0, "condition": 1, "risk": 2}
    return sorted(out, key=lambda x: (order[x["kind"]], x["due"] or "", x["proposal_id"] or 0, x["item"]))
