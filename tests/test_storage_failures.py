"""A full disk or a lost database (issue 13) is reported in words: what could not be saved and that nothing was
changed, never SQL or its values; the CLI exits 1 with that message, and what was saved before stays intact."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.exc import IntegrityError, OperationalError
from typer.testing import CliRunner

from risk import store
from risk.db import make_engine
from risk.errors import StorageError
from risk.services import proposals as ps
from risk.services.json_export import export_document, export_json
from risk.services.json_import import import_json
from risk.services.portfolio import load_demo, load_synthetic
from risk.store import verify_chain
from tests.builders import SYSTEM
from tests.builders import database_state as state
from tests.test_portfolio import normalised

pytestmark = pytest.mark.storage

RISK = str(Path(sys.executable).with_name("risk"))
SQL_WORDS = ("INSERT", "SELECT", "UPDATE", "VALUES", "[SQL", "parameters", "sqlite3.", "psycopg", "Traceback")


def in_words(message: str) -> None:
    assert not any(word in message for word in SQL_WORDS), message


def full_disk(engine: Engine, *, grow_pages: int = 0) -> Engine:
    """Another engine on the same SQLite file whose connections may not grow it past its size now (plus
    `grow_pages`): a full disk, as SQLite sees it. PRAGMA max_page_count lasts as long as the connection, so it is
    set on every new one, after risk/db.py's own settings."""
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    capped = make_engine(engine.url.render_as_string(hide_password=False))

    @event.listens_for(capped, "connect")
    def _cap(dbapi_connection, _record):  # noqa: ANN001
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + grow_pages}")

    return capped


@pytest.fixture
def with_demo(sqlite_engine) -> tuple[Engine, dict, list]:
    """A database holding the demo portfolio: its state and its export, to show they stay intact."""
    load_demo(sqlite_engine, actor=SYSTEM)
    return sqlite_engine, state(sqlite_engine), normalised(export_document(sqlite_engine))


def copies(engine: Engine) -> bytes:
    """The demo's export under other titles, so that an import of it is not refused for its titles."""
    doc = json.loads(export_json(engine))
    for p in doc["proposals"]:
        p["title"] += " (copy)"
    return json.dumps(doc).encode()


def intact(engine: Engine, before: dict, export: list) -> None:
    assert state(engine) == before
    assert normalised(export_document(engine)) == export
    assert verify_chain(engine) > 0


# --- a full disk (SQLite, PRAGMA max_page_count) ------------------------------------------------------------

def test_a_full_disk_during_an_import_is_reported_in_words_and_changes_nothing(with_demo):
    engine, before, export = with_demo
    data = copies(engine)
    capped = full_disk(engine)
    report = import_json(capped, data, actor=SYSTEM)
    capped.dispose()
    assert report["proposal_ids"] == [] and len(report["problems"]) == 1
    message = report["problems"][0]["message"]
    assert message == ("the import of 3 proposals could not be saved: the disk is full (the database could not "
                       "grow). Nothing was changed; what was saved before is intact")
    in_words(message)
    intact(engine, before, export)
    assert import_json(engine, data, actor=SYSTEM)["problems"] == []  # with room again, it imports


def test_a_full_disk_during_a_form_save_raises_a_storage_error_in_words(with_demo):
    engine, before, export = with_demo
    capped = full_disk(engine)
    with pytest.raises(StorageError) as caught:
        ps.create_proposal(capped, actor=SYSTEM, title="Shared GIS", description="a long description " * 1_000)
    capped.dispose()
    assert str(caught.value).startswith("the change could not be saved: the disk is full")
    in_words(str(caught.value))
    intact(engine, before, export)


def test_a_full_disk_during_the_demo_load_changes_nothing(sqlite_engine):
    before = state(sqlite_engine)
    capped = full_disk(sqlite_engine)
    with pytest.raises(StorageError, match=r"^the demo portfolio could not be saved: the disk is full .* Nothing "
                                           r"was changed"):
        load_demo(capped, actor=SYSTEM)
    capped.dispose()
    assert state(sqlite_engine) == before
    assert load_demo(sqlite_engine, actor=SYSTEM).loaded


def test_a_full_disk_in_the_middle_of_a_synthetic_load_keeps_whole_proposals_and_a_re_run_completes_it(
        sqlite_engine):
    # 70 proposals of 20 risks and 8 assessors are committed in chunks of 62 and 8; the disk fills in the second
    capped = make_engine(sqlite_engine.url.render_as_string(hide_password=False))
    proposals_inserted = []

    @event.listens_for(capped, "before_cursor_execute")
    def _fill_the_disk(conn, cursor, statement, *_):  # noqa: ANN001
        if statement.startswith("INSERT INTO proposal "):
            proposals_inserted.append(1)
            if len(proposals_inserted) == 2:
                pages = cursor.execute("PRAGMA page_count").fetchone()[0]
                cursor.execute(f"PRAGMA max_page_count = {pages}")

    size = {"proposals": 70, "risks": 20, "assessors": 8, "seed": 41}
    with pytest.raises(StorageError) as caught:
        load_synthetic(capped, actor=SYSTEM, **size)
    capped.dispose()
    assert str(caught.value) == (
        "the synthetic portfolio with seed 41 stopped at proposal 63 of 70: the disk is full (the database could not "
        "grow). The 62 proposals before it were saved and are kept, nothing of the rest was; running the same load "
        "again adds the rest")
    assert state(sqlite_engine)["rows"]["proposal"] == 62 and state(sqlite_engine)["rows"]["score"] == 62 * 320
    result = load_synthetic(sqlite_engine, actor=SYSTEM, **size)
    assert result.loaded and result.kept == 62 and len(result.proposal_ids) == 70
    assert state(sqlite_engine)["rows"]["score"] == 70 * 320 and verify_chain(sqlite_engine) > 0


def test_the_import_command_reports_a_full_disk_in_words_and_exits_1(with_demo, tmp_path, monkeypatch):
    from risk import cli, db

    engine, before, export = with_demo
    path = tmp_path / "copies.json"
    path.write_bytes(copies(engine))
    capped = full_disk(engine)
    monkeypatch.setattr(db, "get_engine", lambda url=None: capped)
    result = CliRunner().invoke(cli.app, ["import", str(path)])
    capped.dispose()
    assert result.exit_code == 1, result.output
    assert "copies.json: the import of 3 proposals could not be saved: the disk is full" in result.stderr
    assert "Nothing was changed" in result.stderr and "nothing was imported" in result.stderr
    in_words(result.output)
    intact(engine, before, export)


# --- a lost database ----------------------------------------------------------------------------------------

def lose(engine: Engine) -> tuple[Engine, Callable[[], None]]:
    """The database gone, and a way to bring it back: a SQLite file whose folder is no longer there (a disk or a
    share unmounted), or a PostgreSQL server that does not answer."""
    if engine.dialect.name == "sqlite":
        folder = Path(engine.url.database).parent
        away = folder.with_name(folder.name + "-away")
        engine.dispose()
        folder.rename(away)
        return engine, lambda: away.rename(folder)
    gone = make_engine(make_url(engine.url.render_as_string(hide_password=False)).set(
        host="127.0.0.1", port=1).render_as_string(hide_password=False))
    return gone, gone.dispose


def test_a_lost_database_is_reported_in_words_and_what_was_saved_stays(engine):
    load_demo(engine, actor=SYSTEM)
    before, export = state(engine), normalised(export_document(engine))
    data = copies(engine)
    gone, bring_back = lose(engine)
    try:
        with pytest.raises(StorageError) as caught:
            ps.create_proposal(gone, actor=SYSTEM, title="Shared GIS")
        report = import_json(gone, data, actor=SYSTEM)
    finally:
        bring_back()
    message = str(caught.value)
    assert message.startswith("the change could not be saved: the database ") and \
        message.endswith("Nothing was changed; what was saved before is intact"), message
    in_words(message)
    assert report["problems"][0]["message"].startswith("the import of 3 proposals could not be saved: the database ")
    intact(engine, before, export)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_connection_lost_in_the_middle_of_an_import_changes_nothing(engine):
    load_demo(engine, actor=SYSTEM)
    before, export = state(engine), normalised(export_document(engine))
    admin = make_engine(engine.url.render_as_string(hide_password=False))

    def end_the_importers_session(done, total):
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))

    report = import_json(engine, copies(engine), actor=SYSTEM, progress=end_the_importers_session)
    admin.dispose()
    message = report["problems"][0]["message"]
    assert message.startswith("the import of 3 proposals could not be saved: the database") and \
        "Nothing was changed" in message, message
    in_words(message)
    intact(engine, before, export)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_full_disk_on_the_server_during_an_import_changes_nothing(engine):
    """PostgreSQL's own "could not extend file: No space left on device" (SQLSTATE 53100), raised where the scores
    are written, since a test cannot fill the server's disk."""
    load_demo(engine, actor=SYSTEM)
    before, export = state(engine), normalised(export_document(engine))
    data = copies(engine)
    full = make_engine(engine.url.render_as_string(hide_password=False))

    @event.listens_for(full, "before_cursor_execute")
    def _no_space(conn, cursor, statement, *_):  # noqa: ANN001
        if statement.startswith("INSERT INTO score"):
            raise psycopg.errors.DiskFull('could not extend file "base/16384/16521": No space left on device')

    report = import_json(full, data, actor=SYSTEM)
    full.dispose()
    assert report["problems"][0]["message"] == (
        "the import of 3 proposals could not be saved: the disk is full (the database could not grow). Nothing "
        "was changed; what was saved before is intact")
    intact(engine, before, export)


@pytest.mark.slow
def test_the_commands_report_an_unreachable_database_in_words_and_exit_1(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text('{"format": "risk-workbench", "format_version": 1, "proposals": []}')
    env = {**os.environ, "RISK_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"}
    for args in (["demo"], ["import", str(path)]):
        done = subprocess.run([RISK, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip() == ("error: the database could not be reached (the connection failed or was "
                                       "lost); nothing was changed"), done.stderr


# --- which failures are the storage's ------------------------------------------------------------------------

def _sqlite(code: int) -> sqlite3.Error:
    err = sqlite3.OperationalError("a message")
    err.sqlite_errorcode = code
    return err


@pytest.mark.parametrize(("orig", "reason"), [
    (_sqlite(13), "the disk is full"),
    (_sqlite(10 | (13 << 8)), "the disk could not be read or written"),  # SQLITE_IOERR_FSYNC
    (_sqlite(14), "the database file could not be opened"),
    (_sqlite(5), "another writer held the database"),
    (_sqlite(1), None),  # SQLITE_ERROR: a mistake in a statement, not the storage
    (psycopg.errors.DiskFull("x"), "the disk is full"),
    (psycopg.errors.AdminShutdown("x"), "the database server ended the connection"),
    (psycopg.errors.DatabaseDropped("x"), "the database is not there"),
    (psycopg.errors.ReadOnlySqlTransaction("x"), "the database is read-only"),
    (psycopg.OperationalError("connection refused"), "the database could not be reached"),
    (psycopg.errors.CheckViolation("x"), None),
])
def test_a_storage_failure_is_told_apart_from_data_the_database_refuses(orig, reason):
    wrapper = IntegrityError if isinstance(orig, psycopg.errors.CheckViolation) else OperationalError
    got = store.storage_reason(wrapper("INSERT INTO risk VALUES (?)", ("secret",), orig))
    assert (got is None) if reason is None else got.startswith(reason), got
