"""The Register sheet's (or the CSV's) rows checked column by column into a Register: risk_ids, categories, text
lengths, treatments, statuses, score pairs and their dates, one proposal per file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from risk import rules
from risk.exchange.reading import Table
from risk.exchange.spreadsheet import FORMAT_VERSION
from risk.scoring import RISK_ID_PATTERN
from risk.services.register_import.cells import column, date_column, long_text, rule_column, score_column, untext
from risk.services.register_import.columns import LIMITS, PAIRS, TEXT
from risk.services.register_import.mapping import check_header
from risk.services.register_import.problems import Problems


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


def check_register(table: Table, mapping: Mapping[str, str], problems: Problems, quoted: bool = True
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
        s = column(table, positions, name)
        return s if s is None or not quoted else untext(s)

    rid = col("risk_id").str.strip()
    problems.where((rid == "").to_numpy(), rows, rid.tolist(), "risk_id", lambda v: "a value is required")
    folded = rid.str.upper()  # LEG-01 and leg-01 are one risk
    # the one pattern every door applies (scoring.check_risk_id), with its message
    off_pattern = ((rid != "") & ~folded.str.fullmatch(RISK_ID_PATTERN.pattern, flags=RISK_ID_PATTERN.flags)
                   .fillna(False).astype(bool)).to_numpy()
    problems.where(off_pattern, rows, rid.tolist(), "risk_id", lambda v: rules.problem(rules.RISK["risk_id"], v))
    repeated = (folded.duplicated() & (rid != "")).to_numpy()
    if repeated.any():
        first_row = dict(zip(folded[~folded.duplicated()].tolist(), rows[~folded.duplicated().to_numpy()].tolist(),
                             strict=True))
        problems.where(repeated, rows, rid.tolist(), "risk_id",
                       lambda v: f"{v!r} is also on row {first_row[v.upper()]}; a risk_id appears once")
    data["risk_id"] = folded.tolist()

    cat = col("category")
    keys = rule_column(cat, rules.RISK["category"], rows, "category", problems)
    problems.where(((cat.str.strip() == "")).to_numpy(), rows, cat.tolist(), "category",
                   lambda v: "a value is required")
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
    for name, rule in LIMITS.items():
        if name in data:
            long_text(pd.Series(data[name], dtype="str"), rule, rows, name, problems)

    for name in ("treatment", "status"):
        if (s := col(name)) is not None:
            data[name] = rule_column(s, rules.RISK[name], rows, name, problems).tolist()  # blank: None

    for _phase, lik, imp, when in PAIRS:
        if lik not in positions:
            continue
        ls = score_column(col(lik), rows, lik, problems)
        is_ = score_column(col(imp), rows, imp, problems)
        for a, b, av, bv in ((lik, imp, ls, is_), (imp, lik, is_, ls)):
            half = (av.isna() & bv.notna()).to_numpy() & (col(a).str.strip() == "").to_numpy()
            problems.where(half, rows, [""] * n, a, lambda v, b=b: f"a value is required when {b} is given")
        data[lik] = [None if pd.isna(v) else int(v) for v in ls]
        data[imp] = [None if pd.isna(v) else int(v) for v in is_]
        if when in positions:
            data[when] = date_column(col(when), rows, when, problems).tolist()

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
