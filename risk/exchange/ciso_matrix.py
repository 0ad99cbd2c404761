"""Reading CISO Assistant risk-matrix library files (YAML).

Format: `objects.risk_matrix[]`, each with `probability`, `impact` and `risk` lists (items with `id`, `name`,
optional `hexcolor`) and `grid`, whose rows are probability (0-based) and whose cells index `risk`. So
grid[p][i] maps straight onto the workbench's grid[likelihood - 1][impact - 1]: the axes are kept.
Files are parsed with `safe_load` after a size check and a scan that refuses anchors and aliases (safe_load
still expands an alias bomb)."""

from __future__ import annotations

from typing import Any

import yaml

from risk.errors import RefusedError
from risk.scoring import Matrix, MatrixError

MAX_BYTES = 1_000_000


def _refuse_aliases(text: str) -> None:
    try:
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
                line = ev.start_mark.line + 1 if ev.start_mark else "?"
                raise RefusedError(
                    f"line {line}: YAML anchors and aliases are not accepted in a matrix file "
                    "(they can expand without bound); write the values out in full"
                )
    except yaml.YAMLError as exc:
        raise RefusedError(f"not a readable YAML file: {exc}") from None


def read_matrices(data: bytes, name: str | None = None, source: str = "") -> list[Matrix]:
    """Every matrix in a CISO Assistant library file, validated; raises RefusedError for the whole file."""
    if len(data) > MAX_BYTES:
        raise RefusedError(f"the file is {len(data):,} bytes; a matrix file may be at most {MAX_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RefusedError("the file is not UTF-8 text; a CISO Assistant matrix file is UTF-8 YAML") from None
    _refuse_aliases(text)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RefusedError(f"not a readable YAML file: {exc}") from None
    objects = doc.get("objects") if isinstance(doc, dict) else None
    raw = objects.get("risk_matrix") if isinstance(objects, dict) else None
    if not isinstance(raw, list) or not raw:
        raise RefusedError("no risk matrix found: expected a list under objects.risk_matrix")
    if name and len(raw) != 1:
        raise RefusedError(f"--name applies to a file with one matrix; this file has {len(raw)}")
    out: list[Matrix] = []
    for pos, item in enumerate(raw, start=1):
        out.append(_one(item, pos, name, source))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise RefusedError(f"the file holds two matrices with the same ref_id: {names}")
    return out


def _names(item: dict[str, Any], key: str, where: str) -> list[str]:
    values = item.get(key)
    if not isinstance(values, list) or not values:
        raise RefusedError(f"{where}: `{key}` must be a list of levels")
    names = []
    for k, v in enumerate(values):
        n = v.get("name") if isinstance(v, dict) else None
        if not isinstance(n, str) or not n.strip():
            raise RefusedError(f"{where}: {key}[{k}] has no name")
        names.append(n.strip())
    return names


def _one(item: Any, pos: int, name: str | None, source: str) -> Matrix:
    if not isinstance(item, dict):
        raise RefusedError(f"matrix {pos}: expected a mapping with probability, impact, risk and grid")
    ref = name or item.get("ref_id") or item.get("urn")
    if not isinstance(ref, str) or not ref.strip():
        raise RefusedError(f"matrix {pos}: it has no ref_id; give one with --name")
    ref = ref.strip()
    where = f"matrix {ref!r}"
    probability = _names(item, "probability", where)
    impact = _names(item, "impact", where)
    levels = _names(item, "risk", where)
    grid = item.get("grid")
    if len(probability) != 5 or len(impact) != 5:
        raise RefusedError(
            f"{where} is {len(probability)}x{len(impact)} (probability x impact): this workbench scores on "
            "five-level likelihood and impact scales, so only 5x5 matrices can be imported"
        )
    if not isinstance(grid, list) or len(grid) != 5 or any(not isinstance(r, list) or len(r) != 5 for r in grid):
        raise RefusedError(f"{where}: the grid must have 5 rows (probability) of 5 cells (impact)")
    colours = []
    for v in item["risk"]:
        c = v.get("hexcolor") if isinstance(v, dict) else None
        colours.append(c.strip() if isinstance(c, str) and c.strip().startswith("#") else "")
    try:
        return Matrix(
            name=ref,
            title=str(item.get("name") or ref).strip(),
            levels=tuple(levels),
            grid=tuple(tuple(row) for row in grid),
            colours=tuple(colours) if all(colours) else (),
            source=source,
        )
    except MatrixError as exc:
        raise RefusedError(f"{where}: {exc}") from None
