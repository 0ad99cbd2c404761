"""The meeting packet's charts drawn with reportlab (risk/exchange/packet_charts.py): the same cells, counts, colours
and words as the app's Altair charts (risk/charts.py); the packet made without Altair, pandas or vl-convert; the
schema check without Alembic (risk/services/setup.py, risk/db.py); the export command's refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from reportlab.graphics.shapes import Group, Rect, String
from reportlab.lib.colors import HexColor, white

from risk import scoring
from risk.exchange import packet_charts as pc
from risk.services.portfolio import load_demo
from risk.services.profile import proposal_profile
from tests.builders import SYSTEM

DEMO = (1, 2, 3)


@pytest.fixture
def demo(sqlite_engine):
    load_demo(sqlite_engine, actor=SYSTEM)
    return sqlite_engine


def _shapes(group, dx: float = 0, dy: float = 0):
    """Every shape of a drawing with its offset, groups opened (only translations are followed)."""
    for shape in group.contents:
        if isinstance(shape, Group):
            a, b, c, d, e, f = shape.transform
            if (a, b, c, d) == (1, 0, 0, 1):
                yield from _shapes(shape, dx + e, dy + f)
            else:
                yield from ((s, None, None) for s in shape.contents)  # rotated: the axis title, no position
        else:
            yield shape, dx, dy


def _texts(drawing) -> list[str]:
    return [s.text for s, _, _ in _shapes(drawing) if isinstance(s, String)]


def _cell_rects(drawing) -> list[Rect]:
    """The heat map's 25 cells, ordered as heatmap_cells orders them (likelihood 1-5, impact 1-5 within it)."""
    rects = [s for s in drawing.contents if isinstance(s, Rect)]
    assert len(rects) == 25
    return sorted(rects, key=lambda r: (round(r.y), round(r.x)))


def _inside(rect: Rect, drawing) -> list[String]:
    return [s for s in drawing.contents if isinstance(s, String)
            and rect.x <= s.x <= rect.x + rect.width and rect.y <= s.y <= rect.y + rect.height]


def test_the_cells_are_the_apps_for_the_demo_proposals_and_a_crowded_cell(demo):
    from risk import charts

    for pid in DEMO:
        profile = proposal_profile(demo, pid)
        for phase, _title in pc.HEATMAP_TITLES:
            points = pc.phase_points(profile.risks, phase)
            assert pc.heatmap_cells(profile.matrix, points) == \
                charts.heatmap_cells(profile.matrix, points).to_dict("records"), (pid, phase)
    nist = scoring.BUILTIN_MATRICES["nist-800-30"]
    crowded = [(f"OPS-{k:02d}", 5, 4) for k in range(7)] + [("LEG-01", None, None), ("LEG-02", 1, None)]
    cells = pc.heatmap_cells(nist, crowded)
    assert cells == charts.heatmap_cells(nist, crowded).to_dict("records")
    assert next(c for c in cells if (c["likelihood"], c["impact"]) == (5, 4))["label"] == \
        "7\nOPS-00, OPS-01\nOPS-02, OPS-03\n+3 more"


def test_the_category_profile_counts_and_notes_are_the_apps(demo):
    from risk import charts
    from risk.services.views import risk_frame

    for pid in DEMO:
        profile = proposal_profile(demo, pid)
        levels = profile.matrix.levels
        spec = charts.category_profile(risk_frame(profile), levels).to_dict()
        datasets = list(spec["datasets"].values())
        bars = next(d for d in datasets if d and "level_rank" in d[0])
        notes = next(d for d in datasets if d and "note" in d[0])
        summary = pc.category_summary(pc.category_rows(profile.risks), levels)
        assert [s["category"] for s in summary] == spec["layer"][0]["encoding"]["y"]["sort"]
        assert {(s["category"], level): n for s in summary for level, n in s["counts"].items()} == \
            {(b["category"], b["level"]): b["count"] for b in bars}
        assert {s["category"]: (s["note"], s["total"]) for s in summary} == \
            {n["category"]: (n["note"], n["total"]) for n in notes}


def test_the_colours_are_the_level_palette_and_every_cell_shows_its_count(demo):
    from risk import charts

    for pid in DEMO:
        profile = proposal_profile(demo, pid)
        levels = profile.matrix.levels
        for domain in (levels, [pc.NOT_SCORED, *levels]):
            scale = charts.level_scale(domain).to_dict()
            assert pc.level_colours(domain) == dict(zip(scale["domain"], scale["range"], strict=True))
        assert pc.level_colours(levels) == dict(zip(levels, scoring.LEVEL_COLOURS[len(levels)], strict=True))
        dark = set(pc.dark_levels(levels))
        for phase, title in pc.HEATMAP_TITLES:
            cells = pc.heatmap_cells(profile.matrix, pc.phase_points(profile.risks, phase))
            drawing = pc.heatmap(cells, levels, title)
            texts = _texts(drawing)
            assert title in texts and "Likelihood" in texts and "Impact" in texts and "Level of risk" in texts
            assert set(levels) <= set(texts)
            for k, name in enumerate(scoring.SCORE_LABELS, 1):
                assert f"{k} {name}" in texts and name.split(" ")[-1] in texts  # the vertical axis, the horizontal
            for cell, rect in zip(cells, _cell_rects(drawing), strict=True):
                assert rect.fillColor == HexColor(pc.level_colours(levels)[cell["level"]]), cell
                inside = _inside(rect, drawing)
                assert str(cell["count"]) in [s.text for s in inside], cell
                words = " ".join(s.text for s in inside[1:])
                for shown in cell["label"].split("\n")[1:]:
                    for part in shown.split(", "):
                        assert part in words, (cell, words)
                if cell["count"]:
                    assert all((s.fillColor == white) == (cell["level"] in dark) for s in inside), cell


def test_the_category_profile_drawing_has_its_words_and_bars_in_the_palette(demo):
    profile = proposal_profile(demo, 1)
    levels = profile.matrix.levels
    rows = pc.category_rows(profile.risks)
    drawing = pc.category_profile(rows, levels)
    texts = _texts(drawing)
    summary = pc.category_summary(rows, levels)
    assert pc.CATEGORY_TITLE in texts and "Number of risks" in texts and "Category" in texts
    assert "Residual level" in texts and {pc.NOT_SCORED, *levels} <= set(texts)
    assert all(s["category"] in texts and s["note"] in texts for s in summary)
    palette = {HexColor(c) for c in pc.level_colours([pc.NOT_SCORED, *levels]).values()}
    bars = [s for s, _, _ in _shapes(drawing) if isinstance(s, Rect) and s.strokeColor is None]
    assert len(bars) == sum(len(s["counts"]) for s in summary) and all(b.fillColor in palette for b in bars)
    assert drawing.width == 525
    # a proposal with one category and a long note: nothing is drawn outside the drawing
    one = [{"category": "Legal", "level": pc.NOT_SCORED, "appetite": "Averse", "over_appetite": False}] * 3
    small = pc.category_profile(one, levels, width=300)
    for shape, dx, dy in _shapes(small):
        if isinstance(shape, String) and dx is not None:
            assert 0 <= shape.y + dy <= small.height, shape.text


def _run_cli(url: str, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`risk ARGS` in a new process; the modules it imported by its end."""
    script = ("import json, sys\n"
              "from risk.cli import app\n"
              f"sys.argv = ['risk', *{list(args)!r}]\n"
              "try:\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "RISK_DATABASE_URL": url},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done, set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.slow
def test_the_packet_and_the_workbook_commands_import_only_what_they_need(demo, tmp_path):
    url = demo.url.render_as_string(hide_password=False)
    demo.dispose()
    heavy = {"altair", "pandas", "vl_convert", "risk.charts", "risk.services.summary", "risk.services.views"}
    done, modules = _run_cli(url, "export", "--proposal", "1", "--format", "pdf", "-o", str(tmp_path / "p.pdf"))
    assert "wrote" in done.stderr and (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF-")
    assert not heavy & modules, heavy & modules
    assert "alembic" not in modules  # the schema is at head: one query, no Alembic
    assert "risk.exchange.packet_charts" in modules
    done, modules = _run_cli(url, "export", "--proposal", "1", "--format", "xlsx", "-o", str(tmp_path / "p.xlsx"))
    assert "wrote" in done.stderr and not (heavy | {"alembic", "reportlab"}) & modules
    done, modules = _run_cli(url, "export", "--proposal", "1", "--format", "csv", "-o", str(tmp_path / "p.csv"))
    assert not (heavy | {"alembic", "reportlab", "xlsxwriter", "risk.quantify", "risk.costs"}) & modules


def test_the_packet_draws_its_charts_as_text_and_shapes_not_images(demo, tmp_path):
    from risk.exchange import packet
    from risk.services.register_export import export_packet

    made = []
    original = packet.packet_pdf
    pdf = None
    try:
        packet.packet_pdf = lambda p: made.append(p) or original(p)
        pdf = export_packet(demo, 1)
    finally:
        packet.packet_pdf = original
    assert [d.width for d in made[0].heatmaps] == [packet.HALF_WIDTH] * 2
    assert made[0].category.width == packet.CHART_WIDTH
    assert b"/Subtype /Image" not in pdf
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext is not installed")
    (tmp_path / "p.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "p.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    first, *rest = text.split("\f")
    words = " ".join(first.split())
    for title in ("Inherent risk (before controls)", "Residual risk (with controls)", "Level of risk",
                  "5 Very High", "Likelihood", "Impact", "LEG-02", "FIN-01"):
        assert title in words, title
    later = " ".join(" ".join(rest).split())
    assert pc.CATEGORY_TITLE in later and "worst Moderate · appetite Averse · 2 over appetite" in later
    assert "Number of risks" in later and "Residual level" in later


# --- the schema check without Alembic ----------------------------------------------------------------------------

def test_the_head_revision_read_from_the_files_is_alembics():
    """Fails when a migration is added in a form head_revision cannot read (it would then fall back to Alembic, 0.2 s
    of every command): write `revision = '...'` and `down_revision = '...'` as script.py.mako does."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from risk.services.setup import MIGRATIONS, head_revision, revision_chain

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    chain = revision_chain()
    assert chain is not None, "a migration file does not say `revision = '...'` and `down_revision = ...` plainly"
    assert chain == {r.revision: r.down_revision for r in script.walk_revisions()}
    assert head_revision() == script.get_current_head()
    assert len(chain) == len(list((MIGRATIONS / "versions").glob("*.py")))


def test_a_chain_the_reader_does_not_understand_is_left_to_alembic(tmp_path):
    from risk.services.setup import revision_chain

    (tmp_path / "a.py").write_text("revision = 'a'\ndown_revision = None\n")
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    assert revision_chain(tmp_path) == {"a": None, "b": "a"}
    (tmp_path / "c.py").write_text("revision = 'c'\ndown_revision = ('a', 'b')\n")  # a merge
    assert revision_chain(tmp_path) is None


def test_the_schema_check_reads_one_table_and_migrates_a_database_behind(sqlite_url):
    from risk.db import current_revision, make_engine, migrate
    from risk.services.setup import ensure_schema, head_revision, revision_chain

    engine = make_engine(sqlite_url)
    assert current_revision(engine) is None
    behind = revision_chain()[head_revision()]
    migrate(engine, behind)
    assert current_revision(engine) == behind
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


# --- the export command still refuses what it refused -----------------------------------------------------------

def test_the_export_command_refuses_bad_input_as_before(cli, tmp_path):
    pdf = str(tmp_path / "p.pdf")
    for args, words in [(("export",), "give --proposal ID or --all"),
                        (("export", "--all", "--format", "xlsx"), "XLSX needs a file"),
                        (("export", "--proposal", "1", "--format", "pdf"), "PDF needs a file"),
                        (("export", "--all", "--format", "pdf", "-o", pdf), "a meeting packet is made for one"),
                        (("export", "--proposal", "1", "--proposal", "2", "--format", "pdf", "-o", pdf),
                         "a meeting packet is made for one")]:
        result = cli(*args)
        assert result.exit_code == 2 and words in " ".join(result.output.split()), (args, result.output)
    for fmt in ("pdf", "xlsx", "csv", "json"):
        result = cli("export", "--proposal", "99", "--format", fmt, "-o", str(tmp_path / f"x.{fmt}"))
        assert result.exit_code == 1 and "refused: proposal: no proposal with id 99" in result.output, result.output
    assert not Path(pdf).exists() and not list(tmp_path.glob("*.part"))
