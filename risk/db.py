"""The engine factory and the migrations entry point.

SQLite is configured as docs/CONFIGURATION.md, SQLite, says: WAL, synchronous=FULL, foreign keys on, a busy timeout, and
pysqlite's own transaction handling off so that a write transaction starts with BEGIN IMMEDIATE (a deferred
transaction that upgrades to a write fails with "database is locked" under concurrent writers) while reads stay
deferred. PostgreSQL needs none of this; its writers serialise the audit chain with an advisory lock (store.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.pool import NullPool

from risk import config

WRITE_OPTION = "risk_write"
BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    """A new engine for `url`, with the SQLite settings applied to every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            poolclass=NullPool if not database or database == ":memory:" else None,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    from risk import config

    # one pool per process: N app servers hold up to N x (pool size + overflow) connections (docs/DEPLOYMENT.md)
    return create_engine(url, pool_pre_ping=True, pool_size=config.db_pool_size(),
                         max_overflow=config.db_max_overflow())


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA trusted_schema = OFF")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: the configured database), made once per process and URL."""
    url = url or config.database_url()
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            _engines[url] = engine
        return engine


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions are write transactions (BEGIN IMMEDIATE on SQLite)."""
    return engine.execution_options(**{WRITE_OPTION: True})


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic (risk/migrations)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (Alembic's alembic_version table), None for a new database: one query,
    without importing Alembic (0.2 s of every command). A database holding several revisions (branches) is left to
    Alembic, which says so."""
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, "alembic_version"):
            return None
        revisions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        if len(revisions) <= 1:
            return revisions[0] if revisions else None
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()
