"""A fresh database per test: a temporary SQLite file (WAL needs a file), and, for the storage tests, a fresh
PostgreSQL database too when RISK_TEST_POSTGRES_URL is set.

Migrating a new database takes about 0.7 s, so it is done once per test session into a template (a SQLite file,
a PostgreSQL template database) and each test gets a copy: the same schema at the same revision, a fraction of the
time. `db_url` and `sqlite_url` stay empty and unmigrated for the tests of migrations themselves."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from risk.db import get_engine, make_engine, migrate
from risk.services.portfolio import load_demo

# Every test, and every process a test starts, chains the audit log with this key (risk/audit.py); a test of the key
# itself sets its own. Set here, at import, so that no test reads or makes the key file of the project folder.
TEST_AUDIT_KEY = "7e57" * 16
os.environ["RISK_AUDIT_KEY"] = TEST_AUDIT_KEY
os.environ.pop("RISK_AUDIT_KEY_FILE", None)

PG_URL = os.environ.get("RISK_TEST_POSTGRES_URL", "")
PG_SKIP_REASON = "RISK_TEST_POSTGRES_URL is not set: the PostgreSQL run of the storage tests is skipped"


def pytest_report_header(config):
    if PG_URL:
        return f"storage tests: SQLite and PostgreSQL ({make_url(PG_URL).render_as_string(hide_password=True)})"
    return f"storage tests: SQLite only ({PG_SKIP_REASON})"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'risk.db'}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, made once per session, to copy."""
    path = tmp_path_factory.mktemp("template") / "risk.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


def _migrated_copy(template: Path, url: str) -> str:
    shutil.copyfile(template, url.removeprefix("sqlite:///"))
    return url


@pytest.fixture
def sqlite_engine(sqlite_url, sqlite_template) -> Iterator[Engine]:
    engine = make_engine(_migrated_copy(sqlite_template, sqlite_url))
    migrate(engine)  # a no-op at the head revision (about 10 ms): the copy is checked, not trusted
    yield engine
    engine.dispose()


def _fresh_pg_database(template: str | None = None) -> Iterator[str]:
    base = make_url(PG_URL)
    name = f"risk_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, sqlite_url) -> Iterator[str]:
    """The URL of a fresh, empty database: SQLite, then PostgreSQL when one is configured."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    yield from _fresh_pg_database()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database, made once per session, that CREATE DATABASE ... TEMPLATE copies."""
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    for url in _fresh_pg_database():
        eng = make_engine(url)
        migrate(eng)
        eng.dispose()
        yield make_url(url).database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, sqlite_url, sqlite_template) -> Iterator[Engine]:
    """A migrated, empty database on each storage engine (the storage and service tests use this one): a copy of
    the session's template."""
    if request.param == "sqlite":
        eng = make_engine(_migrated_copy(sqlite_template, sqlite_url))
        migrate(eng)
        yield eng
        eng.dispose()
        return
    template = request.getfixturevalue("pg_template")
    for url in _fresh_pg_database(template):
        eng = make_engine(url)
        migrate(eng)
        yield eng
        eng.dispose()


# --- AppTests: the app run on a fresh SQLite file ------------------------------------------------------

@pytest.fixture
def app_db(sqlite_url, sqlite_template, monkeypatch):
    # AppTest runs the script as __main__ and leaves it in sys.modules; a later test that spawns processes
    # would then re-run app.py in each child. Put the real __main__ back afterwards.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    monkeypatch.setenv("RISK_DATABASE_URL", _migrated_copy(sqlite_template, sqlite_url))
    engine = get_engine(sqlite_url)
    migrate(engine)
    return engine


@pytest.fixture
def demo_db(app_db):
    load_demo(app_db, actor="system:demo")
    return app_db


# --- the command line ---------------------------------------------------------------------------------

@pytest.fixture
def cli(sqlite_url, monkeypatch):
    """`risk ARGS...` run in this process (Typer's runner) on a fresh SQLite file."""
    from typer.testing import CliRunner

    from risk.cli import app

    monkeypatch.setenv("RISK_DATABASE_URL", sqlite_url)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium, one for the whole session: the browser tests and the deployment test share it
    (Playwright's sync API runs one event loop; a second sync_playwright() in the same session is refused)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
