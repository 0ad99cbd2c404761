"""One column of a sheet read as our values: text with the writer's formula quote undone (QUOTED_TEXT of
risk/exchange/spreadsheet.py), scores 1 to 5, dates as DATE_TEXT writes them; each bad cell a problem."""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk import rules
from risk.exchange.reading import Table
from risk.exchange.spreadsheet import DATE_TEXT, QUOTED_TEXT
from risk.services.register_import.problems import Problems


def column(table: Table, positions: dict[str, int], name: str) -> pd.Series | None:
    if name not in positions:
        return None
    position = positions[name]
    if position >= table.frame.shape[1]:
        return pd.Series([""] * len(table.frame), dtype="str")
    return table.frame[position].astype("str")  # pandas' string dtype: the checks below run vectorised


def text_column(table: Table, positions: dict[str, int], name: str, quoted: bool = True) -> pd.Series:
    """A column of one of our sheets as text (formula quotes removed when `quoted`); empty text when the sheet
    lacks it."""
    s = column(table, positions, name)
    if s is None:
        return pd.Series([""] * len(table.rows), dtype="str")
    return untext(s) if quoted else s


def untext(s: pd.Series) -> pd.Series:
    """unsafe_text, column-wise: one leading ' removed where a formula character (or ') follows it."""
    quoted = s.str.match(QUOTED_TEXT).to_numpy(dtype=bool)
    if quoted.any():
        s = s.copy()
        s[quoted] = s[quoted].str[1:]
    return s


def rule_column(s: pd.Series, rule: rules.Rule, rows: np.ndarray, name: str, problems: Problems,
                number: bool = False) -> pd.Series:
    """A column checked by its rule (risk/rules.py), applied once per distinct value; blank is None, and each
    bad cell is a problem with the rule's own words. `number`: cells are read as numbers first (rules.from_cell)."""
    s = s.str.strip()
    lookup: dict[str, object] = {}
    bad: dict[str, str] = {}
    for value in s.unique().tolist():
        if value == "":
            lookup[value] = None
            continue
        given = rules.from_cell(value) if number else value
        try:
            lookup[value] = rule(given)
        except rules.Invalid as exc:
            bad[value] = str(exc)
    if bad:
        problems.where(s.isin(list(bad)).to_numpy(), rows, s.tolist(), name, bad.__getitem__)
    return pd.Series([lookup.get(v) for v in s.tolist()], dtype=object, index=s.index)


def score_column(s: pd.Series, rows: np.ndarray, name: str, problems: Problems) -> pd.Series:
    """Whole numbers 1-5 (rules.SCORE), or blank as None."""
    return rule_column(s, rules.SCORE, rows, name, problems, number=True)


def long_text(s: pd.Series, rule: rules.Rule, rows: np.ndarray, name: str, problems: Problems) -> None:
    """Text longer than its rule's limit, found vectorised (most cells are long, distinct text)."""
    problems.where((s.str.strip().str.len() > rule.limit).to_numpy(), rows, s.tolist(), name,
                   lambda v: rules.problem(rule, v) or "")


def date_column(s: pd.Series, rows: np.ndarray, name: str, problems: Problems) -> pd.Series:
    s = s.str.strip()
    out = pd.to_datetime(s.where(s != ""), format=DATE_TEXT, errors="coerce")
    bad = (out.isna() & (s != "")).to_numpy()
    problems.where(bad, rows, s.tolist(), name, lambda v: f"expected a date as YYYY-MM-DD, got {v!r}")
    return pd.Series([None if pd.isna(v) else v.date() for v in out], dtype=object)
