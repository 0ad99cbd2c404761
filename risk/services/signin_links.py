"""One-time sign-in links for a workshop (docs/USER_GUIDE.md, Workshop): the facilitator issues a link for a team
member, shown as a QR code; the member opens it on a phone and is signed in, once, on the day it was issued.

A member without an account gets one when their first link is issued: no password (they sign in only by links or
single sign-on until an administrator sets one), their full name and partner government taken from the team. Only
the SHA-256 of a link's token is stored, like a session's."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, accounts, store
from risk.errors import NotFoundError, RefusedError
from risk.models import Account, SigninLink, TeamMember

UNUSABLE = ("this sign-in link has been used, has expired or was never issued; ask the facilitator for a new one")
_NOT_LETTERS = re.compile(r"[^a-z0-9]+")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def end_of_day(now: dt.datetime) -> dt.datetime:
    """The end of the server's local day of `now`, in UTC: a link issued during a workshop lasts that day."""
    local = now.astimezone()
    midnight = (local + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(dt.UTC)


def _free_username(session: Session, name: str) -> str:
    """A username from a person's name ("Ana López" -> "ana.l-pez" style, ASCII letters and digits joined by
    dots), made unique with a number."""
    base = ".".join(part for part in _NOT_LETTERS.split(name.lower()) if part)[:34] or "member"
    base = base if len(base) >= 3 else f"{base}.member"
    taken = set(session.execute(select(Account.username).where(Account.username.like(f"{base}%"))).scalars())
    if base not in taken:
        return base
    n = 2
    while f"{base}.{n}" in taken:
        n += 1
    return f"{base}.{n}"


@access.audited("signin_link")
def issue_link(engine: Engine, *, actor: str, member_id: int, now: dt.datetime | None = None) -> str:
    """A new one-time sign-in link's token for team member `member_id` (the account it signs in to is made and
    linked if the member has none). Refused unless `actor` may issue sign-in links on the member's proposal."""
    now = now or _now()
    token = secrets.token_urlsafe(24)
    with store.write(engine, actor, "the sign-in link") as unit:
        member = unit.session.get(TeamMember, member_id)
        if member is None:
            raise NotFoundError(f"team member: expected a member of a proposal's team, got {member_id}")
        access.require(unit.session, actor, "issue_signin_links", member.proposal_id)
        account = unit.session.get(Account, member.account_id) if member.account_id else None
        if account is None:
            account = Account(username=_free_username(unit.session, member.name), full_name=member.name,
                              partner_id=member.partner_id)
            store.add(unit=unit, obj=account, entity="account")
            store.update(unit=unit, obj=member, entity="team_member", changes={"account_id": account.id})
            access.link_account(unit, account)  # the same person on other teams, where nobody else matches
        if account.disabled:
            raise RefusedError(f"team member: {member.name}'s account is disabled; an administrator can enable it")
        store.add(unit=unit, entity="signin_link", obj=SigninLink(
            account_id=account.id, token_hash=accounts.token_hash(token), issued_by=actor[:200], created_at=now,
            expires_at=end_of_day(now)))
    return token


def _usable(session: Session, token: str, now: dt.datetime, *, lock: bool = False):
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    query = (select(SigninLink, Account).join(Account, SigninLink.account_id == Account.id)
             .where(SigninLink.token_hash == accounts.token_hash(token)))
    found = session.execute(query.with_for_update() if lock else query).first()
    if found is None:
        return None
    link, account = found
    expires = link.expires_at if link.expires_at.tzinfo else link.expires_at.replace(tzinfo=dt.UTC)
    if link.used_at is not None or now >= expires or account.disabled:
        return None
    return link, account


def link_holder(engine: Engine, token: str, now: dt.datetime | None = None) -> str | None:
    """The full name of whom a still usable link signs in, or None (used, expired, unknown)."""
    with Session(engine) as session:
        found = _usable(session, token, now or _now())
    return found[1].full_name if found else None


def use_link(engine: Engine, token: str, address: str | None = None, now: dt.datetime | None = None) -> str:
    """Use a link: it is marked used (two devices opening it at once: one signs in) and a session starts; returns
    the session's token. An unusable link is refused with UNUSABLE."""
    now = now or _now()
    with Session(engine) as session:
        first = _usable(session, token, now)
    if first is None:
        raise RefusedError(UNUSABLE)
    with store.write(engine, first[1].username, "the sign-in link") as unit:  # audited under who signs in
        found = _usable(unit.session, token, now, lock=True)
        if found is None:
            raise RefusedError(UNUSABLE)
        link, account = found
        store.update(unit=unit, obj=link, entity="signin_link", changes={"used_at": now})
        account_id = account.id
    return accounts.start_session(engine, account_id, address)


def open_links(engine: Engine, proposal_id: int, now: dt.datetime | None = None) -> dict[int, int]:
    """How many usable links each member of a proposal's team has (member id -> count)."""
    now = now or _now()
    with Session(engine) as session:
        rows = session.execute(select(TeamMember.id, SigninLink.expires_at)
                               .join(SigninLink, SigninLink.account_id == TeamMember.account_id)
                               .where(TeamMember.proposal_id == proposal_id, SigninLink.used_at.is_(None))).all()
    out: dict[int, int] = {}
    for member_id, expires in rows:
        if (expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)) > now:
            out[member_id] = out.get(member_id, 0) + 1
    return out


def member_accounts(engine: Engine, proposal_id: int) -> dict[int, str]:
    """The username each member of a proposal's team signs in as (members without an account are left out)."""
    with Session(engine) as session:
        rows = session.execute(select(TeamMember.id, Account.username)
                               .join(Account, Account.id == TeamMember.account_id)
                               .where(TeamMember.proposal_id == proposal_id)).all()
    return dict(rows)
