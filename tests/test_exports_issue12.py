"""Issue 12: the top risks in one order and one wording on the Review page and in the packet, one-click workbook
and packet downloads, file names without doubled hyphens, and a workbook with real dates, disagreement in words
and formula-like text as quote-prefixed text cells."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import subprocess
import sys

import openpyxl
import pytest
from sqlalchemy import text as sa_text
from streamlit.testing.v1 import AppTest

from risk import scoring
from risk.db import get_engine, migrate
from risk.services import proposals as ps
from risk.services.portfolio import load_demo
from risk.services.profile import proposal_profile
from risk.services.register_export import (
    FLAG_WORDS,
    export_csv,
    export_packet,
    export_xlsx,
    file_stem,
    flag_words,
    register_table,
)
from risk.services.register_import import import_register
from risk.services.register_rows import REGISTER_COLUMNS
from risk.services.toplines import risk_line, top_risks
from tests.builders import SYSTEM

HOSTILE = {"title": "=1+2", "cause": "'=already quoted", "event": "@SUM(A1:A9)", "consequence": "-10% budget",
           "controls": "+ a tab\tinside"}


@pytest.fixture
def demo(sqlite_engine):
    load_demo(sqlite_engine, actor=SYSTEM)
    return sqlite_engine


@pytest.fixture
def app_db(sqlite_url, monkeypatch):
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])  # AppTest leaves its script there
    monkeypatch.setenv("RISK_DATABASE_URL", sqlite_url)
    engine = get_engine(sqlite_url)
    migrate(engine)
    load_demo(engine, actor=SYSTEM)
    return engine


def page(path: str, proposal_id: int) -> AppTest:
    """The page of a proposal, signed in as an administrator (every page needs a session)."""
    from risk.ui.common import engine
    from tests.signin import admin_session

    at = AppTest.from_file("../app.py", default_timeout=90)
    at.query_params["proposal"] = str(proposal_id)
    at.session_state["_session_token"] = admin_session(engine())
    at.run()
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def downloads(monkeypatch) -> dict[str, tuple[object, str]]:
    """Every download button drawn: label -> (data, file name), as given to Streamlit."""
    from streamlit.elements.widgets import button

    seen: dict[str, tuple[object, str]] = {}
    original = button.marshall_file

    def spy(coordinates, data, proto, mimetype, file_name=None, **kw):
        seen[proto.label] = (data, file_name)
        return original(coordinates, data, proto, mimetype, file_name, **kw)

    monkeypatch.setattr(button, "marshall_file", spy)
    return seen


# --- 3. file names -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("title,expected", [
    ("Tri-County Regional 911 -- CAD / Records", "tri-county-regional-911-cad-records"),
    ("  Four Towns: ERP & Payroll (2026)!", "four-towns-erp-payroll-2026"),
    ("Condado de Peñasco_GIS", "condado-de-peñasco-gis"),
    ("***", "register"),
    ("a" * 59 + " b", "a" * 59),
])
def test_file_stem_makes_one_hyphen_of_each_run_of_other_characters(title, expected):
    assert file_stem(title, "register") == expected


# --- 1. the ten highest risks ------------------------------------------------------------------------------

def test_top_risks_are_ordered_by_residual_then_inherent_level_then_risk_id(demo):
    profile = proposal_profile(demo, 1)
    top = top_risks(profile, 10)
    key = [(-(v.residual.level_index if v.residual.level_index is not None else -1),
            -(v.inherent.level_index if v.inherent.level_index is not None else -1), v.risk.risk_id)
           for v in profile.risks]
    assert [v.risk.risk_id for v in top] == [rid for *_, rid in sorted(key)][:10]
    assert len(top_risks(profile, 3)) == 3


def test_a_risk_line_names_the_owner_partner_with_the_owner_person(demo):
    profile = proposal_profile(demo, 1)
    view = next(v for v in profile.risks if v.owner_partner and v.risk.owner and v.risk.treatment)
    line = risk_line(view)
    assert line.heading.startswith(f"{view.risk.risk_id} · {view.residual.level}")
    assert ("over appetite" in line.heading) == view.over_appetite
    assert f"Owner: {view.owner_partner} ({view.risk.owner})." in line.sentence
    assert line.sentence.startswith(scoring.risk_sentence(view.risk.cause, view.risk.event, view.risk.consequence))
    assert line.sentence.endswith(f"Treatment: {view.risk.treatment}.")


def test_the_packet_lists_the_top_risks_in_the_review_order_with_the_owner_person(demo, monkeypatch, tmp_path):
    from risk.exchange import packet

    made = []
    original = packet.packet_pdf
    monkeypatch.setattr(packet, "packet_pdf", lambda p: made.append(p) or original(p))
    pdf = export_packet(demo, 1)
    expected = [(line.heading, line.sentence) for line in map(risk_line, top_risks(proposal_profile(demo, 1), 10))]
    assert made[0].top_risks == expected
    first = top_risks(proposal_profile(demo, 1), 1)[0]
    assert first.risk.owner and f"({first.risk.owner})" in made[0].top_risks[0][1]
    if shutil.which("pdftotext"):
        (tmp_path / "p.pdf").write_bytes(pdf)
        text = subprocess.run(["pdftotext", str(tmp_path / "p.pdf"), "-"], capture_output=True, text=True,
                              check=True, timeout=60).stdout
        assert f"({first.risk.owner})" in " ".join(text.split())


def test_the_review_page_shows_the_same_lines_in_the_same_order_as_the_packet(app_db):
    from risk.ui.common import md

    at = page("risk/ui/pages/review.py", 1)
    shown = [m.value for m in at.markdown if m.value.startswith("- **")]
    expected = [f"- **{md(line.heading)}**: {md(line.sentence)}"
                for line in map(risk_line, top_risks(proposal_profile(app_db, 1), 10))]
    assert shown == expected


def test_the_review_page_escapes_a_risk_id_that_would_be_an_image_link(app_db):
    from risk.ui.common import md

    bad = "![x](http://host/x.png)"
    rows = [["risk_id", "category", "title", "cause", "event", "consequence", "owner", "treatment",
             "inherent_likelihood", "inherent_impact", "residual_likelihood", "residual_impact"],
            ["LEG-01", "Legal", "[t](javascript:alert(1))", "*c*", "<img src=x onerror=alert(1)>", "`q`", "**Ann**",
             "Reduce", "5", "5", "5", "5"]]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    report = import_register(app_db, out.getvalue().encode(), "r.csv", actor=SYSTEM, new_title="Hostile ids")
    assert report["problems"] == [], report
    # every door now refuses such an id; one stored before that (or written around the services) is still shown
    # as text
    with app_db.begin() as conn:
        conn.execute(sa_text("UPDATE risk SET risk_id = :bad WHERE risk_id = 'LEG-01'"), {"bad": bad})
    at = page("risk/ui/pages/review.py", report["proposal_ids"][0])
    [line] = [m.value for m in at.markdown if m.value.startswith("- **")]
    heading, sentence = line.removeprefix("- **").split("**: ")
    assert heading.startswith(md(bad)) and "Owner" in sentence
    for text in (heading, sentence):  # every markdown character of the user's text escaped
        assert not re.search(r"(?<!\\)[\[\]()<>*!`]", text), text


# --- 2. one click ------------------------------------------------------------------------------------------

def test_the_workbook_and_the_packet_download_in_one_click(app_db, downloads):
    register = page("risk/ui/pages/register.py", 1)
    assert not [b for b in register.button if (b.key or "").startswith("prepare")]
    data, name = downloads["Excel workbook"]
    assert callable(data) and data()[:2] == b"PK" and name == "tri-county-regional-911-cad-consolidation.xlsx"
    assert downloads["CSV register"][1] == "tri-county-regional-911-cad-consolidation.csv"
    review = page("risk/ui/pages/review.py", 3)
    assert not [b for b in review.button if (b.key or "").startswith("prepare")]
    data, name = downloads["Meeting packet (PDF)"]
    assert callable(data) and data().startswith(b"%PDF-") and name == "marsh-county-gis-hub-packet.pdf"


# --- 4. the workbook ---------------------------------------------------------------------------------------

@pytest.fixture
def hostile(demo):
    ps.add_risk(demo, actor=SYSTEM, proposal_id=1, category="legal", **HOSTILE)  # no treatment
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
    report = import_register(hostile, data, f"r.{kind}", actor=SYSTEM, new_title="Again")
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
    report = import_register(hostile, (tmp_path / "old.xlsx").read_bytes(), "old.xlsx", actor=SYSTEM,
                             new_title="Old")
    assert report["problems"] == [], report["problems"]
    assert comparable(hostile, report["proposal_ids"][0]) == comparable(hostile, 1)
