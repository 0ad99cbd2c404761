"""Small builders for tests: a proposal with partners, a team and risks, in one call."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import accounts
from risk.models import Account, Partner
from risk.services import proposals as ps
from risk.services import rounds as rs

SYSTEM = "system:test"  # the operator (risk/access.py): for setting up, where who acts is not the point
ACTOR = "facilitator"  # the username of the account that facilitates every proposal make_proposal builds; its
# team member is called the same


@dataclass
class Built:
    proposal_id: int
    partners: list[int]
    members: list[int]  # the assessors (the facilitator, named ACTOR, is on the team too)
    risks: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # team member id -> name
    usernames: dict[int, str] = field(default_factory=dict)  # team member id -> the username of its account
    facilitator: int | None = None  # the facilitator's team member id


def account(engine: Engine, username: str, full_name: str | None = None, *, partner: str | None = None,
            admin: bool = False) -> str:
    """An account (made by the operator, without a password) unless it exists; returns its username."""
    with Session(engine) as s:
        if s.execute(select(Account.id).where(Account.username == username)).first() is None:
            accounts.create_account(engine, actor=SYSTEM, username=username, full_name=full_name or username,
                                    partner=partner, admin=admin)
    return username


def member_account(engine: Engine, member_id: int) -> str:
    """The username of the account linked to a team member; one is made (and links itself, its full name and partner
    government being the member's) when the member has none."""
    from risk.models import TeamMember

    with Session(engine) as s:
        member = s.get(TeamMember, member_id)
        linked = s.get(Account, member.account_id) if member.account_id else None
        partner = s.get(Partner, member.partner_id) if member.partner_id else None
    if linked is not None:
        return linked.username
    username = account(engine, f"member{member_id}", member.name, partner=partner.name if partner else None)
    with Session(engine) as s:
        assert s.get(TeamMember, member_id).account_id is not None, f"{member.name} was not linked to {username}"
    return username


def link_accounts(engine: Engine, built: Built) -> dict[int, str]:
    """An account for every member of a built proposal's team that has none, linked to it (an account's full name
    and partner government match its member's: created, it links itself); returns member id -> username."""
    with Session(engine) as s:
        partner_names = dict(s.execute(select(Partner.id, Partner.name)).all())
    for m in ps.team(engine, built.proposal_id):
        if m.account_id is None:
            account(engine, f"member{m.id}", m.name, partner=partner_names.get(m.partner_id))
    with Session(engine) as s:
        found = dict(s.execute(select(Account.id, Account.username)).all())
    built.usernames = {m.id: found[m.account_id] for m in ps.team(engine, built.proposal_id) if m.account_id}
    return built.usernames


def make_proposal(engine: Engine, *, partners: int = 3, assessors_per_partner: int = 1, risks: int = 2,
                  title: str = "Regional 911/CAD", **fields) -> Built:
    """A proposal set up by the operator: `partners` partner governments, a facilitator (the account ACTOR) and
    `assessors_per_partner` assessors from each, every member with an account linked to it, and `risks` risks."""
    pid = ps.create_proposal(engine, actor=SYSTEM, title=title, service_type="911/CAD", **fields)
    partner_ids = []
    for k in range(partners):
        partner_id = ps.add_partner(engine, actor=SYSTEM, name=f"{title} partner {k + 1}",
                                    kind="county" if k == 0 else "city", population=10_000 * (k + 1),
                                    it_budget=1_000_000.0 * (k + 1))
        ps.link_partner(engine, actor=SYSTEM, proposal_id=pid, partner_id=partner_id,
                        role="lead" if k == 0 else "participant")
        partner_ids.append(partner_id)
    # the facilitator who runs the rounds: ACTOR is their name and their account's username
    facilitator = ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name=ACTOR,
                                     partner_id=partner_ids[0] if partner_ids else None, team_role="facilitator")
    ps.link_team_member(engine, actor=SYSTEM, member_id=facilitator, username=account(engine, ACTOR))
    members = []
    for k, partner_id in enumerate(partner_ids):
        for j in range(assessors_per_partner):
            members.append(ps.add_team_member(engine, actor=SYSTEM, proposal_id=pid, name=f"Assessor {k + 1}.{j + 1}",
                                              partner_id=partner_id, team_role="assessor"))
    built = Built(pid, partner_ids, members, names={m.id: m.name for m in ps.team(engine, pid)},
                  facilitator=facilitator)
    link_accounts(engine, built)
    for k in range(risks):
        built.risks.append(ps.add_risk(engine, actor=ACTOR, proposal_id=pid, category="legal",
                                       title=f"Risk {k + 1}", cause="a cause", event="an event",
                                       consequence="a consequence"))
    return built


def score_round(engine: Engine, built: Built, phase: str, scores: dict[int, list[tuple[int, int]]],
                *, reveal: bool = True) -> int:
    """Open a round (as the facilitator), submit `scores[risk_pk][k]` for member k (each signed in as themselves),
    and reveal it."""
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=built.proposal_id, phase=phase)
    for risk_pk, values in scores.items():
        for member, (lik, imp) in zip(built.members, values, strict=False):
            rs.submit_score(engine, actor=built.usernames[member], round_id=rid, assessor_id=member,
                            risk_pk=risk_pk, likelihood=lik, impact=imp)
    if reveal:
        rs.reveal_round(engine, actor=ACTOR, round_id=rid)
    return rid


def database_state(engine) -> dict:
    """What a refused or failed write must leave as it was: every table's row count and the audit chain's head."""
    from sqlalchemy import func, select
    from sqlmodel import Session, SQLModel

    from risk.models import AuditEvent

    with Session(engine) as s:
        counts = {t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
                  for t in SQLModel.metadata.sorted_tables}
        head = s.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return {"rows": counts, "audit_head": tuple(head) if head else None}
