"""Risk matrices: the built-in ones (risk.scoring) and those imported from CISO Assistant files."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import Session

from risk import access, store
from risk.errors import NotFoundError, RefusedError
from risk.models import Matrix as MatrixRow
from risk.scoring import BUILTIN_MATRICES, Matrix


def _from_row(row) -> Matrix:
    return Matrix(name=row.name, title=row.title, levels=tuple(row.levels), grid=tuple(tuple(r) for r in row.grid),
                  colours=tuple(row.colours), source=row.source)


def list_matrices(engine: Engine) -> list[Matrix]:
    """Built-in matrices first, then imported ones by name."""
    with Session(engine) as session:
        rows = session.execute(select(MatrixRow).order_by(MatrixRow.name)).scalars().all()
        return list(BUILTIN_MATRICES.values()) + [_from_row(r) for r in rows]


def get_matrix(session, name: str) -> Matrix:
    """A matrix by name; `session` is a Session or a Connection."""
    if name in BUILTIN_MATRICES:
        return BUILTIN_MATRICES[name]
    t = MatrixRow.__table__
    row = session.execute(select(t).where(t.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no matrix named {name!r}")
    return _from_row(row)


def load_matrix(engine: Engine, name: str) -> Matrix:
    with Session(engine) as session:
        return get_matrix(session, name)


@access.audited("matrix")
def import_matrix_file(engine: Engine, data: bytes, *, actor: str, name: str | None = None,
                       source: str = "") -> list[Matrix]:
    """Store every matrix in a CISO Assistant file, or none: a bad or clashing matrix refuses the whole file.
    Matrices are shared by every proposal: only an administrator (or the operator) imports them."""
    from risk.exchange.ciso_matrix import read_matrices  # PyYAML only when a matrix file is read

    matrices = read_matrices(data, name=name, source=source)
    with store.write(engine, actor) as unit:
        access.require(unit.session, actor, "manage_matrices")
        for m in matrices:
            if m.name in BUILTIN_MATRICES or unit.session.execute(
                select(MatrixRow.id).where(MatrixRow.name == m.name)
            ).first():
                raise RefusedError(f"a matrix named {m.name!r} already exists; import it under another --name")
            store.add(unit=unit, obj=MatrixRow(name=m.name, title=m.title, levels=list(m.levels),
                                               colours=list(m.colours), grid=[list(r) for r in m.grid],
                                               source=m.source), entity="matrix")
    return matrices
