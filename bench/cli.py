"""The export command timed as a person at a terminal waits for it: the whole process of `risk export --proposal 1
--format pdf` (the meeting packet, target 2 s) and `--format xlsx` (the workbook, target 1 s) on the demo portfolio,
each beside a bare script that makes the same file:

- the workbook: the same cells (every sheet's values, read back from our workbook beforehand, not timed) read
  with sqlite3 from a table and written with xlsxwriter; no formats, no widths, no computing;
- the packet: the same pages laid out by reportlab (risk.exchange.packet.packet_pdf) from the packet's content
  and its drawings unpickled (made beforehand, not timed): no database, no services, no drawing.

The bare scripts are the floor of each command: a Python process, its file-format library and the writing.

    uv run --no-sync python -m bench.cli [runs]
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5

PLAIN_XLSX = '''
import datetime as dt
import sqlite3
import sys

import xlsxwriter

con = sqlite3.connect(sys.argv[1])
book = xlsxwriter.Workbook(sys.argv[2])
day = book.add_format({"num_format": "yyyy-mm-dd"})
sheet, name = None, None
for sheet_name, row, col, kind, value in con.execute(
        "SELECT sheet, row, col, kind, value FROM cell ORDER BY sheet_index, row, col"):
    if sheet_name != name:
        sheet, name = book.add_worksheet(sheet_name), sheet_name
    if kind == "date":
        sheet.write_datetime(row, col, dt.datetime.fromisoformat(value), day)
    elif kind == "number":
        sheet.write_number(row, col, float(value))
    elif kind == "bool":
        sheet.write_boolean(row, col, value == "1")
    else:
        sheet.write_string(row, col, value)
book.close()
'''

PLAIN_PDF = '''
import pickle
import sys

from risk.exchange.packet import packet_pdf

with open(sys.argv[1], "rb") as f:
    packet = pickle.load(f)
with open(sys.argv[2], "wb") as f:
    f.write(packet_pdf(packet))
'''


def _demo(workdir: Path) -> str:
    """A demo portfolio in a new SQLite file (as `risk init` then `risk demo`); its URL."""
    from risk.db import make_engine, migrate
    from risk.services.portfolio import load_demo

    url = f"sqlite:///{workdir / 'demo.db'}"
    engine = make_engine(url)
    migrate(engine)
    load_demo(engine, actor="system:bench")
    engine.dispose()
    return url


def _cells_db(xlsx: Path, target: Path) -> int:
    """Every value of the workbook `xlsx` into the table `cell` of a new SQLite file; returns how many."""
    import datetime as dt
    import sqlite3

    import openpyxl

    book = openpyxl.load_workbook(xlsx, read_only=True)
    con = sqlite3.connect(target)
    con.execute("CREATE TABLE cell (sheet_index INT, sheet TEXT, row INT, col INT, kind TEXT, value TEXT)")
    rows = []
    for k, ws in enumerate(book.worksheets):
        for r, values in enumerate(ws.iter_rows(values_only=True)):
            for c, v in enumerate(values):
                if v is None:
                    continue
                if isinstance(v, bool):
                    rows.append((k, ws.title, r, c, "bool", "1" if v else "0"))
                elif isinstance(v, (int, float)):
                    rows.append((k, ws.title, r, c, "number", repr(v)))
                elif isinstance(v, (dt.date, dt.datetime)):
                    rows.append((k, ws.title, r, c, "date", v.isoformat()))
                else:
                    rows.append((k, ws.title, r, c, "text", str(v)))
    con.executemany("INSERT INTO cell VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return len(rows)


def _packet_pickle(url: str, target: Path, proposal_id: int) -> int:
    """The packet of `proposal_id` as export_packet hands it to packet_pdf (content and drawings), pickled; returns
    its number of pages."""
    import pickle
    import re

    from risk.db import make_engine
    from risk.exchange import packet
    from risk.services.register_export import export_packet

    made = []
    original = packet.packet_pdf
    # pickled before its layout: reportlab marks a flowable it moved to the next page, and would refuse to move it
    # twice when the script lays the pages out again
    packet.packet_pdf = lambda p: made.append(pickle.dumps(p)) or original(p)
    engine = make_engine(url)
    try:
        pdf = export_packet(engine, proposal_id)
    finally:
        packet.packet_pdf = original
        engine.dispose()
    target.write_bytes(made[0])
    return len(re.findall(rb"/Type /Page\b(?!s)", pdf))


def _seconds(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, timeout=300)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def _paired(ours: list[str], plain: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """`runs` whole-process times of each, in turns (ours, plain, ours, ...) so that a drift in the machine's speed
    falls on both alike; one run of each first, not counted (the file cache)."""
    _seconds(ours, env), _seconds(plain, env)
    ours_s, plain_s = [], []
    for _ in range(runs):
        ours_s.append(_seconds(ours, env))
        plain_s.append(_seconds(plain, env))
    return ours_s, plain_s


def bench_cli(runs: int = RUNS, proposal_id: int = 1) -> list[dict]:
    """The packet and the workbook of a demo proposal made by `risk export` in a new process each time, beside the
    bare scripts (module docstring); medians of `runs` runs. Rows as bench/run.py's results (target_ms: the
    whole process)."""
    os.environ.setdefault("RISK_AUDIT_KEY", secrets.token_hex(32))
    risk = str(Path(sys.executable).with_name("risk"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="risk-bench-cli-") as tmp:
        work = Path(tmp)
        url = _demo(work)
        env = {**os.environ, "RISK_DATABASE_URL": url}
        (work / "plain_xlsx.py").write_text(PLAIN_XLSX)
        (work / "plain_pdf.py").write_text(PLAIN_PDF)

        subprocess.run([risk, "export", "--proposal", str(proposal_id), "--format", "xlsx", "-o",
                        str(work / "ours.xlsx")], env=env, check=True, capture_output=True, timeout=300)
        cells = _cells_db(work / "ours.xlsx", work / "cells.db")
        pages = _packet_pickle(url, work / "packet.pickle", proposal_id)

        for fmt, what, target_ms, plain, plain_words in (
            ("pdf", f"the meeting packet ({pages} pages)", 2000,
             [sys.executable, str(work / "plain_pdf.py"), str(work / "packet.pickle"), str(work / "plain.pdf")],
             "the same pages laid out by reportlab (packet_pdf) from the packet's content and drawings, unpickled"),
            ("xlsx", f"the workbook ({cells:,} cells)", 1000,
             [sys.executable, str(work / "plain_xlsx.py"), str(work / "cells.db"), str(work / "plain.xlsx")],
             "the same cells read with sqlite3 and written with xlsxwriter (values only)"),
        ):
            ours = [risk, "export", "--proposal", str(proposal_id), "--format", fmt, "-o", str(work / f"ours.{fmt}")]
            ours_s, plain_s = _paired(ours, plain, env, runs)
            rows.append({"name": f"risk export --format {fmt}: {what}, whole process", "target": None,
                         "ours_ms": statistics.median(ours_s) * 1000, "plain_ms": statistics.median(plain_s) * 1000,
                         "target_ms": target_ms, "runs_ms": [round(s * 1000) for s in ours_s],
                         "plain_runs_ms": [round(s * 1000) for s in plain_s],
                         "ours": f"`risk export --proposal {proposal_id} --format {fmt} -o FILE` on the demo "
                                 "portfolio (SQLite), from the shell: Python's start, the imports, the schema "
                                 "check, reading, computing, writing",
                         "plain": plain_words})
    return rows


def main() -> None:
    from bench.run import table

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    rows = bench_cli(runs)
    for r in rows:
        r["ratio"] = r["ours_ms"] / r["plain_ms"] if r["plain_ms"] else None
        r["meets_target"] = r["ours_ms"] <= r["target_ms"]
    print(table(rows, None))
    for r in rows:
        print(f"{r['name']}: ours {r['runs_ms']} ms, plain {r['plain_runs_ms']} ms")


if __name__ == "__main__":
    main()
