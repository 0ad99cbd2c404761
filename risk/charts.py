"""Chart builders: DataFrame in, Altair chart out (tested through chart.to_dict()). Every chart has a title and
axis titles, uses a colour-blind-safe sequential palette (ColorBrewer YlOrRd, readable in grey), and heat-map
cells carry their count and risk ids as text. Charts receive aggregated rows (25 cells), never raw scores."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from risk.scoring import CATEGORIES, LEVEL_COLOURS, SCORE_LABELS, Matrix

MAX_IDS_IN_CELL = 4


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


def level_scale(levels: Sequence[str]) -> alt.Scale:
    """The matrix's levels on the colour-blind-safe palette; "Not scored" in light grey."""
    real = [lv for lv in levels if lv != NOT_SCORED]
    domain, colours = list(real), list(LEVEL_COLOURS[len(real)])
    if NOT_SCORED in levels:
        domain, colours = [NOT_SCORED, *domain], ["#d9d9d9", *colours]
    return alt.Scale(domain=domain, range=colours)


def heatmap(cells: pd.DataFrame, levels: Sequence[str], title: str) -> alt.LayerChart:
    """A risk matrix heat map: impact across, likelihood up, cells coloured by level with count and ids."""
    impact_order = [f"{k} {SCORE_LABELS[k - 1]}" for k in range(1, 6)]
    likelihood_order = [f"{k} {SCORE_LABELS[k - 1]}" for k in range(5, 0, -1)]
    base = alt.Chart(cells).encode(
        x=alt.X("impact_label:O", title="Impact", sort=impact_order, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("likelihood_label:O", title="Likelihood", sort=likelihood_order),
    )
    rects = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("level:N", title="Level of risk", scale=level_scale(levels),
                        legend=alt.Legend(orient="bottom")),
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
                        legend=alt.Legend(orient="right")),
        order=alt.Order("level_rank:Q"),
        tooltip=[alt.Tooltip("category:N", title="Category"), alt.Tooltip("level:N", title="Level"),
                 alt.Tooltip("count:Q", title="Risks")],
    ).properties(title=title, width=420, height=340)
