"""Setting up a proposal: the proposal itself, its partner governments, the assessment team, risks and actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, rules, scoring, store
from risk.errors import NotFoundError, RefusedError
from risk.models import (
    Account,
    Action,
    ActionStatus,
    Partner,
    PartnerRole,
    Proposal,
    ProposalPartner,
    Risk,
    TeamMember,
    TeamRole,
)
from risk.services.matrices import get_matrix
from risk.wording import article


def _get(session: Session, model: type, pk: int, what: str):
    obj = session.get(model, pk)
    if obj is None:
        raise NotFoundError(f"{what} {pk} does not exist")
    return obj


# --- proposals ------------------------------------------------------------------------------------

def _proposal_fields(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """The proposal's fields in `data`, checked by the rules (risk/rules.py); a matrix must exist."""
    out = rules.check_row(rules.PROPOSAL, data)
    if "matrix" in out:
        try:
            get_matrix(session, out["matrix"])  # every matrix here is 5x5
        except NotFoundError as exc:
            raise RefusedError(f"matrix: {exc}") from None
    return out


@access.audited("proposal")
def create_proposal(engine: Engine, *, actor: str, title: str, request_token: str | None = None,
                    **fields: Any) -> int:
    """A new proposal; appetite defaults to Cautious in every category. Any signed-in account may create one and
    becomes its facilitator (a team member linked to the account); the operator does not join the team. A form
    submitted twice with the same `request_token` gets the proposal its first submit created."""
    with store.write(engine, actor) as unit:
        who = access.require(unit.session, actor, "create_proposal")
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        values = _proposal_fields(unit.session, {"title": title, **fields})
        values.setdefault("appetite", scoring.default_appetite())
        proposal = store.add(unit=unit, obj=Proposal(updated_by=unit.actor, **values), entity="proposal")
        if who.account_id is not None:
            join_as_facilitator(unit, proposal.id, who.account_id)  # type: ignore[arg-type]
        store.remember_creation(unit=unit, token=request_token, entity="proposal", entity_id=proposal.id)
        return proposal.id  # type: ignore[return-value]


def join_as_facilitator(unit: store.Unit, proposal_id: int, account_id: int) -> int:
    """Make an account a facilitator of a proposal it created: a team member with its full name and no partner
    government (the proposal may have none yet), linked to it. A member of that name already on the team is
    linked instead when it has no account, else the member takes the name with the username after it."""
    s = unit.session
    account = s.get(Account, account_id)
    members = {m.name: m for m in s.execute(select(TeamMember).where(TeamMember.proposal_id == proposal_id))
               .scalars()}
    if any(m.account_id == account_id for m in members.values()):
        return next(m.id for m in members.values() if m.account_id == account_id)  # type: ignore[return-value]
    same = members.get(account.full_name)
    if same is not None and same.account_id is None:
        store.update(unit=unit, obj=same, entity="team_member", changes={"account_id": account_id})
        return same.id  # type: ignore[return-value]
    name = account.full_name if same is None else f"{account.full_name} ({account.username})"
    member = TeamMember(proposal_id=proposal_id, name=name, partner_id=None, team_role=TeamRole.facilitator.value,
                        account_id=account_id)
    return store.add(unit=unit, obj=member, entity="team_member").id  # type: ignore[return-value]


def created_with(engine: Engine, token: str) -> int | None:
    """The id of what a creation form instance `token` already made, if it made something."""
    from risk.models import CreationToken

    with Session(engine) as session:
        row = session.get(CreationToken, token)
        return row.entity_id if row is not None else None


@access.audited("proposal")
def update_proposal(engine: Engine, *, actor: str, proposal_id: int, expected_version: int | None = None,
                    **fields: Any) -> int:
    """Change a proposal if nobody saved it since `expected_version` was on screen; returns the new version.
    A change of matrix re-looks-up every level, since levels are never stored."""
    with store.write(engine, actor) as unit:
        access.require(unit.session, actor, "edit_proposal", proposal_id)
        proposal = _get(unit.session, Proposal, proposal_id, "proposal")
        changes = _proposal_fields(unit.session, fields)
        return store.update_versioned(unit=unit, obj=proposal, entity="proposal", label=f"“{proposal.title}”",
                                      expected_version=expected_version, changes=changes).version


def get_proposal(engine: Engine, proposal_id: int) -> Proposal:
    with Session(engine) as session:
        return _get(session, Proposal, proposal_id, "proposal")


def list_proposals(engine: Engine, *, actor: str | None = None) -> list[Proposal]:
    """Every proposal by id; with `actor`, only those it may see (risk/access.py)."""
    with Session(engine) as session:
        query = select(Proposal).order_by(Proposal.id)
        if actor is not None and (visible := access.visible_proposal_ids(session, actor)) is not None:
            query = query.where(Proposal.id.in_(sorted(visible)))
        return list(session.execute(query).scalars())


# --- partners -------------------------------------------------------------------------------------

_PARTNER_ITSELF = rules.without(rules.PARTNER, *rules.PARTNER_IN_PROPOSAL)  # those are the proposal's
_RISK_EDITABLE = rules.without(rules.RISK, "risk_id")  # a risk's key is given once, when it is added


def _partner_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A partner government's own fields (not its role in a proposal), checked by the rules."""
    return rules.check_row(_PARTNER_ITSELF, data)


@access.audited("partner")
def add_partner(engine: Engine, *, actor: str, name: str, request_token: str | None = None,
                proposal_id: int | None = None, **fields: Any) -> int:
    """A new partner government. `proposal_id` is the proposal it is added for (link_partner links it): a
    facilitator of that proposal may add one; without it, only an administrator."""
    with store.write(engine, actor) as unit:
        access.require(unit.session, actor, "edit_partners", proposal_id)
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        values = _partner_fields({"name": name, **fields})
        if unit.session.execute(select(Partner.id).where(Partner.name == values["name"])).first():
            raise RefusedError(f"name: a partner government called {values['name']!r} already exists; choose it "
                               "under “An existing government”")
        partner_id = store.add(unit=unit, obj=Partner(**values), entity="partner").id
        store.remember_creation(unit=unit, token=request_token, entity="partner", entity_id=partner_id)
        return partner_id  # type: ignore[return-value]


def list_partners(engine: Engine) -> list[Partner]:
    with Session(engine) as session:
        return list(session.execute(select(Partner).order_by(Partner.name)).scalars())


@access.audited("proposal")
def link_partner(engine: Engine, *, actor: str, proposal_id: int, partner_id: int,
                 role: str = PartnerRole.participant.value) -> None:
    """Add a partner to a proposal (or change its role). A proposal has at most one lead; naming a new lead
    makes the previous one a participant."""
    role = rules.check(rules.PARTNER, "role", role)
    with store.write(engine, actor) as unit:
        s = unit.session
        access.require(s, actor, "edit_partners", proposal_id)
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

# who may be on a team without a partner government: observers, and facilitators (often regional or state staff
# who run the workshop; the account that creates a proposal facilitates it before it has partners)
WITHOUT_PARTNER = (TeamRole.observer.value, TeamRole.facilitator.value)


@access.audited("proposal")
def add_team_member(engine: Engine, *, actor: str, proposal_id: int, name: str, partner_id: int | None,
                    team_role: str = TeamRole.assessor.value, expertise: str = "",
                    request_token: str | None = None) -> int:
    """A member of the assessment team; an assessor or reviewer must come from a partner of the proposal. The
    member is linked to the one account (if exactly one) whose full name and partner government are theirs."""
    checked = rules.check_row(rules.TEAM_MEMBER, {"name": name, "team_role": team_role, "expertise": expertise})
    name, role = checked["name"], checked["team_role"]
    with store.write(engine, actor) as unit:
        s = unit.session
        access.require(s, actor, "edit_team", proposal_id)
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        _get(s, Proposal, proposal_id, "proposal")
        if partner_id is not None and not s.execute(
            select(ProposalPartner.id).where(ProposalPartner.proposal_id == proposal_id,
                                             ProposalPartner.partner_id == partner_id)
        ).first():
            raise RefusedError(f"partner: partner {partner_id} does not take part in proposal {proposal_id}")
        if partner_id is None and role not in WITHOUT_PARTNER:
            raise RefusedError(f"partner: {article(role)} must come from one of the proposal's partner governments")
        if s.execute(select(TeamMember.id).where(TeamMember.proposal_id == proposal_id,
                                                 TeamMember.name == name)).first():
            raise RefusedError(f"name: {name!r} is already on this proposal's team")
        member = TeamMember(proposal_id=proposal_id, name=name, partner_id=partner_id, team_role=role,
                            expertise=checked["expertise"])
        member_id = store.add(unit=unit, obj=member, entity="team_member").id
        access.link_members(unit, [member_id])  # type: ignore[list-item]
        store.remember_creation(unit=unit, token=request_token, entity="team_member", entity_id=member_id)
        return member_id  # type: ignore[return-value]


@access.audited("team_member")
def link_team_member(engine: Engine, *, actor: str, member_id: int, username: str | None) -> None:
    """Link a team member to the account that signs in as them (`username`), or unlink them (None). An account is
    one member of a team at most: it cannot take the place of another member of the same proposal."""
    with store.write(engine, actor) as unit:
        s = unit.session
        member = _get(s, TeamMember, member_id, "team member")
        access.require(s, actor, "edit_team", member.proposal_id)
        account_id = None
        if username is not None and str(username).strip():
            account = s.execute(select(Account).where(Account.username == str(username).strip().lower())
                                ).scalar_one_or_none()
            if account is None:
                raise NotFoundError(f"username: expected an existing account, got {str(username).strip()!r}")
            other = s.execute(select(TeamMember.name).where(
                TeamMember.proposal_id == member.proposal_id, TeamMember.account_id == account.id,
                TeamMember.id != member_id)).scalar()
            if other is not None:
                raise RefusedError(f"username: {account.username} is linked to {other} on this proposal's team "
                                   "already; an account is one member of a team")
            account_id = account.id
        store.update(unit=unit, obj=member, entity="team_member", changes={"account_id": account_id})


def team(engine: Engine, proposal_id: int) -> list[TeamMember]:
    with Session(engine) as session:
        return list(session.execute(
            select(TeamMember).where(TeamMember.proposal_id == proposal_id).order_by(TeamMember.id)
        ).scalars())


# --- risks ----------------------------------------------------------------------------------------

STATEMENT_PARTS = ("cause", "event", "consequence")
# the most characters each text of a risk takes (the forms show these limits as they are typed)
RISK_TEXT_LIMITS = {name: rules.RISK[name].limit for name in ("title", "cause", "event", "consequence", "owner",
                                                              "controls")}


def next_risk_id(session: Session, proposal_id: int, category: str) -> str:
    """The next free key in a category: LEG-01, LEG-02, ... (never reused within the proposal)."""
    prefix = scoring.CATEGORY_PREFIX[category]
    existing = session.execute(
        select(Risk.risk_id).where(Risk.proposal_id == proposal_id, Risk.risk_id.like(f"{prefix}-%"))
    ).scalars().all()
    numbers = [int(r.split("-", 1)[1]) for r in existing if r.split("-", 1)[1].isdigit()]
    return f"{prefix}-{(max(numbers, default=0) + 1):02d}"


def _risk_fields(session: Session, proposal_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A risk's fields in `data`, checked by the rules; an owning partner must take part in the proposal."""
    out = rules.check_row(_RISK_EDITABLE, data)
    if out.get("category") == "cybersecurity" and not _get(session, Proposal, proposal_id, "proposal").cybersecurity:
        raise rules.refusal("", "category", rules.CYBERSECURITY_OFF)
    if "owner_partner_id" in data:
        pid = data["owner_partner_id"]
        if pid is not None and not session.execute(
            select(ProposalPartner.id).where(ProposalPartner.proposal_id == proposal_id,
                                             ProposalPartner.partner_id == pid)
        ).first():
            raise RefusedError(f"owner_partner: partner {pid} does not take part in this proposal")
        out["owner_partner_id"] = pid
    return out


@access.audited("proposal")
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
        access.require(s, actor, "edit_risks", proposal_id)
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        _get(s, Proposal, proposal_id, "proposal")
        values = _risk_fields(s, proposal_id, {"category": category, "title": title, **fields})
        rules.check_risk_money(*(values.get(k) for k in rules.RISK_MONEY))
        if risk_id:
            risk_id = rules.check(rules.RISK, "risk_id", risk_id)
            if s.execute(select(Risk.id).where(Risk.proposal_id == proposal_id, Risk.risk_id == risk_id)).first():
                raise RefusedError(f"risk_id: {risk_id} is already used in this proposal")
        else:
            risk_id = next_risk_id(s, proposal_id, values["category"])
        risk = Risk(proposal_id=proposal_id, risk_id=risk_id, updated_by=unit.actor, **values)
        risk_pk = store.add(unit=unit, obj=risk, entity="risk").id
        store.remember_creation(unit=unit, token=request_token, entity="risk", entity_id=risk_pk)
        return risk_pk  # type: ignore[return-value]


@access.audited("risk")
def update_risk(engine: Engine, *, actor: str, risk_pk: int, expected_version: int | None, **fields: Any) -> int:
    """Change a risk if nobody else saved it first; returns the new version."""
    with store.write(engine, actor) as unit:
        risk = _get(unit.session, Risk, risk_pk, "risk")
        access.require(unit.session, actor, "edit_risks", risk.proposal_id)
        values = _risk_fields(unit.session, risk.proposal_id, fields)
        rules.check_risk_money(*(values[k] if k in values else getattr(risk, k) for k in rules.RISK_MONEY))
        return store.update_risk(unit=unit, risk_pk=risk_pk, expected_version=expected_version,
                                 changes=values).version


def list_risks(engine: Engine, proposal_id: int) -> list[Risk]:
    with Session(engine) as session:
        return list(session.execute(
            select(Risk).where(Risk.proposal_id == proposal_id).order_by(Risk.category, Risk.risk_id)
        ).scalars())


# --- actions --------------------------------------------------------------------------------------

@access.audited("risk")
def add_action(engine: Engine, *, actor: str, risk_pk: int, description: str, owner: str = "",
               due_date: dt.date | str | None = None, status: str = ActionStatus.planned.value,
               cost: float | None = None, paying_partner_id: int | None = None,
               request_token: str | None = None) -> int:
    with store.write(engine, actor) as unit:
        s = unit.session
        risk = _get(s, Risk, risk_pk, "risk")
        access.require(s, actor, "edit_actions", risk.proposal_id)
        if (earlier := store.created_by_token(unit=unit, token=request_token)) is not None:
            return earlier
        values = rules.check_row(rules.ACTION, {"description": description, "owner": owner, "due_date": due_date,
                                                "status": status, "cost": cost})
        if paying_partner_id is not None and not s.execute(
            select(ProposalPartner.id).where(ProposalPartner.proposal_id == risk.proposal_id,
                                             ProposalPartner.partner_id == paying_partner_id)
        ).first():
            raise RefusedError(f"paying_partner: partner {paying_partner_id} does not take part in this proposal")
        action = Action(risk_pk=risk_pk, paying_partner_id=paying_partner_id, **values)
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


@access.audited("proposal")
def move_walkthrough(engine: Engine, *, actor: str, proposal_id: int, to: str, mark_done: str | None = None) -> None:
    """Go to step `to` (a category key or "summary"), marking `mark_done` as done on the way; saved at once so
    that the team resumes where it left off."""
    with store.write(engine, actor) as unit:
        access.require(unit.session, actor, "edit_proposal", proposal_id)
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


def proposal_titles(engine: Engine, *, actor: str | None = None) -> dict[int, str]:
    """Every proposal's title by id, ordered by id; with `actor`, only those it may see (risk/access.py)."""
    with Session(engine) as session:
        query = select(Proposal.id, Proposal.title).order_by(Proposal.id)
        if actor is not None and (visible := access.visible_proposal_ids(session, actor)) is not None:
            query = query.where(Proposal.id.in_(sorted(visible)))
        return dict(session.execute(query).all())
