"""Their header mapped to our columns: a --map or a saved mapping applied, unknown, duplicate and unnamed columns
named as problems of row 1, and the columns a register needs checked."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from risk.errors import RefusedError
from risk.services.register_import.columns import FIELDS, NEEDED, PAIRS
from risk.services.register_import.problems import Problems


def parse_map(items: Sequence[str]) -> dict[str, str]:
    """`["Risk name=title", "Notes="]` -> {"Risk name": "title", "Notes": ""} (an empty target leaves the column
    out). The last `=` splits, so their column's name may hold one."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise RefusedError(f"--map {item!r}: expected THEIRS=OURS, such as 'Risk name=title'")
        theirs, ours = item.rsplit("=", 1)
        out[theirs.strip()] = ours.strip()
    return out


def norm(name: str) -> str:
    return re.sub(r"[\s_]+", "_", name.strip().lower())


def map_header(header: Sequence[str], mapping: Mapping[str, str], known: Sequence[str], problems: Problems,
               label: str = "") -> dict[str, int]:
    """Our field name -> column position, after the mapping (theirs -> ours, "" to leave a column out).
    Unknown, duplicate and unnamed columns are problems of row 1."""
    known_set = set(known)
    for ours in mapping.values():
        if ours and ours not in known_set:
            problems.add(1, ours, f"{label}the mapping names {ours!r}, which is not a register column; they are "
                                  f"{', '.join(known)}")
    folded = {norm(k): v for k, v in mapping.items()}
    unmapped = [theirs for theirs in mapping if theirs not in header and norm(theirs) not in map(norm, header)]
    for theirs in unmapped:
        problems.add(1, theirs, f"{label}the mapping names the column {theirs!r}, which the file does not have")
    positions: dict[str, int] = {}
    for k, name in enumerate(header):
        letter = _letters(k)
        if name in mapping or norm(name) in folded:
            ours = mapping[name] if name in mapping else folded[norm(name)]
            if not ours:
                continue
        elif not name.strip():
            problems.add(1, f"column {letter}", f"{label}column {letter} has no name; name it or delete it")
            continue
        else:
            ours = norm(name)
            if ours not in known_set:
                problems.add(1, name, f"{label}column {letter} ({name!r}) is not a register column: say which one "
                                      f"it holds (--map '{name}=title' on the command line), or leave it out "
                                      f"(--map '{name}=')")
                continue
        if ours in positions:
            problems.add(1, ours, f"{label}columns {_letters(positions[ours])} and {letter} are both {ours!r}; "
                                  "keep one")
            continue
        positions[ours] = k
    return positions


def _letters(k: int) -> str:
    out = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        out = chr(65 + r) + out
    return out


def check_header(header: Sequence[str], mapping: Mapping[str, str], problems: Problems) -> dict[str, int] | None:
    """Our field -> column position, or None (with the problems of row 1) when the header will not do."""
    positions = map_header(header, mapping, FIELDS, problems)
    for name in NEEDED:
        if name not in positions and not any(p["field"] == name and p["row"] == 1 for p in problems.items):
            problems.add(1, name, f"the column {name!r} is missing; a register needs "
                                  f"{', '.join(NEEDED)}: say which of the file's columns holds it")
    for _phase, lik, imp, _when in PAIRS:
        for a, b in ((lik, imp), (imp, lik)):
            if a in positions and b not in positions:
                problems.add(1, b, f"the column {b!r} is missing; {a} needs it")
    return None if problems else positions


def mapping_for(header: Sequence[str], mapping: Mapping[str, str] | None, saved: Mapping[str, str] | None
                ) -> dict[str, str]:
    """The mapping to apply: the saved one for the columns the file has, then `mapping` over it."""
    present = set(header) | {norm(h) for h in header}
    out = {k: v for k, v in (saved or {}).items() if k in present or norm(k) in present}
    out.update(mapping or {})
    return out
