"""One column of a sheet read as our values: text with the writer's formula quote undone (QUOTED_TEXT of
risk/exchange/spreadsheet.py), scores 1 to 5, dates as DATE_TEXT writes them; each bad cell a problem."""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk.exchange.reading import Table
from risk.exchange.spreadsheet import DATE_TEXT, QUOTED_TEXT
from risk.services.register_import.problems import Problems

_WHOLE = {str(k): k for k in range(1, 6)} | {f"{k}.0": k for k in range(1, 6)}


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


def score_column(s: pd.Series, rows: np.ndarray, name: str, problems: Problems) -> pd.Series:
    """Whole numbers 1-5 (or blank, as None)."""
    s = s.str.strip()
    out = s.map(_WHOLE)
    bad = (out.isna() & (s != "")).to_numpy()
    problems.where(bad, rows, s.tolist(), name, lambda v: f"expected a whole number from 1 to 5, got {v!r}")
    return out


def date_column(s: pd.Series, rows: np.ndarray, name: str, problems: Problems) -> pd.Series:
    s = s.str.strip()
    out = pd.to_datetime(s.where(s != ""), format=DATE_TEXT, errors="coerce")
    bad = (out.isna() & (s != "")).to_numpy()
    problems.where(bad, rows, s.tolist(), name, lambda v: f"expected a date as YYYY-MM-DD, got {v!r}")
    return pd.Series([None if pd.isna(v) else v.date() for v in out], dtype=object)
