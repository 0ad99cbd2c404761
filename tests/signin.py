"""Signing in for AppTests: a session token put where the sign-in cookie would be read (the session_state key
"_session_token" of risk/ui/common.py), made through the same services a person goes through: an administrator's
account and session, or a team member's one-time sign-in link used once."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlmodel import Session

from risk import accounts
from risk.models import Account

SYSTEM = "system:test"


def admin(engine, full_name: str = "Ada Admin") -> Account:
    """The administrator called `full_name` (the account is made the first time)."""
    username = ".".join(re.findall(r"[a-z0-9]+", full_name.lower()))[:40] or "admin"
    with Session(engine) as s:
        found = s.execute(select(Account).where(Account.username == username)).scalar_one_or_none()
    return found or accounts.create_account(engine, actor=SYSTEM, username=username, full_name=full_name,
                                            admin=True)


def admin_session(engine, full_name: str = "Ada Admin") -> str:
    """A new session of the administrator called `full_name`."""
    return accounts.start_session(engine, admin(engine, full_name).id)


def member_session(engine, member_id: int) -> str:
    """A new session of the account of team member `member_id`, signed in through a one-time link (which makes
    and links the account the first time)."""
    from risk.services import signin_links

    return signin_links.use_link(engine, signin_links.issue_link(engine, actor=SYSTEM, member_id=member_id))


def username_of(engine, member_id: int) -> str:
    """The username of the account linked to team member `member_id` (made through a link if it has none)."""
    from risk.models import TeamMember

    with Session(engine) as s:
        member = s.get(TeamMember, member_id)
        linked = s.get(Account, member.account_id) if member.account_id else None
    if linked is None:
        member_session(engine, member_id)
        return username_of(engine, member_id)
    return linked.username
