"""Our own workbook's other sheets read back (Scores, Actions, Partners, Team, Method, Summary), with the column
names and the formula-quote rule that risk/exchange/spreadsheet.py writes them with."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from risk import rules, scoring
from risk.exchange.reading import Table, Workbook
from risk.exchange.spreadsheet import (
    ACTIONS_COLUMNS,
    PARTNERS_COLUMNS,
    SCORES_COLUMNS,
    TEAM_COLUMNS,
    WORKBOOK_FORMAT_LABEL,
)
from risk.services.register_import.cells import date_column, long_text, rule_column, score_column, text_column
from risk.services.register_import.mapping import map_header
from risk.services.register_import.problems import Problems
from risk.services.register_import.rows import Register

SCORE_FIELDS = SCORES_COLUMNS
ACTION_FIELDS = ACTIONS_COLUMNS


def quotes_formulas(book: Workbook) -> bool:
    """Whether the workbook's formula-like text carries a leading ' to remove: only in this workbench's workbooks
    of format 1, known by a Method sheet without a "Workbook format" row. Any other XLSX holds text as it is (a '
    typed in Excel or LibreOffice makes a quote-prefixed cell and stays out of the value)."""
    if "Method" not in book.sheetnames:
        return False
    table = book.sheet("Method", empty_ok=True)
    labels = set(table.header[:1]) | {row[0] for row in table.frame.itertuples(index=False) if len(row)}
    return "Matrix" in labels and WORKBOOK_FORMAT_LABEL not in labels


def read_our_sheets(engine: Engine, book: Workbook, register: Register, problems: Problems, quoted: bool) -> None:
    """Into a new proposal: the Scores, Actions, Partners, Team, Method and Summary sheets of our own workbook,
    where it has them (partners and team from the Summary's lines only in a workbook without their sheets, as
    written before they had them)."""
    ids = {r for r in register.data["risk_id"] if r}
    if "Scores" in book.sheetnames:
        register.scores = check_scores(book.sheet("Scores", empty_ok=True), ids, problems, quoted)
    if "Actions" in book.sheetnames:
        register.actions = check_actions(book.sheet("Actions", empty_ok=True), ids, problems, quoted)
    if "Partners" in book.sheetnames:
        register.partners = check_partners(book.sheet("Partners", empty_ok=True), problems, quoted)
    if "Team" in book.sheetnames:
        register.team = check_team(book.sheet("Team", empty_ok=True), problems, quoted)
    if "Method" in book.sheetnames:
        read_method(book, register, engine, problems)
    if "Summary" in book.sheetnames:
        read_summary(book, register, partners="Partners" not in book.sheetnames, team="Team" not in book.sheetnames)


def _sheet_columns(table: Table, fields: Sequence[str], needed: Sequence[str], name: str, problems: Problems,
                   quoted: bool) -> tuple[np.ndarray, Callable[[str], pd.Series]] | None:
    """The start of reading one of our workbook's other sheets: its header checked (problems named "Scores.round"
    and so on). Returns the row numbers and a column reader; None when the sheet is empty or its header will not
    do."""
    if not table.header:
        return None
    found = len(problems.items)
    positions = map_header(table.header, {}, fields, problems, f"{name} sheet: ")
    for f in needed:
        if f not in positions:
            problems.add(1, f"{name}.{f}", f"{name} sheet: the column {f!r} is missing")
    if len(problems.items) > found or not len(table.rows):
        return None

    def col(column: str) -> pd.Series:
        return text_column(table, positions, column, quoted)

    return table.rows, col


def _our_sheet(table: Table, fields: Sequence[str], needed: Sequence[str], name: str, risk_ids: set[str],
               problems: Problems, quoted: bool) -> tuple[np.ndarray, Callable[[str], pd.Series], pd.Series] | None:
    """The start of reading the Scores or Actions sheet (_sheet_columns), then every row's risk_id checked against
    the Register sheet's. Returns the row numbers, a column reader and the risk_ids."""
    sheet = _sheet_columns(table, fields, needed, name, problems, quoted)
    if sheet is None:
        return None
    rows, col = sheet
    rid = col("risk_id").str.strip()
    problems.where((~rid.isin(risk_ids)).to_numpy(), rows, rid.tolist(), f"{name}.risk_id",
                   lambda v: f"{v!r} is not a risk_id of the Register sheet")
    return rows, col, rid


def check_scores(table: Table, risk_ids: set[str], problems: Problems, quoted: bool) -> list[dict]:
    sheet = _our_sheet(table, SCORE_FIELDS, ("risk_id", "phase", "round", "assessor", "likelihood", "impact"),
                       "Scores", risk_ids, problems, quoted)
    if sheet is None:
        return []
    rows, col, rid = sheet
    phase = rule_column(col("phase"), rules.ROUND["phase"], rows, "Scores.phase", problems)
    number = rule_column(col("round"), rules.ROUND["number"], rows, "Scores.round", problems, number=True)
    for name, s in (("phase", col("phase")), ("round", col("round"))):
        problems.where((s.str.strip() == "").to_numpy(), rows, s.tolist(), f"Scores.{name}",
                       lambda v: "a value is required")
    assessor = col("assessor").str.strip()
    problems.where((assessor == "").to_numpy(), rows, assessor.tolist(), "Scores.assessor",
                   lambda v: "a value is required")
    partner = col("partner").str.strip()
    for name, s, rule in (("assessor", assessor, rules.TEAM_MEMBER["name"]), ("partner", partner,
                                                                             rules.PARTNER["name"])):
        long_text(s, rule, rows, f"Scores.{name}", problems)
    long_text(col("rationale"), rules.SCORE_ROW["rationale"], rows, "Scores.rationale", problems)
    lik = score_column(col("likelihood"), rows, "Scores.likelihood", problems)
    imp = score_column(col("impact"), rows, "Scores.impact", problems)
    for name, s, raw in (("likelihood", lik, col("likelihood")), ("impact", imp, col("impact"))):
        problems.where((s.isna() & (raw.str.strip() == "")).to_numpy(), rows, [""] * len(rows), f"Scores.{name}",
                       lambda v: "a value is required")
    closed = date_column(col("round_closed_on"), rows, "Scores.round_closed_on", problems)
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


def check_actions(table: Table, risk_ids: set[str], problems: Problems, quoted: bool) -> list[dict]:
    from risk.models import ActionStatus

    sheet = _our_sheet(table, ACTION_FIELDS, ("risk_id", "description"), "Actions", risk_ids, problems, quoted)
    if sheet is None:
        return []
    rows, col, rid = sheet
    description = col("description").str.strip()
    problems.where((description == "").to_numpy(), rows, description.tolist(), "Actions.description",
                   lambda v: "a value is required")
    status = rule_column(col("status"), rules.ACTION["status"], rows, "Actions.status", problems)
    due = date_column(col("due_date"), rows, "Actions.due_date", problems)
    cost = rule_column(col("cost"), rules.ACTION["cost"], rows, "Actions.cost", problems, number=True)
    for name, s, rule in (("description", description, rules.ACTION["description"]),
                          ("paying_partner", col("paying_partner"), rules.PARTNER["name"]),
                          ("owner", col("owner"), rules.ACTION["owner"])):
        long_text(s, rule, rows, f"Actions.{name}", problems)
    if problems:
        return []
    return [{"risk_id": r, "description": d, "owner": o, "due_date": w, "status": s if isinstance(s, str) else
             ActionStatus.planned.value, "cost": c, "paying_partner": p or None}
            for r, d, o, w, s, c, p in zip(rid, description, col("owner"), due, status, cost,
                                           col("paying_partner").str.strip(), strict=True)]


def _named(col: Callable[[str], pd.Series], rule: rules.Rule, rows: np.ndarray, name: str,
           problems: Problems) -> pd.Series:
    """The name column of the Partners or Team sheet: required, within its length, once each."""
    names = col("name").str.strip()
    problems.where((names == "").to_numpy(), rows, names.tolist(), f"{name}.name", lambda v: "a value is required")
    long_text(names, rule, rows, f"{name}.name", problems)
    twice = (names.duplicated() & (names != "")).to_numpy()
    problems.where(twice, rows, names.tolist(), f"{name}.name", lambda v: f"{v!r} is listed twice")
    return names


def check_partners(table: Table, problems: Problems, quoted: bool) -> list[dict]:
    """The Partners sheet: one row per partner (name, kind, role); a blank kind is "other", a blank role
    "participant"."""
    sheet = _sheet_columns(table, PARTNERS_COLUMNS, ("name",), "Partners", problems, quoted)
    if sheet is None:
        return []
    rows, col = sheet
    found = len(problems.items)
    names = _named(col, rules.PARTNER["name"], rows, "Partners", problems)
    kind = rule_column(col("kind"), rules.PARTNER["kind"], rows, "Partners.kind", problems)
    role = rule_column(col("role"), rules.PARTNER["role"], rows, "Partners.role", problems)
    if len(problems.items) > found:
        return []
    return [{"name": n, "kind": k or "other", "role": r or "participant"}
            for n, k, r in zip(names.tolist(), kind, role, strict=True)]


def check_team(table: Table, problems: Problems, quoted: bool) -> list[dict]:
    """The Team sheet: one row per member (name, partner, team_role); a blank partner is none."""
    sheet = _sheet_columns(table, TEAM_COLUMNS, ("name", "team_role"), "Team", problems, quoted)
    if sheet is None:
        return []
    rows, col = sheet
    found = len(problems.items)
    names = _named(col, rules.TEAM_MEMBER["name"], rows, "Team", problems)
    partner = col("partner").str.strip()
    long_text(partner, rules.PARTNER["name"], rows, "Team.partner", problems)
    role = rule_column(col("team_role"), rules.TEAM_MEMBER["team_role"], rows, "Team.team_role", problems)
    blank = (col("team_role").str.strip() == "").to_numpy()
    problems.where(blank, rows, [""] * len(rows), "Team.team_role", lambda v: "a value is required")
    if len(problems.items) > found:
        return []
    return [{"name": n, "partner": p or None, "team_role": r}
            for n, p, r in zip(names.tolist(), partner.tolist(), role, strict=True)]


_PARTNER = re.compile(r"^(?P<name>.+) \((?P<kind>county|city|district|other)(?P<lead>, lead/host)?\)$")
_MEMBER = re.compile(r"^(?P<name>.+) \((?P<partner>.+), (?P<role>facilitator|assessor|observer)\)$")


def read_summary(book: Workbook, register: Register, partners: bool = True, team: bool = True) -> None:
    """The settings of the Summary sheet of our own workbook, and with `partners` and `team` its lines that list
    them (a workbook written before it had the Partners and Team sheets: a name holding "; ", " (" or a newline
    may be split there), when it describes one proposal."""
    table = book.sheet("Summary", empty_ok=True)
    values = {row[0]: row[1] for row in table.frame.itertuples(index=False) if len(row) > 1}
    from risk.models import LifecyclePhase, ProposalStatus, ServiceType

    for label, key, allowed in (("Service", "service_type", ServiceType), ("Status", "status", ProposalStatus),
                                ("Lifecycle phase", "phase", LifecyclePhase)):
        if values.get(label) in {x.value for x in allowed}:
            register.method[key] = values[label]
    for item in filter(None, values.get("Partners", "").split("; ") if partners else ()):
        m = _PARTNER.match(item)
        register.partners.append({"name": m["name"], "kind": m["kind"], "role": "lead" if m["lead"] else
                                  "participant"} if m else {"name": item, "kind": "other"})
    for item in filter(None, values.get("Assessment team", "").split("; ") if team else ()):
        if m := _MEMBER.match(item):
            register.team.append({"name": m["name"], "team_role": m["role"],
                                  "partner": None if m["partner"] == "no partner" else m["partner"]})


def read_method(book: Workbook, register: Register, engine: Engine, problems: Problems) -> None:
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
