"""Database setup: bring the schema to the current Alembic revision when it is behind."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import Engine

from risk.db import current_revision, migrate


@cache
def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def ensure_schema(engine: Engine) -> str | None:
    """Migrate when the database is new or behind, and make the audit key when a new database has none (risk/audit.py,
    `ensure_key`); a no-op (one read) otherwise. Returns a sentence when it made the key."""
    if current_revision(engine) != head_revision():
        migrate(engine)
    from risk.audit import ensure_key

    return ensure_key(engine)
