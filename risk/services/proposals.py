"""Setting up a proposal: the proposal itself, its partner governments, the assessment team, risks and actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import scoring, store
from risk.errors import NotFoundError, RefusedError
from risk.models import (
    Action,
    ActionStatus,
    LifecyclePhase,
    Partner,
    PartnerKind,
    PartnerRole,
    Proposal,
    ProposalPartner,
    ProposalStatus,
    Risk,
    Score,
    ServiceType,
    TeamMember,
    TeamRole,
)
from risk.services.matrices import get_matrix
from risk.wording import article


def _choice(value: str, allowed: list[str], field: str) -> str:
    for a in allowed:
        if str(value).strip().lower() == a.lower():
            return a
    raise RefusedError(f"{field}: expected one of {', '.join(allowed)}, got {value!r}")


def _text(value: Any, field: str, *, required: bool = False, limit: int = 5000) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise RefusedError(f"{field}: a value is required")
    if len(text) > limit:
        raise RefusedError(f"{field}: at most {limit} characters, got {len(text)}")
    return text


def _get(session: Session, model: type, pk: int, what: str):
    obj = session.get(model, pk)
    if obj is None:
        raise NotFoundError(f"{what} {pk} does not exist")
    return obj


# --- proposals ------------------------------------------------------------------------------------

def _proposal_fields(session: Session, data: dict[str, Any], has_scores: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "title" in data:
        out["title"] = _text(data["title"], "title", required=True, limit=200)
    if "service_type" in data:
        out["service_type"] = _choice(data["service_type"], [s.value for s in ServiceType], "service_type")
    if "description" in data:
        out["description"] = _text(data["description"], "description", limit=20000)
    if "phase" in data:
        out["phase"] = _choice(data["phase"], [p.value for p in LifecyclePhase], "phase")
    if "status" in data:
        out["status"] = _choice(data["status"], [s.value for s in ProposalStatus], "status")
    if "aggregation" in data:
        out["aggregation"] = _choice(data["aggregation"], list(scoring.AGGREGATIONS), "aggregation")
    if "matrix" in data:
        get_matrix(session, data["matrix"])  # raises when unknown; every matrix here is 5x5
        out["matrix"] = data["matrix"]
    if "cybersecurity" in data:
        out["cybersecurity"] = bool(data["cybersecurity"])
    if "appetite" in data:
        try:
            out["appetite"] = scoring.check_appetite_map(data["appetite"] or {})
        except ValueError as exc:
            raise RefusedError(f"appetite: {exc}") from None
    return out


def create_proposal(engine: Engine, *, actor: str, title: str, request_token: str | None = None,
                    **fields: Any) -> int:
    """A new proposal; appetite defaults to Cautious in every category. A form submitted twice with the same
    `request_token` gets the proposal its first submit created."""
    with store.write(engine, actor) as unit:
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        values = _proposal_fields(unit.session, {"title": title, **fields})
        values.setdefault("appetite", scoring.default_appetite())
        proposal = store.add(unit=unit, obj=Proposal(updated_by=unit.actor, **values), entity="proposal")
        store.remember_creation(unit=unit, token=request_token, entity="proposal", entity_id=proposal.id)
        return proposal.id  # type: ignore[return-value]


def created_with(engine: Engine, token: str) -> int | None:
    """The id of what a creation form instance `token` already made, if it made something."""
    from risk.models import CreationToken

    with Session(engine) as session:
        row = session.get(CreationToken, token)
        return row.entity_id if row is not None else None


def update_proposal(engine: Engine, *, actor: str, proposal_id: int, expected_version: int | None = None,
                    **fields: Any) -> int:
    """Change a proposal if nobody saved it since `expected_version` was on screen; returns the new version.
    A change of matrix re-looks-up every level, since levels are never stored."""
    with store.write(engine, actor) as unit:
        proposal = _get(unit.session, Proposal, proposal_id, "proposal")
        changes = _proposal_fields(unit.session, fields)
        return store.update_versioned(unit=unit, obj=proposal, entity="proposal", label=f"“{proposal.title}”",
                                      expected_version=expected_version, changes=changes).version


def get_proposal(engine: Engine, proposal_id: int) -> Proposal:
    with Session(engine) as session:
        return _get(session, Proposal, proposal_id, "proposal")


def list_proposals(engine: Engine) -> list[Proposal]:
    with Session(engine) as session:
        return list(session.execute(select(Proposal).order_by(Proposal.id)).scalars())


# --- partners -------------------------------------------------------------------------------------

def _partner_fields(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = _text(data["name"], "name", required=True, limit=200)
    if "kind" in data:
        out["kind"] = _choice(data["kind"], [k.value for k in PartnerKind], "kind")
    for key, kind in (("population", int), ("it_budget", float)):
        if key in data and data[key] not in (None, ""):
            try:
                number = kind(data[key])
            except (TypeError, ValueError):
                raise RefusedError(f"{key}: expected a number of at least 0, got {data[key]!r}") from None
            if number < 0:
                raise RefusedError(f"{key}: expected a number of at least 0, got {data[key]!r}")
            out[key] = number
    if "cost_drivers" in data:
        drivers = data["cost_drivers"] or {}
        if not isinstance(drivers, dict) or not all(isinstance(v, int | float) for v in drivers.values()):
            raise RefusedError("cost_drivers: expected names with numbers, such as {'road_miles': 120}")
        out["cost_drivers"] = dict(drivers)
    return out


def add_partner(engine: Engine, *, actor: str, name: str, request_token: str | None = None, **fields: Any) -> int:
    with store.write(engine, actor) as unit:
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        values = _partner_fields({"name": name, **fields})
        if unit.session.execute(select(Partner.id).where(Partner.name == values["name"])).first():
            raise RefusedError(f"name: a partner government called {values['name']!r} already exists; choose it "
                               "under “An existing government”")
        partner_id = store.add(unit=unit, obj=Partner(**values), entity="partner").id
        store.remember_creation(unit=unit, token=request_token, entity="partner", entity_id=partner_id)
        return partner_id  # type: ignore[return-value]


def update_partner(engine: Engine, *, actor: str, partner_id: int, **fields: Any) -> None:
    with store.write(engine, actor) as unit:
        partner = _get(unit.session, Partner, partner_id, "partner")
        store.update(unit=unit, obj=partner, entity="partner", changes=_partner_fields(fields))


def list_partners(engine: Engine) -> list[Partner]:
    with Session(engine) as session:
        return list(session.execute(select(Partner).order_by(Partner.name)).scalars())


def link_partner(engine: Engine, *, actor: str, proposal_id: int, partner_id: int,
                 role: str = PartnerRole.participant.value) -> None:
    """Add a partner to a proposal (or change its role). A proposal has at most one lead; naming a new lead
    makes the previous one a participant."""
    role = _choice(role, [r.value for r in PartnerRole], "role")
    with store.write(engine, actor) as unit:
        s = unit.session
        _get(s, Proposal, proposal_id, "proposal")
        _get(s, Partner, partner_id, "partner")
        links = s.execute(select(ProposalPartner).where(ProposalPartner.proposal_id == proposal_id)).scalars().all()
        if role == PartnerRole.lead.value:
            for link in links:
                if link.role == role and link.partner_id != partner_id:
                    store.update(unit=unit, obj=link, entity="proposal_partner",
                                 changes={"role": PartnerRole.participant.value})
        mine = next((link for link in links if link.partner_id == partner_id), None)
        if mine is None:
            store.add(unit=unit, obj=ProposalPartner(proposal_id=proposal_id, partner_id=partner_id, role=role),
                      entity="proposal_partner")
        else:
            store.update(unit=unit, obj=mine, entity="proposal_partner", changes={"role": role})


def proposal_partners(engine: Engine, proposal_id: int) -> list[tuple[Partner, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Partner, ProposalPartner.role)
            .join(ProposalPartner, ProposalPartner.partner_id == Partner.id)
            .where(ProposalPartner.proposal_id == proposal_id)
            .order_by(ProposalPartner.role.desc(), Partner.name)
        ).all()
        return [(p, r) for p, r in rows]


# --- the assessment team --------------------------------------------------------------------------

def add_team_member(engine: Engine, *, actor: str, proposal_id: int, name: str, partner_id: int | None,
                    team_role: str = TeamRole.assessor.value, expertise: str = "",
                    request_token: str | None = None) -> int:
    """A member of the assessment team; an assessor or facilitator must come from a partner of the proposal."""
    role = _choice(team_role, [r.value for r in TeamRole], "team_role")
    with store.write(engine, actor) as unit:
        s = unit.session
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        _get(s, Proposal, proposal_id, "proposal")
        name = _text(name, "name", required=True, limit=200)
        if partner_id is not None and not s.execute(
            select(ProposalPartner.id).where(ProposalPartner.proposal_id == proposal_id,
                                             ProposalPartner.partner_id == partner_id)
        ).first():
            raise RefusedError(f"partner: partner {partner_id} does not take part in proposal {proposal_id}")
        if partner_id is None and role != TeamRole.observer.value:
            raise RefusedError(f"partner: {article(role)} must come from one of the proposal's partner governments")
        if s.execute(select(TeamMember.id).where(TeamMember.proposal_id == proposal_id,
                                                 TeamMember.name == name)).first():
            raise RefusedError(f"name: {name!r} is already on this proposal's team")
        member = TeamMember(proposal_id=proposal_id, name=name, partner_id=partner_id, team_role=role,
                            expertise=_text(expertise, "expertise", limit=500))
        member_id = store.add(unit=unit, obj=member, entity="team_member").id
        store.remember_creation(unit=unit, token=request_token, entity="team_member", entity_id=member_id)
        return member_id  # type: ignore[return-value]


def team(engine: Engine, proposal_id: int) -> list[TeamMember]:
    with Session(engine) as session:
        return list(session.execute(
            select(TeamMember).where(TeamMember.proposal_id == proposal_id).order_by(TeamMember.id)
        ).scalars())


# --- risks ----------------------------------------------------------------------------------------

STATEMENT_PARTS = ("cause", "event", "consequence")
# the most characters each text of a risk takes (the forms show these limits as they are typed)
RISK_TEXT_LIMITS = {"title": 300, "cause": 5000, "event": 5000, "consequence": 5000, "owner": 200, "controls": 5000}


def next_risk_id(session: Session, proposal_id: int, category: str) -> str:
    """The next free key in a category: LEG-01, LEG-02, ... (never reused within the proposal)."""
    prefix = scoring.CATEGORY_PREFIX[category]
    existing = session.execute(
        select(Risk.risk_id).where(Risk.proposal_id == proposal_id, Risk.risk_id.like(f"{prefix}-%"))
    ).scalars().all()
    numbers = [int(r.split("-", 1)[1]) for r in existing if r.split("-", 1)[1].isdigit()]
    return f"{prefix}-{(max(numbers, default=0) + 1):02d}"


def _risk_fields(session: Session, proposal_id: int, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "category" in data:
        try:
            out["category"] = scoring.category_key(data["category"])
        except ValueError as exc:
            raise RefusedError(f"category: {exc}") from None
    for key, limit in RISK_TEXT_LIMITS.items():
        if key in data:
            out[key] = _text(data[key], key, required=key == "title", limit=limit)
    if "treatment" in data:
        if data["treatment"] in (None, ""):
            out["treatment"] = None
        else:
            try:
                out["treatment"] = scoring.normalise_treatment(data["treatment"])
            except ValueError as exc:
                raise RefusedError(f"treatment: {exc}") from None
    if "status" in data:
        out["status"] = _choice(data["status"], list(scoring.RISK_STATUSES), "status")
    for key in ("target_likelihood", "target_impact"):
        if key in data:
            if data[key] in (None, ""):
                out[key] = None
            else:
                try:
                    out[key] = scoring.check_score(data[key], key)
                except ValueError as exc:
                    raise RefusedError(str(exc)) from None
    if "owner_partner_id" in data:
        pid = data["owner_partner_id"]
        if pid is not None and not session.execute(
            select(ProposalPartner.id).where(ProposalPartner.proposal_id == proposal_id,
                                             ProposalPartner.partner_id == pid)
        ).first():
            raise RefusedError(f"owner_partner: partner {pid} does not take part in this proposal")
        out["owner_partner_id"] = pid
    if "tags" in data:
        tags = [str(t).strip().lower() for t in (data["tags"] or []) if str(t).strip()]
        out["tags"] = sorted(set(tags))
    if "template_id" in data:
        out["template_id"] = data["template_id"] or None
    return out


def add_risk(engine: Engine, *, actor: str, proposal_id: int, category: str, title: str,
             risk_id: str | None = None, request_token: str | None = None, complete_statement: bool = False,
             **fields: Any) -> int:
    """A new risk; its key is the next free one in its category unless one is given (kept on import).
    `complete_statement`: a risk a person writes (the walkthrough's form) needs its cause, event and consequence,
    the three parts of its sentence; registers brought in from elsewhere may lack them."""
    if complete_statement:
        missing = [f for f, v in (("title", title), *((p, fields.get(p)) for p in STATEMENT_PARTS))
                   if not str(v or "").strip()]
        if missing:
            raise RefusedError(f"{', '.join(missing)}: a value is required (a risk is written as its cause, the "
                               "event that may occur and its consequence)")
    with store.write(engine, actor) as unit:
        s = unit.session
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        proposal = _get(s, Proposal, proposal_id, "proposal")
        values = _risk_fields(s, proposal_id, {"category": category, "title": title, **fields})
        if values["category"] == "cybersecurity" and not proposal.cybersecurity:
            raise RefusedError("category: cybersecurity is off for this proposal; turn it on first")
        if risk_id:
            try:
                risk_id = scoring.check_risk_id(risk_id)
            except ValueError as exc:
                raise RefusedError(f"risk_id: {exc}") from None
            if s.execute(select(Risk.id).where(Risk.proposal_id == proposal_id, Risk.risk_id == risk_id)).first():
                raise RefusedError(f"risk_id: {risk_id} is already used in this proposal")
        else:
            risk_id = next_risk_id(s, proposal_id, values["category"])
        risk = Risk(proposal_id=proposal_id, risk_id=risk_id, updated_by=unit.actor, **values)
        risk_pk = store.add(unit=unit, obj=risk, entity="risk").id
        store.remember_creation(unit=unit, token=request_token, entity="risk", entity_id=risk_pk)
        return risk_pk  # type: ignore[return-value]


def update_risk(engine: Engine, *, actor: str, risk_pk: int, expected_version: int | None, **fields: Any) -> int:
    """Change a risk if nobody else saved it first; returns the new version."""
    with store.write(engine, actor) as unit:
        risk = _get(unit.session, Risk, risk_pk, "risk")
        values = _risk_fields(unit.session, risk.proposal_id, fields)
        return store.update_risk(unit=unit, risk_pk=risk_pk, expected_version=expected_version,
                                 changes=values).version


def delete_risk(engine: Engine, *, actor: str, risk_pk: int) -> None:
    """Remove a risk that nobody has scored yet; a scored risk is closed instead, so its history stays."""
    with store.write(engine, actor) as unit:
        risk = _get(unit.session, Risk, risk_pk, "risk")
        if unit.session.execute(select(Score.id).where(Score.risk_pk == risk_pk).limit(1)).first():
            raise RefusedError(f"{risk.risk_id} has scores; set its status to Closed instead of deleting it")
        store.delete(unit=unit, obj=risk, entity="risk")


def list_risks(engine: Engine, proposal_id: int) -> list[Risk]:
    with Session(engine) as session:
        return list(session.execute(
            select(Risk).where(Risk.proposal_id == proposal_id).order_by(Risk.category, Risk.risk_id)
        ).scalars())


# --- actions --------------------------------------------------------------------------------------

def add_action(engine: Engine, *, actor: str, risk_pk: int, description: str, owner: str = "",
               due_date: dt.date | str | None = None, status: str = ActionStatus.planned.value,
               cost: float | None = None, paying_partner_id: int | None = None,
               request_token: str | None = None) -> int:
    with store.write(engine, actor) as unit:
        s = unit.session
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        risk = _get(s, Risk, risk_pk, "risk")
        if isinstance(due_date, str) and due_date.strip():
            try:
                due_date = dt.date.fromisoformat(due_date.strip())
            except ValueError:
                raise RefusedError(f"due_date: expected a date as YYYY-MM-DD, got {due_date!r}") from None
        elif due_date == "":
            due_date = None
        if cost not in (None, ""):
            try:
                cost = float(cost)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise RefusedError(f"cost: expected an amount of at least 0, got {cost!r}") from None
            if cost < 0:
                raise RefusedError(f"cost: expected an amount of at least 0, got {cost!r}")
        else:
            cost = None
        if paying_partner_id is not None and not s.execute(
            select(ProposalPartner.id).where(ProposalPartner.proposal_id == risk.proposal_id,
                                             ProposalPartner.partner_id == paying_partner_id)
        ).first():
            raise RefusedError(f"paying_partner: partner {paying_partner_id} does not take part in this proposal")
        action = Action(risk_pk=risk_pk, description=_text(description, "description", required=True),
                        owner=_text(owner, "owner", limit=200), due_date=due_date,
                        status=_choice(status, [a.value for a in ActionStatus], "status"), cost=cost,
                        paying_partner_id=paying_partner_id)
        action_id = store.add(unit=unit, obj=action, entity="action").id
        store.remember_creation(unit=unit, token=request_token, entity="action", entity_id=action_id)
        return action_id  # type: ignore[return-value]


# --- the guided walk ------------------------------------------------------------------------------

def walkthrough_state(proposal) -> tuple[list[str], str, list[str]]:
    """(categories of the walk, the current step, categories done). The current step is a category key or
    "summary"; a walk never started begins with the first category."""
    from risk.walkthrough import categories_for

    steps = categories_for(bool(proposal.cybersecurity))
    state = proposal.walkthrough or {}
    done = [c for c in state.get("done", []) if c in steps]
    current = state.get("current")
    if current not in [*steps, "summary"]:
        current = next((c for c in steps if c not in done), "summary")
    return steps, current, done


def walkthrough_gaps(profile, steps: list[str], done: list[str]) -> list[str]:
    """What the walkthrough still lacks, in sentences: categories not walked through, categories with no risk,
    and per category the risks not scored before or after controls. Empty when the assessment is complete."""
    out = []
    left = [scoring.CATEGORIES[c] for c in steps if c not in done]
    if left:
        out.append("Not yet walked through: " + ", ".join(left) + ".")
    for category in steps:
        views = [v for v in profile.risks if v.risk.category == category]
        name = scoring.CATEGORIES[category]
        if not views:
            out.append(f"{name}: no risk yet.")
            continue
        parts = []
        for phase, when in (("inherent", "before controls"), ("residual", "after controls")):
            ids = [v.risk.risk_id for v in views if getattr(v, phase).level is None]
            if ids:
                parts.append(f"{len(ids)} of {len(views)} risk{'s' if len(views) != 1 else ''} not scored {when} "
                             f"({', '.join(ids)})")
        if parts:
            out.append(f"{name}: " + "; ".join(parts) + ".")
    return out


def move_walkthrough(engine: Engine, *, actor: str, proposal_id: int, to: str, mark_done: str | None = None) -> None:
    """Go to step `to` (a category key or "summary"), marking `mark_done` as done on the way; saved at once so
    that the team resumes where it left off."""
    with store.write(engine, actor) as unit:
        proposal = _get(unit.session, Proposal, proposal_id, "proposal")
        steps, _current, done = walkthrough_state(proposal)
        if to not in [*steps, "summary"]:
            raise RefusedError(f"step: expected one of {', '.join([*steps, 'summary'])}, got {to!r}")
        if mark_done:
            if mark_done not in steps:
                raise RefusedError(f"step: {mark_done!r} is not a category of this proposal's walk")
            done = [c for c in steps if c in {*done, mark_done}]
        store.update(unit=unit, obj=proposal, entity="proposal", changes={"walkthrough": {"current": to, "done": done}})


def actions(engine: Engine, proposal_id: int) -> list[tuple[str, Action]]:
    """Every action of a proposal's risks, with its risk id, by due date."""
    with Session(engine) as session:
        rows = session.execute(
            select(Risk.risk_id, Action).join(Action, Action.risk_pk == Risk.id)
            .where(Risk.proposal_id == proposal_id).order_by(Action.due_date, Action.id)
        ).all()
        return [(rid, a) for rid, a in rows]


OPEN_ACTION_STATUSES = (ActionStatus.planned.value, ActionStatus.in_progress.value)


def risk_actions(engine: Engine, risk_pk: int) -> list[Action]:
    """One risk's actions, in the order they were added."""
    with Session(engine) as session:
        return list(session.execute(select(Action).where(Action.risk_pk == risk_pk).order_by(Action.id)).scalars())


def proposal_titles(engine: Engine) -> dict[int, str]:
    """Every proposal's title by id, ordered by id."""
    with Session(engine) as session:
        return dict(session.execute(select(Proposal.id, Proposal.title).order_by(Proposal.id)).all())
