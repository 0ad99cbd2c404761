"""Alembic environment: migrates the engine handed over by risk.db.migrate (or the configured database).

On SQLite, foreign keys are switched off before the migration's transaction (the pragma does nothing inside
one) so that a copy-and-replace batch migration cannot cascade-delete child rows, and `PRAGMA
foreign_key_check` must come back empty before the transaction commits. Concurrent starters queue: SQLite
behind BEGIN IMMEDIATE, PostgreSQL behind an advisory lock.
"""

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import risk.models  # noqa: F401  (registers the tables)
from risk.db import get_engine, is_sqlite, writer

MIGRATION_LOCK = 0x5249534B  # "RISK"

engine = context.config.attributes.get("engine") or get_engine()

with writer(engine).connect() as connection:
    sqlite = is_sqlite(engine)
    if sqlite:
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            if not sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows whose foreign keys do not resolve: {broken[:5]}")
    finally:
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")
