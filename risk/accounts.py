"""Accounts, passwords and sessions: who is acting is proven (docs/ACCOUNTS.md).

Passwords are hashed with Argon2 (pwdlib's recommended hasher) and never stored, logged or audited in clear; a
session is a random token of which only the SHA-256 is stored. Sign-in refuses an unknown username, a wrong
password and a disabled account with one message, and checks a password against a dummy hash when there is no
account, so that neither the message nor the time taken tells them apart. Failed sign-ins are slowed down per
username and per address: after too many in a short time, sign-in is refused for a while that doubles with every
further failure. Every write goes through risk/store.py and is audited there; the audit log never holds a password,
a password hash, a token or a token's hash (the models leave the hashes out of every dump of a row)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from typing import Any

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from risk import access, rules, store
from risk.errors import NotFoundError, RefusedError
from risk.models import Account, AccountSession, Partner, SigninAttempt, utcnow

log = logging.getLogger(__name__)

# --- the numbers ----------------------------------------------------------------------------------------

PASSWORD_MIN = 12  # characters
PASSWORD_MAX = 1024  # characters: Argon2 takes any length, but a megabyte "password" is a denial of service
IDLE_TIMEOUT = dt.timedelta(hours=8)  # a session not used for this long has ended
SESSION_LIFETIME = dt.timedelta(days=7)  # a session ends this long after sign-in, used or not
TOUCH_EVERY = dt.timedelta(minutes=5)  # a session's last use is written at most this often (each is audited)
FAILURE_WINDOW = dt.timedelta(minutes=15)  # failures counted within this time...
USERNAME_FAILURES = 5  # ...this many for one username (since its last success) start a lock
ADDRESS_FAILURES = 20  # ...this many from one address (offices share one) start a lock
FIRST_LOCK = dt.timedelta(minutes=1)  # the first lock; it doubles with every further failure
LONGEST_LOCK = dt.timedelta(hours=1)
LOOKBACK = dt.timedelta(hours=24)  # failures older than this no longer lengthen a lock

REFUSED = "the username or password is not right"
USERNAME = re.compile(r"[a-z0-9._-]{3,40}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
FULL_NAME = rules.Rule("text", required=True, limit=200)
ADDRESS_LIMIT = 100  # characters of an address kept

# Argon2id at OWASP's recommended minimum (19 MiB of memory, 2 passes, 1 lane), not the library's default of 64 MiB:
# each sign-in holds that memory while it hashes, and a workshop signs in together. Twenty people at once held
# 1.3 GB on the default settings; a hash made with other settings is replaced at its next successful sign-in.
ARGON2 = {"memory_cost": 19_456, "time_cost": 2, "parallelism": 1}  # memory in KiB
_hasher = PasswordHash((Argon2Hasher(**ARGON2),))
# checked when there is no account (or no password), so that an unknown username takes as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _now() -> dt.datetime:
    """The clock of sign-in and sessions (tests move it)."""
    return utcnow()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def token_hash(token: str) -> str:
    """What is stored of a session token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- checking what is given --------------------------------------------------------------------------------

def check_username(value: Any) -> str:
    """A username as stored (trimmed, lower case), or RefusedError."""
    text = value.strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not USERNAME.fullmatch(text):
        raise rules.refusal("", "username", "expected 3 to 40 lower-case letters, digits, '.', '_' or '-', got "
                            f"{rules.described(value)}")
    return text


def check_password(value: Any) -> str:
    """The password unchanged, or RefusedError; the refusal gives its length, never the password."""
    if not isinstance(value, str):
        raise rules.refusal("", "password", "expected text, got nothing" if value is None else
                            "expected text, got something else")
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise rules.refusal("", "password", f"expected {PASSWORD_MIN} to {PASSWORD_MAX:,} characters, got "
                            f"{len(value):,}")
    return value


def check_email(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or len(text) > 254 or not EMAIL.fullmatch(text):
        raise rules.refusal("", "email", f"expected an address such as name@example.org of at most 254 characters, "
                            f"got {rules.described(value)}")
    return text


def hash_password(password: str) -> str:
    """The Argon2 hash of a password that check_password accepts."""
    return _hasher.hash(check_password(password))


# --- accounts ----------------------------------------------------------------------------------------

def _account(session: Session, username: str) -> Account:
    found = session.execute(select(Account).where(Account.username == check_username(username))).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"username: expected an existing account, got {rules.described(username)}")
    return found


def _create(unit: store.Unit, *, username: str, full_name: str, password_hash: str | None, partner: str | None,
            admin: bool, email: str | None) -> Account:
    session = unit.session
    if session.execute(select(Account.id).where(Account.username == username)).first():
        raise rules.refusal("", "username", f"expected a username no other account has, got {username!r}")
    if email and session.execute(select(Account.id).where(Account.email == email)).first():
        raise rules.refusal("", "email", f"expected an address no other account has, got {email!r}")
    partner_id = None
    if partner is not None and partner.strip():
        partner_id = session.execute(select(Partner.id).where(Partner.name == partner.strip())).scalar()
        if partner_id is None:
            raise NotFoundError(f"partner: expected the name of a partner government, got {partner.strip()!r}")
    account = Account(username=username, full_name=full_name, partner_id=partner_id, is_admin=bool(admin),
                      email=email, password_hash=password_hash)
    store.add(unit=unit, obj=account, entity="account")  # the audit's copy leaves password_hash out (models.py)
    access.link_account(unit, account)  # the team members whose name and partner government are its own
    return account


@access.audited("account")
def create_account(engine: Engine, *, actor: str, username: str, full_name: str, password: str | None = None,
                   partner: str | None = None, admin: bool = False, email: str | None = None) -> Account:
    """A new account, made by an administrator (or the operator); `partner` is a partner government's name (none
    for regional or state staff). Without a password the account cannot sign in with one (single sign-on and
    one-time links come later). It is linked to the team members whose name and partner government are its full
    name and partner government, where no other account matches them (risk/access.py)."""
    username = check_username(username)
    full_name = rules.check({"full_name": FULL_NAME}, "full_name", full_name)
    email = check_email(email)
    hashed = hash_password(password) if password is not None else None
    try:
        with store.write(engine, actor, f"account {username}") as unit:
            access.require(unit.session, actor, "manage_accounts")
            return _create(unit, username=username, full_name=full_name, password_hash=hashed, partner=partner,
                           admin=admin, email=email)
    except IntegrityError as exc:
        raise store.database_refusal(exc, f"account {username}") or exc from None


def has_administrator(engine: Engine) -> bool:
    """Whether any account administers the workbench (a disabled one counts: the first-run path stays shut)."""
    with Session(engine) as session:
        return session.execute(select(Account.id).where(Account.is_admin).limit(1)).first() is not None


def create_first_administrator(engine: Engine, *, actor: str, username: str, full_name: str, password: str,
                               email: str | None = None) -> Account:
    """The first administrator, allowed only while there is no administrator at all (checked in the same write
    transaction, so two people setting up at once make one)."""
    username = check_username(username)
    full_name = rules.check({"full_name": FULL_NAME}, "full_name", full_name)
    email = check_email(email)
    hashed = hash_password(password)
    try:
        with store.write(engine, actor, f"account {username}") as unit:
            if unit.session.execute(select(Account.id).where(Account.is_admin).limit(1)).first() is not None:
                raise RefusedError("an administrator exists already: the first administrator is made only once; an "
                                   "administrator adds further accounts")
            return _create(unit, username=username, full_name=full_name, password_hash=hashed, partner=None,
                           admin=True, email=email)
    except IntegrityError as exc:
        raise store.database_refusal(exc, f"account {username}") or exc from None


def list_accounts(engine: Engine) -> list[dict[str, Any]]:
    """Every account by username: username, name, partner, admin, disabled, email, whether it has a password, and
    until when sign-in is locked (or None)."""
    with Session(engine) as session:
        rows = session.execute(select(Account, Partner.name).outerjoin(Partner, Account.partner_id == Partner.id)
                               .order_by(Account.username)).all()
        now = _now()
        out = []
        for account, partner in rows:
            locked = _aware(account.locked_until)
            out.append({"username": account.username, "name": account.full_name, "partner": partner,
                        "admin": account.is_admin, "disabled": account.disabled, "email": account.email,
                        "password": account.password_hash is not None,
                        "locked_until": locked.isoformat() if locked and locked > now else None})
        return out


@access.audited("account")
def disable_account(engine: Engine, *, actor: str, username: str) -> None:
    """Disable an account and end its sessions. The last administrator who is not disabled stays."""
    with store.write(engine, actor, f"account {username}") as unit:
        access.require(unit.session, actor, "manage_accounts")
        account = _account(unit.session, username)
        if account.disabled:
            return
        if account.is_admin:
            others = unit.session.execute(select(func.count()).select_from(Account).where(
                Account.is_admin, ~Account.disabled, Account.id != account.id)).scalar_one()
            if not others:
                raise RefusedError(f"{account.username} is the last administrator: make another administrator "
                                   "before disabling this one")
        store.update(unit=unit, obj=account, entity="account", changes={"disabled": True})
        _end_sessions(unit, account.id)


@access.audited("account")
def set_password(engine: Engine, *, actor: str, username: str, password: str) -> None:
    """Replace an account's password; its sessions end and any sign-in lock is lifted. The audit records that the
    password was set, not the password or its hash."""
    hashed = hash_password(password)
    with store.write(engine, actor, f"the password of {username}") as unit:
        access.require(unit.session, actor, "manage_accounts")
        account = _account(unit.session, username)
        store.update(unit=unit, obj=account, entity="account",
                     changes={"password_hash": hashed, "failed_signins": 0, "locked_until": None})
        unit.audit("set_password", "account", account.id, None, {"username": account.username})
        _end_sessions(unit, account.id)


# --- sign-in -------------------------------------------------------------------------------------------

def _clip(value: Any, most: int) -> str | None:
    return value.strip()[:most] or None if isinstance(value, str) else None


def _lock(failures: list[dt.datetime], limit: int) -> dt.datetime | None:
    """Until when further attempts are refused, given the failures (oldest first) that count: `limit` of them within
    FAILURE_WINDOW start a lock of FIRST_LOCK after the last, doubled for every failure beyond, at most
    LONGEST_LOCK."""
    if len(failures) < limit:
        return None
    last = failures[-1]
    if sum(1 for at in failures if at > last - FAILURE_WINDOW) < limit:
        return None
    return last + min(LONGEST_LOCK, FIRST_LOCK * 2 ** min(len(failures) - limit, 20))


def _failures(session: Session, now: dt.datetime, *, username: str | None = None, address: str | None = None,
              most: int | None = None) -> list[dt.datetime]:
    """When the failed attempts within LOOKBACK were, oldest first: for a username since its last success (for an
    account, its last `most`, its failed_signins, which a success or a new password sets back to 0), or from an
    address."""
    if most == 0:
        return []
    key = SigninAttempt.username == username if username is not None else SigninAttempt.address == address
    where = [key, ~SigninAttempt.succeeded, SigninAttempt.at > now - LOOKBACK]
    if username is not None:  # by id: a success and a failure may share a second
        success = session.execute(select(func.max(SigninAttempt.id)).where(key, SigninAttempt.succeeded)).scalar()
        if success is not None:
            where.append(SigninAttempt.id > success)
    query = select(SigninAttempt.at).where(*where).order_by(SigninAttempt.id.desc())
    rows = session.execute(query.limit(most) if most is not None else query).scalars().all()
    return [_aware(at) for at in reversed(rows)]


def locked_until(engine: Engine, username: str, address: str | None = None) -> dt.datetime | None:
    """Until when sign-in with this username or from this address is refused (None: it is not)."""
    tried, address = (_clip(username, 200) or "").lower(), _clip(address, ADDRESS_LIMIT)
    now = _now()
    with Session(engine) as session:
        most = session.execute(select(Account.failed_signins).where(Account.username == tried)).scalar()
        locks = [_lock(_failures(session, now, username=tried, most=most), USERNAME_FAILURES)]
        if address:
            locks.append(_lock(_failures(session, now, address=address), ADDRESS_FAILURES))
    until = max((lock for lock in locks if lock is not None), default=None)
    return until if until is not None and until > now else None


def authenticate(engine: Engine, username: str, password: str, address: str | None = None) -> Account:
    """The account whose username and password these are, or RefusedError(REFUSED) alike for an unknown username,
    a wrong password and a disabled account. While a username or an address is locked after too many failures,
    sign-in is refused saying until when, for known and unknown usernames alike (such refusals check no password and
    are not counted). Every attempt that checks a password is recorded in signin_attempt; its audit event holds
    the row's digest, not the username typed (which may be a password typed into the wrong box)."""
    tried = (_clip(username, 200) or "").lower()
    address = _clip(address, ADDRESS_LIMIT)
    until = locked_until(engine, tried, address)
    if until is not None:
        log.warning("sign-in refused from %s: locked after repeated failures", address or "an unknown address")
        raise RefusedError(f"too many failed sign-ins with this username or from this address: try again after "
                           f"{until:%Y-%m-%d %H:%M} UTC")
    with Session(engine) as session:
        account = session.execute(select(Account).where(Account.username == tried)).scalar_one_or_none() \
            if tried else None
    stored = account.password_hash if account is not None else None
    if not isinstance(password, str) or len(password) > PASSWORD_MAX:
        password, stored = "", None
    valid, rehashed = _hasher.verify_and_update(password, stored or _DUMMY_HASH)
    ok = bool(valid and stored and account is not None and not account.disabled)
    now = _now()
    actor = f"sign-in from {address}" if address else "sign-in"
    with store.write(engine, actor, "the sign-in") as unit:
        store.insert_many(unit=unit, table=SigninAttempt, entity="signin_attempt",
                          rows=[{"username": tried, "address": address, "at": now, "succeeded": ok}])
        if account is not None:
            account = unit.session.get(Account, account.id)
        if account is not None and ok:
            changes: dict[str, Any] = {"failed_signins": 0, "locked_until": None}
            if rehashed:
                changes["password_hash"] = rehashed
            store.update(unit=unit, obj=account, entity="account", changes=changes)
        elif account is not None:
            failed = account.failed_signins + 1
            lock = _lock(_failures(unit.session, now, username=tried, most=failed), USERNAME_FAILURES)
            store.update(unit=unit, obj=account, entity="account",
                         changes={"failed_signins": failed, "locked_until": lock})
    if not ok:
        log.info("sign-in refused from %s", address or "an unknown address")
        raise RefusedError(REFUSED)
    log.info("%s signed in from %s", account.username, address or "an unknown address")
    return account


# --- sessions -------------------------------------------------------------------------------------------

def start_session(engine: Engine, account_id: int, address: str | None = None) -> str:
    """A new session for an account that may sign in; returns its token (only its SHA-256 is stored)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    with Session(engine) as session:
        account = session.get(Account, account_id)
    if account is None or account.disabled:
        raise RefusedError(REFUSED)
    with store.write(engine, account.username, "the session") as unit:
        store.add(unit=unit, entity="account_session", obj=AccountSession(
            account_id=account_id, token_hash=token_hash(token), created_at=now, last_seen_at=now,
            expires_at=now + SESSION_LIFETIME, address=_clip(address, ADDRESS_LIMIT)))
    return token


def _active(row: AccountSession, now: dt.datetime) -> bool:
    return (row.ended_at is None and now < _aware(row.expires_at)
            and now - _aware(row.last_seen_at) < IDLE_TIMEOUT)


def views_of_signed_in(engine: Engine, limit: int) -> list[frozenset[int]]:
    """The sets of proposals seen by the accounts signed in now (a session still active), those most recently seen
    first; distinct, at most `limit`, without the accounts that see every proposal (administrators). What a
    server that starts makes ready for the people likely to come back first (risk/ui/common.py warm_portfolio)."""
    now = _now()
    views: list[frozenset[int]] = []
    with Session(engine) as session:
        rows = session.execute(select(AccountSession, Account).join(Account, AccountSession.account_id == Account.id)
                               .where(AccountSession.ended_at.is_(None), Account.disabled.is_(False))
                               .order_by(AccountSession.last_seen_at.desc()).limit(200)).all()
        for row, account in rows:
            if len(views) >= limit:
                break
            if not _active(row, now):
                continue
            seen = access.visible_proposal_ids(session, account.username)
            if seen is not None and frozenset(seen) not in views:
                views.append(frozenset(seen))
    return views


def session_account(engine: Engine, token: str) -> Account | None:
    """The account signed in with `token`, or None when the session does not exist, ended, was not used for
    IDLE_TIMEOUT, is older than SESSION_LIFETIME or its account is disabled. Notes the use (at most every
    TOUCH_EVERY)."""
    if not isinstance(token, str) or not token:
        return None
    now = _now()
    with Session(engine) as session:
        found = session.execute(select(AccountSession, Account).join(Account, AccountSession.account_id == Account.id)
                                .where(AccountSession.token_hash == token_hash(token))).first()
    if found is None:
        return None
    row, account = found
    if account.disabled or not _active(row, now):
        return None
    if now - _aware(row.last_seen_at) >= TOUCH_EVERY:
        with store.write(engine, account.username, "the session") as unit:
            row = unit.session.get(AccountSession, row.id)
            if row is None or not _active(row, now):
                return None
            store.update(unit=unit, obj=row, entity="account_session", changes={"last_seen_at": now})
    return account


def end_session(engine: Engine, token: str) -> None:
    """Sign out: the session of `token` ends (nothing happens for a token that has none)."""
    if not isinstance(token, str) or not token:
        return
    with Session(engine) as session:
        found = session.execute(select(AccountSession.id, Account.username)
                                .join(Account, AccountSession.account_id == Account.id)
                                .where(AccountSession.token_hash == token_hash(token),
                                       AccountSession.ended_at.is_(None))).first()
    if found is None:
        return
    with store.write(engine, found.username, "the sign-out") as unit:
        row = unit.session.get(AccountSession, found.id)
        if row is not None and row.ended_at is None:
            store.update(unit=unit, obj=row, entity="account_session", changes={"ended_at": _now()})


def _end_sessions(unit: store.Unit, account_id: int) -> int:
    rows = unit.session.execute(select(AccountSession).where(AccountSession.account_id == account_id,
                                                             AccountSession.ended_at.is_(None))).scalars().all()
    now = _now()
    for row in rows:
        store.update(unit=unit, obj=row, entity="account_session", changes={"ended_at": now})
    return len(rows)


@access.audited("account")
def end_all_sessions(engine: Engine, *, actor: str, username: str) -> int:
    """End every session of an account (signed in on a lost laptop, say); returns how many ended."""
    with store.write(engine, actor, f"the sessions of {username}") as unit:
        access.require(unit.session, actor, "manage_accounts")
        return _end_sessions(unit, _account(unit.session, username).id)
