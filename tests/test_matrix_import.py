"""Importing CISO Assistant risk-matrix files: the real fixtures from ../shared, and hand-made edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from risk.errors import RefusedError
from risk.models import Matrix as MatrixRow
from risk.services.matrices import import_matrix_file, list_matrices, load_matrix
from risk.store import count_rows
from tests.builders import SYSTEM

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ciso-assistant-matrices"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"CISO Assistant fixtures not found at {FIXTURES}")


def ciso_file(grid, levels=("low", "medium", "high", "critical"), ref="test-matrix", extra="") -> bytes:
    doc = {
        "urn": "urn:test", "ref_id": ref, "name": "test",
        "objects": {"risk_matrix": [{
            "ref_id": ref, "name": f" {ref} title ",
            "probability": [{"id": k, "name": f"p{k}"} for k in range(len(grid))],
            "impact": [{"id": k, "name": f"i{k}"} for k in range(len(grid[0]))],
            "risk": [{"id": k, "name": f"  {n}  ", "hexcolor": "#000000"} for k, n in enumerate(levels)],
            "grid": grid,
        }]},
    }
    return yaml.safe_dump(doc).encode() + extra.encode()


@needs_fixtures
def test_ciso_assistant_5x5_matrix_imports_under_its_ref_id(sqlite_engine):
    data = (FIXTURES / "risk-matrix-5x5-sensitive.yaml").read_bytes()
    [m] = import_matrix_file(sqlite_engine, data, actor=SYSTEM)
    assert m.name == "risk-matrix-5x5-sensitive"
    assert m.levels == ("low", "medium", "high", "critical")
    stored = load_matrix(sqlite_engine, "risk-matrix-5x5-sensitive")
    # grid row = probability, so the row for the highest probability is the last one of the file
    assert [stored.level(5, i) for i in range(1, 6)] == ["medium", "high", "critical", "critical", "critical"]
    assert stored.level(1, 1) == "low"


@needs_fixtures
@pytest.mark.parametrize("name", ["risk-matrix-4x4-ebios-rm.yaml", "risk-matrix-6x6-detailed.yaml",
                                  "risk-matrix-3x3-mult.yaml"])
def test_ciso_assistant_matrices_of_other_sizes_are_refused(sqlite_engine, name):
    with pytest.raises(RefusedError, match="five-level likelihood and impact scales"):
        import_matrix_file(sqlite_engine, (FIXTURES / name).read_bytes(), actor=SYSTEM)
    assert count_rows(sqlite_engine, MatrixRow) == 0


@needs_fixtures
def test_name_option_stores_a_one_matrix_file_under_that_name(sqlite_engine):
    data = (FIXTURES / "risk-matrix-5x5-sensitive.yaml").read_bytes()
    import_matrix_file(sqlite_engine, data, actor=SYSTEM, name="county-erm")
    assert "county-erm" in [m.name for m in list_matrices(sqlite_engine)]


def test_asymmetric_imported_matrix_keeps_its_axes(sqlite_engine):
    # Only likelihood raises the level: rows (probability) 0..4 -> levels 0,0,1,2,3 whatever the impact.
    grid = [[0] * 5, [0] * 5, [1] * 5, [2] * 5, [3] * 5]
    import_matrix_file(sqlite_engine, ciso_file(grid), actor=SYSTEM)
    m = load_matrix(sqlite_engine, "test-matrix")
    assert m.level(5, 1) == "critical"  # high likelihood, low impact
    assert m.level(1, 5) == "low"  # low likelihood, high impact
    assert m.levels == ("low", "medium", "high", "critical")  # names trimmed


def test_non_monotone_matrix_is_refused_naming_the_cell_and_nothing_is_stored(sqlite_engine):
    grid = [[0, 0, 1, 1, 2], [0, 1, 1, 2, 2], [0, 1, 0, 2, 3], [1, 1, 2, 3, 3], [1, 2, 3, 3, 3]]
    with pytest.raises(RefusedError, match=r"cell \(likelihood 3, impact 3\)"):
        import_matrix_file(sqlite_engine, ciso_file(grid), actor=SYSTEM)
    assert count_rows(sqlite_engine, MatrixRow) == 0


def test_yaml_aliases_are_refused(sqlite_engine):
    data = (b"objects:\n  risk_matrix:\n  - ref_id: a\n    probability: &p [{name: a}]\n"
            b"    impact: *p\n    risk: *p\n    grid: []\n")
    with pytest.raises(RefusedError, match="anchors and aliases"):
        import_matrix_file(sqlite_engine, data, actor=SYSTEM)
    assert count_rows(sqlite_engine, MatrixRow) == 0


def test_billion_laughs_yaml_is_refused_before_it_expands(sqlite_engine):
    lines = ["a0: &a0 [lol]"] + [f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]" for k in range(1, 10)]
    with pytest.raises(RefusedError, match="anchors and aliases"):
        import_matrix_file(sqlite_engine, "\n".join(lines).encode(), actor=SYSTEM)


def test_oversized_matrix_file_is_refused(sqlite_engine):
    with pytest.raises(RefusedError, match="at most"):
        import_matrix_file(sqlite_engine, b"#" * 2_000_000, actor=SYSTEM)


def test_a_matrix_name_already_used_is_refused(sqlite_engine):
    grid = [[0, 0, 1, 1, 2], [0, 1, 1, 2, 2], [0, 1, 2, 2, 3], [1, 1, 2, 3, 3], [1, 2, 3, 3, 3]]
    import_matrix_file(sqlite_engine, ciso_file(grid), actor=SYSTEM)
    with pytest.raises(RefusedError, match="already exists"):
        import_matrix_file(sqlite_engine, ciso_file(grid), actor=SYSTEM)
    with pytest.raises(RefusedError, match="already exists"):
        import_matrix_file(sqlite_engine, ciso_file(grid), actor=SYSTEM, name="nist-800-30")
    assert count_rows(sqlite_engine, MatrixRow) == 1
