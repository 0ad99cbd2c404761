"""Accounts, passwords, sign-in and sessions (risk/accounts.py) on both engines, and `risk users` (docs/ACCOUNTS.md)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlmodel import Session

from risk import accounts
from risk.accounts import REFUSED
from risk.errors import NotFoundError, RefusedError
from risk.models import Account, AccountSession, SigninAttempt
from risk.services import proposals as ps
from risk.store import verify_chain
from tests.builders import SYSTEM

pytestmark = pytest.mark.storage

PASSWORD = "correct horse battery staple"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock(monkeypatch):
    """The accounts' clock, moved by hand: clock.now = ..."""
    class Clock:
        now = T0

        def __add__(self, delta):  # clock += timedelta
            self.now += delta
            return self

    c = Clock()
    monkeypatch.setattr(accounts, "_now", lambda: c.now)
    return c


def _add(engine, username="ann", password=PASSWORD, **kw):
    return accounts.create_account(engine, actor=SYSTEM, username=username, full_name=kw.pop("name", "Ann Smith"),
                                   password=password, **kw)


def _stored(engine, model, **where):
    with Session(engine) as session:
        query = select(model).filter_by(**where)
        return session.execute(query).scalar_one()


def _audit_text(engine) -> str:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, action, entity, entity_id, before, after FROM audit_event"))
        return "\n".join(" ".join(str(v) for v in row) for row in rows)


# --- passwords ---------------------------------------------------------------------------------------

def test_a_password_is_stored_as_its_argon2_hash_and_verifies(engine):
    _add(engine)
    stored = _stored(engine, Account, username="ann").password_hash
    assert stored != PASSWORD and PASSWORD not in stored
    assert stored.startswith("$argon2id$")
    assert accounts._hasher.verify(PASSWORD, stored)
    assert not accounts._hasher.verify(PASSWORD + "x", stored)
    assert accounts.authenticate(engine, "ann", PASSWORD).username == "ann"


def test_a_password_is_hashed_with_owasps_minimum_and_an_older_hash_is_replaced_at_sign_in(engine):
    """19 MiB, 2 passes, 1 lane (docs/ACCOUNTS.md): the library's default held 64 MiB for every sign-in."""
    _add(engine)
    assert "$m=19456,t=2,p=1$" in _stored(engine, Account, username="ann").password_hash
    from pwdlib.hashers.argon2 import Argon2Hasher

    older = Argon2Hasher().hash(PASSWORD)  # as accounts made before were hashed: the library's default settings
    assert "$m=65536,t=3,p=4$" in older
    with Session(engine) as s:
        s.execute(text("UPDATE account SET password_hash = :h WHERE username = 'ann'"), {"h": older})
        s.commit()
    assert accounts.authenticate(engine, "ann", PASSWORD).username == "ann"
    renewed = _stored(engine, Account, username="ann").password_hash
    assert "$m=19456,t=2,p=1$" in renewed and renewed != older
    assert accounts.authenticate(engine, "ann", PASSWORD).username == "ann"  # the new hash verifies


@pytest.mark.parametrize("password", ["short", "x" * 11, "x" * 1025, ""])
def test_a_password_too_short_or_too_long_is_refused_naming_its_length_only(engine, password):
    with pytest.raises(RefusedError, match=rf"^password: expected 12 to 1,024 characters, got {len(password):,}$"):
        _add(engine, password=password)
    assert accounts.list_accounts(engine) == []


def test_an_account_may_have_no_password_and_then_cannot_sign_in_with_one(engine):
    _add(engine, password=None)
    assert accounts.list_accounts(engine)[0]["password"] is False
    with pytest.raises(RefusedError, match=f"^{REFUSED}$"):
        accounts.authenticate(engine, "ann", "")


# --- accounts --------------------------------------------------------------------------------------

def test_usernames_are_unique_in_any_case_and_emails_too(engine):
    _add(engine, username="Ann.Smith", email="Ann@Example.org")
    assert accounts.list_accounts(engine)[0]["username"] == "ann.smith"
    with pytest.raises(RefusedError, match="^username: expected a username no other account has, got 'ann.smith'$"):
        _add(engine, username="ANN.SMITH")
    with pytest.raises(RefusedError, match="^email: expected an address no other account has"):
        _add(engine, username="ann2", email="ann@example.org")
    assert len(accounts.list_accounts(engine)) == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"username": "a b"}, "username: expected 3 to 40 lower-case letters, digits, '.', '_' or '-', got 'a b'"),
    ({"username": "ab"}, "username: expected 3 to 40 lower-case letters, digits, '.', '_' or '-', got 'ab'"),
    ({"username": "x" * 41}, "username: expected 3 to 40 lower-case letters"),
    ({"name": "   "}, "full_name: a value is required"),
    ({"name": "x" * 201}, "full_name: at most 200 characters, got 201"),
    ({"email": "not an address"}, "email: expected an address such as name@example.org"),
])
def test_a_bad_field_is_refused_naming_it(engine, fields, message):
    with pytest.raises(RefusedError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        _add(engine, **fields)


def test_an_account_belongs_to_a_partner_named_or_to_none(engine):
    ps.add_partner(engine, actor=SYSTEM, name="Adams County")
    _add(engine, partner="Adams County")
    _add(engine, username="state.staff", name="Sam State")
    with pytest.raises(NotFoundError, match="^partner: expected the name of a partner government, got 'Nowhere'$"):
        _add(engine, username="bob", partner="Nowhere")
    listed = {a["username"]: a for a in accounts.list_accounts(engine)}
    assert listed["ann"]["partner"] == "Adams County" and listed["state.staff"]["partner"] is None


def test_the_first_administrator_is_made_only_once(engine):
    assert not accounts.has_administrator(engine)
    first = accounts.create_first_administrator(engine, actor="first run", username="root.admin",
                                                full_name="Rita Admin", password=PASSWORD)
    assert first.is_admin and accounts.has_administrator(engine)
    with pytest.raises(RefusedError, match="^an administrator exists already"):
        accounts.create_first_administrator(engine, actor="first run", username="mallory", full_name="Mallory",
                                            password=PASSWORD)
    assert [a["username"] for a in accounts.list_accounts(engine)] == ["root.admin"]


def test_the_last_administrator_is_not_disabled(engine):
    _add(engine, admin=True)
    with pytest.raises(RefusedError, match="last administrator"):
        accounts.disable_account(engine, actor=SYSTEM, username="ann")
    _add(engine, username="bob", admin=True)
    accounts.disable_account(engine, actor=SYSTEM, username="ann")
    assert accounts.has_administrator(engine)


# --- sign-in -----------------------------------------------------------------------------------------

def test_unknown_user_wrong_password_and_disabled_account_get_one_message(engine):
    _add(engine)
    _add(engine, username="gone")
    accounts.disable_account(engine, actor=SYSTEM, username="gone")
    messages = set()
    for username, password in (("nobody", PASSWORD), ("ann", "wrong password here"), ("gone", PASSWORD)):
        with pytest.raises(RefusedError) as caught:
            accounts.authenticate(engine, username, password, address="10.0.0.1")
        messages.add(str(caught.value))
    assert messages == {REFUSED}


def test_an_unknown_user_is_checked_against_a_dummy_hash_so_timing_does_not_tell(engine, monkeypatch):
    checked = []
    real = accounts._hasher.verify_and_update
    monkeypatch.setattr(accounts._hasher, "verify_and_update",
                        lambda password, hashed: checked.append(hashed) or real(password, hashed))
    with pytest.raises(RefusedError):
        accounts.authenticate(engine, "nobody", PASSWORD)
    assert checked == [accounts._DUMMY_HASH]


def test_every_attempt_that_checks_a_password_is_recorded(engine):
    _add(engine)
    accounts.authenticate(engine, "Ann", PASSWORD, address="10.0.0.1")
    with pytest.raises(RefusedError):
        accounts.authenticate(engine, "ann", "wrong password here", address="10.0.0.2")
    with Session(engine) as session:
        rows = session.execute(select(SigninAttempt).order_by(SigninAttempt.id)).scalars().all()
    assert [(r.username, r.address, r.succeeded) for r in rows] == [("ann", "10.0.0.1", True),
                                                                    ("ann", "10.0.0.2", False)]
    assert _stored(engine, Account, username="ann").failed_signins == 1


def _fail(engine, username, address=None, times=1):
    for _ in range(times):
        with pytest.raises(RefusedError, match=f"^{REFUSED}$"):
            accounts.authenticate(engine, username, "wrong password here", address=address)


def test_repeated_failures_for_a_username_lock_it_for_a_time_that_grows(engine, clock):
    _add(engine)
    _fail(engine, "ann", times=accounts.USERNAME_FAILURES)
    account = _stored(engine, Account, username="ann")
    assert account.failed_signins == 5 and account.locked_until == T0 + accounts.FIRST_LOCK
    with pytest.raises(RefusedError, match="^too many failed sign-ins"):
        accounts.authenticate(engine, "ann", PASSWORD)  # even the right password, while locked
    assert accounts.locked_until(engine, "ann") == T0 + dt.timedelta(minutes=1)
    clock += dt.timedelta(minutes=1, seconds=1)
    _fail(engine, "ann")
    assert accounts.locked_until(engine, "ann") == clock.now + dt.timedelta(minutes=2)  # doubled
    clock += dt.timedelta(minutes=2, seconds=1)
    assert accounts.authenticate(engine, "ann", PASSWORD).username == "ann"
    account = _stored(engine, Account, username="ann")
    assert account.failed_signins == 0 and account.locked_until is None
    assert accounts.locked_until(engine, "ann") is None  # a success starts the count again
    _fail(engine, "ann", times=4)
    accounts.authenticate(engine, "ann", PASSWORD)


def test_an_unknown_username_is_locked_alike_so_the_lock_does_not_tell_who_exists(engine, clock):
    _fail(engine, "nobody", times=accounts.USERNAME_FAILURES)
    with pytest.raises(RefusedError, match="^too many failed sign-ins"):
        accounts.authenticate(engine, "nobody", PASSWORD)


def test_failures_spread_beyond_the_window_do_not_lock(engine, clock):
    _add(engine)
    for _ in range(accounts.USERNAME_FAILURES + 2):
        _fail(engine, "ann")
        clock += accounts.FAILURE_WINDOW / (accounts.USERNAME_FAILURES - 1)
    assert accounts.authenticate(engine, "ann", PASSWORD).username == "ann"


def test_repeated_failures_from_an_address_lock_it_for_every_username(engine, clock):
    _add(engine)
    for k in range(accounts.ADDRESS_FAILURES):
        _fail(engine, f"guess{k % 10}", address="203.0.113.9")  # two tries each: no username is locked
    with pytest.raises(RefusedError, match="^too many failed sign-ins"):
        accounts.authenticate(engine, "ann", PASSWORD, address="203.0.113.9")
    assert accounts.authenticate(engine, "ann", PASSWORD, address="198.51.100.1").username == "ann"
    clock += accounts.FIRST_LOCK + dt.timedelta(seconds=1)
    assert accounts.authenticate(engine, "ann", PASSWORD, address="203.0.113.9").username == "ann"


def test_a_new_password_lifts_the_lock_and_ends_sessions(engine, clock):
    account = _add(engine)
    token = accounts.start_session(engine, account.id)
    _fail(engine, "ann", times=accounts.USERNAME_FAILURES)
    accounts.set_password(engine, actor=SYSTEM, username="ann", password="another long password")
    assert accounts.session_account(engine, token) is None
    assert _stored(engine, Account, username="ann").locked_until is None
    with pytest.raises(RefusedError, match=f"^{REFUSED}$"):
        accounts.authenticate(engine, "ann", PASSWORD)
    assert accounts.authenticate(engine, "ann", "another long password").username == "ann"


# --- sessions -----------------------------------------------------------------------------------------

def test_a_session_stores_the_tokens_hash_never_the_token(engine, clock):
    account = _add(engine)
    token = accounts.start_session(engine, account.id, address="10.0.0.1")
    assert len(token) >= 43
    row = _stored(engine, AccountSession, account_id=account.id)
    assert row.token_hash == accounts.token_hash(token) != token
    assert row.expires_at == T0 + accounts.SESSION_LIFETIME
    with engine.connect() as conn:
        dumped = " ".join(str(v) for r in conn.execute(text("SELECT * FROM account_session")) for v in r)
    assert token not in dumped
    assert accounts.session_account(engine, token).username == "ann"
    assert accounts.session_account(engine, token + "x") is None
    assert accounts.session_account(engine, "") is None


def test_a_session_ends_after_idle_time_and_use_keeps_it(engine, clock):
    account = _add(engine)
    kept = accounts.start_session(engine, account.id)
    idle = accounts.start_session(engine, account.id)
    clock += dt.timedelta(hours=7, minutes=59)
    assert accounts.session_account(engine, kept) is not None  # used: its idle time starts again
    clock += dt.timedelta(minutes=2)
    assert accounts.session_account(engine, idle) is None  # 8 hours and 1 minute without use
    assert accounts.session_account(engine, kept) is not None
    assert _stored(engine, AccountSession, id=1).last_seen_at == clock.now - dt.timedelta(minutes=2)


def test_a_session_ends_after_its_lifetime_however_much_it_is_used(engine, clock):
    token = accounts.start_session(engine, _add(engine).id)
    while clock.now < T0 + accounts.SESSION_LIFETIME - dt.timedelta(hours=6):
        clock += dt.timedelta(hours=6)
        assert accounts.session_account(engine, token) is not None
    clock.now = T0 + accounts.SESSION_LIFETIME
    assert accounts.session_account(engine, token) is None


def test_end_one_session_or_all_of_an_account(engine, clock):
    ann, bob = _add(engine), _add(engine, username="bob")
    one, two, bobs = (accounts.start_session(engine, ann.id), accounts.start_session(engine, ann.id),
                      accounts.start_session(engine, bob.id))
    accounts.end_session(engine, one)
    accounts.end_session(engine, one)  # again: nothing to end
    accounts.end_session(engine, "no such token")
    assert accounts.session_account(engine, one) is None and accounts.session_account(engine, two) is not None
    assert accounts.end_all_sessions(engine, actor=SYSTEM, username="ann") == 1
    assert accounts.session_account(engine, two) is None
    assert accounts.session_account(engine, bobs).username == "bob"
    with pytest.raises(NotFoundError, match="^username: expected an existing account, got 'carl'$"):
        accounts.end_all_sessions(engine, actor=SYSTEM, username="carl")


def test_a_disabled_accounts_sessions_are_refused_and_it_cannot_start_one(engine, clock):
    _add(engine, username="boss", admin=True)
    ann = _add(engine)
    token = accounts.start_session(engine, ann.id)
    accounts.disable_account(engine, actor=SYSTEM, username="ann")
    assert accounts.session_account(engine, token) is None
    assert _stored(engine, AccountSession, account_id=ann.id).ended_at == clock.now
    with pytest.raises(RefusedError, match=f"^{REFUSED}$"):
        accounts.start_session(engine, ann.id)


# --- no secret anywhere ----------------------------------------------------------------------------------

def test_no_password_hash_or_token_reaches_the_audit_log_or_a_log_line(engine, clock, caplog):
    caplog.set_level(logging.DEBUG)
    admin = accounts.create_first_administrator(engine, actor="first run", username="boss", full_name="Bo Boss",
                                                password=PASSWORD)
    _add(engine, password="ann's own long password")
    accounts.set_password(engine, actor="boss", username="ann", password="ann's newer password")
    accounts.authenticate(engine, "ann", "ann's newer password", address="10.0.0.1")
    with pytest.raises(RefusedError):
        accounts.authenticate(engine, "ann", "typed the wrong one", address="10.0.0.1")
    with pytest.raises(RefusedError):
        accounts.authenticate(engine, "my secret password", "x", address="10.0.0.1")  # password in the name box
    token = accounts.start_session(engine, admin.id)
    clock += dt.timedelta(minutes=10)
    accounts.session_account(engine, token)
    accounts.end_session(engine, token)
    with Session(engine) as session:
        hashes = [a.password_hash for a in session.execute(select(Account)).scalars()]
        hashes += [s.token_hash for s in session.execute(select(AccountSession)).scalars()]
    secrets = [PASSWORD, "ann's own long password", "ann's newer password", "typed the wrong one",
               "my secret password", token, *hashes, "$argon2"]
    audit, logged = _audit_text(engine), caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in secrets:
        assert secret not in audit
        assert secret not in logged
    assert "set_password" in audit and "password_hash" not in audit and "token_hash" not in audit
    assert verify_chain(engine) > 0
    assert "password_hash" not in repr(admin) and "$argon2" not in repr(admin)


# --- the command line ------------------------------------------------------------------------------------

def _risk(url, *args, stdin=None):
    exe = Path(sys.executable).with_name("risk")
    env = {"RISK_DATABASE_URL": url, "PATH": "/usr/bin:/bin", "USER": "olga", "LOGNAME": "olga",
           "RISK_AUDIT_KEY": os.environ["RISK_AUDIT_KEY"],
           "RISK_ACTOR": "Somebody Else", "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([str(exe), "--as", "Pretender", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=60)


@pytest.mark.slow
def test_the_users_commands(sqlite_url):
    from risk.db import make_engine

    added = _risk(sqlite_url, "users", "add", "Ann", "--name", "Ann Smith", "--admin", "--email", "ann@example.org",
                  "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "added account ann" in added.stderr and PASSWORD not in added.stdout + added.stderr
    assert _risk(sqlite_url, "users", "add", "bob", "--name", "Bob Jones").returncode == 0

    short = _risk(sqlite_url, "users", "add", "carl", "--name", "Carl", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "password: expected 12 to 1,024 characters, got 5" in short.stderr
    twice = _risk(sqlite_url, "users", "add", "ann", "--name", "Ann Again")
    assert twice.returncode == 1 and "username: expected a username no other account has" in twice.stderr
    nowhere = _risk(sqlite_url, "users", "add", "dan", "--name", "Dan", "--partner", "Nowhere")
    assert nowhere.returncode == 1 and "partner: expected the name of a partner government" in nowhere.stderr

    listed = _risk(sqlite_url, "users", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["username"], r["name"], r["partner"], r["admin"], r["disabled"]) for r in rows] == [
        ("ann", "Ann Smith", None, True, False), ("bob", "Bob Jones", None, False, False)]
    table = _risk(sqlite_url, "users", "list")
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:5] == [
        "username", "name", "partner", "admin", "disabled"]
    assert "$argon2" not in listed.stdout + table.stdout

    engine = make_engine(sqlite_url)
    token = accounts.start_session(engine, _stored(engine, Account, username="ann").id)
    ended = _risk(sqlite_url, "users", "end-sessions", "ann")
    assert ended.returncode == 0 and "ended 1 session of ann" in ended.stderr
    assert accounts.session_account(engine, token) is None

    no_stdin = _risk(sqlite_url, "users", "set-password", "bob")
    assert no_stdin.returncode == 1 and "--password-stdin" in no_stdin.stderr
    new = _risk(sqlite_url, "users", "set-password", "bob", "--password-stdin", stdin="bob's long password\n")
    assert new.returncode == 0, new.stderr
    assert accounts.authenticate(engine, "bob", "bob's long password").username == "bob"
    unknown = _risk(sqlite_url, "users", "set-password", "zed", "--password-stdin", stdin="zed's long password\n")
    assert unknown.returncode == 1 and "username: expected an existing account, got 'zed'" in unknown.stderr

    last = _risk(sqlite_url, "users", "disable", "ann")
    assert last.returncode == 1 and "last administrator" in last.stderr
    disabled = _risk(sqlite_url, "users", "disable", "bob")
    assert disabled.returncode == 0, disabled.stderr
    assert json.loads(_risk(sqlite_url, "users", "list", "--format", "json").stdout)[1]["disabled"] is True

    with engine.connect() as conn:
        actors = set(conn.execute(text("SELECT DISTINCT actor FROM audit_event WHERE entity = 'account'")).scalars())
    assert actors == {"cli:olga"}  # the operating-system login, not --as nor RISK_ACTOR
    audit = _audit_text(engine)
    assert PASSWORD not in audit and "bob's long password" not in audit and "$argon2" not in audit
    engine.dispose()
