"""Saved column mappings: how the columns of another tool's spreadsheet map to the register's, kept by name so
that the next file from the same source imports without mapping again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, store
from risk.errors import NotFoundError, RefusedError
from risk.models import ColumnMapping, utcnow
from risk.services.register_import import FIELDS


def list_mappings(engine: Engine) -> list[ColumnMapping]:
    with Session(engine) as s:
        return list(s.execute(select(ColumnMapping).order_by(ColumnMapping.name)).scalars())


def get_mapping(engine: Engine, name: str) -> dict[str, str]:
    with Session(engine) as s:
        found = s.execute(select(ColumnMapping).where(ColumnMapping.name == name)).scalar_one_or_none()
    if found is None:
        known = ", ".join(m.name for m in list_mappings(engine)) or "none saved yet"
        raise NotFoundError(f"mapping: no saved mapping called {name!r} (saved: {known})")
    return dict(found.columns)


@access.audited("column_mapping")
def save_mapping(engine: Engine, *, actor: str, name: str, columns: Mapping[str, str]) -> None:
    """Save (or replace) a mapping; each target must be one of the register's columns or "" (left out)."""
    name = name.strip()
    if not name:
        raise RefusedError("name: a mapping needs a name")
    if len(name) > 100:
        raise RefusedError(f"name: at most 100 characters, got {len(name)}")
    bad = sorted({ours for ours in columns.values() if ours and ours not in FIELDS})
    if bad:
        raise RefusedError(f"columns: {', '.join(map(repr, bad))} is not a column of the register")
    with store.write(engine, actor) as unit:
        access.require(unit.session, actor, "save_mapping")
        old = unit.session.execute(select(ColumnMapping).where(ColumnMapping.name == name)).scalar_one_or_none()
        if old is None:
            store.add(unit=unit, obj=ColumnMapping(name=name, columns=dict(columns), updated_by=actor),
                      entity="column_mapping")
        else:
            store.update(unit=unit, obj=old, entity="column_mapping",
                         changes={"columns": dict(columns), "updated_by": actor, "updated_at": utcnow()})


def best_mapping(engine: Engine, header: Sequence[str]) -> ColumnMapping | None:
    """The saved mapping made for files like this one: it names every column of the header that is not one of the
    register's by name (and names at least one); of several, the one naming most of the header, then the newest.
    None when no saved mapping fits."""
    foreign = {h for h in header if h and "_".join(h.strip().lower().split()) not in FIELDS}
    present = set(header)
    fitting = [(len(present & set(m.columns)), m.updated_at, m) for m in list_mappings(engine)
               if foreign and foreign <= set(m.columns)]
    return max(fitting, key=lambda x: (x[0], x[1]))[2] if fitting else None
