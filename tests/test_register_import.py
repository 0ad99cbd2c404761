"""Importing registers from CSV and XLSX: round trips, matching on risk_id, column mapping, and every bad input
refused with its row and field while the database stays as it was."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from risk.db import make_engine, migrate
from risk.models import AuditEvent, Consensus, Proposal, Risk
from risk.services.portfolio import load_demo
from risk.services.proposals import list_proposals, team, update_risk
from risk.services.register_export import export_csv, export_xlsx, register_table
from risk.services.register_import import _plan_existing, _write_existing, import_register, read_register
from risk.services.register_rows import REGISTER_COLUMNS
from risk.store import count_rows, verify_chain
from tests.builders import SYSTEM, account, member_account

RISK = str(Path(sys.executable).with_name("risk"))
HEADER = ["risk_id", "category", "title", "cause", "event", "consequence", "owner", "inherent_likelihood",
          "inherent_impact", "residual_likelihood", "residual_impact", "status"]


def fresh(tmp_path, name: str):
    engine = make_engine(f"sqlite:///{tmp_path / name}.db")
    migrate(engine)
    return engine


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo portfolio in a database of its own, to export from (read only)."""
    engine = fresh(tmp_path_factory.mktemp("demo"), "demo")
    load_demo(engine, actor=SYSTEM)
    return engine


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


GOOD = [["LEG-01", "Legal", "No interlocal agreement", "no ILA is signed", "a dispute arises", "costs are unclear",
         "Clerk", "4", "5", "2", "4", "Open"],
        ["OPS-01", "operational", "CAD cutover fails", "the cutover is rushed", "calls are lost", "public harm",
         "IT lead", "3", "5", "", "", "Draft"]]


def state(engine) -> tuple[int, int, int]:
    return count_rows(engine, Proposal), count_rows(engine, Risk), count_rows(engine, AuditEvent)


def facilitator(engine, pid: int) -> str:
    """The username of the account of the proposal's facilitator (made and linked the first time)."""
    return member_account(engine, next(m.id for m in team(engine, pid) if m.team_role == "facilitator"))


def refused(engine, data: bytes, name: str = "register.csv", **kw) -> list[dict]:
    """Import that must be refused; checks that nothing changed and returns the problems."""
    before = state(engine)
    kw.setdefault("new_title", "Imported")
    kw.setdefault("actor", SYSTEM)
    report = import_register(engine, data, name, **kw)
    assert report["problems"], report
    assert report["proposal_ids"] == [] and state(engine) == before
    return report["problems"]


def one(problems: list[dict]) -> dict:
    assert len(problems) == 1, problems
    return problems[0]


# --- round trips -------------------------------------------------------------------------------------

def comparable(engine, pid: int, with_title: bool = True) -> list[dict]:
    columns = [c for c in REGISTER_COLUMNS if with_title or c != "proposal"]
    return [{c: row[c] for c in columns} for row in register_table(engine, [pid])]


def test_an_xlsx_register_exported_and_imported_into_a_new_proposal_gives_the_same_register(demo, engine):
    for p in list_proposals(demo):
        report = import_register(engine, export_xlsx(demo, [p.id]), "register.xlsx", actor=SYSTEM,
                                 new_title=p.title)
        assert report["problems"] == [] and report["added"] == len(register_table(demo, [p.id]))
        [new_id] = report["proposal_ids"]
        assert comparable(engine, new_id) == comparable(demo, p.id)
        sheets = [openpyxl.load_workbook(io.BytesIO(export_xlsx(db, [i])), read_only=True)
                  for db, i in ((demo, p.id), (engine, new_id))]
        for name in ("Register", "Scores", "Actions", "Method", "Summary"):
            # each database's own audit head (docs/AUDIT.md) is the one row that tells the two workbooks apart
            assert [list(r) for r in sheets[0][name].iter_rows(values_only=True) if r[0] != "Audit head"] == \
                   [list(r) for r in sheets[1][name].iter_rows(values_only=True) if r[0] != "Audit head"], name
    assert verify_chain(engine) > 0


def test_a_register_imported_under_another_title_differs_only_in_its_title(demo, tmp_path):
    target = fresh(tmp_path, "copy")
    load_demo(target, actor=SYSTEM)
    first = list_proposals(target)[0]
    report = import_register(target, export_xlsx(target, [first.id]), "r.xlsx", actor=SYSTEM, new_title="Copy")
    assert report["problems"] == []
    copy = comparable(target, report["proposal_ids"][0], with_title=False)
    assert copy == comparable(target, first.id, with_title=False)
    assert {r["proposal"] for r in register_table(target, report["proposal_ids"])} == {"Copy"}


def test_a_csv_register_reimported_into_its_proposal_changes_nothing(demo, tmp_path):
    target = fresh(tmp_path, "same")
    load_demo(target, actor=SYSTEM)
    pid = list_proposals(target)[0].id
    before = state(target)
    report = import_register(target, export_csv(target, [pid]), "r.csv", actor=facilitator(target, pid),
                             proposal_id=pid)
    assert (report["added"], report["changed"], report["problems"]) == (0, 0, [])
    assert report["unchanged"] == len(register_table(target, [pid]))
    assert state(target)[:2] == before[:2]


def test_rows_are_matched_on_risk_id_existing_ones_updated_and_new_ones_added(engine):
    target = engine
    load_demo(target, actor=SYSTEM)
    pid = list_proposals(target)[0].id
    rows = list(csv.DictReader(io.StringIO(export_csv(target, [pid]).decode("utf-8-sig"))))
    original = {r["risk_id"]: r for r in rows}
    first, second = rows[0]["risk_id"], rows[1]["risk_id"]
    rows[0]["title"] = "Retitled by the records office"
    rows[1]["residual_likelihood"], rows[1]["residual_impact"] = "1", "1"
    rows.append({**rows[2], "risk_id": "NEW-01", "title": "A risk from the county's own register"})
    data = csv_bytes([[r[c] for c in rows[0]] for r in rows], header=list(rows[0]))

    before = state(target)
    dry = import_register(target, data, "r.csv", actor=SYSTEM, proposal_id=pid, dry_run=True)
    assert (dry["added"], dry["changed"], dry["unchanged"], dry["problems"]) == (1, 2, len(rows) - 3, [])
    assert state(target) == before

    done = import_register(target, data, "r.csv", actor=facilitator(target, pid), proposal_id=pid)
    assert (done["added"], done["changed"]) == (1, 2)
    after = {r["risk_id"]: r for r in register_table(target, [pid])}
    assert after[first]["title"] == "Retitled by the records office" and after[first]["version"] == 2
    assert (after[second]["residual_likelihood"], after[second]["residual_impact"]) == (1, 1)
    assert after[second]["residual_level"] == "Very Low"
    assert after[second]["residual_assessed_on"] == dt.datetime.now(dt.UTC).date().isoformat()  # agreed today
    assert after["NEW-01"]["title"] == "A risk from the county's own register"
    assert after["NEW-01"]["inherent_level"] == original[rows[2]["risk_id"]]["inherent_level"]
    untouched = rows[3]["risk_id"]
    assert after[untouched]["version"] == 1
    assert verify_chain(target) > 0


def test_a_risk_changed_while_the_import_was_checked_refuses_the_whole_import(engine):
    from risk.errors import ConflictError

    target = engine
    load_demo(target, actor=SYSTEM)
    pid = list_proposals(target)[0].id
    rows = register_table(target, [pid])
    changed = [[r[c] if c != "title" else r[c] + " (edited)" for c in HEADER] for r in rows[:2]]
    data = csv_bytes([[str(v) if v is not None else "" for v in row] for row in changed])
    register, problems = read_register(target, data, "r.csv")
    plan = _plan_existing(target, register, pid, problems)
    assert len(plan.changed) == 2
    update_risk(target, actor=SYSTEM, risk_pk=rows[1]["risk_pk"], expected_version=rows[1]["version"],
                title="Saved first")
    before = state(target)
    with pytest.raises(ConflictError, match="nothing was imported"):
        _write_existing(target, register, pid, plan, SYSTEM, "r.csv")
    assert state(target) == before
    assert {r["risk_id"]: r["title"] for r in register_table(target, [pid])}[rows[0]["risk_id"]] == rows[0]["title"]


def test_derived_columns_are_recomputed_not_trusted(engine):
    header = [*HEADER, "inherent_level", "residual_level", "appetite", "over_appetite", "assessors", "disagreement",
              "next_review"]
    rows = [[*GOOD[0][:9], "4", "4", "Open", "Very Low", "Very Low", "Eager", "no", "99", "spread", "2001-01-01"]]
    report = import_register(engine, csv_bytes(rows, header), "r.csv", actor=SYSTEM, new_title="Derived")
    assert report["problems"] == []
    [row] = register_table(engine, report["proposal_ids"])
    assert (row["inherent_level"], row["residual_level"]) == ("Very High", "High")
    assert (row["appetite"], row["over_appetite"], row["assessors"], row["disagreement"]) == \
           ("Cautious", "yes", 0, "")
    assert row["next_review"] != "2001-01-01" and row["next_review"] != ""


def test_csv_text_such_as_na_and_007_is_kept_as_written(engine):
    rows = [["LEG-007", "Legal", "NA", "N/A", "null", "None", "007", "", "", "", "", ""]]
    report = import_register(engine, csv_bytes(rows), "r.csv", actor=SYSTEM, new_title="Kept")
    assert report["problems"] == []
    [row] = register_table(engine, report["proposal_ids"])
    assert (row["risk_id"], row["title"], row["cause"], row["event"], row["consequence"], row["owner"]) == \
           ("LEG-007", "NA", "N/A", "null", "None", "007")
    assert row["status"] == "Open" and row["inherent_level"] == ""


def test_formula_text_comes_back_as_it_was_written(engine, tmp_path):
    titles = ["=1+2", "'=already quoted", "-minus", "@SUM(A1)", "plain 'quote"]
    rows = [[f"LEG-0{k}", "Legal", t, "", "", "", "", "", "", "", "", ""] for k, t in enumerate(titles, start=1)]
    first = import_register(engine, csv_bytes(rows), "r.csv", actor=SYSTEM, new_title="Formulas")
    assert first["problems"] == []
    pid = first["proposal_ids"][0]
    assert [r["title"] for r in register_table(engine, [pid])] == ["=1+2", "=already quoted", "-minus",
                                                                    "@SUM(A1)", "plain 'quote"]
    exported = export_csv(engine, [pid])
    again = import_register(engine, exported, "again.csv", actor=SYSTEM, new_title="Formulas again")
    assert [r["title"] for r in register_table(engine, again["proposal_ids"])] == \
           [r["title"] for r in register_table(engine, [pid])]
    xlsx = import_register(engine, export_xlsx(engine, [pid]), "again.xlsx", actor=SYSTEM, new_title="As xlsx")
    assert [r["title"] for r in register_table(engine, xlsx["proposal_ids"])] == \
           [r["title"] for r in register_table(engine, [pid])]


def test_a_quoted_formula_in_a_file_is_stored_without_its_quote(engine):
    rows = [["LEG-01", "Legal", "'=1+2", "", "", "", "", "", "", "", "", ""]]
    report = import_register(engine, csv_bytes(rows), "r.csv", actor=SYSTEM, new_title="Quoted")
    assert [r["title"] for r in register_table(engine, report["proposal_ids"])] == ["=1+2"]


# --- encodings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding,bom", [("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("cp1252", b""),
                                          ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_utf8_bom_cp1252_and_utf16_files_are_read(engine, encoding, bom):
    rows = [["LEG-01", "Legal", "Café levy – “fees” ≠ €", "", "", "", "Zoë", "1", "2", "", "", "Open"]]
    if encoding == "cp1252":
        rows[0][2] = "Café levy – “fees” €"
    data = bom + csv_bytes(rows, encoding=encoding)
    report = import_register(engine, data, "r.csv", actor=SYSTEM, new_title=f"Encoded {encoding} {bom!r}")
    assert report["problems"] == []
    [row] = register_table(engine, report["proposal_ids"])
    assert (row["title"], row["owner"]) == (rows[0][2], "Zoë")


def test_a_semicolon_separated_file_is_read(engine):
    data = csv_bytes(GOOD).decode().replace(",", ";").encode()
    report = import_register(engine, data, "r.csv", actor=SYSTEM, new_title="Semicolons")
    assert report["problems"] == [] and report["added"] == 2


def test_unreadable_text_is_refused_naming_the_byte(engine):
    data = csv_bytes(GOOD) + b"LEG-02,Legal,bad \x81\x8d bytes,,,,,,,,,\r\n"
    problem = one(refused(engine, data))
    assert "byte 0x81" in problem["message"] and "neither UTF-8 nor Windows-1252" in problem["message"]


def test_utf16_without_its_byte_order_mark_is_refused(engine):
    problem = one(refused(engine, csv_bytes(GOOD, encoding="utf-16-le")))
    assert "NUL" in problem["message"] and "byte-order mark" in problem["message"]


# --- bad cells and headers -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "6", "3.5", "high", "-1", "1e0"])
def test_scores_out_of_range_or_not_whole_numbers_are_refused_with_row_and_field(engine, value):
    rows = [list(GOOD[0]), list(GOOD[1])]
    rows[1][8] = value
    problem = one(refused(engine, csv_bytes(rows)))
    assert (problem["row"], problem["field"]) == (3, "inherent_impact")
    shown = value if value[-1].isdigit() and value != "1e0" else repr(value)  # a number as a number, text quoted
    assert problem["message"] == f"expected a whole number from 1 to 5, got {shown}"


def test_half_a_score_is_refused(engine):
    rows = [list(GOOD[0])]
    rows[0][10] = ""
    problem = one(refused(engine, csv_bytes(rows)))
    assert (problem["row"], problem["field"]) == (2, "residual_impact")
    assert "required when residual_likelihood is given" in problem["message"]


def test_an_unknown_category_is_refused(engine):
    rows = [list(GOOD[0]), list(GOOD[1])]
    rows[0][1] = "Legl"
    problem = one(refused(engine, csv_bytes(rows)))
    assert (problem["row"], problem["field"]) == (2, "category")
    assert "got 'Legl'" in problem["message"] and "Legal" in problem["message"]


def test_every_problem_of_a_file_is_reported_in_row_order(engine):
    rows = [list(GOOD[0]), list(GOOD[1]), list(GOOD[0])]
    rows[0][7], rows[1][1], rows[1][11] = "9", "", "Pending"
    problems = refused(engine, csv_bytes(rows))
    assert [(p["row"], p["field"]) for p in problems] == [(2, "inherent_likelihood"), (3, "category"),
                                                          (3, "status"), (4, "risk_id")]
    assert "also on row 2" in problems[-1]["message"]


def test_missing_unknown_and_duplicate_headers_are_refused_by_name(engine):
    missing = one(refused(engine, csv_bytes([g[:2] + g[3:] for g in GOOD], [h for h in HEADER if h != "title"])))
    assert (missing["row"], missing["field"]) == (1, "title") and "missing" in missing["message"]

    unknown = one(refused(engine, csv_bytes([[*g, "x"] for g in GOOD], [*HEADER, "Likelihood (1-5)"])))
    assert (unknown["row"], unknown["field"]) == (1, "Likelihood (1-5)")
    assert "column M" in unknown["message"] and "not a register column" in unknown["message"]

    twice = one(refused(engine, csv_bytes([[*g, "again"] for g in GOOD], [*HEADER, "title"])))
    assert (twice["row"], twice["field"]) == (1, "title") and "columns C and M" in twice["message"]

    pair = one(refused(engine, csv_bytes([g[:8] for g in GOOD], HEADER[:8])))
    assert (pair["field"], pair["row"]) == ("inherent_impact", 1)


def test_rows_of_several_proposals_or_another_format_version_are_refused(engine):
    rows = [["A", *GOOD[0]], ["B", *GOOD[1]]]
    problem = one(refused(engine, csv_bytes(rows, ["proposal", *HEADER])))
    assert (problem["row"], problem["field"]) == (3, "proposal") and "one proposal's register" in problem["message"]
    version = one(refused(engine, csv_bytes([[*GOOD[0], "2"]], [*HEADER, "format_version"])))
    assert (version["row"], version["field"]) == (2, "format_version")


def test_an_owner_partner_that_is_not_a_partner_of_the_proposal_is_refused(tmp_path):
    target = fresh(tmp_path, "partners")
    load_demo(target, actor=SYSTEM)
    pid = list_proposals(target)[0].id
    data = csv_bytes([[*GOOD[0], "Atlantis County"]], [*HEADER, "owner_partner"])
    problem = one(refused(target, data, proposal_id=pid, new_title=None, actor=facilitator(target, pid)))
    assert (problem["row"], problem["field"]) == (2, "owner_partner") and "Atlantis County" in problem["message"]


def test_a_title_already_taken_or_no_target_is_refused(demo):
    taken = list_proposals(demo)[0].title
    assert "already exists" in one(refused(demo, csv_bytes(GOOD), new_title=taken))["message"]
    assert "give one of them" in one(refused(demo, csv_bytes(GOOD), new_title=None))["message"]
    assert "does not exist" in one(refused(demo, csv_bytes(GOOD), new_title=None, proposal_id=999))["message"]


# --- limits and hostile files ----------------------------------------------------------------------------

def test_a_file_over_the_size_limit_is_refused(engine):
    data = csv_bytes(GOOD) + b"x" * 11_000_000
    problem = one(refused(engine, data))
    assert "11.0 MB" in problem["message"] and "at most 10 MB" in problem["message"]


def test_a_file_over_the_row_limit_is_refused(engine, monkeypatch):
    monkeypatch.setenv("RISK_IMPORT_MAX_ROWS", "5")
    rows = [[f"LEG-{k:02}", *GOOD[0][1:]] for k in range(6)]
    assert "at most 5" in one(refused(engine, csv_bytes(rows)))["message"]
    assert "at most 5" in one(refused(engine, _xlsx(HEADER, rows), "r.xlsx"))["message"]


def _xlsx(header: list[str], rows: list[list[str]], sheet: str = "Register") -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    ws = book.add_worksheet(sheet)
    ws.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        ws.write_row(r, 0, row)
    book.close()
    return buffer.getvalue()


def _rezip(data: bytes, change) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, change(info.filename, source.read(info.filename)))
    return out.getvalue()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(engine):
    bomb = _rezip(_xlsx(HEADER, GOOD), lambda name, body: body + b" " * 60_000_000
                  if name == "xl/worksheets/sheet1.xml" else body)
    assert len(bomb) < 200_000
    problem = one(refused(engine, bomb, "r.xlsx"))
    assert "zip bomb" in problem["message"]


def test_xml_entity_expansion_is_refused(engine):
    laughs = (b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
              b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')

    def change(name: str, body: bytes) -> bytes:
        if name == "xl/sharedStrings.xml":
            return body.replace(b"?>", b"?>" + laughs, 1).replace(b"No interlocal agreement", b"&lol3;")
        return body

    problem = one(refused(engine, _rezip(_xlsx(HEADER, GOOD), change), "r.xlsx"))
    assert "XML entity expansion" in problem["message"]


@pytest.mark.parametrize("name,data,expected", [
    ("r.xlsx", b"MZ\x90\x00" + b"\x00" * 200, "a Windows program"),
    ("r.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200, "save it as .xlsx or CSV"),
    ("r.xlsx", b"risk_id,title\r\nA,B\r\n", "not a zip file"),
    ("r.csv", None, "it is a zip archive"),
    ("r.xlsx", None, "not an Excel workbook (it has no xl/workbook.xml)"),
    ("r.pdf", b"%PDF-1.7", "expected a .csv, .xlsx or .json file"),
])
def test_a_file_that_is_not_what_its_name_says_is_refused(engine, name, data, expected):
    if data is None and name.endswith(".csv"):
        data = _xlsx(HEADER, GOOD)
    elif data is None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("word/document.xml", "<w/>")
        data = out.getvalue()
    assert expected in one(refused(engine, data, name))["message"]


# --- XLSX sheets -----------------------------------------------------------------------------------------

def test_xlsx_cells_are_read_as_their_text_and_rows_numbered_as_the_sheet_shows(engine):
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = book.add_worksheet("Register")
    ws.write_row(0, 0, HEADER)
    ws.write_row(1, 0, ["LEG-007", "Legal", "NA", "", "", "", "", 4, 5.0, "", "", "Open"])
    ws.write_row(4, 0, ["LEG-02", "Legal", "After blank rows", "", "", "", "", 3.5, 2, "", "", "Open"])
    book.close()
    problem = one(refused(engine, buffer.getvalue(), "r.xlsx"))
    assert (problem["row"], problem["field"]) == (5, "inherent_likelihood") and "got 3.5" in problem["message"]


def test_bad_rows_of_the_scores_sheet_are_named_by_sheet_row_and_field(demo, engine):
    pid = list_proposals(demo)[0].id
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(demo, [pid])))
    scores = book["Scores"]
    likelihood = [c.value for c in scores[1]].index("likelihood") + 1
    scores.cell(row=7, column=likelihood, value=7)
    out = io.BytesIO()
    book.save(out)
    problem = one(refused(engine, out.getvalue(), "r.xlsx"))
    assert (problem["row"], problem["field"]) == (7, "Scores.likelihood") and "got 7" in problem["message"]


# --- column mapping ------------------------------------------------------------------------------------

FOREIGN = ["Ref", "Risk Type", "Risk Name", "Description", "L", "I", "Notes"]
FOREIGN_ROWS = [["RSK-1", "Financial", "Cost overrun", "Costs grow", "4", "3", "see minutes"],
                ["RSK-2", "Societal", "Digital divide", "Rural residents", "2", "4", ""]]
MAPPING = {"Ref": "risk_id", "Risk Type": "category", "Risk Name": "title", "Description": "event",
           "L": "inherent_likelihood", "I": "inherent_impact", "Notes": ""}


def test_another_tools_columns_are_mapped_to_ours(engine):
    data = csv_bytes(FOREIGN_ROWS, FOREIGN)
    problems = refused(engine, data)
    assert {p["field"] for p in problems} == {"Ref", "Risk Type", "Risk Name", "Description", "L", "I", "Notes"} \
        | {"risk_id", "category", "title"}
    report = import_register(engine, data, "theirs.csv", actor=SYSTEM, new_title="Mapped", mapping=MAPPING)
    assert report["problems"] == []
    rows = register_table(engine, report["proposal_ids"])
    assert [(r["risk_id"], r["category"], r["title"], r["inherent_level"]) for r in rows] == \
           [("RSK-1", "Financial", "Cost overrun", "Moderate"), ("RSK-2", "Societal", "Digital divide", "Low")]


def test_a_mapping_to_a_column_we_do_not_have_is_refused(engine):
    problems = refused(engine, csv_bytes(FOREIGN_ROWS, FOREIGN), mapping={**MAPPING, "Notes": "remarks"})
    assert any(p["field"] == "remarks" and "not a register column" in p["message"] for p in problems)
    problems = refused(engine, csv_bytes(FOREIGN_ROWS, FOREIGN), mapping={**MAPPING, "Owner": "owner"})
    assert any(p["field"] == "Owner" and "does not have" in p["message"] for p in problems)


# --- the command ---------------------------------------------------------------------------------------

def _run(env, *args):
    return subprocess.run([RISK, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_the_import_command_maps_dry_runs_imports_and_refuses(tmp_path):
    from risk.services.mappings import save_mapping

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "RISK_DATABASE_URL": url}
    theirs = tmp_path / "theirs.csv"
    theirs.write_bytes(csv_bytes(FOREIGN_ROWS, FOREIGN))
    maps = [f"--map={k}={v}" for k, v in MAPPING.items()]
    dry = _run(env, "import", str(theirs), "--new", "From the county", *maps, "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {"added": 2, "changed": 0, "unchanged": 0, "problems": []}
    engine = make_engine(url)
    assert count_rows(engine, Proposal) == 0

    save_mapping(engine, actor=SYSTEM, name="County ledger", columns=MAPPING)
    done = _run(env, "import", str(theirs), "--new", "From the county", "--mapping", "County ledger")
    assert done.returncode == 0 and "imported into proposal 1" in done.stderr
    again = _run(env, "import", str(theirs), "--proposal", "1", "--mapping", "County ledger", "--format", "json")
    assert json.loads(again.stdout) == {"added": 0, "changed": 0, "unchanged": 2, "problems": []}

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([["RSK-3", "Financial", "Overrun", "", "6", "3", ""]], FOREIGN))
    refused_run = _run(env, "import", str(bad), "--proposal", "1", "--mapping", "County ledger", "--format", "json")
    assert refused_run.returncode == 1
    assert json.loads(refused_run.stdout)["problems"] == [
        {"row": 2, "field": "inherent_likelihood", "message": "expected a whole number from 1 to 5, got 6"}]
    assert "row 2, inherent_likelihood: expected a whole number" in refused_run.stderr
    assert count_rows(engine, Risk) == 2
    unknown = _run(env, "import", str(bad), "--proposal", "1", "--mapping", "Nope")
    assert unknown.returncode == 1 and "no saved mapping called 'Nope'" in unknown.stderr


@pytest.mark.slow
def test_a_killed_import_leaves_all_rows_or_none(tmp_path):
    """kill -9 at several points of a 10,000-row import: the proposal has 0 or 10,000 risks, never a part."""
    rows = [[f"R-{k:05}", "Operational", f"Risk {k}", "a cause", "an event", "a consequence", "", str(k % 5 + 1),
             str(k * 7 % 5 + 1), "", "", "Open"] for k in range(10_000)]
    sheet = tmp_path / "big.csv"
    sheet.write_bytes(csv_bytes(rows))
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    migrate(make_engine(url))
    env = {**os.environ, "RISK_DATABASE_URL": url}
    seen = []
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4, 1.0):
        proc = subprocess.Popen([RISK, "import", str(sheet), "--new", f"Big {delay}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:  # the command says "Writing" just before its transaction starts
            if "Writing" in line:
                break
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        engine = make_engine(url)
        counts = dict(_risk_counts(engine))
        assert set(counts.values()) <= {0, 10_000}, counts
        seen.append(counts.get(f"Big {delay}", 0))
        assert verify_chain(engine) >= 0
        engine.dispose()
    assert 0 in seen, seen  # killed inside the transaction at least once, and nothing of it is left


def _risk_counts(engine):
    from sqlalchemy import func, select
    from sqlmodel import Session

    with Session(engine) as s:
        return s.execute(select(Proposal.title, func.count(Risk.id)).outerjoin(Risk).group_by(Proposal.title)).all()


def test_consensus_rows_hold_the_importers_name_and_the_file(engine):
    importer = account(engine, "records.office", "Records Office")
    report = import_register(engine, csv_bytes(GOOD), "county.csv", actor=importer, new_title="Who")
    from sqlmodel import Session, select

    with Session(engine) as s:
        rows = s.execute(select(Consensus)).scalars().all()
    assert {(c.recorded_by, c.rationale) for c in rows} == {("records.office", "Imported from county.csv (UTF-8)")}
    assert len(rows) == 3 and report["added"] == 2


# --- found in review: odd files, permissions, the existing-proposal rules --------------------------------

def test_only_the_facilitator_may_import_into_a_proposal_and_a_refusal_is_audited(tmp_path):
    from sqlmodel import Session, select

    from risk.errors import ForbiddenError

    target = fresh(tmp_path, "team")
    load_demo(target, actor=SYSTEM)
    pid = list_proposals(target)[0].id
    observer = member_account(target, next(m.id for m in team(target, pid) if m.team_role == "observer"))
    assessor = member_account(target, next(m.id for m in team(target, pid) if m.team_role == "assessor"))
    outsider = account(target, "someone.else", "Someone Else")
    data = export_csv(target, [pid]).replace(b"Open", b"Closed", 1)
    for actor in (outsider, observer, assessor, "Someone Else"):
        before = state(target)[:2]
        with pytest.raises(ForbiddenError, match="may not import into this proposal; a facilitator or an admin"):
            import_register(target, data, "r.csv", actor=actor, proposal_id=pid)
        assert state(target)[:2] == before
        with Session(target) as s:
            last = s.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
        assert (last.action, last.actor) == ("refused", actor)
    dry = import_register(target, data, "r.csv", actor=observer, proposal_id=pid, dry_run=True)
    assert dry["problems"] == [] and dry["changed"] == 1  # looking is allowed to whoever may see the proposal
    with pytest.raises(ForbiddenError, match="may not see this proposal"):
        import_register(target, data, "r.csv", actor=outsider, proposal_id=pid, dry_run=True)
    done = import_register(target, data, "r.csv", actor=facilitator(target, pid), proposal_id=pid)
    assert done["problems"] == [] and done["changed"] == 1


def test_an_import_into_an_existing_proposal_audits_what_it_replaced(tmp_path):
    from sqlmodel import Session, select

    target = fresh(tmp_path, "audit")
    load_demo(target, actor=SYSTEM)
    pid = list_proposals(target)[0].id
    rows = list(csv.DictReader(io.StringIO(export_csv(target, [pid]).decode("utf-8-sig"))))
    old_title = rows[0]["title"]
    rows[0]["title"] = "New wording"
    rows[0]["residual_likelihood"], rows[0]["residual_impact"] = "1", "1"
    data = csv_bytes([list(r.values()) for r in rows], header=list(rows[0]))
    report = import_register(target, data, "r.csv", actor=facilitator(target, pid), proposal_id=pid)
    assert report["changed"] == 1
    with Session(target) as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.action.in_(["bulk_update", "bulk_upsert"]))
                           ).scalars().all()
    update_event = next(e for e in events if e.action == "bulk_update" and e.entity == "risk")
    assert json.loads(update_event.before)["risks"][0]["title"] == old_title \
        if isinstance(update_event.before, str) else update_event.before["risks"][0]["title"] == old_title
    assert verify_chain(target) > 0


def test_a_register_of_another_proposal_or_with_cybersecurity_turned_off_is_refused(tmp_path):
    target = fresh(tmp_path, "other")
    load_demo(target, actor=SYSTEM)
    first, second = list_proposals(target)[:2]
    problems = refused(target, export_csv(target, [second.id]), proposal_id=first.id, new_title=None,
                       actor=facilitator(target, first.id))
    assert problems[0]["field"] == "proposal" and second.title in problems[0]["message"]
    off = next(p for p in list_proposals(target) if not p.cybersecurity)
    data = csv_bytes([["CYB-09", "Cybersecurity", "Ransomware", *[""] * 9]])
    problem = one(refused(target, data, proposal_id=off.id, new_title=None, actor=facilitator(target, off.id)))
    from risk.rules import CYBERSECURITY_OFF

    assert (problem["row"], problem["field"]) == (2, "category") and CYBERSECURITY_OFF in problem["message"]


def test_a_new_proposal_with_cybersecurity_risks_has_the_category_turned_on(engine):
    data = csv_bytes([["CYB-01", "cybersecurity", "Ransomware", *[""] * 9], GOOD[0]])
    report = import_register(engine, data, "r.csv", actor=SYSTEM, new_title="Cyber")
    assert report["problems"] == [] and list_proposals(engine)[0].cybersecurity


def test_risk_ids_are_matched_whatever_their_case(tmp_path):
    target = fresh(tmp_path, "case")
    load_demo(target, actor=SYSTEM)
    pid = list_proposals(target)[0].id
    rows = list(csv.DictReader(io.StringIO(export_csv(target, [pid]).decode("utf-8-sig"))))
    for r in rows:
        r["risk_id"] = r["risk_id"].lower()
    data = csv_bytes([list(r.values()) for r in rows], header=list(rows[0]))
    report = import_register(target, data, "r.csv", actor=facilitator(target, pid), proposal_id=pid, dry_run=True)
    assert (report["added"], report["changed"], report["unchanged"]) == (0, 0, len(rows))
    twice = one(refused(target, csv_bytes([GOOD[0], ["leg-01", *GOOD[0][1:]]])))
    assert (twice["row"], twice["field"]) == (3, "risk_id") and "also on row 2" in twice["message"]


@pytest.mark.parametrize("data,expected", [
    (codecs.BOM_UTF8 + b"risk_id,category,title\r\nAB-1,legal,caf\xe9\r\n", "byte 0xe9"),
    (b"\r\nrisk_id,category,title\r\nAB-1,legal,x\r\n", "row 1 is empty"),
    (b"risk_id,category,title\r\n", "a header but no risks"),
    (b"risk_id,category,title\r\nAB-1,legal,x\r\nAB-2,legal,y,extra\r\n", "row 3 has 4 cells where the header has 3"),
])
def test_odd_csv_shapes_are_refused_with_a_message_not_an_error(engine, data, expected):
    assert expected in one(refused(engine, data))["message"]


def test_empty_unnamed_columns_are_ignored_and_named_ones_with_values_reported(engine):
    data = b"risk_id,category,title,,\r\nAB-1,legal,x,,\r\n"
    assert import_register(engine, data, "r.csv", actor=SYSTEM, new_title="Trailing")["problems"] == []
    problem = one(refused(engine, b"risk_id,category,title,\r\nAB-1,legal,x,lost\r\n"))
    assert problem["field"] == "column D" and "no name" in problem["message"]


def test_text_over_the_limits_and_bad_scores_or_costs_in_other_sheets_are_refused(demo, engine):
    long = one(refused(engine, csv_bytes([[*GOOD[0][:3], "x" * 5001, *GOOD[0][4:]]])))
    assert (long["row"], long["field"]) == (2, "cause") and "at most 5,000" in long["message"]
    assert "at most 200" in one(refused(engine, csv_bytes(GOOD), new_title="T" * 201))["message"]

    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(demo, [list_proposals(demo)[0].id])))
    scores, actions = book["Scores"], book["Actions"]
    scores.cell(row=2, column=[c.value for c in scores[1]].index("round") + 1, value="1e30")
    actions.cell(row=2, column=[c.value for c in actions[1]].index("cost") + 1, value=-5)
    out = io.BytesIO()
    book.save(out)
    problems = refused(engine, out.getvalue(), "r.xlsx")
    assert {(p["row"], p["field"]) for p in problems} == {(2, "Scores.round"), (2, "Actions.cost")}


def test_a_stale_used_range_in_a_workbook_does_not_hide_rows(engine):
    rows = [[f"LEG-{k:02}", "Legal", f"Risk {k}", "", "", "", "", "3", "4", "", "", "Open"] for k in range(1, 11)]

    def stale(name: str, body: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            import re as _re
            return _re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:C4"/>', body)
        return body

    report = import_register(engine, _rezip(_xlsx(HEADER, rows), stale), "r.xlsx", actor=SYSTEM, new_title="Stale")
    assert report["problems"] == [] and report["added"] == 10
    assert {r["inherent_level"] for r in register_table(engine, report["proposal_ids"])} == {"Moderate"}


def test_a_register_continued_on_more_sheets_is_read_whole_and_checked(engine, monkeypatch):
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    for sheet, part in (("Register", GOOD[:1]), ("Register (2)", GOOD[1:])):
        ws = book.add_worksheet(sheet)
        ws.write_row(0, 0, HEADER)
        for r, row in enumerate(part, start=1):
            ws.write_row(r, 0, row)
    book.close()
    report = import_register(engine, buffer.getvalue(), "r.xlsx", actor=SYSTEM, new_title="Continued")
    assert report["problems"] == [] and report["added"] == 2
    monkeypatch.setenv("RISK_IMPORT_MAX_ROWS", "1")
    assert "over 2 sheets" in one(refused(engine, buffer.getvalue(), "r.xlsx"))["message"]


def test_a_saved_mapping_applies_to_the_columns_a_file_has(engine):
    from risk.services.mappings import best_mapping, save_mapping

    fewer = csv_bytes([r[:5] for r in FOREIGN_ROWS], FOREIGN[:5])  # no "I" and no "Notes" column
    fewer = fewer.replace(b"L\r\n", b"Owner\r\n", 1)
    report = import_register(engine, fewer, "theirs.csv", actor=SYSTEM, new_title="Fewer",
                             saved={**MAPPING, "Owner": "owner"})
    assert report["problems"] == [], report["problems"]
    save_mapping(engine, actor=SYSTEM, name="Ledger", columns=MAPPING)
    save_mapping(engine, actor=SYSTEM, name="Status only", columns={"status": ""})
    assert best_mapping(engine, FOREIGN).name == "Ledger"
    assert best_mapping(engine, ["risk_id", "category", "title", "status"]) is None


def test_past_500_problems_the_first_500_rows_are_listed_and_the_rest_counted(engine):
    rows = [[f"RK-{k}", "Legl" if k % 2 else "Legal", "t", "", "", "", "", "9", "9", "", "", ""] for k in range(1000)]
    problems = refused(engine, csv_bytes(rows))
    listed, last = problems[:-1], problems[-1]
    assert len(listed) == 500 and [p["row"] for p in listed] == sorted(p["row"] for p in listed)
    assert listed[0]["row"] == 2 and listed[-1]["row"] <= 202  # 2.5 problems a row: the first 200 rows
    assert last["row"] is None and last["message"] == "and 2,000 more problems of these kinds"


# --- text that spreadsheets escape, and names the Summary sheet used to mangle -------------------------------

def _bundle(partner: str = "North County", observer: str = "Cy", cause: str = "a cause"):
    from risk.bundle import ProposalBundle, RoundBundle

    return ProposalBundle(
        proposal={"title": "Repro"},
        partners=[{"name": partner, "kind": "city", "role": "lead"}, {"name": "South City", "kind": "county"}],
        team=[{"name": "Bo", "partner": partner, "team_role": "assessor"},
              {"name": observer, "partner": "South City", "team_role": "observer"}],
        risks=[{"risk_id": "LEG-01", "category": "legal", "title": "No agreement", "cause": cause}],
        rounds=[RoundBundle("inherent", 1, "closed", [("LEG-01", "Bo", 3, 4, "why")])])


def _round_trip(engine, bundle, fmt: str = "xlsx") -> dict:
    """The bundle loaded, exported as `fmt` and imported into a new proposal: that proposal's JSON document."""
    from risk.services.bulk import load_bundles
    from risk.services.json_export import export_document

    [pid] = load_bundles(engine, [bundle], actor=SYSTEM)
    data = export_xlsx(engine, [pid]) if fmt == "xlsx" else export_csv(engine, [pid])
    report = import_register(engine, data, f"r.{fmt}", actor=SYSTEM, new_title="Copy")
    assert report["problems"] == [], report["problems"]
    [p] = export_document(engine, report["proposal_ids"])["proposals"]
    return p


CARRIAGE_TEXTS = ["line one\r\nline two", "a\rb", "ends in a CR\r and goes on", "_x000D_ typed by a user",
                  "_x005F_x000D_ and x005F_ and _x0041_ and _x00", "both\r_x000D_\r\n_x005F_"]


@pytest.mark.parametrize("cause", CARRIAGE_TEXTS)
def test_a_carriage_return_or_a_typed_escape_comes_back_exactly_from_a_workbook(engine, cause):
    assert _round_trip(engine, _bundle(cause=cause))["risks"][0]["cause"] == cause


@pytest.mark.parametrize("cause", CARRIAGE_TEXTS)
def test_a_carriage_return_or_a_typed_escape_comes_back_exactly_from_a_csv(engine, cause):
    assert _round_trip(engine, _bundle(cause=cause), "csv")["risks"][0]["cause"] == cause


def test_a_workbook_written_by_excel_with_escaped_text_reads_as_excel_shows_it():
    # Excel writes a carriage return as _x000D_ and a typed "_x000D_" as _x005F_x000D_, in shared or inline strings
    from risk.exchange.reading import Workbook

    def escaped(name: str, body: bytes) -> bytes:
        return body.replace(b"CR-HERE", b"a_x000D_b").replace(b"TYPED", b"_x005F_x000D_ x005F_ _x005f_x0041_")

    rows = [["LEG-01", "Legal", "CR-HERE", "TYPED", "", "", "", "3", "4", "", "", "Open"]]
    shared = _xlsx(HEADER, rows)
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"constant_memory": True}) as inline:  # inline strings, no shared ones
        ws = inline.add_worksheet("Register")
        for r, row in enumerate([HEADER, *rows]):
            ws.write_row(r, 0, row)
    assert b"inlineStr" in zipfile.ZipFile(buffer).read("xl/worksheets/sheet1.xml")
    for data in (shared, buffer.getvalue()):
        book = Workbook(_rezip(data, escaped), "r.xlsx", 10**7, 100)
        try:
            assert book.sheet("Register").frame.iloc[0, 2:4].tolist() == ["a\rb", "_x000D_ x005F_ _x0041_"]
        finally:
            book.close()


@pytest.mark.parametrize("partner", ["North; South", "North (Metro)", "North\nCounty", "North (city, lead/host);",
                                     "=North", "Cy (South City, observer)", "North\r\nCounty _x000D_"])
def test_a_partner_name_with_separators_parentheses_or_newlines_comes_back_whole_with_its_kind_and_role(
        engine, partner):
    p = _round_trip(engine, _bundle(partner=partner))
    assert [(x["name"], x["kind"], x["role"]) for x in p["partners"]] == \
        [(partner, "city", "lead"), ("South City", "county", "participant")]
    assert [(m["name"], m["partner"], m["team_role"]) for m in p["team"]] == \
        [("Bo", partner, "assessor"), ("Cy", "South City", "observer")]


@pytest.mark.parametrize("observer", ["Cy; Di", "Cy (Di)", "Cy\nDi", "Cy (South City, observer); Di"])
def test_a_member_name_with_separators_parentheses_or_newlines_comes_back_whole_with_partner_and_role(
        engine, observer):
    p = _round_trip(engine, _bundle(observer=observer))
    assert [(m["name"], m["partner"], m["team_role"]) for m in p["team"]] == \
        [("Bo", "North County", "assessor"), (observer, "South City", "observer")]
    assert [x["name"] for x in p["partners"]] == ["North County", "South City"]


def test_a_workbook_written_before_the_partners_and_team_sheets_takes_them_from_the_summary(engine):
    from risk.services.bulk import load_bundles
    from risk.services.json_export import export_document

    [pid] = load_bundles(engine, [_bundle()], actor=SYSTEM)
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(engine, [pid])))
    del book["Partners"], book["Team"]
    out = io.BytesIO()
    book.save(out)
    report = import_register(engine, out.getvalue(), "old.xlsx", actor=SYSTEM, new_title="Older")
    assert report["problems"] == [], report["problems"]
    [p] = export_document(engine, report["proposal_ids"])["proposals"]
    assert [(x["name"], x["kind"], x["role"]) for x in p["partners"]] == \
        [("North County", "city", "lead"), ("South City", "county", "participant")]
    assert [(m["name"], m["partner"], m["team_role"]) for m in p["team"]] == \
        [("Bo", "North County", "assessor"), ("Cy", "South City", "observer")]


def test_bad_rows_of_the_partners_and_team_sheets_are_refused_naming_sheet_row_and_column(engine):
    from risk.services.bulk import load_bundles

    [pid] = load_bundles(engine, [_bundle()], actor=SYSTEM)
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(engine, [pid])))
    book["Partners"]["C3"], book["Partners"]["D2"] = "village", "boss"
    book["Team"]["B3"], book["Team"]["D2"] = "Bo", ""
    book["Team"].append(["Repro", "Ed", "", "watcher"])
    out = io.BytesIO()
    book.save(out)
    problems = refused(engine, out.getvalue(), "r.xlsx")  # and nothing changed
    assert {(p["row"], p["field"]) for p in problems} == {
        (3, "Partners.kind"), (2, "Partners.role"), (3, "Team.name"), (2, "Team.team_role"), (4, "Team.team_role")}
    assert "listed twice" in next(p["message"] for p in problems if p["field"] == "Team.name")
