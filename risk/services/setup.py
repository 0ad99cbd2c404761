"""Database setup: bring the schema to the current Alembic revision when it is behind.

Every command and the app check the schema first, so the check is cheap: the head revision is read from the
migration files' `revision = ...` lines (`head_revision`) and the database's from its alembic_version table with
one query (risk.db.current_revision), without importing Alembic, which took 0.2 s of every command. Alembic runs
only when the database is new or behind (risk.db.migrate)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import Engine

from risk.db import current_revision, migrate

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# `revision = '0012'`, `down_revision = '0011'` or `= None`, as script.py.mako writes them (a type annotation allowed)
_ID_LINE = re.compile(r"""^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(?:'([^'\n]*)'|"([^"\n]*)"|(None))\s*$""",
                      re.MULTILINE)


def revision_chain(versions: Path = MIGRATIONS / "versions") -> dict[str, str | None] | None:
    """Each migration's revision -> the revision it revises (None for the first), read from the files' text; None
    when a file does not say both in the plain form above (a merge revises a tuple, say): then ask Alembic."""
    chain: dict[str, str | None] = {}
    for path in sorted(versions.glob("*.py")):
        ids: dict[str, list[str | None]] = {}
        for m in _ID_LINE.finditer(path.read_text(encoding="utf-8")):
            ids.setdefault(m[1], []).append(None if m[4] else (m[2] if m[2] is not None else m[3]))
        if len(ids.get("revision", [])) != 1 or len(ids.get("down_revision", [])) != 1 or ids["revision"][0] is None:
            return None
        if ids["revision"][0] in chain:
            return None
        chain[ids["revision"][0]] = ids["down_revision"][0]
    return chain


def _alembic_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


@cache
def head_revision() -> str:
    """The revision of the newest migration: the one no other revises, when the migrations are one chain from a
    first one (what Alembic's ScriptDirectory.get_current_head() says, tests/test_packet_charts.py checks); Alembic's
    own answer otherwise (a branch, a merge, a file written in another form)."""
    chain = revision_chain()
    if chain:
        heads = set(chain) - set(chain.values())
        roots = [r for r, down in chain.items() if down is None]
        if len(heads) == 1 and len(roots) == 1 and all(down is None or down in chain for down in chain.values()):
            return heads.pop()
    return _alembic_head()


class SchemaMismatchError(RuntimeError):
    """The database's schema is not the one this version of the workbench was written for, and it was not to be
    changed here: a message for the operator, in words."""


def ensure_schema(engine: Engine, *, may_migrate: bool = True) -> str | None:
    """Migrate when the database is new or behind, and make the audit key when a new database has none (risk/audit.py,
    `ensure_key`); a no-op (one read) otherwise. Returns a sentence when it made the key. With `may_migrate` False
    (an app server among several, RISK_MIGRATE_ON_START=0) a database that is behind is refused, not migrated; and
    a database ahead of this version (another server upgraded it) is always refused, in words."""
    found, head = current_revision(engine), head_revision()
    if found != head:
        chain = revision_chain()
        if chain is not None and found is not None and found not in chain:
            raise SchemaMismatchError(
                f"the database's schema is at revision {found}, newer than this version of the workbench knows "
                f"(its newest is {head}): another server was upgraded; upgrade this one too (docs/DEPLOYMENT.md)")
        if not may_migrate and found is not None:
            raise SchemaMismatchError(
                f"the database's schema is at revision {found} and this version of the workbench needs {head}: run "
                "`risk init` once, with every app server stopped, then start them (docs/DEPLOYMENT.md, Upgrading)")
        migrate(engine)
    from risk.audit import ensure_key

    return ensure_key(engine)
