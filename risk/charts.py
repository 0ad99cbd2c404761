"""Chart builders: DataFrame in, Altair chart out (tested through chart.to_dict()). Every chart has a title and
axis titles, uses a colour-blind-safe sequential palette (ColorBrewer YlOrRd, readable in grey), and heat-map
cells carry their count and risk ids as text. Charts receive aggregated rows (25 cells), never raw scores."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from risk.scoring import CATEGORIES, LEVEL_COLOURS, SCORE_LABELS, Matrix

MAX_IDS_IN_CELL = 4
# Charts with one row per proposal, risk or partner size their plot (`step` pixels a row) and let the page fit
# only their width: under Streamlit's default autosize "fit" the height also had to hold the title, axes and
# legend, which in Streamlit's theme took all of a one-row chart's height: its row was 0-9 px high (blank).
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
LABEL_ROOM = 400  # px: legend and axis labels are never cut (Streamlit's theme cuts axis labels at 100 px)


def heatmap_cells(matrix: Matrix, points: Sequence[tuple[str, int | None, int | None]]) -> pd.DataFrame:
    """The 25 cells of a matrix with the risks that fall in each: `points` are (risk_id, likelihood, impact)."""
    rows = []
    placed: dict[tuple[int, int], list[str]] = {}
    for risk_id, lik, imp in points:
        if lik is not None and imp is not None:
            placed.setdefault((int(lik), int(imp)), []).append(risk_id)
    for lik in range(1, 6):
        for imp in range(1, 6):
            ids = sorted(placed.get((lik, imp), []))
            shown = ids[:MAX_IDS_IN_CELL] + ([f"+{len(ids) - MAX_IDS_IN_CELL} more"] if len(ids) > MAX_IDS_IN_CELL
                                              else [])
            rows.append({
                "likelihood": lik, "impact": imp,
                "likelihood_label": f"{lik} {SCORE_LABELS[lik - 1]}", "impact_label": f"{imp} {SCORE_LABELS[imp - 1]}",
                "level": matrix.level(lik, imp), "count": len(ids),
                "label": "\n".join([str(len(ids))] + [", ".join(shown[k:k + 2]) for k in range(0, len(shown), 2)])
                if ids else "",
                "risks": ", ".join(ids),
            })
    return pd.DataFrame(rows)


NOT_SCORED = "Not scored"


def legend(orient: str = "bottom", entries: int = 2, *, columns: int = 2) -> alt.Legend:
    """A legend whose labels are never cut: below the chart it wraps into `columns` columns when it has more
    entries (in one row it ran past a half-width chart's edge: "Very Hig")."""
    if orient in ("top", "bottom") and entries > columns:
        return alt.Legend(orient=orient, columns=columns, labelLimit=LABEL_ROOM)
    return alt.Legend(orient=orient, labelLimit=LABEL_ROOM)


def _rows(chart: alt.TopLevelMixin, title: str, rows: int, step: int, width: int = 700):
    """`rows` rows of `step` pixels under the title, the chart as wide as the page allows (see FIT_WIDTH)."""
    return chart.properties(title=title, width=width, height=step * max(1, rows), autosize=FIT_WIDTH)


def level_scale(levels: Sequence[str]) -> alt.Scale:
    """The matrix's levels on the colour-blind-safe palette; "Not scored" in light grey."""
    real = [lv for lv in levels if lv != NOT_SCORED]
    domain, colours = list(real), list(LEVEL_COLOURS[len(real)])
    if NOT_SCORED in levels:
        domain, colours = [NOT_SCORED, *domain], ["#d9d9d9", *colours]
    return alt.Scale(domain=domain, range=colours)


def heatmap(cells: pd.DataFrame, levels: Sequence[str], title: str, *, likelihood_axis: str = "vertical"
            ) -> alt.LayerChart:
    """A risk matrix heat map, cells coloured by level with count and ids. Likelihood runs up the vertical axis
    (the NIST layout) or, with likelihood_axis="horizontal", along the horizontal one (impact then runs up)."""
    impact_order = [f"{k} {SCORE_LABELS[k - 1]}" for k in range(1, 6)]
    likelihood_order = [f"{k} {SCORE_LABELS[k - 1]}" for k in range(1, 6)]
    # "1 Very Low" ... "5 Very High" side by side under a half-width map overlapped, and Vega then dropped every
    # other one: each word goes on its own line ("1" / "Very" / "Low"), and no label is dropped or cut
    x_axis = alt.Axis(labelAngle=0, labelExpr="split(datum.value, ' ')", labelOverlap=False, labelLimit=LABEL_ROOM,
                      labelLineHeight=13)
    y_axis = alt.Axis(labelOverlap=False, labelLimit=LABEL_ROOM)
    if likelihood_axis == "horizontal":
        x = alt.X("likelihood_label:O", title="Likelihood", sort=likelihood_order, axis=x_axis)
        y = alt.Y("impact_label:O", title="Impact", sort=impact_order[::-1], axis=y_axis)
    elif likelihood_axis == "vertical":
        x = alt.X("impact_label:O", title="Impact", sort=impact_order, axis=x_axis)
        y = alt.Y("likelihood_label:O", title="Likelihood", sort=likelihood_order[::-1], axis=y_axis)
    else:
        raise ValueError(f"likelihood_axis: expected vertical or horizontal, got {likelihood_axis!r}")
    base = alt.Chart(cells).encode(x=x, y=y)
    rects = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("level:N", title="Level of risk", scale=level_scale(levels),
                        legend=legend("bottom", len(levels))),
        tooltip=[alt.Tooltip("likelihood_label:O", title="Likelihood"), alt.Tooltip("impact_label:O", title="Impact"),
                 alt.Tooltip("level:N", title="Level"), alt.Tooltip("count:Q", title="Risks"),
                 alt.Tooltip("risks:N", title="Risk ids")],
    )
    dark = list(levels)[len(levels) // 2 + 1:]  # text in white on the darker half of the palette
    text = base.mark_text(baseline="middle", fontSize=10, lineBreak="\n").encode(
        text=alt.Text("label"),
        color=alt.condition(alt.FieldOneOfPredicate(field="level", oneOf=dark), alt.value("white"),
                            alt.value("black")),
    )
    return (rects + text).properties(title=title, width=420, height=520)


def category_levels(frame: pd.DataFrame, levels: Sequence[str], title: str) -> alt.Chart:
    """Risks per category, stacked by level. `frame` has columns category, level, count."""
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("count:Q", title="Number of risks", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("category:N", title="Category", sort=[c for c in CATEGORIES.values()]),
        color=alt.Color("level:N", title="Residual level", scale=level_scale(levels), sort=list(levels),
                        legend=legend("right")),
        order=alt.Order("level_rank:Q"),
        tooltip=[alt.Tooltip("category:N", title="Category"), alt.Tooltip("level:N", title="Level"),
                 alt.Tooltip("count:Q", title="Risks")],
    ).properties(title=title, width=420, height=340)


def movement(frame: pd.DataFrame, levels: Sequence[str], title: str = "What the treatments buy: inherent to "
             "residual level") -> alt.LayerChart:
    """Each risk from its inherent to its residual level. `frame`: risk_id, inherent_level, residual_level."""
    data = frame.dropna(subset=["inherent_level", "residual_level"])
    data = data[(data["inherent_level"] != "") & (data["residual_level"] != "")]
    order = list(levels)
    x = alt.X("level:N", title="Level of risk", sort=order, scale=alt.Scale(domain=order),
              axis=alt.Axis(labelAngle=0))
    # every risk keeps its label (Vega drops labels that touch, which left every other risk unnamed)
    y = alt.Y("risk_id:N", title="Risk", sort=None, axis=alt.Axis(labelOverlap=False))
    long = pd.concat([
        data.assign(level=data["inherent_level"], stage="Inherent (before controls)"),
        data.assign(level=data["residual_level"], stage="Residual (with controls)"),
    ])[["risk_id", "level", "stage"]]
    rule = alt.Chart(data).mark_rule(color="#636363").encode(
        x=alt.X("inherent_level:N", sort=order, scale=alt.Scale(domain=order), title="Level of risk",
                axis=alt.Axis(labelAngle=0)),
        x2="residual_level:N", y=y)
    points = alt.Chart(long).mark_point(filled=True, size=90).encode(
        x=x, y=y,
        shape=alt.Shape("stage:N", title="Stage", legend=legend("bottom")),
        color=alt.Color("stage:N", title="Stage", scale=alt.Scale(range=["#fd8d3c", "#2c7bb6"]),
                        legend=legend("bottom")),
        tooltip=[alt.Tooltip("risk_id:N", title="Risk"), alt.Tooltip("stage:N", title="Stage"),
                 alt.Tooltip("level:N", title="Level")],
    )
    return _rows(rule + points, title, len(data), 26)


def category_profile(frame: pd.DataFrame, levels: Sequence[str], title: str = "Each category: risks by residual "
                     "level, the worst, and the appetite") -> alt.LayerChart:
    """`frame`: one row per risk with category, level (residual, or "Not scored"), appetite, over_appetite."""
    domain = [NOT_SCORED, *levels]
    counts = frame.groupby(["category", "level"], observed=True).size().reset_index(name="count")
    counts["level_rank"] = counts["level"].map({name: k for k, name in enumerate(domain)})
    rank = {name: k for k, name in enumerate(levels)}
    summary = frame.groupby("category", observed=True).agg(
        total=("level", "size"), over=("over_appetite", "sum"), appetite=("appetite", "first"),
        worst=("level", lambda v: max((x for x in v if x in rank), key=rank.get, default="not scored")),
    ).reset_index()
    summary["note"] = ("worst " + summary["worst"] + " · appetite " + summary["appetite"]
                       + summary["over"].map(lambda n: f" · {n} over appetite" if n else ""))
    order = [c for c in CATEGORIES.values() if c in set(frame["category"])]
    y = alt.Y("category:N", title="Category", sort=order)
    room = alt.Scale(domain=[0, max(1, int(summary["total"].max())) * 2.2])  # space for the notes on the right
    bars = alt.Chart(counts).mark_bar().encode(
        x=alt.X("count:Q", title="Number of risks", axis=alt.Axis(tickMinStep=1), scale=room),
        y=y,
        color=alt.Color("level:N", title="Residual level", scale=level_scale(domain), sort=domain,
                        legend=legend("right")),
        order=alt.Order("level_rank:Q"),
        tooltip=[alt.Tooltip("category:N", title="Category"), alt.Tooltip("level:N", title="Level"),
                 alt.Tooltip("count:Q", title="Risks")],
    )
    notes = alt.Chart(summary).mark_text(align="left", dx=6, fontSize=12).encode(
        x=alt.X("total:Q", scale=room), y=y, text="note:N")
    return _rows(bars + notes, title, len(order), 36)


def disagreement(frame: pd.DataFrame, title: str = "How far apart the assessors were, round by round"
                 ) -> alt.Chart:
    """`frame`: risk_id, round (label), spread (max - min of likelihood plus that of impact)."""
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("spread:Q", title="Spread of scores (likelihood range + impact range)", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("risk_id:N", title="Risk", sort="-x"),
        yOffset=alt.YOffset("round:N"),
        color=alt.Color("round:N", title="Round", scale=alt.Scale(range=["#fdae61", "#2c7bb6", "#1a9641"]),
                        legend=legend("bottom", frame["round"].nunique(), columns=3)),
        tooltip=[alt.Tooltip("risk_id:N", title="Risk"), alt.Tooltip("round:N", title="Round"),
                 alt.Tooltip("spread:Q", title="Spread")],
    )
    return _rows(chart, title, frame["risk_id"].nunique(), 30)


def partner_exposure(frame: pd.DataFrame, levels: Sequence[str], title: str = "Each partner: the risks it owns "
                     "and those where it is hit hardest") -> alt.Chart:
    """`frame`: partner, role ("owns" or "hit hardest"), level, count."""
    domain = [NOT_SCORED, *levels]
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("count:Q", title="Number of risks", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("partner:N", title="Partner government", axis=alt.Axis(labelLimit=LABEL_ROOM)),
        yOffset=alt.YOffset("role:N"),
        color=alt.Color("level:N", title="Residual level", scale=level_scale(domain), sort=domain,
                        legend=legend("right")),
        opacity=alt.Opacity("role:N", title="Relation", scale=alt.Scale(domain=["owns", "hit hardest"],
                                                                        range=[1.0, 0.55])),
        tooltip=[alt.Tooltip("partner:N", title="Partner"), alt.Tooltip("role:N", title="Relation"),
                 alt.Tooltip("level:N", title="Level"), alt.Tooltip("count:Q", title="Risks")],
    )
    return _rows(chart, title, frame["partner"].nunique(), 56)


def portfolio(frame: pd.DataFrame, title: str = "Proposals by category, coloured by the worst residual level"
              ) -> alt.LayerChart:
    """`frame`: proposal, category, worst (level name on the five-step scale), count, over (count over appetite)."""
    order = [c for c in CATEGORIES.values() if c in set(frame["category"])]
    base = alt.Chart(frame).encode(
        x=alt.X("category:N", title="Category", sort=order, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("proposal:N", title="Proposal", axis=alt.Axis(labelLimit=LABEL_ROOM)),
    )
    rects = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("worst:N", title="Worst residual level", scale=level_scale([NOT_SCORED, *SCORE_LABELS]),
                        legend=legend("bottom", len(SCORE_LABELS) + 1, columns=3)),
        tooltip=[alt.Tooltip("proposal:N", title="Proposal"), alt.Tooltip("category:N", title="Category"),
                 alt.Tooltip("worst:N", title="Worst residual level"), alt.Tooltip("count:Q", title="Risks"),
                 alt.Tooltip("over:Q", title="Over appetite")],
    )
    text = base.mark_text(fontSize=11).encode(
        text="label:N",
        color=alt.condition(alt.FieldOneOfPredicate(field="worst", oneOf=["High", "Very High"]), alt.value("white"),
                            alt.value("black")))
    return _rows(rects + text, title, frame["proposal"].nunique(), 40)


def _json(chart: alt.TopLevelMixin | dict) -> str:
    import json

    return json.dumps(chart) if isinstance(chart, dict) else chart.to_json()


def to_png(chart: alt.TopLevelMixin | dict, scale: float = 2.0) -> bytes:
    """The chart (or its Vega-Lite spec) as a PNG image, rendered offline (vl-convert)."""
    import vl_convert

    return vl_convert.vegalite_to_png(_json(chart), scale=scale)


def to_svg(chart: alt.TopLevelMixin | dict) -> str:
    """The chart (or its Vega-Lite spec) as SVG, rendered offline (vl-convert)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(_json(chart))
