"""Backups that restore (issue 15, docs/BACKUP.md): a backup made while others write restores to a database that
verifies; a restore into an empty database gives identical exports; kill -9 part way through `risk backup` leaves
the database intact and no file that restores; a damaged backup (truncated, bytes changed, not a backup at all) and
a tampered one (a row edited, the checksum made again) are refused, with the target unchanged. On SQLite and, when
RISK_TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from risk import audit
from risk import backup as bk
from risk.backup import BackupError, backup, restore
from risk.db import current_revision, make_engine, migrate
from risk.errors import NotFoundError
from risk.services import proposals as ps
from risk.services.json_export import export_document, export_json
from risk.services.portfolio import load_demo
from risk.services.setup import head_revision
from tests.builders import ACTOR, SYSTEM, database_state, make_proposal, score_round
from tests.conftest import PG_SKIP_REASON, PG_URL, _fresh_pg_database

pytestmark = pytest.mark.storage

RISK = str(Path(sys.executable).with_name("risk"))
OTHER_KEY = "0bad" * 16


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@contextmanager
def empty_database(like: str, tmp_path: Path, name: str = "restored.db"):
    """The URL of a new, empty database of the same engine as `like`: a SQLite file not made yet, or a new
    PostgreSQL database (dropped afterwards)."""
    if like.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / name}"
        return
    gen = _fresh_pg_database()
    try:
        yield next(gen)
    finally:
        gen.close()


@contextmanager
def opened(url: str):
    eng = make_engine(url)
    try:
        yield eng
    finally:
        eng.dispose()


def document(engine: Engine) -> dict:
    """The full-fidelity export, but for the moment it was made."""
    doc = export_document(engine)
    doc.pop("exported_at")
    return doc


def json_lines(engine: Engine) -> list[bytes]:
    """The JSON export's bytes, line by line, but for the line of the moment it was made."""
    return [ln for ln in export_json(engine).split(b"\n") if not ln.lstrip().startswith(b'"exported_at"')]


def raw(engine: Engine, *statements: str) -> None:
    """A change made around the services (no audit event), committed."""
    with Session(engine) as session:
        for sql in statements:
            session.execute(text(sql))
        session.commit()


@pytest.fixture
def source(engine) -> Engine:
    """A database with work in it, every change made through the services: the demo portfolio and a scored
    proposal."""
    load_demo(engine, actor=SYSTEM)
    b = make_proposal(engine, partners=2, risks=3)
    score_round(engine, b, "inherent", {b.risks[0]: [(2, 3), (3, 4)], b.risks[1]: [(1, 2), (2, 2)]})
    ps.update_risk(engine, actor=ACTOR, risk_pk=b.risks[2], expected_version=None, title="Retitled")
    return engine


@pytest.fixture
def target_url(source, tmp_path):
    with empty_database(url_of(source), tmp_path) as url:
        yield url


def leftovers(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".part"))


# --- a backup restores, whole -------------------------------------------------------------------------------

def test_a_backup_restored_into_an_empty_database_gives_identical_exports(source, target_url, tmp_path):
    file = tmp_path / "risk.backup"
    seen = []
    made = backup(source, file, progress=lambda done, total: seen.append((done, total)))
    kind = source.dialect.name
    assert made.kind == bk.kind_of(file) == kind and made.size == file.stat().st_size
    assert made.head == audit.head(source) and made.events == audit.verify(source).events
    assert made.tables["proposal"] == 4 and made.rows > 1000
    assert seen and seen[-1][0] == seen[-1][1]  # progress reached the end
    assert leftovers(tmp_path) == []

    restored = restore(file, target_url)
    assert (restored.head, restored.events) == (made.head, made.events) and restored.replaced == {}
    with opened(target_url) as target:
        assert document(target) == document(source)
        assert json_lines(target) == json_lines(source)
        assert database_state(target) == database_state(source)
        assert audit.verify(target).head == made.head
        assert current_revision(target) == head_revision()


def test_a_restore_replaces_a_database_that_holds_data_only_when_allowed(source, tmp_path):
    file = tmp_path / "risk.backup"
    backup(source, file)
    at_backup = database_state(source), document(source)
    b = make_proposal(source, partners=1, risks=1, title="Made after the backup")
    after = database_state(source)
    with pytest.raises(BackupError, match=r"is not empty \(.* rows: .*audit events\): a restore replaces all of it"):
        restore(file, source)
    assert database_state(source) == after

    restored = restore(file, source, overwrite=True)
    assert restored.replaced["proposal"] == 5 and restored.replaced["audit_event"] == after["rows"]["audit_event"]
    assert (database_state(source), document(source)) == at_backup
    audit.verify(source)
    with pytest.raises(NotFoundError):  # the proposal made after the backup is gone
        ps.get_proposal(source, b.proposal_id)


def test_a_backup_at_an_older_schema_revision_is_migrated_in_the_scratch_copy(db_url, tmp_path):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(bk.__file__).parent / "migrations"))
    older = ScriptDirectory.from_config(cfg).get_revision(head_revision()).down_revision
    with opened(db_url) as old:
        migrate(old, older)
        backup(old, tmp_path / "old.backup")
    with empty_database(db_url, tmp_path) as url:
        restored = restore(tmp_path / "old.backup", url)
        assert restored.migrated_from == older
        with opened(url) as target:
            assert current_revision(target) == head_revision()
            audit.verify(target)


# --- while others write; killed part way -----------------------------------------------------------------

@pytest.mark.slow
def test_a_backup_made_while_others_write_restores_to_a_database_that_verifies(source, target_url, tmp_path,
                                                                               monkeypatch):
    b = make_proposal(source, partners=1, risks=1, title="Busy")
    stop, written, failed = threading.Event(), [], []

    def write() -> None:
        try:
            while not stop.is_set():
                i = len(written)
                if i % 3:
                    ps.update_risk(source, actor=ACTOR, risk_pk=b.risks[0], expected_version=None, title=f"Edit {i}")
                else:
                    ps.add_risk(source, actor=ACTOR, proposal_id=b.proposal_id, category="legal", title=f"New {i}",
                                cause="c", event="e", consequence="q")
                written.append(time.monotonic())
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            failed.append(exc)

    monkeypatch.setattr(bk, "STEP_PAGES", 4)  # SQLite: many steps, each a little slow, with writes in between
    monkeypatch.setattr(bk, "_after_step", lambda: time.sleep(0.01))
    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 5 and writer.is_alive():
            time.sleep(0.01)
        started = time.monotonic()
        made = backup(source, tmp_path / "busy.backup")
        ended = time.monotonic()
        time.sleep(0.2)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not failed, failed
    during = [t for t in written if started <= t <= ended]
    assert during, "no write landed while the backup ran"

    restored = restore(tmp_path / "busy.backup", target_url)
    assert restored.head == made.head
    final = audit.verify(source)
    assert restored.events < final.events  # the writers went on after the backup's snapshot
    audit.verify(source, head=made.head)  # and the backup's head is in the live chain: a snapshot of it, unchanged
    with opened(target_url) as target:
        assert audit.verify(target).head == made.head


WRAPPER = """
import sys, time
import risk.backup as bk
bk.STEP_PAGES = 1
bk._after_step = lambda: time.sleep(0.02)  # a slowed step, so that the kill lands part way
from risk.cli import main
sys.argv = ["risk", "backup", "-o", sys.argv[1]]
main()
"""


@pytest.mark.slow
def test_kill_9_during_a_backup_leaves_the_database_intact_and_no_backup_that_restores(source, target_url,
                                                                                       tmp_path):
    url = url_of(source)
    before = database_state(source), document(source)
    file = tmp_path / "killed.backup"
    env = {**os.environ, "RISK_DATABASE_URL": url}
    if source.dialect.name == "sqlite":
        proc = subprocess.Popen([sys.executable, "-c", WRAPPER, str(file)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        said = []
        while not any("backup: 30%" in line for line in said):
            line = proc.stderr.readline()
            assert line, f"the backup ended before it was a third done: {''.join(said)}"
            said.append(line)
        proc.kill()
        proc.wait(timeout=60)
        proc.stderr.close()
    else:
        said = _kill_pg_dump_part_way(source, env, file)
    assert not any(line.startswith("wrote") for line in said)
    assert not file.exists()
    assert leftovers(tmp_path), "the killed backup left no temporary file: the kill came before it began"
    for leftover in leftovers(tmp_path):
        with pytest.raises(BackupError, match="not a finished backup|is empty: not a backup"):
            restore(leftover, target_url)
    if source.dialect.name == "sqlite":
        assert not Path(target_url.removeprefix("sqlite:///")).exists()
    else:
        with opened(target_url) as target:
            assert bk._pg_target_rows(target, target.url) == {}
    assert (database_state(source), document(source)) == before
    audit.verify(source)
    # and a backup made afterwards, under the same name, is whole
    backup(source, file)
    restore(file, target_url)


def _kill_pg_dump_part_way(source: Engine, env: dict, file: Path) -> list[str]:
    """kill -9 `risk backup` while its pg_dump waits for a table the test holds locked; pg_dump dies with it."""
    watch = """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
               AND application_name = 'pg_dump' AND wait_event_type = 'Lock'"""
    with source.connect() as locker, source.connect() as looker:
        locker.execute(text("LOCK TABLE score IN ACCESS EXCLUSIVE MODE"))
        proc = subprocess.Popen([RISK, "backup", "-o", str(file)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while looker.execute(text(watch)).scalar_one() == 0:
            looker.rollback()
            assert proc.poll() is None and time.monotonic() < deadline, "pg_dump never waited for the lock"
            time.sleep(0.05)
        looker.rollback()
        proc.kill()
        proc.wait(timeout=60)
        said = proc.stderr.read().splitlines()
        proc.stderr.close()
        locker.rollback()  # the lock goes; a pg_dump still alive would now finish its file
        deadline = time.monotonic() + 30
        gone = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'"
        while looker.execute(text(gone)).scalar_one():
            looker.rollback()
            assert time.monotonic() < deadline, "pg_dump outlived the killed `risk backup`"
            time.sleep(0.05)
    return said


# --- damaged, tampered, not a backup ------------------------------------------------------------------------

def _flip(at: float):
    def damage(data: bytes) -> bytes:
        i = int(len(data) * at)
        return data[:i] + bytes([data[i] ^ 0x55]) + data[i + 1:]
    return damage


DAMAGE = {
    "truncated to half": (lambda d: d[: len(d) // 2], "damaged|not a finished backup"),
    "its last byte lost": (lambda d: d[:-1], "damaged|not a finished backup"),
    "a byte changed at a tenth": (_flip(0.1), "damaged"),
    "a byte changed at a third": (_flip(1 / 3), "damaged"),
    "a byte changed in the middle": (_flip(0.5), "damaged"),
    "a byte changed at nine tenths": (_flip(0.9), "damaged"),
    "16 bytes inverted": (lambda d: d[:3000] + bytes(x ^ 0xFF for x in d[3000:3016]) + d[3016:], "damaged"),
    "its first bytes zeroed": (lambda d: bytes(64) + d[64:], "is not a backup"),
    "empty": (lambda d: b"", "is empty: not a backup"),
    "a text file": (lambda d: b"proposal,risk\n1,2\n", "is not a backup"),
}


def test_a_damaged_backup_is_refused_and_the_target_is_unchanged(source, target_url, tmp_path):
    good = tmp_path / "good.backup"
    backup(source, good)
    restore(good, target_url)
    with opened(target_url) as target:
        make_proposal(target, partners=1, risks=1, title="Only in the target")  # so that a restore would show
        before = database_state(target), document(target)
        data = good.read_bytes()
        for what, (damage, why) in DAMAGE.items():
            bad = tmp_path / "bad.backup"
            bad.write_bytes(damage(data))
            try:
                restore(bad, target_url, overwrite=True)
            except BackupError as exc:
                refused = str(exc)
            else:
                pytest.fail(f"a backup {what} was restored")
            assert re.search(why, refused) and "Nothing was changed" in refused, (what, refused)
            assert (database_state(target), document(target)) == before, what
        export = tmp_path / "export.json"
        export.write_bytes(export_json(source))
        with pytest.raises(BackupError, match="is not a backup: it is neither a SQLite backup"):
            restore(export, target_url, overwrite=True)
        assert (database_state(target), document(target)) == before


def test_a_backup_of_a_database_edited_around_the_services_is_refused_by_the_verify(source, target_url, tmp_path):
    """The backup is whole (its checksum matches) but what it holds was changed without an audit event: the audit
    check refuses it, naming the table, row and field."""
    backup(source, tmp_path / "good.backup")
    restore(tmp_path / "good.backup", target_url)
    with opened(target_url) as tampered:
        with tampered.connect() as conn:
            rid = conn.execute(text("SELECT max(id) FROM risk")).scalar_one()
        raw(tampered, f"UPDATE risk SET title = 'Edited in the database' WHERE id = {rid}")
        backup(tampered, tmp_path / "tampered.backup")
    before = database_state(source), document(source)
    with pytest.raises(BackupError, match=rf"does not verify, so it is not restored: table risk, row {rid}, "
                                          "field title: 'Edited in the database' is stored") as got:
        restore(tmp_path / "tampered.backup", source, overwrite=True)
    assert "Nothing was changed" in str(got.value)
    assert (database_state(source), document(source)) == before


def test_a_sqlite_backup_edited_in_the_file_is_refused(source, tmp_path):
    if source.dialect.name != "sqlite":
        pytest.skip("edits a SQLite backup file")
    good = tmp_path / "good.backup"
    backup(source, good)
    with source.connect() as conn:
        rid, sid = conn.execute(text("SELECT (SELECT max(id) FROM risk), (SELECT max(id) FROM score)")).one()
    cases = {  # the last risk and score were written one by one, through the services
        "a risk's title": (f"UPDATE risk SET title = 'Edited in the backup' WHERE id = {rid}",
                           f"table risk, row {rid}, field title"),
        "a score": (f"UPDATE score SET likelihood = CASE likelihood WHEN 1 THEN 2 ELSE 1 END WHERE id = {sid}",
                    f"table score, row {sid}, field likelihood"),
        "a demo risk written in bulk": ("UPDATE risk SET title = 'Edited in the backup' WHERE id = 1",
                                        "table risk, rows .*: field title differs, in one or more of these rows"),
        "the last audit events": ("DELETE FROM audit_event WHERE id > (SELECT max(id) - 3 FROM audit_event)",
                                  "table "),
    }
    before = database_state(source)
    for what, (sql, names) in cases.items():
        edited = tmp_path / "edited.backup"
        edited.write_bytes(good.read_bytes())
        with sqlite3.connect(edited) as conn:
            conn.execute(sql)
        conn.close()
        with pytest.raises(BackupError, match="is damaged: its checksum"):  # the checksum sees the edit...
            restore(edited, source, overwrite=True)
        bk.seal(edited)  # ...which anyone can compute again: the keyed audit record is what refuses it then
        with pytest.raises(BackupError, match=rf"does not verify, so it is not restored: .*{names}"):
            restore(edited, source, overwrite=True)
        assert database_state(source) == before, what


def test_a_finished_backup_without_its_mark_is_refused_as_unfinished(source, target_url, tmp_path):
    """What a backup stopped between the last page and the mark would leave: every page there, no mark."""
    file = tmp_path / "unmarked.backup"
    backup(source, file)
    data = file.read_bytes()
    if source.dialect.name == "sqlite":
        file.write_bytes(data[:68] + bytes(4) + data[72:])
    else:
        file.write_bytes(data[: -bk.TRAILER_LENGTH])  # the archive pg_dump wrote, whole, before our line
    with pytest.raises(BackupError, match="not a finished backup"):
        restore(file, target_url)


def test_a_backup_restores_only_with_the_key_its_audit_log_was_written_with(source, target_url, tmp_path,
                                                                           monkeypatch):
    backup(source, tmp_path / "risk.backup")
    monkeypatch.setenv("RISK_AUDIT_KEY", OTHER_KEY)
    with pytest.raises(BackupError, match="audit key is not the one"):
        restore(tmp_path / "risk.backup", target_url)
    monkeypatch.delenv("RISK_AUDIT_KEY")
    monkeypatch.setenv("RISK_AUDIT_KEY_FILE", str(tmp_path / "no.key"))
    with pytest.raises(BackupError, match="cannot be checked, so it is not restored: no audit key"):
        restore(tmp_path / "risk.backup", target_url)


def test_a_backup_restores_only_into_the_engine_it_was_made_from(tmp_path):
    fake = tmp_path / "pg.backup"
    fake.write_bytes(b"PGDMP" + bytes(200))
    with pytest.raises(BackupError, match="is a PostgreSQL backup .* and the database is a SQLite database"):
        restore(fake, f"sqlite:///{tmp_path / 'risk.db'}")
    assert not (tmp_path / "risk.db").exists()


# --- the PostgreSQL tools' credentials ----------------------------------------------------------------------

def test_the_postgresql_tools_get_the_credentials_through_the_environment():
    from sqlalchemy import make_url

    url = make_url("postgresql+psycopg://alice:s3cr%40t@db.example:5433/risk?sslmode=require&connect_timeout=9")
    assert bk.pg_environment(url, base={"PATH": "/bin"}) == {
        "PATH": "/bin", "PGHOST": "db.example", "PGPORT": "5433", "PGUSER": "alice", "PGPASSWORD": "s3cr@t",
        "PGDATABASE": "risk", "PGSSLMODE": "require", "PGCONNECT_TIMEOUT": "9"}
    assert "s3cr" not in " ".join(bk._pg_restore_cmd("pg_restore", "risk", Path("x.backup")))


def test_a_postgresql_backup_and_restore_never_put_the_password_on_a_command_line(tmp_path, monkeypatch):
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    from sqlalchemy import make_url

    password = "never-on-the-command-line"  # the test server trusts its clients: a password is not asked for
    commands = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(argv, *args, **kwargs):
        commands.append((list(argv), kwargs.get("env") or {}))
        return real_run(argv, *args, **kwargs)

    class Popen(real_popen):
        def __init__(self, argv, *args, **kwargs):
            commands.append((list(argv), kwargs.get("env") or {}))
            super().__init__(argv, *args, **kwargs)

    monkeypatch.setattr(bk.subprocess, "run", run)
    monkeypatch.setattr(bk.subprocess, "Popen", Popen)
    gen, gen2 = _fresh_pg_database(), _fresh_pg_database()
    try:
        url = make_url(next(gen)).set(password=password)
        with opened(url.render_as_string(hide_password=False)) as eng:
            migrate(eng)
            make_proposal(eng, partners=1, risks=1)
        backup(url, tmp_path / "pw.backup")
        restore(tmp_path / "pw.backup", make_url(next(gen2)).set(password=password))
    finally:
        gen.close()
        gen2.close()
    tools = [(argv, env) for argv, env in commands if Path(argv[0]).name != "risk" and "--version" not in argv]
    assert {Path(argv[0]).name for argv, _ in tools} >= {"pg_dump", "pg_restore", "createdb", "dropdb"}
    for argv, env in tools:
        assert not any(password in part for part in argv), argv
        assert env.get("PGPASSWORD") == password, argv


# --- the command line -----------------------------------------------------------------------------------



def test_risk_backup_and_restore_on_the_command_line(cli, sqlite_url, tmp_path):
    assert cli("init").exit_code == 0
    with opened(sqlite_url) as eng:
        load_demo(eng, actor=SYSTEM)
        head = audit.head(eng)
    file = tmp_path / "cli.backup"
    made = cli("backup", "-o", str(file))
    assert made.exit_code == 0, made.stderr
    assert made.stdout.splitlines()[0] == f"head {head}"
    assert made.stdout.splitlines()[1].startswith(f"{head.split(':')[0]} audit events, ")
    assert "backup: 100%" in made.stderr and f"wrote {file} (sqlite backup, " in made.stderr

    refused = cli("restore", str(file))
    assert refused.exit_code == 1
    assert refused.stderr.startswith("refused: ") and "is not empty" in refused.stderr and "--yes" in refused.stderr

    done = cli("restore", str(file), "--yes")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines() == [f"head {head}", f"{head.split(':')[0]} audit events, "
                                        f"{done.stdout.splitlines()[1].split(', ')[1]}, verified"]
    assert "the backup verifies" in done.stderr and "it replaced" in done.stderr

    (tmp_path / "notes.txt").write_text("not a backup\n")
    garbage = cli("restore", str(tmp_path / "notes.txt"), "--yes")
    assert garbage.exit_code == 1 and "is not a backup" in garbage.stderr


def test_risk_backup_of_a_database_that_is_not_there_exits_1(cli, tmp_path):
    result = cli("backup", "-o", str(tmp_path / "x.backup"))
    assert result.exit_code == 1 and "error: there is no database at" in result.stderr
    assert not (tmp_path / "x.backup").exists()


def test_risk_backup_and_restore_have_help(cli):
    for command in ("backup", "restore"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "docs/BACKUP.md" in result.stdout
