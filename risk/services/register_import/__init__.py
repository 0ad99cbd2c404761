"""Importing risk registers from spreadsheets (CSV, XLSX) into a new proposal or into an existing one.

The whole file is read and checked column by column before anything is written; every problem is reported with
its row (numbered as the spreadsheet shows it, the header being row 1) and its field. Derived columns (levels,
appetite, over_appetite, assessors, disagreement, next_review) are read but never trusted: they are recomputed
from the stored facts. A register row's scores become the standing value of the risk: through the rounds of the
workbook's Scores sheet where those give that value, otherwise as a consensus recorded by the person importing.

Into an existing proposal (`proposal_id`), rows are matched on risk_id: an existing risk is updated where the file
differs, a new risk_id is added, and risks that are not in the file are left alone. One transaction writes all rows
or none."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np
import pandas as pd
from sqlalchemy import Engine, bindparam, select, update

from risk import config, scoring, store
from risk.errors import ConflictError, RefusedError
from risk.exchange.reading import Table, Workbook, check_size, read_csv
from risk.exchange.spreadsheet import FORMAT_VERSION, WORKBOOK_FORMAT_LABEL
from risk.models import Consensus, Partner, Proposal, ProposalPartner, Risk, utcnow
from risk.scoring import RISK_ID_PATTERN, check_risk_id
from risk.services.bulk import ProposalBundle, RoundBundle, load_bundles, validate
from risk.services.register import REGISTER_COLUMNS

FIELDS = (*REGISTER_COLUMNS, "format_version")
NEEDED = ("risk_id", "category", "title")


def _risk_id_problem(value: str) -> str:
    try:
        check_risk_id(value)
    except ValueError as exc:
        return str(exc)
    return "not a risk_id"  # not reached: called only for values off the pattern
DERIVED = ("inherent_level", "residual_level", "appetite", "over_appetite", "assessors", "disagreement",
           "next_review")
TEXT = ("title", "cause", "event", "consequence", "owner", "controls")
PAIRS = (("inherent", "inherent_likelihood", "inherent_impact", "inherent_assessed_on"),
         ("residual", "residual_likelihood", "residual_impact", "residual_assessed_on"))
SCORE_FIELDS = ("proposal", "risk_id", "phase", "round", "round_closed_on", "assessor", "partner", "likelihood",
                "impact", "rationale")
ACTION_FIELDS = ("proposal", "risk_id", "description", "owner", "due_date", "status", "cost", "paying_partner")
UPDATABLE = ("category", "title", "cause", "event", "consequence", "owner_partner", "owner", "controls", "treatment",
             "status")
MAX_PROBLEMS = 500
_WHOLE = {str(k): k for k in range(1, 6)} | {f"{k}.0": k for k in range(1, 6)}
_CATEGORY = {k: k for k in scoring.CATEGORIES} | {v.lower(): k for k, v in scoring.CATEGORIES.items()}
_STATUS = {s.lower(): s for s in scoring.RISK_STATUSES}
_FORMULA_QUOTED = re.compile(r"^'[=+\-@\t\r\x00']")


class Problems:
    """Problems found while checking a file: {"row", "field", "message"}; the first MAX_PROBLEMS by row are
    listed, the rest counted."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.more = 0

    def add(self, row: int | None, field_name: str | None, message: str) -> None:
        if len(self.items) < 100 * MAX_PROBLEMS:
            self.items.append({"row": row, "field": field_name, "message": message})
        else:
            self.more += 1

    def where(self, mask: np.ndarray, rows: np.ndarray, values: Sequence[str], field_name: str,
              message: Callable[[str], str]) -> None:
        """One problem per row where `mask` is set (the loop runs over bad rows only). Each check keeps its first
        MAX_PROBLEMS rows, so the first MAX_PROBLEMS of the file by row are among those kept."""
        bad = np.flatnonzero(mask)
        for k in bad[:MAX_PROBLEMS]:
            self.add(int(rows[k]), field_name, message(values[k]))
        self.more += max(0, len(bad) - MAX_PROBLEMS)

    def __bool__(self) -> bool:
        return bool(self.items)

    def listed(self) -> list[dict]:
        """The problems in row order (file-wide ones first), as found within a row."""
        items = sorted(self.items, key=lambda p: p["row"] or 0)
        more = self.more + max(0, len(items) - MAX_PROBLEMS)
        items = items[:MAX_PROBLEMS]
        if more:
            items.append({"row": None, "field": None, "message": f"and {more:,} more problems of these kinds"})
        return items


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


def _norm(name: str) -> str:
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
    folded = {_norm(k): v for k, v in mapping.items()}
    unmapped = [theirs for theirs in mapping if theirs not in header and _norm(theirs) not in map(_norm, header)]
    for theirs in unmapped:
        problems.add(1, theirs, f"{label}the mapping names the column {theirs!r}, which the file does not have")
    positions: dict[str, int] = {}
    for k, name in enumerate(header):
        letter = _letters(k)
        if name in mapping or _norm(name) in folded:
            ours = mapping[name] if name in mapping else folded[_norm(name)]
            if not ours:
                continue
        elif not name.strip():
            problems.add(1, f"column {letter}", f"{label}column {letter} has no name; name it or delete it")
            continue
        else:
            ours = _norm(name)
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


def _column(table: Table, positions: dict[str, int], name: str) -> pd.Series | None:
    if name not in positions:
        return None
    position = positions[name]
    if position >= table.frame.shape[1]:
        return pd.Series([""] * len(table.frame), dtype="str")
    return table.frame[position].astype("str")  # pandas' string dtype: the checks below run vectorised


def _text_column(table: Table, positions: dict[str, int], name: str, quoted: bool = True) -> pd.Series:
    """A column of one of our sheets as text (formula quotes removed when `quoted`); empty text when the sheet
    lacks it."""
    s = _column(table, positions, name)
    if s is None:
        return pd.Series([""] * len(table.rows), dtype="str")
    return _untext(s) if quoted else s


def _untext(s: pd.Series) -> pd.Series:
    """unsafe_text, column-wise: one leading ' removed where a formula character (or ') follows it."""
    quoted = s.str.match(_FORMULA_QUOTED).to_numpy(dtype=bool)
    if quoted.any():
        s = s.copy()
        s[quoted] = s[quoted].str[1:]
    return s


def _scores(s: pd.Series, rows: np.ndarray, name: str, problems: Problems) -> pd.Series:
    """Whole numbers 1-5 (or blank, as None)."""
    s = s.str.strip()
    out = s.map(_WHOLE)
    bad = (out.isna() & (s != "")).to_numpy()
    problems.where(bad, rows, s.tolist(), name, lambda v: f"expected a whole number from 1 to 5, got {v!r}")
    return out


def _dates(s: pd.Series, rows: np.ndarray, name: str, problems: Problems) -> pd.Series:
    s = s.str.strip()
    out = pd.to_datetime(s.where(s != ""), format="%Y-%m-%d", errors="coerce")
    bad = (out.isna() & (s != "")).to_numpy()
    problems.where(bad, rows, s.tolist(), name, lambda v: f"expected a date as YYYY-MM-DD, got {v!r}")
    return pd.Series([None if pd.isna(v) else v.date() for v in out], dtype=object)


@dataclass
class Register:
    """A register file read and checked: one entry per data row, values in our terms."""

    rows: np.ndarray
    columns: set[str]
    data: dict[str, list]  # field -> values (text, category keys, scores as int or None, dates)
    titles: list[str]
    scores: list[dict] = field(default_factory=list)  # rows of the Scores sheet, checked
    actions: list[dict] = field(default_factory=list)
    method: dict[str, object] = field(default_factory=dict)  # matrix, aggregation, appetite (an XLSX's Method sheet)
    partners: list[dict] = field(default_factory=list)  # from an XLSX's Summary sheet
    team: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""


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


LIMITS = {"title": 300, "cause": 5000, "event": 5000, "consequence": 5000, "owner": 200, "controls": 5000,
          "owner_partner": 200}  # as the services allow when a risk is typed in


def _check_register(table: Table, mapping: Mapping[str, str], problems: Problems, quoted: bool = True
                    ) -> Register | None:
    """The register rows checked; `quoted`: formula-like text arrives with a leading ' to remove (CSV)."""
    positions = check_header(table.header, mapping, problems)
    if positions is None:
        return None
    rows = table.rows
    n = len(rows)
    if not n:
        problems.add(2, None, "the file holds a header but no risks")
        return None
    data: dict[str, list] = {}

    def col(name: str) -> pd.Series | None:
        s = _column(table, positions, name)
        return s if s is None or not quoted else _untext(s)

    rid = col("risk_id").str.strip()
    problems.where((rid == "").to_numpy(), rows, rid.tolist(), "risk_id", lambda v: "a value is required")
    folded = rid.str.upper()  # LEG-01 and leg-01 are one risk
    # the one pattern every door applies (scoring.check_risk_id), with its message
    off_pattern = ((rid != "") & ~folded.str.fullmatch(RISK_ID_PATTERN.pattern, flags=RISK_ID_PATTERN.flags)
                   .fillna(False).astype(bool)).to_numpy()
    problems.where(off_pattern, rows, rid.tolist(), "risk_id", _risk_id_problem)
    repeated = (folded.duplicated() & (rid != "")).to_numpy()
    if repeated.any():
        first_row = dict(zip(folded[~folded.duplicated()].tolist(), rows[~folded.duplicated().to_numpy()].tolist(),
                             strict=True))
        problems.where(repeated, rows, rid.tolist(), "risk_id",
                       lambda v: f"{v!r} is also on row {first_row[v.upper()]}; a risk_id appears once")
    data["risk_id"] = folded.tolist()

    cat = col("category").str.strip()
    keys = cat.str.lower().map(_CATEGORY)
    problems.where(keys.isna().to_numpy(), rows, cat.tolist(), "category",
                   lambda v: f"expected one of {', '.join(scoring.CATEGORIES.values())} (or its key), got {v!r}"
                   if v else "a value is required")
    data["category"] = keys.tolist()

    title = col("title").str.strip()
    problems.where((title == "").to_numpy(), rows, title.tolist(), "title", lambda v: "a value is required")
    data["title"] = title.tolist()
    for name in TEXT[1:]:
        s = col(name)
        if s is not None:
            data[name] = s.str.strip().tolist()
    if (s := col("owner_partner")) is not None:
        data["owner_partner"] = s.str.strip().tolist()
    for name, limit in LIMITS.items():
        if name in data:
            values = pd.Series(data[name], dtype="str")
            problems.where((values.str.len() > limit).to_numpy(), rows, data[name], name,
                           lambda v, limit=limit: f"at most {limit:,} characters, got {len(v):,}")

    if (s := col("treatment")) is not None:
        s = s.str.strip()
        lookup = {}
        for value in s.unique().tolist():
            try:
                lookup[value] = scoring.normalise_treatment(value) if value else None
            except ValueError:
                lookup[value] = "?"
        treated = s.map(lookup)
        problems.where((treated == "?").to_numpy(), rows, s.tolist(), "treatment",
                       lambda v: f"expected one of {', '.join(scoring.TREATMENTS)} (or Tolerate, Treat, Transfer, "
                                 f"Terminate), got {v!r}")
        data["treatment"] = [v if isinstance(v, str) else None for v in treated.tolist()]  # blank: None, not NaN
    if (s := col("status")) is not None:
        s = s.str.strip()
        status = s.str.lower().map(_STATUS)
        problems.where((status.isna() & (s != "")).to_numpy(), rows, s.tolist(), "status",
                       lambda v: f"expected one of {', '.join(scoring.RISK_STATUSES)}, got {v!r}")
        data["status"] = [v if isinstance(v, str) else None for v in status.tolist()]

    for _phase, lik, imp, when in PAIRS:
        if lik not in positions:
            continue
        ls = _scores(col(lik), rows, lik, problems)
        is_ = _scores(col(imp), rows, imp, problems)
        for a, b, av, bv in ((lik, imp, ls, is_), (imp, lik, is_, ls)):
            half = (av.isna() & bv.notna()).to_numpy() & (col(a).str.strip() == "").to_numpy()
            problems.where(half, rows, [""] * n, a, lambda v, b=b: f"a value is required when {b} is given")
        data[lik] = [None if pd.isna(v) else int(v) for v in ls]
        data[imp] = [None if pd.isna(v) else int(v) for v in is_]
        if when in positions:
            data[when] = _dates(col(when), rows, when, problems).tolist()

    if (s := col("format_version")) is not None:
        s = s.str.strip()
        problems.where(((s != "") & (s != str(FORMAT_VERSION))).to_numpy(), rows, s.tolist(), "format_version",
                       lambda v: f"this workbench reads format_version {FORMAT_VERSION}, the row says {v!r}")
    titles: list[str] = []
    if (s := col("proposal")) is not None:
        s = s.str.strip()
        named = s[s != ""]
        if len(named):
            first = named.iloc[0]
            titles = named.unique().tolist()
            problems.where(((s != "") & (s != first)).to_numpy(), rows, s.tolist(), "proposal",
                           lambda v: f"this row is of {v!r} but row {rows[named.index[0]]} is of {first!r}; import "
                                     "one proposal's register at a time")
    return Register(rows=rows, columns=set(data) | ({"proposal"} if "proposal" in positions else set()), data=data,
                    titles=titles)


def _our_sheet(table: Table, fields: Sequence[str], needed: Sequence[str], name: str, risk_ids: set[str],
               problems: Problems, quoted: bool) -> tuple[np.ndarray, Callable[[str], pd.Series], pd.Series] | None:
    """The start of reading one of our workbook's other sheets (Scores, Actions): its header checked (problems
    named "Scores.round" and so on), then every row's risk_id checked against the Register sheet's. Returns the
    row numbers, a column reader and the risk_ids; None when the sheet is empty or its header will not do."""
    if not table.header:
        return None
    found = len(problems.items)
    positions = map_header(table.header, {}, fields, problems, f"{name} sheet: ")
    for f in needed:
        if f not in positions:
            problems.add(1, f"{name}.{f}", f"{name} sheet: the column {f!r} is missing")
    if len(problems.items) > found or not len(table.rows):
        return None
    rows = table.rows

    def col(column: str) -> pd.Series:
        return _text_column(table, positions, column, quoted)

    rid = col("risk_id").str.strip()
    problems.where((~rid.isin(risk_ids)).to_numpy(), rows, rid.tolist(), f"{name}.risk_id",
                   lambda v: f"{v!r} is not a risk_id of the Register sheet")
    return rows, col, rid


def _check_scores(table: Table, risk_ids: set[str], problems: Problems, quoted: bool) -> list[dict]:
    sheet = _our_sheet(table, SCORE_FIELDS, ("risk_id", "phase", "round", "assessor", "likelihood", "impact"),
                       "Scores", risk_ids, problems, quoted)
    if sheet is None:
        return []
    rows, col, rid = sheet
    phase = col("phase").str.strip().str.lower()
    problems.where((~phase.isin(scoring.PHASES)).to_numpy(), rows, phase.tolist(), "Scores.phase",
                   lambda v: f"expected inherent or residual, got {v!r}")
    rnd = col("round").str.strip()
    number = pd.to_numeric(rnd, errors="coerce")
    bad = (number.isna() | (number < 1) | (number > 1000) | (number % 1 != 0)).to_numpy()
    problems.where(bad, rows, rnd.tolist(), "Scores.round",
                   lambda v: f"expected a whole number from 1 to 1000, got {v!r}")
    assessor = col("assessor").str.strip()
    problems.where((assessor == "").to_numpy(), rows, assessor.tolist(), "Scores.assessor",
                   lambda v: "a value is required")
    partner = col("partner").str.strip()
    for name, s in (("assessor", assessor), ("partner", partner)):
        problems.where((s.str.len() > 200).to_numpy(), rows, s.tolist(), f"Scores.{name}",
                       lambda v: f"at most 200 characters, got {len(v):,}")
    lik = _scores(col("likelihood"), rows, "Scores.likelihood", problems)
    imp = _scores(col("impact"), rows, "Scores.impact", problems)
    for name, s, raw in (("likelihood", lik, col("likelihood")), ("impact", imp, col("impact"))):
        problems.where((s.isna() & (raw.str.strip() == "")).to_numpy(), rows, [""] * len(rows), f"Scores.{name}",
                       lambda v: "a value is required")
    closed = _dates(col("round_closed_on"), rows, "Scores.round_closed_on", problems)
    if problems:
        return []
    frame = pd.DataFrame({"risk_id": rid, "phase": phase, "round": number.astype(int), "assessor": assessor,
                          "partner": partner, "likelihood": lik.astype(int), "impact": imp.astype(int),
                          "rationale": col("rationale"), "closed_on": closed, "row": rows})
    twice = frame.duplicated(["risk_id", "phase", "round", "assessor"]).to_numpy()
    problems.where(twice, rows, frame["assessor"].tolist(), "Scores.assessor",
                   lambda v: f"{v} scored this risk twice in the same round")
    partners = frame.groupby("assessor")["partner"].nunique()
    for name in partners[partners > 1].index:
        k = frame.index[frame["assessor"] == name][1]
        problems.add(int(rows[k]), "Scores.partner", f"Scores sheet: {name} is listed with more than one partner")
    return frame.to_dict("records")


def _check_actions(table: Table, risk_ids: set[str], problems: Problems, quoted: bool) -> list[dict]:
    from risk.models import ActionStatus

    sheet = _our_sheet(table, ACTION_FIELDS, ("risk_id", "description"), "Actions", risk_ids, problems, quoted)
    if sheet is None:
        return []
    rows, col, rid = sheet
    description = col("description").str.strip()
    problems.where((description == "").to_numpy(), rows, description.tolist(), "Actions.description",
                   lambda v: "a value is required")
    allowed = {s.value.lower(): s.value for s in ActionStatus}
    raw_status = col("status").str.strip()
    status = raw_status.str.lower().map(allowed)
    problems.where((status.isna() & (raw_status != "")).to_numpy(), rows, raw_status.tolist(), "Actions.status",
                   lambda v: f"expected one of {', '.join(allowed.values())}, got {v!r}")
    due = _dates(col("due_date"), rows, "Actions.due_date", problems)
    raw_cost = col("cost").str.strip()
    cost = pd.to_numeric(raw_cost.where(raw_cost != ""), errors="coerce")
    bad_cost = ((cost.isna() & (raw_cost != "")) | (cost < 0) | ~np.isfinite(cost.fillna(0))).to_numpy()
    problems.where(bad_cost, rows, raw_cost.tolist(), "Actions.cost",
                   lambda v: f"expected an amount of 0 or more, got {v!r}")
    for name, s, limit in (("description", description, 5000), ("paying_partner", col("paying_partner"), 200),
                           ("owner", col("owner"), 200)):
        problems.where((s.str.len() > limit).to_numpy(), rows, s.tolist(), f"Actions.{name}",
                       lambda v, limit=limit: f"at most {limit:,} characters, got {len(v):,}")
    if problems:
        return []
    return [{"risk_id": r, "description": d, "owner": o, "due_date": w, "status": s if isinstance(s, str) else
             ActionStatus.planned.value, "cost": None if pd.isna(c) else float(c), "paying_partner": p or None}
            for r, d, o, w, s, c, p in zip(rid, description, col("owner"), due, status, cost,
                                           col("paying_partner").str.strip(), strict=True)]


_PARTNER = re.compile(r"^(?P<name>.+) \((?P<kind>county|city|district|other)(?P<lead>, lead/host)?\)$")
_MEMBER = re.compile(r"^(?P<name>.+) \((?P<partner>.+), (?P<role>facilitator|assessor|observer)\)$")


def _read_summary(book: Workbook, register: Register) -> None:
    """Partners and team from the Summary sheet of our own workbook, when it describes one proposal."""
    table = book.sheet("Summary", empty_ok=True)
    values = {row[0]: row[1] for row in table.frame.itertuples(index=False) if len(row) > 1}
    from risk.models import LifecyclePhase, ProposalStatus, ServiceType

    for label, key, allowed in (("Service", "service_type", ServiceType), ("Status", "status", ProposalStatus),
                                ("Lifecycle phase", "phase", LifecyclePhase)):
        if values.get(label) in {x.value for x in allowed}:
            register.method[key] = values[label]
    for item in filter(None, values.get("Partners", "").split("; ")):
        m = _PARTNER.match(item)
        register.partners.append({"name": m["name"], "kind": m["kind"], "role": "lead" if m["lead"] else
                                  "participant"} if m else {"name": item, "kind": "other"})
    for item in filter(None, values.get("Assessment team", "").split("; ")):
        if m := _MEMBER.match(item):
            register.team.append({"name": m["name"], "team_role": m["role"],
                                  "partner": None if m["partner"] == "no partner" else m["partner"]})


def _read_method(book: Workbook, register: Register, engine: Engine, problems: Problems) -> None:
    from risk.services.matrices import list_matrices

    table = book.sheet("Method", empty_ok=True)
    found: dict[str, tuple[int, str]] = {}
    for number, row in zip(table.rows.tolist(), table.frame.itertuples(index=False), strict=True):
        if len(row) > 1 and row[0]:
            found.setdefault(row[0], (number, row[1]))
    if table.header[:1]:
        found.setdefault(table.header[0], (1, table.header[1] if len(table.header) > 1 else ""))
    if "Matrix" in found:
        number, value = found["Matrix"]
        names = {m.title or m.name: m.name for m in list_matrices(engine)} | {m.name: m.name
                                                                           for m in list_matrices(engine)}
        if value in names:
            register.method["matrix"] = names[value]
        else:
            problems.add(number, "Method.Matrix", f"Method sheet: the matrix {value!r} is not in this workbench; "
                                                  "import it first (risk matrix import)")
    if "Aggregation" in found:
        number, value = found["Aggregation"]
        method = value.strip().replace(" ", "_")
        if method in scoring.AGGREGATIONS:
            register.method["aggregation"] = method
        else:
            problems.add(number, "Method.Aggregation", f"Method sheet: expected one of "
                                                       f"{', '.join(scoring.AGGREGATIONS)}, got {value!r}")
    appetite = {}
    for key, name in scoring.CATEGORIES.items():
        if f"Appetite: {name}" in found:
            number, value = found[f"Appetite: {name}"]
            if value in scoring.APPETITES:
                appetite[key] = value
            else:
                problems.add(number, f"Method.Appetite: {name}", f"Method sheet: expected one of "
                                                                 f"{', '.join(scoring.APPETITES)}, got {value!r}")
    if appetite:
        register.method["appetite"] = appetite


def read_register(engine: Engine, data: bytes, filename: str, mapping: Mapping[str, str] | None = None,
                  problems: Problems | None = None, *, saved: Mapping[str, str] | None = None,
                  new: bool = True) -> tuple[Register | None, Problems]:
    """Read and check a CSV or XLSX register (with `new`, an XLSX's Scores, Actions, Method and Summary sheets
    too, when it has them). `mapping` names their columns as ours; `saved` (a saved mapping) does the same for
    the columns the file has and is ignored for those it lacks. Returns (None, problems) when the file cannot be
    used."""
    problems = problems if problems is not None else Problems()
    name = PurePath(filename).name
    suffix = PurePath(filename).suffix.lower()
    try:
        check_size(data, config.import_max_bytes(), name)
        max_rows = config.import_max_rows()
        if suffix in (".csv", ".txt"):
            table, encoding = read_csv(data, name, max_rows)
            register = _check_register(table, _mapping_for(table.header, mapping, saved), problems)
            if problems:
                return None, problems
            register.source = f"{name} ({encoding})"
            return register, problems
        if suffix != ".xlsx":
            raise RefusedError(f"{name}: expected a .csv, .xlsx or .json file, got {suffix or 'no extension'}")
        book = Workbook(data, name, config.import_max_bytes(), max_rows)
        try:
            register = _read_workbook(engine, book, name, mapping, saved, problems, new)
        finally:
            book.close()
        return (None if problems else register), problems
    except RefusedError as exc:
        problems.add(None, None, str(exc))
        return None, problems


def _mapping_for(header: Sequence[str], mapping: Mapping[str, str] | None, saved: Mapping[str, str] | None
                 ) -> dict[str, str]:
    present = set(header) | {_norm(h) for h in header}
    out = {k: v for k, v in (saved or {}).items() if k in present or _norm(k) in present}
    out.update(mapping or {})
    return out


def _quotes_formulas(book: Workbook) -> bool:
    """Whether the workbook's formula-like text carries a leading ' to remove: only in this workbench's workbooks
    of format 1, known by a Method sheet without a "Workbook format" row. Any other XLSX holds text as it is (a '
    typed in Excel or LibreOffice makes a quote-prefixed cell and stays out of the value)."""
    if "Method" not in book.sheetnames:
        return False
    table = book.sheet("Method", empty_ok=True)
    labels = set(table.header[:1]) | {row[0] for row in table.frame.itertuples(index=False) if len(row)}
    return "Matrix" in labels and WORKBOOK_FORMAT_LABEL not in labels


def _read_workbook(engine: Engine, book: Workbook, name: str, mapping, saved, problems: Problems,
                   new: bool) -> Register | None:
    sheet = "Register" if "Register" in book.sheetnames else book.sheetnames[0]
    # the header first: a file whose columns are wrong is refused before its rows are read
    first = book.sheet(sheet, limit=0)
    columns = _mapping_for(first.header, mapping, saved)
    if check_header(first.header, columns, problems) is None:
        return None
    table = book.sheet(sheet)
    # a register past Excel's row limit continues on "Register (2)", "Register (3)"...
    extra = sorted((s for s in book.sheetnames if re.fullmatch(r"Register \(\d+\)", s)),
                   key=lambda s: int(s[len("Register ("):-1]))
    if extra:
        tables = [table]
        for title in extra:
            more = book.sheet(title, empty_ok=True)
            if more.header and more.header != table.header:
                problems.add(1, None, f"the sheet {title!r} has other columns than {sheet!r}; a continued register "
                                      "keeps the same columns in the same order")
                return None
            tables.append(more)
        total = sum(len(t.rows) for t in tables)
        if total > config.import_max_rows():
            raise RefusedError(f"{name}: the register holds {total:,} rows over {len(tables)} sheets; an import "
                               f"takes at most {config.import_max_rows():,} (RISK_IMPORT_MAX_ROWS)")
        table = Table(table.header, pd.concat([t.frame for t in tables if len(t.rows)], ignore_index=True),
                      np.concatenate([t.rows for t in tables]), sheet)
        problems_before = len(problems.items)
    quoted = _quotes_formulas(book)
    register = _check_register(table, columns, problems, quoted)
    if problems:
        if extra and len(problems.items) > problems_before:
            problems.add(None, None, f"the register continues on {', '.join(extra)}: a row number may be of any of "
                                     "these sheets")
        return None
    register.source = f"{name}, sheet {sheet}"
    if not new:
        if {"Scores", "Actions"} & set(book.sheetnames):
            register.notes.append("The Scores and Actions sheets are read into a new proposal only; into an "
                                  "existing proposal the register's values are recorded as the team's consensus "
                                  "where they differ.")
        return register
    ids = {r for r in register.data["risk_id"] if r}
    if "Scores" in book.sheetnames:
        register.scores = _check_scores(book.sheet("Scores", empty_ok=True), ids, problems, quoted)
    if "Actions" in book.sheetnames:
        register.actions = _check_actions(book.sheet("Actions", empty_ok=True), ids, problems, quoted)
    if "Method" in book.sheetnames:
        _read_method(book, register, engine, problems)
    if "Summary" in book.sheetnames:
        _read_summary(book, register)
    return register


# --- what an import would do ----------------------------------------------------------------------

@dataclass
class Plan:
    added: list[int] = field(default_factory=list)  # positions in the register
    changed: list[tuple[int, int, int, dict, dict]] = field(default_factory=list)  # position, pk, version, new, old
    unchanged: int = 0
    consensus: list[dict] = field(default_factory=list)  # for an existing proposal: risk position or pk, values


def _value_of(register: Register, k: int, lik: str, imp: str) -> tuple[int, int] | None:
    if lik not in register.data:
        return None
    a, b = register.data[lik][k], register.data[imp][k]
    return None if a is None or b is None else (a, b)


def _plan_existing(engine: Engine, register: Register, proposal_id: int, problems: Problems) -> Plan:
    from risk.services.profile import proposal_profile

    profile = proposal_profile(engine, proposal_id)
    partners = {p.lower(): p for p in _partner_names(engine, proposal_id)}
    existing = {v.risk.risk_id.upper(): v for v in profile.risks}
    data, rows = register.data, register.rows
    title = profile.proposal.title
    if register.titles and register.titles[0] != title:
        problems.add(int(rows[0]), "proposal", f"the file is the register of {register.titles[0]!r}, not of "
                                               f"{title!r}; choose that proposal, or leave the proposal column out")
    if not profile.proposal.cybersecurity:
        problems.where(np.array([c == "cybersecurity" for c in data["category"]], dtype=bool), rows,
                       data["category"], "category",
                       lambda v: "cybersecurity risks are not turned on for this proposal; turn them on on the "
                                 "Proposal page first")
    if "owner_partner" in data:
        for k, value in enumerate(data["owner_partner"]):
            if value and value.lower() not in partners:
                problems.add(int(rows[k]), "owner_partner",
                             f"{value!r} is not a partner of this proposal; its partners are "
                             f"{', '.join(partners.values()) or 'none yet'}")
            elif value:
                data["owner_partner"][k] = partners[value.lower()]
    plan = Plan()
    for k, rid in enumerate(data["risk_id"]):
        view = existing.get(rid.upper())
        if view is None:
            plan.added.append(k)
            continue
        risk, changes, before = view.risk, {}, {}
        for name in UPDATABLE:
            if name not in data:
                continue
            value = data[name][k]
            if name == "status" and value is None:
                continue
            current = view.owner_partner or "" if name == "owner_partner" else getattr(risk, name)
            if (value or None) != (current or None):
                changes[name], before[name] = value, current
        for phase, lik, imp, _when in PAIRS:
            value = _value_of(register, k, lik, imp)
            standing = getattr(view, phase)
            if value is not None and value != (standing.likelihood, standing.impact):
                changes[phase] = value
                # a value changed in the file is agreed now (the file's date belongs to the value it replaces)
                plan.consensus.append({"risk_pk": risk.id, "phase": phase, "likelihood": value[0],
                                       "impact": value[1], "when": None,
                                       "before": {"risk_id": risk.risk_id, "phase": phase,
                                                  "likelihood": standing.likelihood, "impact": standing.impact,
                                                  "source": standing.source}})
        if changes:
            plan.changed.append((k, risk.id, risk.version, changes, {"risk_id": risk.risk_id, **before}))
        else:
            plan.unchanged += 1
    for k in plan.added:
        for phase, lik, imp, when in PAIRS:
            value = _value_of(register, k, lik, imp)
            if value is not None:
                plan.consensus.append({"position": k, "phase": phase, "likelihood": value[0], "impact": value[1],
                                       "when": data.get(when, [None] * (k + 1))[k]})
    return plan


def _partner_names(engine: Engine, proposal_id: int) -> list[str]:
    from sqlmodel import Session

    with Session(engine) as s:
        return list(s.execute(select(Partner.name).join(ProposalPartner, ProposalPartner.partner_id == Partner.id)
                              .where(ProposalPartner.proposal_id == proposal_id).order_by(Partner.name)).scalars())


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) if day else None


def _bundle(register: Register, title: str, actor: str, source: str) -> ProposalBundle:
    """A new proposal holding the register: rounds from the Scores sheet, and a consensus wherever the register's
    value (or its date) is not what those rounds give."""
    data, n = register.data, len(register.rows)
    method = register.method.get("aggregation", scoring.DEFAULT_AGGREGATION)
    partners = {p["name"]: p for p in register.partners}
    for name in [*data.get("owner_partner", []), *(s["partner"] for s in register.scores),
                 *(a["paying_partner"] for a in register.actions)]:
        if name and name not in partners:
            partners[name] = {"name": name, "kind": "other"}
    team = {m["name"]: m for m in register.team}
    for s in register.scores:
        if s["assessor"] not in team or team[s["assessor"]].get("team_role") == "observer":
            team[s["assessor"]] = {"name": s["assessor"], "partner": s["partner"] or None, "team_role": "assessor"}
    for m in team.values():
        if m.get("partner") and m["partner"] not in partners:
            partners[m["partner"]] = {"name": m["partner"], "kind": "other"}
    rounds: dict[tuple[str, int], RoundBundle] = {}
    for s in register.scores:
        key = (s["phase"], s["round"])
        if key not in rounds:
            day = _midnight(s["closed_on"])
            rounds[key] = RoundBundle(phase=key[0], number=key[1], status="closed", scores=[], opened_at=day,
                                      revealed_at=day, closed_at=day)
        rounds[key].scores.append((s["risk_id"], s["assessor"], s["likelihood"], s["impact"], s["rationale"]))
    latest: dict[tuple[str, str], tuple[RoundBundle, list]] = {}
    partner_of = {m["name"]: m.get("partner") for m in team.values()}
    for rnd in sorted(rounds.values(), key=lambda r: r.number):
        for score in rnd.scores:
            entry = latest.get((score[0], rnd.phase))
            if entry is None or entry[0] is not rnd:
                entry = latest[(score[0], rnd.phase)] = (rnd, [])
            entry[1].append(score)
    risks, consensus = [], []
    now = utcnow()
    for k in range(n):
        rid = data["risk_id"][k]
        risks.append({"risk_id": rid, "category": data["category"][k], "title": data["title"][k],
                      **{name: data[name][k] for name in TEXT[1:] if name in data},
                      "owner_partner": (data.get("owner_partner") or [None] * n)[k] or None,
                      "treatment": data["treatment"][k] if "treatment" in data else None,
                      "status": (data["status"][k] if "status" in data else None) or "Open"})
        for phase, lik, imp, when in PAIRS:
            value = _value_of(register, k, lik, imp)
            if value is None:
                continue
            day = data[when][k] if when in data else None
            entry = latest.get((rid, phase))
            if entry is not None:
                rnd, scores = entry
                summary = scoring.summarise_round(scoring.RoundScores(
                    rnd.number, tuple(s[2] for s in scores), tuple(s[3] for s in scores),
                    tuple(partner_of.get(s[1]) for s in scores)))
                closed = rnd.closed_at.date() if rnd.closed_at else None
                if summary.value(method) == value and (day is None or day == closed) and closed is not None:
                    continue
            consensus.append({"risk_id": rid, "phase": phase, "likelihood": value[0], "impact": value[1],
                              "rationale": f"Imported from {source}", "recorded_by": actor,
                              "recorded_at": _midnight(day) or now})
    proposal = {"title": title, **register.method,
                "cybersecurity": any(c == "cybersecurity" for c in data["category"])}
    return ProposalBundle(proposal=proposal, partners=list(partners.values()), team=list(team.values()),
                          risks=risks, rounds=sorted(rounds.values(), key=lambda r: (r.phase, r.number)),
                          consensus=consensus, actions=register.actions)


def _report(added: int = 0, changed: int = 0, unchanged: int = 0, problems: Problems | None = None,
            proposal_ids: list[int] | None = None, notes: list[str] | None = None) -> dict:
    return {"added": added, "changed": changed, "unchanged": unchanged,
            "problems": problems.listed() if problems else [], "proposal_ids": proposal_ids or [],
            "notes": notes or []}


def import_register(engine: Engine, data: bytes, filename: str, *, actor: str, proposal_id: int | None = None,
                    new_title: str | None = None, mapping: Mapping[str, str] | None = None,
                    saved: Mapping[str, str] | None = None, dry_run: bool = False,
                    progress: Callable[[float, str], None] | None = None) -> dict:
    """Import a CSV or XLSX register into `proposal_id` or into a new proposal titled `new_title` (exactly one of
    them). `mapping` reads their columns as ours; `saved`, a saved mapping, does so for the columns the file has.
    Returns {"added", "changed", "unchanged", "problems", "proposal_ids", "notes"}; with problems nothing was
    written. Into an existing proposal that has a team, only its facilitators and assessors may import (a refusal
    is audited)."""
    from risk.memory import gc_paused

    with gc_paused():  # tens of thousands of short-lived cells and rows
        return _import_register(engine, data, filename, actor=actor, proposal_id=proposal_id, new_title=new_title,
                                mapping=mapping, saved=saved, dry_run=dry_run, progress=progress)


def _may_import(engine: Engine, proposal_id: int, actor: str) -> None:
    """Into a proposal with a team, only a facilitator or an assessor may import: an import records consensus."""
    from sqlmodel import Session

    from risk.errors import ForbiddenError
    from risk.models import TeamMember

    with Session(engine) as s:
        roles = dict(s.execute(select(TeamMember.name, TeamMember.team_role)
                               .where(TeamMember.proposal_id == proposal_id)).all())
    if roles and roles.get(actor) not in ("facilitator", "assessor"):
        reason = (f"only a facilitator or assessor of this proposal's team can import into it; {actor} is "
                  f"{'not on the team' if actor not in roles else 'an observer'}")
        store.record_refusal(engine, actor, "import_register", "proposal", proposal_id, reason)
        raise ForbiddenError(reason)


def _import_register(engine: Engine, data: bytes, filename: str, *, actor: str, proposal_id: int | None,
                     new_title: str | None, mapping: Mapping[str, str] | None, saved: Mapping[str, str] | None,
                     dry_run: bool, progress: Callable[[float, str], None] | None) -> dict:
    from sqlalchemy.exc import IntegrityError

    def step(done: float, what: str) -> None:
        if progress:
            progress(done, what)

    problems = Problems()
    if (proposal_id is None) == (new_title is None):
        problems.add(None, None, "a register goes into an existing proposal (--proposal ID) or a new one "
                                 "(--new TITLE): give one of them")
        return _report(problems=problems)
    if new_title is not None and not new_title.strip():
        problems.add(None, "title", "the new proposal needs a title")
        return _report(problems=problems)
    if new_title is not None and len(new_title.strip()) > 200:
        problems.add(None, "title", f"at most 200 characters, got {len(new_title.strip())}")
        return _report(problems=problems)
    if proposal_id is not None:
        from risk.services.proposals import get_proposal

        try:
            get_proposal(engine, proposal_id)
            if not dry_run:
                _may_import(engine, proposal_id, actor)
        except RefusedError as exc:
            problems.add(None, "proposal", str(exc))
            return _report(problems=problems)
    step(0.05, "Reading the file")
    register, problems = read_register(engine, data, filename, mapping, problems, saved=saved,
                                       new=proposal_id is None)
    if register is None:
        return _report(problems=problems)
    step(0.4, "Checking the rows")
    notes = register.notes
    if proposal_id is not None:
        plan = _plan_existing(engine, register, proposal_id, problems)
        if problems:
            return _report(problems=problems)
        report = _report(len(plan.added), len(plan.changed), plan.unchanged, notes=notes)
        if dry_run:
            return report
        step(0.6, "Writing")
        try:
            _write_existing(engine, register, proposal_id, plan, actor, register.source)
        except RefusedError as exc:
            problems.add(None, None, str(exc))
            return _report(problems=problems)
        except IntegrityError:
            problems.add(None, None, "somebody changed this proposal's risks while the import was being written; "
                                     "nothing was imported: check the file again")
            return _report(problems=problems)
        step(1.0, "Done")
        return report | {"proposal_ids": [proposal_id]}
    title = new_title.strip()
    from sqlmodel import Session

    with Session(engine) as s:
        if s.execute(select(Proposal.id).where(Proposal.title == title)).first():
            problems.add(None, "title", f"a proposal called {title!r} already exists; choose another title or "
                                        "import into it with --proposal")
            return _report(problems=problems)
    bundle = _bundle(register, title, actor, register.source)
    report = _report(added=len(bundle.risks), notes=notes)
    try:  # the bulk loader's own checks are a safety net: the column checks above should have named the row
        if dry_run:
            validate(bundle, title)
            return report
        step(0.6, "Writing")
        ids = load_bundles(engine, [bundle], actor=actor)
    except RefusedError as exc:
        problems.add(None, None, str(exc))
        return _report(problems=problems)
    step(1.0, "Done")
    return report | {"proposal_ids": ids}


def _write_existing(engine: Engine, register: Register, proposal_id: int, plan: Plan, actor: str,
                    source: str) -> None:
    """One transaction: new risks inserted, changed ones updated (refused if someone changed one meanwhile), and
    the register's differing values recorded as consensus."""
    from risk.services.bulk import _insert_returning

    data, now = register.data, utcnow()
    with store.write(engine, actor) as unit:
        conn = unit.session.connection()
        partner_ids = dict(conn.execute(select(Partner.name, Partner.id).join(
            ProposalPartner, ProposalPartner.partner_id == Partner.id).where(
            ProposalPartner.proposal_id == proposal_id)).all())
        n = len(register.rows)
        new_rows = [{"proposal_id": proposal_id, "risk_id": data["risk_id"][k], "category": data["category"][k],
                     "title": data["title"][k], **{name: data[name][k] for name in TEXT[1:] if name in data},
                     "owner_partner_id": partner_ids.get((data.get("owner_partner") or [None] * n)[k]),
                     "treatment": data["treatment"][k] if "treatment" in data else None,
                     "status": (data["status"][k] if "status" in data else None) or "Open", "tags": [],
                     "target_likelihood": None, "target_impact": None, "template_id": None,
                     "version": 1, "updated_at": now, "updated_by": actor} for k in plan.added]
        new_pks = dict(zip(plan.added, _insert_returning(unit, Risk, new_rows, "risk"), strict=True))
        groups: dict[tuple[str, ...], list[dict]] = {}
        befores: dict[tuple[str, ...], list[dict]] = {}
        for _k, pk, version, changes, before in plan.changed:
            fields = {name: value for name, value in changes.items() if name in UPDATABLE}
            if "owner_partner" in fields:
                fields["owner_partner_id"] = partner_ids.get(fields.pop("owner_partner"))
            if not fields:
                continue  # only its scores changed: recorded as consensus below
            groups.setdefault(tuple(sorted(fields)), []).append({"pk": pk, "expected": version, **fields})
            befores.setdefault(tuple(sorted(fields)), []).append(before)
        t = Risk.__table__
        for names, rows in groups.items():
            stmt = update(t).where(t.c.id == bindparam("pk"), t.c.version == bindparam("expected")).values(
                {**{name: bindparam(name) for name in names}, "version": t.c.version + 1, "updated_at": now,
                 "updated_by": actor})
            done = conn.execute(stmt, rows).rowcount
            if done != len(rows):
                raise ConflictError("somebody changed a risk of this proposal while the import was being checked; "
                                    "nothing was imported: check the file again")
            unit.audit("bulk_update", "risk", str(proposal_id), {"risks": befores[names]},
                       {"count": len(rows), "fields": list(names), "sha256": store.canonical_digest(rows),
                        "risks": rows})
        values = [{"risk_pk": c.get("risk_pk") or new_pks[c["position"]], "phase": c["phase"],
                   "likelihood": c["likelihood"], "impact": c["impact"], "rationale": f"Imported from {source}",
                   "dissent": "", "recorded_by": actor, "recorded_at": _midnight(c["when"]) or now}
                  for c in plan.consensus]
        if values:
            store.bulk_upsert(unit=unit, table=Consensus, rows=values, keys=("risk_pk", "phase"),
                              update_cols=("likelihood", "impact", "rationale", "dissent", "recorded_by",
                                           "recorded_at"), entity="consensus",
                              before=[c["before"] for c in plan.consensus if "before" in c])


def peek(data: bytes, filename: str) -> tuple[list[str], str | None]:
    """A register file's column names and the proposal title on its first row, for the app's mapping form;
    raises RefusedError when the file cannot be read at all."""
    name = PurePath(filename).name
    suffix = PurePath(filename).suffix.lower()
    check_size(data, config.import_max_bytes(), name)
    if suffix in (".csv", ".txt"):
        table, _encoding = read_csv(data, name, config.import_max_rows())
    elif suffix == ".xlsx":
        book = Workbook(data, name, config.import_max_bytes(), config.import_max_rows())
        try:  # the header and the first row only
            table = book.sheet("Register" if "Register" in book.sheetnames else book.sheetnames[0], limit=1)
        finally:
            book.close()
    else:
        raise RefusedError(f"{name}: expected a .csv or .xlsx register, got {suffix or 'no extension'}")
    title = None
    positions = {_norm(h): k for k, h in enumerate(table.header)}
    if "proposal" in positions and len(table.frame) and positions["proposal"] < table.frame.shape[1]:
        title = str(table.frame.iloc[0, positions["proposal"]]).strip() or None
    return table.header, title
