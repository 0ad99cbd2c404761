"""Reads for hot paths: a Core statement compiled once per dialect, run on the connection's driver cursor, rows
as plain tuples. Skipping SQLAlchemy's per-row result processing is what keeps a profile page fast (see
docs/PERFORMANCE.md); values that need it (JSON, timestamps) are converted by the caller, per column."""

from __future__ import annotations

import datetime as dt
import json
from collections import namedtuple
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.sql import Select

_compiled: dict[tuple[str, str], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def rows(conn: Connection, key: str, stmt: Select, **params: Any) -> list[tuple]:
    """Run `stmt` (named by `key`, which must identify it) with `params` and return its rows as tuples."""
    cache_key = (key, conn.dialect.name)
    entry = _compiled.get(cache_key)
    if entry is None:
        compiled = stmt.compile(dialect=conn.dialect)
        entry = (str(compiled), compiled.positiontup, dict(compiled.params))
        _compiled[cache_key] = entry
    sql, positions, defaults = entry
    values = {**defaults, **params}
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, tuple(values[p] for p in positions) if positions is not None else values)
        return cursor.fetchall()
    finally:
        cursor.close()


def as_json(value: Any) -> Any:
    """A JSON column's value: SQLite hands back text, PostgreSQL's driver the decoded object."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def as_datetime(value: Any) -> dt.datetime | None:
    """A timestamp column's value as an aware UTC datetime (SQLite hands back text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def record_type(table: Table):
    """A namedtuple type with the table's column names, for its rows read here."""
    return namedtuple(f"{table.name.title().replace('_', '')}Row", [c.name for c in table.c])
