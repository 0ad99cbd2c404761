"""A register file read: a CSV, or an XLSX's Register sheet and the sheets that continue it, into one table that
is then checked (risk/exchange/reading.py reads the bytes safely); `peek` gives the header for the mapping form."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from risk import config
from risk.errors import RefusedError
from risk.exchange.reading import Table, Workbook, check_size, read_csv
from risk.exchange.spreadsheet import continued_sheets
from risk.services.register_import.mapping import check_header, mapping_for, norm
from risk.services.register_import.problems import Problems
from risk.services.register_import.rows import Register, check_register
from risk.services.register_import.workbook import quotes_formulas, read_our_sheets


def read_register(engine: Engine, data: bytes, filename: str, mapping: Mapping[str, str] | None = None,
                  problems: Problems | None = None, *, saved: Mapping[str, str] | None = None,
                  new: bool = True) -> tuple[Register | None, Problems]:
    """Read and check a CSV or XLSX register (with `new`, an XLSX's Scores, Actions, Partners, Team, Method and
    Summary sheets too, when it has them). `mapping` names their columns as ours; `saved` (a saved mapping) does
    the same for the columns the file has and is ignored for those it lacks. Returns (None, problems) when the file
    cannot be used."""
    problems = problems if problems is not None else Problems()
    name = PurePath(filename).name
    suffix = PurePath(filename).suffix.lower()
    try:
        check_size(data, config.import_max_bytes(), name)
        max_rows = config.import_max_rows()
        if suffix in (".csv", ".txt"):
            table, encoding = read_csv(data, name, max_rows)
            register = check_register(table, mapping_for(table.header, mapping, saved), problems)
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


def _read_workbook(engine: Engine, book: Workbook, name: str, mapping, saved, problems: Problems,
                   new: bool) -> Register | None:
    sheet = "Register" if "Register" in book.sheetnames else book.sheetnames[0]
    # the header first: a file whose columns are wrong is refused before its rows are read
    first = book.sheet(sheet, limit=0)
    columns = mapping_for(first.header, mapping, saved)
    if check_header(first.header, columns, problems) is None:
        return None
    table = book.sheet(sheet)
    # a register past Excel's row limit continues on "Register (2)", "Register (3)"...
    extra = continued_sheets(book.sheetnames, "Register")
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
    quoted = quotes_formulas(book)
    register = check_register(table, columns, problems, quoted)
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
    read_our_sheets(engine, book, register, problems, quoted)
    return register


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
    positions = {norm(h): k for k, h in enumerate(table.header)}
    if "proposal" in positions and len(table.frame) and positions["proposal"] < table.frame.shape[1]:
        title = str(table.frame.iloc[0, positions["proposal"]]).strip() or None
    return table.header, title
