"""Who pays for what and the risk in money in the exports: the workbook's Costs and Quantified risk sheets, and the
meeting packet's "Who pays for what" and "Risk in money" sections (docs/COSTS.md; docs/USER_GUIDE.md, Exports)."""

from __future__ import annotations

import io
import shutil
import subprocess
from decimal import Decimal

import openpyxl
import pytest

from risk.services import costs as cost_service
from risk.services import quantify as quantify_service
from risk.services.portfolio import load_demo
from risk.services.register_export import EXPORT_ITERATIONS, EXPORT_SEED, export_packet, export_xlsx
from risk.services.register_import import import_register
from tests.builders import SYSTEM, make_proposal

NINE_ONE_ONE = 1  # the demo's Tri-County Regional 911/CAD Consolidation


@pytest.fixture
def demo(sqlite_engine):
    load_demo(sqlite_engine, actor=SYSTEM)
    return sqlite_engine


def _rows(ws) -> list[list[object]]:
    return [list(row) for row in ws.iter_rows(values_only=True)]


def _section(ws, heading: str) -> list[list[object]]:
    """The rows of one proposal's part of a report sheet: from its heading to the next proposal's heading."""
    rows = _rows(ws)
    headings = [k for k, row in enumerate(rows) if ws.cell(k + 1, 1).font.sz == 13 and row[0]]
    start = next(k for k in headings if rows[k][0] == heading)
    end = next((k for k in headings if k > start), len(rows))
    return rows[start:end]


def _table(rows: list[list[object]], first: str, second: str) -> tuple[list[str], list[list[object]]]:
    """The header and rows of the table whose header begins with `first`, `second`, up to the blank row after it."""
    k = next(k for k, row in enumerate(rows) if row[:2] == [first, second])
    header = [c for c in rows[k] if c is not None]
    out = []
    for row in rows[k + 1:]:
        if all(c is None for c in row):
            break
        out.append(row[:len(header)])
    return header, out


def _lines(rows: list[list[object]]) -> dict[str, object]:
    return {row[0]: row[1] for row in rows if isinstance(row[0], str) and len(row) > 1}


def test_the_costs_sheet_holds_each_proposals_split_with_shares_that_add_up_exactly(demo):
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(demo)))
    assert book.sheetnames[-3:] == ["Costs", "Quantified risk", "Decisions"]
    ws = book["Costs"]
    for pid in (1, 2, 3):
        model = cost_service.cost_model(demo, pid)
        allocation = cost_service.allocate(demo, pid)
        rows = _section(ws, model.title)
        lines = _lines(rows)
        assert lines["Currency"] == model.currency and lines["Horizon (years)"] == model.horizon
        assert lines["Method"] == allocation.method
        assert lines["Rationale"] == model.allocation["rationale"]
        assert lines["Chosen by"] == model.allocation["chosen_by"]
        assert lines["Chosen at"].startswith(model.allocation["chosen_at"][:10])
        _header, cost_lines = _table(rows, "Cost line", "Kind")
        assert [r[0] for r in cost_lines] == [x["name"] for x in model.lines]
        assert [r[2] for r in cost_lines] == [x["amount"] for x in model.lines]
        header, shares = _table(rows, "Partner", "Share")
        assert header[:3] == ["Partner", "Share", "Share %"]
        *partners, total = shares
        assert total[0] == "Total" and Decimal(str(total[1])) == allocation.total
        # the shares, read back from the number cells, add up to the total to the cent
        assert sum(Decimal(str(r[1])) for r in partners) == allocation.total
        assert [(r[0], Decimal(str(r[1]))) for r in partners] == [(p.partner, p.share) for p in allocation.partners]
        assert [round(Decimal(str(r[2])) * 100, 2) for r in partners] == [p.share_pct for p in allocation.partners]
        assert [r[7] for r in partners] == [p.payback_year for p in allocation.partners]
        header, years = _table(rows, "Year", "Total")
        assert header[2:] == [p.partner for p in allocation.partners]
        for row, year in zip(years, allocation.years, strict=False):
            assert sum(Decimal(str(c)) for c in row[2:]) == year.total == Decimal(str(row[1]))
    # the formats: money in the proposal's currency with 2 decimals, percentages as percent cells
    row = next(r for r in ws.iter_rows() if r[0].value == "Harmon County" and isinstance(r[2].value, float))
    assert row[1].number_format == '#,##0.00 "USD"' and row[2].number_format == "0.00%"
    nine_one_one = _lines(_section(ws, cost_service.cost_model(demo, NINE_ONE_ONE).title))
    assert nine_one_one["Method"] == "Blend: 54% calls 911, 23% assessed value, 23% population"


def test_the_quantified_risk_sheet_matches_the_simulation_with_the_export_seed(demo):
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(demo, [NINE_ONE_ONE])))
    priced, sim = quantify_service.simulate(demo, NINE_ONE_ONE, EXPORT_ITERATIONS, EXPORT_SEED)
    rows = _section(book["Quantified risk"], priced.title)
    assert f"{EXPORT_ITERATIONS:,} years with seed {EXPORT_SEED}" in _lines(rows)["Simulated"]
    header, risks = _table(rows, "Proposal", "Risk")
    by_id = {r[1]: dict(zip(header, r, strict=True)) for r in risks}
    expected = {r.risk_id: r.to_json() for r in sim.risks}
    cyber = by_id["CYB-01"]
    assert cyber["Expected annual loss"] == expected["CYB-01"]["eal"] > 0
    assert cyber["99th percentile"] == expected["CYB-01"]["p99"]
    assert cyber["Priced from"] == "its own figures" and cyber["Title"] == priced.titles["CYB-01"]
    assert by_id["LEG-01"]["Priced from"].startswith("its level (")
    assert by_id["all"]["Expected annual loss"] == sim.proposal.to_json()["eal"]
    assert set(by_id) - {"all"} == set(expected)
    _header, partners = _table(rows, "Partner", "Expected annual loss")
    assert {r[0]: r[1] for r in partners} == {p.partner: round(p.eal, 2) for p in sim.partners}
    # the same data gives the same workbook figures
    again = openpyxl.load_workbook(io.BytesIO(export_xlsx(demo, [NINE_ONE_ONE])))
    assert _rows(again["Quantified risk"]) == _rows(book["Quantified risk"])


def test_a_proposal_without_cost_lines_or_prices_or_partners_exports_with_a_sentence_instead(demo):
    bare = make_proposal(demo, partners=2, risks=2, title="Nothing costed yet")
    alone = make_proposal(demo, partners=0, risks=1, title="No partners yet")
    book = openpyxl.load_workbook(io.BytesIO(export_xlsx(demo, [bare.proposal_id, alone.proposal_id, 1])))
    costs = _section(book["Costs"], "Nothing costed yet")
    assert ["No cost lines yet."] in [row[:1] for row in costs]
    assert any("has no cost lines yet, so there is nothing to split" in str(row[0]) for row in costs)
    assert _table(costs, "Partner", "Role")[1]  # the partners' figures are still there
    assert not any(row[:2] == ["Partner", "Share"] for row in costs)
    assert any("has no partner governments yet" in str(row[0]) for row in _section(book["Costs"], "No partners yet"))
    risk = _section(book["Quantified risk"], "Nothing costed yet")
    assert any(str(row[0]).startswith("No risk of “Nothing costed yet” is priced") for row in risk)
    assert len(_table(risk, "Proposal", "Risk")[1]) == 2  # both listed as not priced
    text = _packet_text(export_packet(demo, bare.proposal_id))
    assert "Who pays for what" in text and "has no cost lines yet, so there is nothing to split" in text
    assert "Risk in money" in text and "No risk of this proposal is priced yet" in text


def test_the_workbook_with_the_new_sheets_imports_as_a_new_proposal_without_problems(demo):
    data = export_xlsx(demo, [NINE_ONE_ONE])
    assert {"Costs", "Quantified risk"} <= set(openpyxl.load_workbook(io.BytesIO(data)).sheetnames)
    report = import_register(demo, data, "tri-county.xlsx", actor=SYSTEM, new_title="Tri-County again")
    assert report["problems"] == [], report["problems"]
    [pid] = report["proposal_ids"]
    from risk.services.proposals import list_risks

    assert sorted(r.risk_id for r in list_risks(demo, pid)) == sorted(r.risk_id for r in list_risks(demo, 1))


def _packet_text(pdf: bytes) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext is not installed")
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True,
                         timeout=60).stdout
    return " ".join(out.decode().split())


def test_the_packet_says_who_pays_for_what_and_the_risk_in_money(demo, monkeypatch):
    from risk.exchange import packet

    made = []
    original = packet.packet_pdf
    monkeypatch.setattr(packet, "packet_pdf", lambda p: made.append(p) or original(p))
    pdf = export_packet(demo, NINE_ONE_ONE)
    assert [s.heading for s in made[0].sections] == ["Who pays for what", "Risk in money", "Each government's decision"]
    allocation = cost_service.allocate(demo, NINE_ONE_ONE)
    _priced, sim = quantify_service.simulate(demo, NINE_ONE_ONE, EXPORT_ITERATIONS, EXPORT_SEED)
    text = _packet_text(pdf)
    assert "Who pays for what" in text and "Risk in money" in text
    assert allocation.method in text
    harmon = next(p for p in allocation.partners if p.partner == "Harmon County")
    assert f"Harmon County {harmon.share:,.2f} {harmon.share_pct:.2f}%" in text
    assert f"Total {allocation.total:,.2f} 100.00%" in text
    assert f"The proposal {sim.proposal.eal:,.2f} {sim.proposal.p90:,.2f}" in text
    largest = max(sim.risks, key=lambda r: r.eal)
    assert f"{largest.risk_id} " in text and f"{largest.eal:,.2f}" in text
    # the footer as it was
    assert "Data SHA-256: " in text and "Audit head: " in text
