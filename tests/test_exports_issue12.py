"""Issue 12: a workbook with real dates, disagreement in words and formula-like text as quote-prefixed text
cells, read back exactly."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest

from risk import scoring
from risk.services import proposals as ps
from risk.services.portfolio import load_demo
from risk.services.register import REGISTER_COLUMNS
from risk.services.register_import import import_register
from risk.services.registers import FLAG_WORDS, export_csv, export_xlsx, flag_words, register_table

HOSTILE = {"title": "=1+2", "cause": "'=already quoted", "event": "@SUM(A1:A9)", "consequence": "-10% budget",
           "controls": "+ a tab\tinside"}


@pytest.fixture
def demo(sqlite_engine):
    load_demo(sqlite_engine, actor="demo")
    return sqlite_engine


# --- 4. the workbook ---------------------------------------------------------------------------------------

@pytest.fixture
def hostile(demo):
    ps.add_risk(demo, actor="Dana Whitfield", proposal_id=1, category="legal", **HOSTILE)  # no treatment
    return demo


def register_sheet(data: bytes) -> tuple[list[str], list[list[openpyxl.cell.Cell]]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Register"]
    return [c.value for c in sheet[1]], [list(row) for row in sheet.iter_rows(min_row=2)]


def test_formula_text_is_a_quote_prefixed_text_cell_without_an_apostrophe(hostile):
    header, rows = register_sheet(export_xlsx(hostile, [1]))
    row = next(r for r in rows if r[header.index("title")].value == "=1+2")
    for field, text in HOSTILE.items():
        cell = row[header.index(field)]
        assert (cell.value, cell.data_type) == (text, "s"), field
        assert cell.quotePrefix == (text[0] in "=+-@\t"), field  # "'=..." is not formula-like: written as is
    plain = row[header.index("risk_id")]
    assert not plain.quotePrefix


def test_workbook_dates_are_date_cells(hostile):
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(hostile, [1])))
    header, rows = register_sheet(export_xlsx(hostile, [1]))
    expected = {r["risk_id"]: r for r in register_table(hostile, [1])}
    dated = 0
    for row in rows:
        source = expected[row[header.index("risk_id")].value]
        for column in ("next_review", "inherent_assessed_on", "residual_assessed_on"):
            cell = row[header.index(column)]
            if source[column]:
                assert isinstance(cell.value, dt.datetime) and cell.is_date and "yy" in cell.number_format
                assert cell.value.date().isoformat() == source[column]
                dated += 1
            else:
                assert cell.value is None
    assert dated > 20
    for sheet, column in (("Actions", "due_date"), ("Scores", "round_closed_on")):
        ws = book[sheet]
        k = [c.value for c in ws[1]].index(column)
        cells = [row[k] for row in ws.iter_rows(min_row=2) if row[k].value is not None]
        assert cells and all(isinstance(c.value, dt.datetime) and c.is_date for c in cells), sheet


def test_disagreement_is_in_words_in_the_workbook_and_in_codes_in_the_csv(demo):
    assert set(FLAG_WORDS) == set(scoring.FLAGS)
    assert flag_words("partners,range") == "wide range, split between partners"
    header, rows = register_sheet(export_xlsx(demo, [1]))
    words = [r[header.index("disagreement")].value for r in rows if r[header.index("disagreement")].value]
    codes = [r["disagreement"] for r in register_table(demo, [1]) if r["disagreement"]]
    assert words and words == [flag_words(c) for c in codes]
    assert not set(", ".join(words).split(", ")) & set(scoring.FLAGS)
    csv_rows = list(csv.DictReader(io.StringIO(export_csv(demo, [1]).decode("utf-8-sig"))))
    assert [r["disagreement"] for r in csv_rows if r["disagreement"]] == codes


def comparable(engine, pid: int, skip: tuple[str, ...] = ()) -> list[dict]:
    return [{c: row[c] for c in REGISTER_COLUMNS if c not in ("proposal", *skip)}
            for row in register_table(engine, [pid])]


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_formula_text_dates_and_a_blank_treatment_come_back_exactly(hostile, kind):
    data = export_xlsx(hostile, [1]) if kind == "xlsx" else export_csv(hostile, [1])
    report = import_register(hostile, data, f"r.{kind}", actor="clerk", new_title="Again")
    assert report["problems"] == [], report["problems"]
    # a CSV holds neither the appetites (Method sheet) nor the assessors' scores (Scores sheet)
    skip = ("appetite", "over_appetite", "assessors", "disagreement") if kind == "csv" else ()
    again = comparable(hostile, report["proposal_ids"][0], skip)
    assert again == comparable(hostile, 1, skip)
    assert {k: v for k, v in again[-1].items() if k in HOSTILE} == HOSTILE and again[-1]["treatment"] == ""


def test_a_workbook_of_format_1_still_has_its_quotes_removed(hostile, tmp_path):
    """Workbooks written before the quote-prefix cells held formula-like text with a leading '."""
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(hostile, [1])))
    method = book["Method"]
    [marker] = [row[0].row for row in method.iter_rows() if row[0].value == "Workbook format"]
    method.delete_rows(marker)
    for name in ("Register", "Actions", "Scores"):
        for row in book[name].iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str) and (cell.value[:1] in ("=", "+", "-", "@", "\t")
                                                    or cell.value[:2] == "'="):
                    cell.value, cell.quotePrefix = "'" + cell.value, False
    book.save(tmp_path / "old.xlsx")
    report = import_register(hostile, (tmp_path / "old.xlsx").read_bytes(), "old.xlsx", actor="clerk",
                             new_title="Old")
    assert report["problems"] == [], report["problems"]
    assert comparable(hostile, report["proposal_ids"][0]) == comparable(hostile, 1)
