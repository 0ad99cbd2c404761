"""Chart builders, tested through the Vega-Lite spec (Altair's own test style)."""

from __future__ import annotations

import pandas as pd

from risk import charts
from risk.scoring import LEVEL_COLOURS, LOCAL_GOV_4, NIST_800_30


def test_heatmap_cells_hold_counts_and_risk_ids_in_all_25_cells():
    cells = charts.heatmap_cells(NIST_800_30, [("LEG-01", 5, 5), ("OPS-02", 5, 5), ("FIN-01", 1, 1),
                                               ("REP-01", None, None)])
    assert len(cells) == 25
    top = cells[(cells.likelihood == 5) & (cells.impact == 5)].iloc[0]
    assert (top["count"], top["level"], top["label"]) == (2, "Very High", "2\nLEG-01, OPS-02")
    assert cells["count"].sum() == 3  # an unscored risk is not placed


def test_a_crowded_cell_names_the_first_ids_and_how_many_more():
    cells = charts.heatmap_cells(NIST_800_30, [(f"OPS-{k:02d}", 3, 3) for k in range(1, 8)])
    label = cells[(cells.likelihood == 3) & (cells.impact == 3)].iloc[0]["label"]
    assert label.startswith("7\n") and "+3 more" in label


def test_heatmap_has_title_axis_titles_palette_and_text():
    spec = charts.heatmap(charts.heatmap_cells(LOCAL_GOV_4, []), LOCAL_GOV_4.levels, "Residual").to_dict()
    rect, text = spec["layer"]
    assert spec["title"] == "Residual"
    assert rect["encoding"]["x"]["title"] == "Impact" and rect["encoding"]["y"]["title"] == "Likelihood"
    assert rect["encoding"]["color"]["scale"] == {"domain": list(LOCAL_GOV_4.levels), "range": list(LEVEL_COLOURS[4])}
    assert text["mark"]["type"] == "text" and text["encoding"]["text"]["field"] == "label"
    # likelihood runs upwards: Very High at the top
    assert rect["encoding"]["y"]["sort"][0] == "5 Very High"


def test_category_chart_shows_unscored_risks_in_grey():
    frame = pd.DataFrame([{"category": "Legal", "level": "Not scored", "count": 2, "level_rank": 0},
                          {"category": "Legal", "level": "High", "count": 1, "level_rank": 4}])
    spec = charts.category_levels(frame, ["Not scored", *NIST_800_30.levels], "Risks per category").to_dict()
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"][0] == "Not scored" and scale["range"][0] == "#d9d9d9"
    assert spec["title"] == "Risks per category"
    assert spec["encoding"]["x"]["title"] == "Number of risks" and spec["encoding"]["y"]["title"] == "Category"
