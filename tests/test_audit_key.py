"""The audit key (docs/AUDIT.md): where it comes from, that it is made only where it cannot orphan a chain, that a
write without it or under another key is refused and writes nothing; `rekey` chains a database from before the key
(or under an old key) again; the `risk audit` commands and their exit codes; every export carries the head."""

from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import text
from sqlmodel import Session
from typer.testing import CliRunner

from risk import audit
from risk.cli import app
from risk.errors import AuditChainError, AuditDataError, AuditError, AuditKeyError
from risk.services import proposals as ps
from risk.services.portfolio import load_demo
from tests.builders import ACTOR, SYSTEM, database_state, make_proposal
from tests.conftest import TEST_AUDIT_KEY
from tests.test_audit_verify import OTHER_KEY, raw, rechain, workshop

KEY = bytes.fromhex(TEST_AUDIT_KEY)


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    """No RISK_AUDIT_KEY: the key comes from a file of the test's own."""
    path = tmp_path / "keys" / "audit.key"
    monkeypatch.delenv("RISK_AUDIT_KEY", raising=False)
    monkeypatch.setenv("RISK_AUDIT_KEY_FILE", str(path))
    return path


# --- where the key comes from ------------------------------------------------------------------------------

def test_the_key_comes_from_the_environment_as_hexadecimal_digits(monkeypatch):
    assert audit.audit_key() == KEY
    monkeypatch.setenv("RISK_AUDIT_KEY", "  " + "ab" * 40 + "\n")
    assert audit.audit_key() == bytes.fromhex("ab" * 40)
    monkeypatch.setenv("RISK_AUDIT_KEY", "ab" * 16)
    with pytest.raises(AuditKeyError, match="RISK_AUDIT_KEY: the audit key is 16 bytes; it needs at least 32"):
        audit.audit_key()
    monkeypatch.setenv("RISK_AUDIT_KEY", "not a key at all, not even hexadecimal" * 2)
    with pytest.raises(AuditKeyError, match="hexadecimal digits") as caught:
        audit.audit_key()
    assert "not a key" not in str(caught.value)  # a key's text never reaches a message


def test_a_missing_key_file_is_named_with_what_to_do(key_file):
    with pytest.raises(AuditKeyError) as caught:
        audit.audit_key()
    assert str(key_file) in str(caught.value) and "risk init" in str(caught.value)
    assert "restored from its backup" in str(caught.value)


def test_a_made_key_file_is_its_owners_only_and_never_overwritten(key_file):
    path, made = audit.create_key_file()
    assert (path, made) == (key_file, True)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = audit.audit_key()
    assert len(key) == 32 and key_file.read_text().strip() == key.hex()
    assert audit.create_key_file() == (key_file, False) and audit.audit_key() == key
    assert [p.name for p in key_file.parent.iterdir()] == ["audit.key"]  # no temporary file left behind


def test_a_key_file_others_may_read_is_refused(key_file):
    audit.create_key_file()
    key_file.chmod(0o644)
    with pytest.raises(AuditKeyError, match="may be read or changed by other users .*chmod 600"):
        audit.audit_key()


# --- made only where it cannot orphan a chain ------------------------------------------------------------

def test_a_new_database_gets_a_key_on_first_start(key_file, engine):
    from risk.services.setup import ensure_schema

    assert "made the audit key" in ensure_schema(engine) and key_file.exists()
    assert ensure_schema(engine) is None


def test_a_database_with_keyed_events_and_no_key_gets_none_and_refuses_every_change(key_file, engine, monkeypatch):
    monkeypatch.setenv("RISK_AUDIT_KEY", TEST_AUDIT_KEY)
    b = make_proposal(engine, partners=1, risks=1)
    monkeypatch.delenv("RISK_AUDIT_KEY")
    assert audit.ensure_key(engine) is None and not key_file.exists()
    before = database_state(engine)
    with pytest.raises(AuditKeyError, match="no audit key"):
        ps.update_risk(engine, actor=ACTOR, risk_pk=b.risks[0], expected_version=None, title="Unrecorded")
    assert database_state(engine) == before
    with pytest.raises(AuditKeyError):
        audit.verify(engine)


def test_a_write_under_another_key_is_refused_and_writes_nothing(engine, monkeypatch):
    b = make_proposal(engine, partners=1, risks=1)
    before = database_state(engine)
    monkeypatch.setenv("RISK_AUDIT_KEY", OTHER_KEY.hex())
    with pytest.raises(AuditKeyError, match="does not verify with the audit key"):
        ps.update_risk(engine, actor=ACTOR, risk_pk=b.risks[0], expected_version=None, title="Other key")
    assert database_state(engine) == before


# --- rekey: a database from before the key, a key rotation --------------------------------------------------

def test_a_database_from_before_the_key_is_refused_changes_until_rekeyed(engine):
    b = workshop(engine)
    rechain(engine, audit.plain_hash)  # as the workbench chained it before the key
    assert audit.predates_key(engine)
    with pytest.raises(AuditChainError, match="plain SHA-256.*risk audit rekey"):
        ps.update_risk(engine, actor=ACTOR, risk_pk=b.risks[0], expected_version=None, title="Too early")
    report = audit.rekey(engine, actor="cli:operator")
    assert (report.source, report.adopted) == ("sha256", [])
    assert report.previous_head.split(":")[0] == str(report.events)
    verified = audit.verify(engine)
    assert verified.events == report.events + 1 and verified.head == report.head
    ps.update_risk(engine, actor=ACTOR, risk_pk=b.risks[0], expected_version=None, title="Now recorded")
    assert audit.verify(engine).events == report.events + 2
    with pytest.raises(AuditError, match="already verifies with this key"):
        audit.rekey(engine, actor="cli:operator")


def test_rekey_refuses_a_plain_chain_that_does_not_verify(engine):
    workshop(engine)
    raw(engine, "UPDATE audit_event SET actor = 'mallory' WHERE id = 3")
    rechain(engine, audit.plain_hash)
    raw(engine, "UPDATE audit_event SET actor = 'someone' WHERE id = 4")  # after the rewrite: the chain breaks
    before = database_state(engine)
    with pytest.raises(AuditChainError, match="does not verify, so it is not chained again: audit event 4"):
        audit.rekey(engine, actor="cli:operator")
    assert database_state(engine) == before


def test_rows_the_old_record_cannot_account_for_are_adopted_only_when_asked(engine):
    load_demo(engine, actor=SYSTEM)
    # an old database: its bulk events held no ids, and a migration changed rows without an event
    with Session(engine) as session:
        for event_id, after in session.execute(text('SELECT id, "after" FROM audit_event WHERE action = '
                                                    "'bulk_create'")).all():
            old = {k: v for k, v in json.loads(after).items() if k in ("count", "sha256", "table")}
            session.execute(text('UPDATE audit_event SET "after" = :a WHERE id = :i'),
                            {"a": json.dumps(old, sort_keys=True, separators=(",", ":")), "i": event_id})
        session.commit()
    raw(engine, "UPDATE team_member SET team_role = 'observer' WHERE id = 3")
    rechain(engine, audit.plain_hash)
    with pytest.raises(AuditDataError, match="not in the audit record.*--adopt-data"):
        audit.rekey(engine, actor="cli:operator")
    report = audit.rekey(engine, actor="cli:operator", adopt=True)
    assert set(report.adopted) == set(audit.audited_tables())
    assert audit.verify(engine).rows > 900
    raw(engine, "UPDATE team_member SET team_role = 'assessor' WHERE id = 3")
    with pytest.raises(AuditDataError, match="table team_member, rows 1–.*field team_role differs.*adopt"):
        audit.verify(engine)


def test_a_key_rotation_chains_again_and_old_heads_check_with_the_old_key(engine):
    workshop(engine)
    old_head = audit.head(engine)
    report = audit.rekey(engine, actor="cli:operator", old_key=KEY, key=OTHER_KEY)
    assert report.source == "hmac-sha256" and report.previous_head == old_head
    assert audit.verify(engine, key=OTHER_KEY).head == report.head
    with pytest.raises(AuditChainError, match="audit event 1 .*key is not the one"):
        audit.verify(engine, key=KEY)
    assert audit.verify(engine, key=OTHER_KEY, head=old_head, head_key=KEY).checked_head == old_head
    with pytest.raises(AuditChainError, match="is not the event the published head.*earlier key"):
        audit.verify(engine, key=OTHER_KEY, head=old_head)


def test_a_lost_key_is_replaced_only_unverified_and_recorded_so(engine):
    workshop(engine)
    report = audit.rekey(engine, actor="cli:operator", unverified=True, key=OTHER_KEY)
    assert report.source == "unverified"
    assert audit.verify(engine, key=OTHER_KEY).events == report.events + 1
    with Session(engine) as session:
        last = json.loads(session.execute(text('SELECT "after" FROM audit_event ORDER BY id DESC')).first()[0])
    assert last["from"] == "unverified" and last["key_id"] == audit.key_id(OTHER_KEY)


# --- the commands -------------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli(sqlite_url, monkeypatch):
    monkeypatch.setenv("RISK_DATABASE_URL", sqlite_url)
    return lambda *args: runner.invoke(app, list(args))


def test_risk_audit_head_and_verify_exit_0_and_print_what_they_checked(cli, sqlite_url):
    from risk.db import get_engine

    assert cli("audit", "head").exit_code == 1  # no event yet: no head
    make_proposal(get_engine(sqlite_url), partners=1, risks=1)
    head = cli("audit", "head")
    assert head.exit_code == 0 and head.stdout.strip() == audit.head(get_engine(sqlite_url))
    done = cli("audit", "verify", "--head", head.stdout.strip())
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith("verified: ") and "audit events and" in done.stdout and "rows in" in done.stdout
    assert f"head {head.stdout.strip()}" in done.stdout


def test_risk_audit_verify_exits_1_naming_what_failed(cli, sqlite_url):
    from risk.db import get_engine

    engine = get_engine(sqlite_url)
    cli("init")
    b = make_proposal(engine, partners=1, risks=1)
    published = audit.head(engine)
    raw(engine, "UPDATE risk SET title = 'x' WHERE id = :i", i=b.risks[0])
    result = cli("audit", "verify")
    assert result.exit_code == 1 and result.stdout == ""
    assert f"not verified: table risk, row {b.risks[0]}, field title" in result.stderr
    raw(engine, "DELETE FROM audit_event WHERE id > 3")
    result = cli("audit", "verify", "--head", published)
    assert result.exit_code == 1 and "not verified: the audit log ends at event 3" in result.stderr
    assert cli("audit", "verify", "--head", "three").exit_code == 1


def test_risk_init_makes_the_key_file_and_rekey_upgrades_an_old_database(cli, sqlite_url, key_file):
    from risk.db import get_engine

    made = cli("init")
    assert made.exit_code == 0 and f"made the audit key {key_file}" in made.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    engine = get_engine(sqlite_url)
    make_proposal(engine, partners=1, risks=1)
    rechain(engine, audit.plain_hash)
    assert "predates the keyed chain" in cli("init").stderr
    assert cli("audit", "verify").exit_code == 1
    upgraded = cli("audit", "rekey")
    assert upgraded.exit_code == 0 and upgraded.stdout.strip() == audit.head(engine)
    assert cli("audit", "verify").exit_code == 0
    assert cli("audit", "rekey").exit_code == 1  # nothing left to do


def test_risk_audit_new_key_never_overwrites(cli, tmp_path):
    target = tmp_path / "new.key"
    made = cli("audit", "new-key", "-o", str(target))
    assert made.exit_code == 0 and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().strip() not in made.stderr + made.stdout  # the key is never printed
    key = target.read_text()
    assert cli("audit", "new-key", "-o", str(target)).exit_code == 1 and target.read_text() == key


def test_the_key_is_not_in_the_database(engine):
    workshop(engine)
    with Session(engine) as session:
        dump = " ".join(str(row) for t in audit.audited_tables() + ["audit_event"]
                        for row in session.execute(text(f"SELECT * FROM {t}")).all())
    assert TEST_AUDIT_KEY not in dump and KEY.hex() not in dump
    assert os.environ["RISK_AUDIT_KEY"] == TEST_AUDIT_KEY
