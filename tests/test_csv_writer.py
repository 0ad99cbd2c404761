"""The register's CSV writer checks text a block of rows at a time (risk/exchange/spreadsheet.py); whatever the rows
hold, its output must equal the cell-by-cell writer's, byte for byte."""

import csv
import io
import random

import pytest

from risk.exchange.spreadsheet import FORMAT_VERSION, FORMULA_START, _csv_cell, register_csv

COLUMNS = ("title", "owner", "likelihood", "note")


def cell_by_cell(rows, columns) -> bytes:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*columns, "format_version"])
    writer.writerows([*(_csv_cell(row[c]) for c in columns), FORMAT_VERSION] for row in rows)
    return out.getvalue().encode("utf-8")


def plain_rows(n: int) -> list[dict]:
    return [{"title": f"Risk {i}", "owner": "Ada County", "likelihood": i % 5 + 1, "note": "a, \"quoted\"\nline"}
            for i in range(n)]


@pytest.mark.parametrize("where", [0, 1, 255, 256, 257, 999])
@pytest.mark.parametrize("value", [*(c + "1+2" for c in FORMULA_START), "'=x", "'-", "'", "''", "-", "=",
                                   "\x1f=in the middle", "a\x1f=b"])
def test_a_formula_like_cell_anywhere_is_written_as_cell_by_cell(where, value):
    rows = plain_rows(1000)
    rows[where]["note"] = value
    ours = register_csv(rows, COLUMNS)
    assert ours == cell_by_cell(rows, COLUMNS)
    if value[:1] in FORMULA_START:
        assert ours.count(b"'" + value[:1].encode()) >= 1  # it really was quoted


@pytest.mark.parametrize("odd", [None, 7, -3, 2.5, "", "text in a number column", "-5"])
def test_a_column_whose_kind_changes_part_way_is_still_checked(odd):
    rows = plain_rows(600)
    rows[400]["likelihood"] = odd  # a text column's kind comes from the first row
    rows[450]["title"] = odd if odd is not None else None
    rows[300]["likelihood"] = "=cmd|' /C calc'!A0"
    assert register_csv(rows, COLUMNS) == cell_by_cell(rows, COLUMNS)
    assert b"'=cmd" in register_csv(rows, COLUMNS)


def test_random_rows_match_cell_by_cell():
    pick = random.Random(1984)
    alphabet = ["a", "b", " ", ",", '"', "\n", "\r", "'", "\x1f", *FORMULA_START]
    rows = [{c: (None if pick.random() < 0.05 else pick.randint(-3, 9) if pick.random() < 0.1
                 else "".join(pick.choice(alphabet) for _ in range(pick.randint(0, 6)))) for c in COLUMNS}
            for _ in range(3000)]
    assert register_csv(rows, COLUMNS) == cell_by_cell(rows, COLUMNS)


def test_no_rows_one_column_and_a_generator():
    assert register_csv([], COLUMNS) == cell_by_cell([], COLUMNS)
    rows = [{"title": "=1"}, {"title": "ok"}]
    assert register_csv(iter(rows), ("title",)) == cell_by_cell(rows, ("title",))
    assert register_csv(({"n": i} for i in range(3)), ("n",)) == cell_by_cell([{"n": i} for i in range(3)], ("n",))
