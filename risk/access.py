"""Who is acting and what they may do: the one home of the permission table (docs/PERMISSIONS.md).

Every service write names its actor, a string, and calls `require` with its write transaction's session, so that
the check and the write see the same data. An actor is

- an account's username: that account, when it exists and is not disabled;
- `cli:<login>` or `system:<what>`: the operator, whoever runs the command line or a load, who holds the database
  anyway: administrator rights (but no team member of their own, so they score for nobody);
- anything else (an unknown name, nothing, a disabled account): nobody signed in, refused every write.

An account's roles on a proposal are the team roles of the members linked to it (`team_member.account_id`),
"partner" when its partner government takes part in the proposal, and "admin" for administrators and the operator.
A refusal raises ForbiddenError in words naming who and what; `audited` records it in the audit log."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from risk import store
from risk.errors import ForbiddenError
from risk.models import Account, ProposalPartner, TeamMember, TeamRole

OPERATOR_PREFIXES = ("cli:", "system:")

ADMIN = "admin"  # an administrator account, or the operator
PARTNER = "partner"  # an account of a partner government of the proposal
ACCOUNT = "account"  # any signed-in account (for what concerns no proposal in particular)
FACILITATOR, ASSESSOR, OBSERVER, REVIEWER = (TeamRole.facilitator.value, TeamRole.assessor.value,
                                             TeamRole.observer.value, TeamRole.reviewer.value)
READERS = frozenset({ADMIN, FACILITATOR, ASSESSOR, OBSERVER, REVIEWER, PARTNER})

# action -> the roles that may do it. An action on one proposal takes the roles on that proposal; one on no
# proposal (creating one, an import that creates proposals, saving a mapping, accounts) takes ADMIN and ACCOUNT.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": READERS,
    "export": READERS,
    "create_proposal": frozenset({ADMIN, ACCOUNT}),
    "import_new": frozenset({ADMIN, ACCOUNT}),  # a JSON or register import that creates proposals; the demo
    "save_mapping": frozenset({ADMIN, ACCOUNT}),
    "edit_proposal": frozenset({ADMIN, FACILITATOR}),  # details, appetites, matrix, aggregation, the walkthrough
    "edit_partners": frozenset({ADMIN, FACILITATOR}),  # partners, their links and strengths
    "edit_team": frozenset({ADMIN, FACILITATOR}),  # members and their links to accounts
    "edit_costs": frozenset({ADMIN, FACILITATOR}),  # cost lines, partners' figures, the allocation, calibration
    # a partner government's decision: its own reviewers (risk/services/decisions.py checks the government)
    "record_decision": frozenset({ADMIN, REVIEWER}),
    "update_conditions": frozenset({ADMIN, FACILITATOR, REVIEWER}),
    "edit_risks": frozenset({ADMIN, FACILITATOR, ASSESSOR}),
    "edit_actions": frozenset({ADMIN, FACILITATOR, ASSESSOR}),
    "run_rounds": frozenset({ADMIN, FACILITATOR}),  # open, reveal, close, show names
    "score": frozenset({ADMIN, FACILITATOR, ASSESSOR}),  # and only as a team member linked to the account
    "record_consensus": frozenset({ADMIN, FACILITATOR}),
    "import": frozenset({ADMIN, FACILITATOR}),  # a register into an existing proposal (it records consensus)
    "issue_signin_links": frozenset({ADMIN, FACILITATOR}),  # for members of the proposal's team
    "manage_accounts": frozenset({ADMIN}),
    "manage_matrices": frozenset({ADMIN}),
}
# what each action is, in words that follow "may not"
DOING = {
    "view": "see this proposal",
    "export": "export this proposal",
    "create_proposal": "create proposals",
    "import_new": "import or load new proposals",
    "save_mapping": "save column mappings",
    "edit_proposal": "change this proposal's details, appetites, matrix or walkthrough",
    "edit_partners": "change this proposal's partner governments or their strengths",
    "edit_team": "change this proposal's team",
    "edit_costs": "change this proposal's costs, its partners' figures or its allocation",
    "record_decision": "record a partner government's decision on this proposal",
    "update_conditions": "change where the conditions of a decision stand",
    "edit_risks": "add or change this proposal's risks",
    "edit_actions": "add or change actions on this proposal's risks",
    "run_rounds": "run scoring rounds",
    "score": "score this proposal's risks",
    "record_consensus": "record a consensus",
    "import": "import into this proposal",
    "issue_signin_links": "issue sign-in links for this proposal's team",
    "manage_accounts": "manage accounts",
    "manage_matrices": "import risk matrices",
}
_ROLE_WORDS = {FACILITATOR: "a facilitator", ASSESSOR: "an assessor", OBSERVER: "an observer",
               REVIEWER: "a reviewer", PARTNER: "an account of one of its partner governments",
               ACCOUNT: "any signed-in account"}
_ROLE_ORDER = (FACILITATOR, ASSESSOR, REVIEWER, OBSERVER, PARTNER, ACCOUNT)
assert set(PERMISSIONS) == set(DOING)


@dataclass(frozen=True)
class Principal:
    """Who an actor string is: an account (its id, whether it administers, its partner government), the operator,
    or nobody signed in."""

    actor: str
    account_id: int | None = None
    is_admin: bool = False
    partner_id: int | None = None
    operator: bool = False
    signed_in: bool = False


def is_operator(actor: str | None) -> bool:
    """`cli:<login>` or `system:<what>`, with something after the colon."""
    text = (actor or "").strip()
    return any(text.startswith(p) and len(text) > len(p) for p in OPERATOR_PREFIXES)


def principal(session: Session, actor: str | None) -> Principal:
    """Who `actor` is (see the module's docstring); one read of the account table."""
    text = (actor or "").strip() if isinstance(actor, str) else ""
    if is_operator(text):
        return Principal(text, is_admin=True, operator=True, signed_in=True)
    if not text:
        return Principal(text)
    row = session.execute(select(Account.id, Account.is_admin, Account.partner_id, Account.disabled)
                          .where(Account.username == text)).first()
    if row is None or row.disabled:
        return Principal(text)
    return Principal(text, account_id=row.id, is_admin=bool(row.is_admin), partner_id=row.partner_id,
                     signed_in=True)


def _as_principal(session: Session, who: str | Principal | None) -> Principal:
    return who if isinstance(who, Principal) else principal(session, who)


def roles(session: Session, who: str | Principal | None, proposal_id: int | None) -> frozenset[str]:
    """The roles of an actor on a proposal: the team roles of the members linked to its account, "partner" when its
    partner government takes part, "admin" for administrators and the operator. Empty for nobody signed in."""
    p = _as_principal(session, who)
    if not p.signed_in:
        return frozenset()
    out: set[str] = {ADMIN} if p.is_admin else set()
    if proposal_id is None:
        return frozenset(out)
    if p.account_id is not None:
        out.update(session.execute(select(TeamMember.team_role).where(
            TeamMember.proposal_id == proposal_id, TeamMember.account_id == p.account_id)).scalars())
    if p.partner_id is not None and session.execute(select(ProposalPartner.id).where(
            ProposalPartner.proposal_id == proposal_id, ProposalPartner.partner_id == p.partner_id)).first():
        out.add(PARTNER)
    return frozenset(out)


def allowed_roles(action: str) -> frozenset[str]:
    try:
        return PERMISSIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(PERMISSIONS)}") from None


def _who(p: Principal, held: frozenset[str], proposal_id: int | None) -> str:
    """How a refusal names the actor: "ann (assessor of this proposal)", "visitor (not signed in)"..."""
    if not p.signed_in:
        return f"{p.actor} (not signed in: no account of that name, or it is disabled)" if p.actor \
            else "nobody signed in"
    if proposal_id is None:
        return p.actor
    team = [r for r in _ROLE_ORDER if r in held and r not in (PARTNER, ACCOUNT)]
    if team:
        return f"{p.actor} ({' and '.join(team)} of this proposal)"
    if PARTNER in held:
        return f"{p.actor} (of a partner government of this proposal, not on its team)"
    return f"{p.actor} (not on this proposal's team, nor of one of its partner governments)"


def _who_can(action: str) -> str:
    named = [_ROLE_WORDS[r] for r in _ROLE_ORDER if r in PERMISSIONS[action]]
    return " or ".join([*named, "an administrator"])


def refusal(p: Principal, action: str, proposal_id: int | None, held: frozenset[str], *,
            reason: str | None = None) -> ForbiddenError:
    """The ForbiddenError for `p` doing `action`, carrying what the audit log records of it."""
    message = reason or f"{_who(p, held, proposal_id)} may not {DOING[action]}; {_who_can(action)} can"
    exc = ForbiddenError(message)
    exc.action = action  # type: ignore[attr-defined]
    exc.proposal_id = proposal_id  # type: ignore[attr-defined]
    return exc


def require(session: Session, who: str | Principal | None, action: str, proposal_id: int | None = None, *,
            member_id: int | None = None) -> Principal:
    """The principal acting, or ForbiddenError when it may not do `action` (on `proposal_id`, for the actions on
    one proposal). For "score", `member_id` is the team member the score is for: it must be linked to the acting
    account, whoever that is (an administrator or the operator scores for nobody else). Call it with the write's
    own session, inside its transaction; reading pages may call it to hide what a person may not do."""
    allowed = allowed_roles(action)
    p = _as_principal(session, who)
    held = roles(session, p, proposal_id)
    if p.signed_in:
        held = held | {ACCOUNT} if proposal_id is None else held
    if not held & allowed:
        raise refusal(p, action, proposal_id, held)
    if action == "score" and member_id is not None:
        member = session.execute(select(TeamMember.name, TeamMember.account_id)
                                 .where(TeamMember.id == member_id)).first()
        if member is not None and (p.account_id is None or member.account_id != p.account_id):
            raise refusal(p, action, proposal_id, held, reason=(
                f"{_who(p, held, proposal_id)} may not score in place of {member.name}: each assessor sends their "
                "own scores, signed in to the account linked to them on the team"))
    return p


def may(session: Session, who: str | Principal | None, action: str, proposal_id: int | None = None) -> bool:
    """Whether `require` would let `who` do `action`; for hiding what a person may not do."""
    try:
        require(session, who, action, proposal_id)
    except ForbiddenError:
        return False
    return True


def visible_proposal_ids(session: Session, who: str | Principal | None) -> set[int] | None:
    """The proposals an actor may see: None (all) for administrators and the operator; for an account, those whose
    team it is linked to and those its partner government takes part in; for nobody signed in, none."""
    p = _as_principal(session, who)
    if not p.signed_in:
        return set()
    if p.is_admin:
        return None
    ids = set(session.execute(select(TeamMember.proposal_id).where(TeamMember.account_id == p.account_id))
              .scalars())
    if p.partner_id is not None:
        ids.update(session.execute(select(ProposalPartner.proposal_id)
                                   .where(ProposalPartner.partner_id == p.partner_id)).scalars())
    return ids


def check_visible(engine: Engine, actor: str | None, proposal_ids: Iterable[int] | None,
                  action: str = "export") -> list[int] | None:
    """For a read that lists or exports proposals on behalf of `actor`: the ids asked for (None: every visible one,
    or None again when the actor sees all). An id the actor may not see is refused (ForbiddenError, recorded in
    the audit log) alike whether it exists or not, so that the refusal tells nothing of other proposals."""
    with Session(engine) as session:
        p = principal(session, actor)
        visible = visible_proposal_ids(session, p)
    if visible is None:
        return None if proposal_ids is None else list(proposal_ids)
    if proposal_ids is None:
        return sorted(visible)
    wanted = list(proposal_ids)
    hidden = [pid for pid in wanted if pid not in visible]
    if hidden:
        exc = refusal(p, action, None, frozenset(), reason=(
            f"{_who(p, frozenset(), hidden[0])} may not {DOING[action].replace('this proposal', 'proposal')} "
            f"{', '.join(map(str, hidden))}: only its team, the accounts of its partner governments and "
            "administrators can"))
        _record(engine, actor, action, "proposal", hidden[0], exc)
        raise exc
    return wanted


# --- refusals in the audit log -------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])
_TARGETS = ("round_id", "risk_pk", "member_id", "proposal_id")  # what a refused call was about, most specific first


def _record(engine: Engine, actor: str | None, attempted: str, entity: str, entity_id: object,
            exc: ForbiddenError) -> None:
    if getattr(exc, "recorded", False):
        return
    store.record_refusal(engine, actor or "", attempted, entity, entity_id, str(exc),
                         permission=getattr(exc, "action", None), proposal_id=getattr(exc, "proposal_id", None))
    exc.recorded = True  # type: ignore[attr-defined]  # an outer audited service does not record it again


def audited(entity: str) -> Callable[[F], F]:
    """Record in the audit log, under the actor, every call of this service refused for lack of permission (in a
    transaction of its own: the call's own was rolled back), then raise the refusal again. The event names the
    service, the permission and what the call was about (`entity` and the id among round_id, risk_pk, member_id,
    proposal_id that the call gave). A service that calls another audited one records one refusal, not two."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(engine: Engine, *args: Any, actor: str, **kwargs: Any) -> Any:
            try:
                return fn(engine, *args, actor=actor, **kwargs)
            except ForbiddenError as exc:
                target = next((kwargs[k] for k in _TARGETS if kwargs.get(k) is not None), None)
                if target is None:
                    target = getattr(exc, "proposal_id", None)
                _record(engine, actor, fn.__name__, entity, "" if target is None else target, exc)
                raise

        inner.audited = True  # type: ignore[attr-defined]  # tests/test_permissions.py checks every write is
        return inner  # type: ignore[return-value]

    return wrap


# --- team members linked to accounts ----------------------------------------------------------------------

def _match_key(name: str, partner_id: int | None) -> tuple[str, int | None]:
    return (name.strip(), partner_id)


def link_members(unit: store.Unit, member_ids: Iterable[int]) -> int:
    """Link each of these team members that has no account yet to the one account (not disabled) whose full name
    and partner government are the member's (no partner government on either side matches too). A member that
    several accounts match stays unlinked: someone links it explicitly. Returns how many were linked."""
    s = unit.session
    ids = list(member_ids)
    if not ids or not s.execute(select(func.count()).select_from(Account).where(~Account.disabled)).scalar_one():
        return 0
    accounts: dict[tuple[str, int | None], list[int]] = {}
    for account_id, full_name, partner_id in s.execute(
            select(Account.id, Account.full_name, Account.partner_id).where(~Account.disabled)):
        accounts.setdefault(_match_key(full_name, partner_id), []).append(account_id)
    rows = []
    for k in range(0, len(ids), 5000):
        for member_id, name, partner_id in s.execute(
                select(TeamMember.id, TeamMember.name, TeamMember.partner_id)
                .where(TeamMember.id.in_(ids[k:k + 5000]), TeamMember.account_id.is_(None))):
            found = accounts.get(_match_key(name, partner_id), [])
            if len(found) == 1:
                rows.append({"id": member_id, "account_id": found[0]})
    store.update_many(unit=unit, table=TeamMember, rows=rows, entity="team_member")
    return len(rows)


def link_account(unit: store.Unit, account: Account) -> int:
    """Link a new (or newly enabled) account to the team members without one whose name and partner government are
    its full name and partner government, where no other account matches them. Returns how many were linked."""
    s = unit.session
    if account.disabled:
        return 0
    same_partner = Account.partner_id.is_(None) if account.partner_id is None \
        else Account.partner_id == account.partner_id
    same = s.execute(select(func.count()).select_from(Account).where(
        Account.full_name == account.full_name, same_partner, ~Account.disabled)).scalar_one()
    if same != 1:
        return 0
    partner = TeamMember.partner_id.is_(None) if account.partner_id is None \
        else TeamMember.partner_id == account.partner_id
    members = s.execute(select(TeamMember).where(TeamMember.name == account.full_name, partner,
                                                 TeamMember.account_id.is_(None))).scalars().all()
    for member in members:  # a person is on a few teams: one audited update each
        store.update(unit=unit, obj=member, entity="team_member", changes={"account_id": account.id})
    return len(members)
