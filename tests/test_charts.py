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


def test_heatmap_orientation_puts_likelihood_on_the_horizontal_axis_when_asked():
    cells = charts.heatmap_cells(NIST_800_30, [("LEG-01", 5, 1)])
    spec = charts.heatmap(cells, NIST_800_30.levels, "t", likelihood_axis="horizontal").to_dict()
    enc = spec["layer"][0]["encoding"]
    assert enc["x"]["title"] == "Likelihood" and enc["y"]["title"] == "Impact"
    assert enc["y"]["sort"][0] == "5 Very High"  # impact runs up


def test_movement_chart_links_inherent_to_residual_for_every_scored_risk():
    frame = pd.DataFrame([{"risk_id": "LEG-01", "inherent_level": "High", "residual_level": "Low"},
                          {"risk_id": "OPS-01", "inherent_level": "", "residual_level": ""}])
    spec = charts.movement(frame, NIST_800_30.levels).to_dict()
    rule, points = spec["layer"]
    assert spec["title"].startswith("What the treatments buy")
    assert rule["encoding"]["x"]["field"] == "inherent_level" and rule["encoding"]["x2"]["field"] == "residual_level"
    assert points["encoding"]["x"]["scale"]["domain"] == list(NIST_800_30.levels)
    data = spec["datasets"][points["data"]["name"]]
    assert {(d["risk_id"], d["level"]) for d in data} == {("LEG-01", "High"), ("LEG-01", "Low")}


def test_category_profile_notes_the_worst_level_the_appetite_and_how_many_are_over():
    frame = pd.DataFrame([
        {"category": "Legal", "level": "High", "appetite": "Averse", "over_appetite": True},
        {"category": "Legal", "level": "Low", "appetite": "Averse", "over_appetite": True},
        {"category": "Financial", "level": "Not scored", "appetite": "Cautious", "over_appetite": False},
    ])
    spec = charts.category_profile(frame, NIST_800_30.levels).to_dict()
    notes = spec["datasets"][spec["layer"][1]["data"]["name"]]
    by_category = {n["category"]: n["note"] for n in notes}
    assert by_category["Legal"] == "worst High · appetite Averse · 2 over appetite"
    assert by_category["Financial"] == "worst not scored · appetite Cautious"
    assert spec["layer"][0]["encoding"]["x"]["title"] == "Number of risks"


def test_disagreement_and_partner_exposure_charts_have_titles_and_axes():
    spread = pd.DataFrame([{"risk_id": "LEG-01", "round": "Inherent round 1", "spread": 6},
                           {"risk_id": "LEG-01", "round": "Inherent round 2", "spread": 1}])
    spec = charts.disagreement(spread).to_dict()
    assert spec["encoding"]["x"]["title"].startswith("Spread of scores") and spec["encoding"]["y"]["title"] == "Risk"
    exposure = pd.DataFrame([{"partner": "Harmon County", "role": "owns", "level": "High", "count": 2},
                             {"partner": "City of Lakeview", "role": "hit hardest", "level": "Low", "count": 1}])
    spec = charts.partner_exposure(exposure, NIST_800_30.levels).to_dict()
    assert spec["encoding"]["y"]["title"] == "Partner government"
    assert spec["encoding"]["opacity"]["scale"]["domain"] == ["owns", "hit hardest"]


def test_portfolio_chart_colours_each_proposal_and_category_by_its_worst_level():
    frame = pd.DataFrame([{"proposal": "GIS hub", "category": "Legal", "count": 3, "worst": "High", "over": 1,
                           "label": "3 · 1 over"}])
    spec = charts.portfolio(frame).to_dict()
    rect, text = spec["layer"]
    assert rect["encoding"]["color"]["field"] == "worst" and text["encoding"]["text"]["field"] == "label"
    assert spec["title"].startswith("Proposals by category")


def test_charts_render_offline_as_png_and_svg():
    chart = charts.heatmap(charts.heatmap_cells(NIST_800_30, [("LEG-01", 3, 3)]), NIST_800_30.levels, "Residual")
    png = charts.to_png(chart, scale=1)
    svg = charts.to_svg(chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert svg.lstrip().startswith("<svg") and "LEG-01" in svg and "Residual" in svg


# How Streamlit draws a spec: when the spec names no autosize it sets {"type": "fit", "contains": "padding"} (so the
# given height must hold title, axes and legend too), the page's width, and its theme's paddings and font sizes.
STREAMLIT_THEME = {
    "title": {"fontSize": 16, "offset": 26, "anchor": "start"},
    "axis": {"labelFontSize": 12, "titleFontSize": 14, "labelPadding": 16, "titlePadding": 16, "labelLimit": 100,
             "labelOverlap": True, "ticks": False},
    "legend": {"labelFontSize": 14, "titleFontSize": 14, "titlePadding": 8, "labelPadding": 16, "padding": 8},
}


def _drawn_in_streamlit(spec: dict, width: int) -> str:
    import json

    import vl_convert

    spec = dict(spec, width=width)
    spec.setdefault("autosize", {"type": "fit", "contains": "padding"})
    return vl_convert.vegalite_to_svg(json.dumps(spec), config=STREAMLIT_THEME)


def _mark_heights(svg: str, role: str) -> list[float]:
    """The heights of the drawn rectangles of one mark type ("rect mark", "bar") in a Vega SVG."""
    import re

    paths = re.findall(rf'aria-roledescription="{role}"[^>]*? d="M[-\d.]+,[-\d.]+h[-\d.]+v([-\d.]+)', svg)
    return [float(h) for h in paths]


def test_portfolio_chart_of_a_single_proposal_is_drawn_with_its_cells():
    frame = pd.DataFrame([{"proposal": "GIS hub", "category": "Legal", "count": 2, "worst": "Not scored", "over": 0,
                           "label": "2"}])
    spec = charts.portfolio(frame).to_dict()
    assert spec["datasets"][spec["data"]["name"]] == frame.to_dict(orient="records")
    for width in (1400, 700, 400):
        svg = _drawn_in_streamlit(spec, width)
        heights = _mark_heights(svg, "rect mark")
        # the title, axes and legend ate the height of a one-proposal chart: its only cell was 9 px, or nothing
        assert len(heights) == 1 and heights[0] >= 30, (width, heights)
        assert 'aria-roledescription="text mark"' in svg


def test_one_risk_charts_keep_a_row_of_their_own_when_drawn_in_the_page():
    import re

    movement = charts.movement(pd.DataFrame([{"risk_id": "LEG-01", "inherent_level": "High",
                                              "residual_level": "Low"}]), NIST_800_30.levels).to_dict()
    svg = _drawn_in_streamlit(movement, 700)
    rows = [float(y) for y in re.findall(r'aria-roledescription="point" transform="translate\([-\d.]+,([-\d.]+)\)"',
                                        svg)]
    assert len(rows) == 2 and min(rows) >= 10  # they sat on the axis line: the plot was 0 px high
    spread = charts.disagreement(pd.DataFrame([{"risk_id": "LEG-01", "round": "Inherent round 1", "spread": 6},
                                               {"risk_id": "LEG-01", "round": "Inherent round 2", "spread": 1}]))
    heights = _mark_heights(_drawn_in_streamlit(spread.to_dict(), 700), "bar")
    assert len(heights) == 2 and min(heights) >= 10


def _legends(spec: dict) -> list[dict]:
    layers = spec.get("layer", [spec])
    return [enc["legend"] for layer in layers for enc in layer.get("encoding", {}).values()
            if isinstance(enc, dict) and isinstance(enc.get("legend"), dict)]


def test_legends_give_level_names_room_and_wrap_below_the_chart():
    heat = charts.heatmap(charts.heatmap_cells(NIST_800_30, []), NIST_800_30.levels, "Residual").to_dict()
    portfolio = charts.portfolio(pd.DataFrame([{"proposal": "GIS hub", "category": "Legal", "count": 1,
                                                "worst": "High", "over": 0, "label": "1"}])).to_dict()
    profile = charts.category_profile(pd.DataFrame([{"category": "Legal", "level": "High", "appetite": "Averse",
                                                     "over_appetite": True}]), NIST_800_30.levels).to_dict()
    for spec in (heat, portfolio, profile):
        for legend in _legends(spec):
            assert legend["labelLimit"] >= 200  # "Very High" was cut to "Very Hig"
    # five or six levels in one row ran past the edge of a half-width heat map: below a chart they wrap
    (heat_legend,) = _legends(heat)
    assert heat_legend["orient"] == "bottom" and heat_legend["columns"] in (2, 3)
    assert all(legend.get("columns") for legend in _legends(portfolio))


def test_heatmap_axis_labels_are_all_kept_and_split_over_lines():
    for axis in ("vertical", "horizontal"):
        spec = charts.heatmap(charts.heatmap_cells(NIST_800_30, []), NIST_800_30.levels, "Residual",
                              likelihood_axis=axis).to_dict()
        x, y = spec["layer"][0]["encoding"]["x"], spec["layer"][0]["encoding"]["y"]
        assert x["axis"]["labelOverlap"] is False and y["axis"]["labelOverlap"] is False
        assert x["axis"]["labelLimit"] >= 200 and y["axis"]["labelLimit"] >= 200
        assert "split(" in x["axis"]["labelExpr"]
        assert x["title"] and y["title"]
    svg = _drawn_in_streamlit(spec, 450)
    for word in ("1", "2", "3", "4", "5", "Very", "Low", "Moderate", "High"):
        assert f">{word}</tspan>" in svg or f">{word}</text>" in svg, word


# --- who pays for what, and risk in money ---------------------------------------------------------------------------

def _allocations():
    from risk import costs

    lines = [costs.CostLine("Centre", "recurring", 100_000.0, years=5)]
    partners = [costs.PartnerFigures("Harmon County", population=180_000, status_quo_cost=80_000),
                costs.PartnerFigures("City of Millbrook", population=20_000, status_quo_cost=30_000)]
    agreement = costs.Agreement(costs.Method("population"))
    return costs.compare(lines, partners, agreement, [costs.Method("equal"), costs.Method("population")])


def test_money_reads_with_the_currency_and_cents():
    assert charts.money(1234567.891, "USD") == "USD 1,234,567.89"
    assert charts.money(None, "EUR") == "—"


def test_method_shares_groups_partners_colours_methods_and_marks_the_chosen():
    frame = charts.method_shares_frame(_allocations(), chosen="By population")
    assert set(frame["method"]) == {"Equal shares", "By population (chosen)"}
    assert frame.groupby("method")["share"].sum().tolist() == [500_000.0, 500_000.0]
    spec = charts.method_shares(frame, "CAD", 5).to_dict()
    assert spec["title"] == "Each partner's share under each way of splitting the costs"
    enc = spec["encoding"]
    assert enc["x"]["title"] == "Partner government" and enc["y"]["title"] == "Share over 5 years (CAD)"
    assert enc["xOffset"]["field"] == "method"
    assert enc["color"]["scale"]["range"] == list(charts.CATEGORY_COLOURS[:2])
    assert enc["x"]["axis"]["labelExpr"] == "split(datum.value, '\\n')"  # long names on several lines


def test_going_alone_sets_each_partners_status_quo_beside_its_share():
    allocation = _allocations()[1]
    frame = charts.going_alone_frame(allocation)
    harmon = frame[frame["partner"] == "Harmon County"].set_index("series")["amount"]
    assert harmon[charts.ALONE] == 400_000.0 and harmon[charts.SHARED] == 450_000.0
    spec = charts.going_alone(frame, "USD", 5).to_dict()
    assert spec["title"] == "Going alone against sharing: each partner's cost"
    assert spec["encoding"]["y"]["title"] == "Cost over 5 years (USD)"
    assert spec["encoding"]["color"]["scale"] == {"domain": [charts.ALONE, charts.SHARED],
                                                  "range": list(charts.PAIR_COLOURS)}


def _comparison():
    from risk import quantify

    inherent = [quantify.RiskFigures("LEG-01", 0.3, 100_000, 1_000_000, derived=True),
                quantify.RiskFigures("OPS-01", 1.0, 5_000, 80_000)]
    residual = [quantify.RiskFigures("LEG-01", 0.1, 20_000, 200_000, derived=True),
                quantify.RiskFigures("OPS-01", 1.0, 5_000, 80_000)]
    return quantify.compare(inherent, residual, 20_000, 7)


def test_expected_loss_marks_the_risks_priced_from_their_level():
    comparison = _comparison()
    frame = charts.expected_loss_frame(comparison.residual, {"LEG-01": "No agreement"})
    assert dict(zip(frame["risk_id"], frame["priced"], strict=True)) == {"LEG-01": charts.PRICED_DERIVED,
                                                                         "OPS-01": charts.PRICED_OWN}
    spec = charts.expected_loss(frame, "USD").to_dict()
    bars = spec["layer"][0]
    assert spec["title"] == "Expected loss a year, risk by risk"
    assert bars["encoding"]["x"]["title"] == "Expected annual loss (USD)" and bars["encoding"]["y"]["title"] == "Risk"
    assert bars["encoding"]["color"]["scale"]["domain"] == [charts.PRICED_OWN, charts.PRICED_DERIVED]
    assert bars["encoding"]["y"]["sort"][0] == frame.sort_values("eal", ascending=False)["risk_id"].iloc[0]


def test_loss_exceedance_draws_inherent_and_residual_on_a_log_money_axis():
    frame = charts.exceedance_frame(_comparison().exceedance(20))
    assert set(frame["curve"]) == {charts.INHERENT_CURVE, charts.RESIDUAL_CURVE} and (frame["loss"] > 0).all()
    spec = charts.loss_exceedance(frame, "USD").to_dict()
    lines, rules, _labels = spec["layer"]
    assert spec["title"] == "How likely is a bad year: the chance of losing more"
    assert lines["encoding"]["x"]["scale"]["type"] == "log"
    assert lines["encoding"]["x"]["title"] == "Loss in one year (USD, logarithmic scale)"
    assert lines["encoding"]["y"]["title"] == "Chance a year's loss is higher"
    assert lines["encoding"]["color"]["scale"]["range"] == list(charts.PAIR_COLOURS)
    ticks = lines["encoding"]["x"]["axis"]["values"]
    assert ticks and all(str(t).lstrip("0.")[0] in "125" for t in ticks)  # 1, 2, 5 times a power of ten
    assert [r["chance"] for r in spec["datasets"][rules["data"]["name"]]] == [0.1, 0.01]


def test_a_log_axis_counts_money_in_ones_twos_and_fives():
    assert charts._log_ticks(15_000, 1_200_000) == [20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]
    assert charts._log_ticks(0, 10) == []


def test_treatment_value_sets_the_loss_avoided_beside_the_actions_cost():
    frame = charts.treatment_value_frame(_comparison().risks, {"OPS-01": 12_000.0})
    by = {(r.risk_id, r.series): r.amount for r in frame.itertuples()}
    assert by[("LEG-01", charts.AVOIDED)] > 0 and by[("LEG-01", charts.ACTIONS_COST)] == 0
    assert by[("OPS-01", charts.AVOIDED)] == 0 and by[("OPS-01", charts.ACTIONS_COST)] == 12_000.0
    spec = charts.treatment_value(frame, "USD").to_dict()
    assert spec["title"] == "What the treatments buy: loss avoided a year beside what the actions cost"
    assert spec["encoding"]["x"]["title"] == "Amount (USD)" and spec["encoding"]["y"]["title"] == "Risk"


def test_encodings_are_channel_objects_not_shorthand():
    """A shorthand string ("label:N"), a dict, alt.value() or alt.condition() as an encoding makes Altair find the
    channel's class by hashing every class's schema, 10-20 ms an encoding here: a third of building the profile
    page's ten charts. The charts write the channel's class instead (alt.Text("label:N"), alt.ColorValue(...))."""
    import ast
    from pathlib import Path

    source = Path(__file__).resolve().parent.parent / "risk" / "charts.py"
    slow = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "encode":
            for kw in node.keywords:
                values = kw.value.elts if isinstance(kw.value, ast.List | ast.Tuple) else [kw.value]
                slow += [f"line {node.lineno}: {kw.arg}={ast.unparse(v)[:40]}" for v in values
                         if isinstance(v, ast.Constant | ast.Dict) or (isinstance(v, ast.Call) and ast.unparse(
                             v.func) in ("alt.value", "alt.condition", "alt.when"))]
    assert not slow, "\n".join(slow)
