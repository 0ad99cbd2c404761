"""Exported registers: CSV and XLSX opened again and read, formulas never let through."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from risk.exchange.spreadsheet import safe_text, unsafe_text
from risk.services import proposals as ps
from risk.services.portfolio import load_demo
from risk.services.register_export import export_csv, export_xlsx
from risk.services.register_rows import REGISTER_COLUMNS
from tests.builders import SYSTEM

HOSTILE = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tlead", "'=already", "plain text", "'quote only"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_is_escaped_and_the_round_trip_is_exact(text):
    escaped = safe_text(text)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r", "\0"))
    assert unsafe_text(escaped) == text


@pytest.fixture
def demo(sqlite_engine):
    load_demo(sqlite_engine, actor=SYSTEM)
    ps.add_risk(sqlite_engine, actor=SYSTEM, proposal_id=1, category="legal", title="=1+2",
                cause="'=already escaped", event="@SUM(A1:A9)", consequence="-10% budget")
    return sqlite_engine


def test_csv_register_has_a_bom_the_domain_columns_and_a_format_version(demo):
    data = export_csv(demo, [1])
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [*REGISTER_COLUMNS, "format_version"]
    assert len(rows) == 1 + 17 and all(r[-1] == "1" for r in rows[1:])
    hostile = next(dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r[3].endswith("=1+2"))
    assert (hostile["title"], hostile["cause"], hostile["event"], hostile["consequence"]) == \
        ("'=1+2", "''=already escaped", "'@SUM(A1:A9)", "'-10% budget")
    levels = {r[11] for r in rows[1:]} | {r[16] for r in rows[1:]}
    assert levels <= {"Very Low", "Low", "Moderate", "High", "Very High", ""}
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["category"] == "Legal" and first["over_appetite"] in ("yes", "no")


def test_xlsx_workbook_has_its_sheets_the_register_columns_and_no_formula(demo):
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(demo, [1])))
    assert book.sheetnames == ["Summary", "Register", "Partners", "Team", "Method", "Heat maps", "Scores", "Actions",
                               "Costs", "Quantified risk", "Decisions"]
    register = book["Register"]
    header = [c.value for c in register[1]]
    assert header == list(REGISTER_COLUMNS)
    assert register.freeze_panes == "C2" and register.auto_filter.ref
    rows = [[c.value for c in row] for row in register.iter_rows(min_row=2)]
    assert len(rows) == 17
    hostile = next(r for r in rows if r[3] == "=1+2")  # a quote-prefixed text cell: shown as written
    assert hostile[4] == "'=already escaped"
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    levels = [r[header.index("residual_level")] for r in rows if r[header.index("residual_level")]]
    fills = {register.cell(row=k + 2, column=header.index("residual_level") + 1).fill.fgColor.rgb
             for k in range(len(rows)) if rows[k][header.index("residual_level")]}
    assert set(levels) <= {"Very Low", "Low", "Moderate", "High", "Very High"} and len(fills) > 1
    summary = {r[0].value: r[1].value for r in book["Summary"].iter_rows(min_row=3) if r[0].value}
    assert summary["Decision"] == "not decided" and summary["Risks"] == 17
    scores = list(book["Scores"].iter_rows(min_row=2, values_only=True))
    assert len(scores) == 16 * 5 * 3  # 16 scored risks, 5 assessors, 3 closed rounds
    assert book["Method"]["A1"].value == "Matrix"
    # partners and team one row each, beside the Summary's lines for people to read
    partners = list(book["Partners"].iter_rows(values_only=True))
    team = list(book["Team"].iter_rows(values_only=True))
    assert partners[0] == ("proposal", "name", "kind", "role") and team[0] == ("proposal", "name", "partner",
                                                                                "team_role")
    assert len(partners) > 2 and sum(r[3] == "lead" for r in partners[1:]) == 1
    assert all(f"{r[1]} ({r[2]}" in summary["Partners"] for r in partners[1:])
    assert all(r[1] in summary["Assessment team"] and r[3] in ("facilitator", "assessor", "observer")
               for r in team[1:])
    assert book["Partners"].freeze_panes == "A2" and book["Team"].auto_filter.ref


@pytest.mark.slow
def test_export_command_writes_csv_to_stdout_and_xlsx_to_a_file(demo, sqlite_url, tmp_path):
    risk = str(Path(sys.executable).with_name("risk"))
    env = {**os.environ, "RISK_DATABASE_URL": sqlite_url}
    out = subprocess.run([risk, "export", "--proposal", "2", "--format", "csv", "-o", "-"], env=env,
                         capture_output=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith(b"\xef\xbb\xbf")
    target = tmp_path / "erp.xlsx"
    made = subprocess.run([risk, "export", "--proposal", "2", "--format", "xlsx", "-o", str(target)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert openpyxl.load_workbook(target)["Register"].max_row == 15
    to_stdout = subprocess.run([risk, "export", "--all", "--format", "xlsx"], env=env, capture_output=True,
                               text=True, timeout=120)
    assert to_stdout.returncode == 2 and "needs a file" in to_stdout.stderr
    missing = subprocess.run([risk, "export", "--proposal", "99", "--format", "csv"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no proposal with id 99" in missing.stderr
    everything = subprocess.run([risk, "export", "--all", "--format", "json"], env=env, capture_output=True,
                                timeout=120)
    assert len(json.loads(everything.stdout)["proposals"]) == 3


def test_the_meeting_packet_is_a_pdf_stamped_with_the_sha256_of_its_data(demo, tmp_path):
    import hashlib
    import shutil

    from risk.services.json_export import export_document
    from risk.services.register_export import export_packet

    pdf = export_packet(demo, 1)
    expected = hashlib.sha256(json.dumps(export_document(demo, [1])["proposals"], sort_keys=True,
                                         ensure_ascii=False).encode()).hexdigest()
    assert pdf.startswith(b"%PDF-") and expected.encode() in pdf
    assert b"The highest residual risks" in pdf and b"Open actions" in pdf
    if shutil.which("pdftoppm"):
        (tmp_path / "packet.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", "30", "-png", str(tmp_path / "packet.pdf"), str(tmp_path / "page")],
                       check=True, timeout=120)
        assert len(list(tmp_path.glob("page-*.png"))) >= 2
    with pytest.raises(Exception, match="no proposal with id 42"):
        export_packet(demo, 42)


def test_a_sheet_over_excels_row_limit_is_split():
    from risk.exchange.spreadsheet import _sheets_for

    parts = _sheets_for(list(range(7)), "Register", room=3)
    assert [(name, rows) for name, rows in parts] == [("Register", [0, 1, 2]), ("Register (2)", [3, 4, 5]),
                                                      ("Register (3)", [6])]
    assert _sheets_for([1], "Scores", room=3) == [("Scores", [1])]
