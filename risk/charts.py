"""Chart builders: DataFrame in, Altair chart out (tested through chart.to_dict()). Every chart has a title and
axis titles, uses a colour-blind-safe sequential palette (ColorBrewer YlOrRd, readable in grey), and heat-map
cells carry their count and risk ids as text. Charts receive aggregated rows (25 cells), never raw scores."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from risk.scoring import CATEGORIES, LEVEL_COLOURS, SCORE_LABELS, Matrix, heatmap_cell_rows

# Charts with one row per proposal, risk or partner size their plot (`step` pixels a row) and let the page fit
# only their width: under Streamlit's default autosize "fit" the height also had to hold the title, axes and
# legend, which in Streamlit's theme took all of a one-row chart's height: its row was 0-9 px high (blank).
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
LABEL_ROOM = 400  # px: legend and axis labels are never cut (Streamlit's theme cuts axis labels at 100 px)


def heatmap_cells(matrix: Matrix, points: Sequence[tuple[str, int | None, int | None]]) -> pd.DataFrame:
    """The 25 cells of a matrix with the risks that fall in each: `points` are (risk_id, likelihood, impact)."""
    return pd.DataFrame(heatmap_cell_rows(matrix, points))


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
        color=alt.ColorValue("black", condition={"test": alt.FieldOneOfPredicate(field="level", oneOf=dark),
                                                 "value": "white"}),
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
        x2=alt.X2("residual_level"), y=y)
    points = alt.Chart(long).mark_point(filled=True, size=90).encode(
        x=x, y=y,
        shape=alt.Shape("stage:N", title="Stage", legend=legend("bottom")),
        color=alt.Color("stage:N", title="Stage", scale=alt.Scale(range=["#fd8d3c", "#2c7bb6"]),
                        legend=legend("bottom")),
        tooltip=[alt.Tooltip("risk_id:N", title="Risk"), alt.Tooltip("stage:N", title="Stage"),
                 alt.Tooltip("level:N", title="Level")],
    )
    return _rows(rule + points, title, len(data), 26)


def level_moves_frame(moves: Sequence[dict]) -> pd.DataFrame:
    """From a snapshot comparison's level_moves (risk/snapshots.py): risk, phase, before, after, direction."""
    rows = [{"risk": f"{m['risk_id']} ({m['phase']})", "phase": m["phase"], "before": m["before"] or "Not scored",
             "after": m["after"] or "Not scored", "direction": "Up (worse)" if m["direction"] == "up"
             else "Down (better)"} for m in moves]
    return pd.DataFrame(rows, columns=["risk", "phase", "before", "after", "direction"])


def level_moves(frame: pd.DataFrame, levels: Sequence[str],
                title: str = "Levels that moved between the two states") -> alt.LayerChart:
    """Each risk whose standing level moved: a line from its level then to its level now, the point at now
    coloured by direction (vermillion up, bluish green down: Okabe-Ito, safe for colour-blind readers)."""
    order = ["Not scored", *levels]
    x_then = alt.X("before:N", sort=order, scale=alt.Scale(domain=order), title="Level of risk",
                   axis=alt.Axis(labelAngle=0))
    y = alt.Y("risk:N", title="Risk (phase)", sort=None, axis=alt.Axis(labelOverlap=False))
    direction = alt.Color("direction:N", title="Moved", scale=alt.Scale(domain=["Up (worse)", "Down (better)"],
                                                                       range=["#D55E00", "#009E73"]),
                          legend=legend("bottom"))
    rule = alt.Chart(frame).mark_rule(color="#636363").encode(x=x_then, x2=alt.X2("after"), y=y)
    then = alt.Chart(frame).mark_point(size=70, color="#636363").encode(x=x_then, y=y)
    now = alt.Chart(frame).mark_point(filled=True, size=110).encode(
        x=alt.X("after:N", sort=order, scale=alt.Scale(domain=order)), y=y, color=direction,
        tooltip=[alt.Tooltip("risk:N", title="Risk"), alt.Tooltip("before:N", title="Then"),
                 alt.Tooltip("after:N", title="Now")])
    return _rows(rule + then + now, title, len(frame), 26)


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
        x=alt.X("total:Q", scale=room), y=y, text=alt.Text("note:N"))
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
        text=alt.Text("label:N"),
        color=alt.ColorValue("black", condition={
            "test": alt.FieldOneOfPredicate(field="worst", oneOf=["High", "Very High"]), "value": "white"}))
    return _rows(rects + text, title, frame["proposal"].nunique(), 40)


# --- who pays for what, and risk in money (docs/COSTS.md) ----------------------------------------------------------
# Categories (allocation methods, partners' series) take Okabe and Ito's palette, told apart with every common kind
# of colour blindness; its yellow comes last (faint on white). Two-series charts keep the pair the movement chart
# uses: orange for before / alone, blue for after / shared.
CATEGORY_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
PAIR_COLOURS = ("#fd8d3c", "#2c7bb6")
PRICED_OWN = "Its own figures"
PRICED_DERIVED = "From its level (calibration table)"


def money(value: float | None, currency: str) -> str:
    """An amount as people read it on the pages: "USD 1,234,567.89" (the currency's code, cents always)."""
    return "—" if value is None else f"{currency} {float(value):,.2f}"


def _wrapped(text: str, width: int = 16) -> str:
    """A partner's name broken into lines of about `width` characters for an axis label ("\n" between lines)."""
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


MONEY_LABELS = "datum.value == 0 ? '0' : replace(format(datum.value, '~s'), 'G', 'B')"
_LINES_AXIS = dict(labelAngle=0, labelExpr="split(datum.value, '\\n')", labelOverlap=False, labelLimit=LABEL_ROOM,
                   labelLineHeight=13)


def method_shares_frame(allocations: Sequence, chosen: str | None = None) -> pd.DataFrame:
    """One row per partner and method: partner, label (the name wrapped for the axis), method (" (chosen)" added to
    the chosen one), share and share_pct as numbers. `allocations` are risk.costs.Allocation, one per method."""
    rows = []
    for allocation in allocations:
        method = allocation.method + (" (chosen)" if allocation.method == chosen else "")
        for p in allocation.partners:
            rows.append({"partner": p.partner, "label": _wrapped(p.partner), "method": method,
                         "share": float(p.share), "share_pct": float(p.share_pct)})
    return pd.DataFrame(rows, columns=["partner", "label", "method", "share", "share_pct"])


def method_shares(frame: pd.DataFrame, currency: str, horizon: int,
                  title: str = "Each partner's share under each way of splitting the costs") -> alt.Chart:
    """Grouped bars: a group per partner, a bar per method (coloured), the share over the horizon in money."""
    methods = list(dict.fromkeys(frame["method"]))
    labels = list(dict.fromkeys(frame["label"]))
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("label:N", title="Partner government", sort=labels, axis=alt.Axis(**_LINES_AXIS)),
        xOffset=alt.XOffset("method:N", sort=methods),
        y=alt.Y("share:Q", title=f"Share over {horizon} years ({currency})",
                axis=alt.Axis(labelExpr=MONEY_LABELS)),
        color=alt.Color("method:N", title="Method", sort=methods,
                        scale=alt.Scale(domain=methods, range=list(CATEGORY_COLOURS[:len(methods)])),
                        legend=legend("bottom", len(methods), columns=2)),
        tooltip=[alt.Tooltip("partner:N", title="Partner"), alt.Tooltip("method:N", title="Method"),
                 alt.Tooltip("share:Q", title=f"Share ({currency})", format=",.2f"),
                 alt.Tooltip("share_pct:Q", title="Share (%)", format=".2f")],
    )
    return chart.properties(title=title, width=700, height=340, autosize=FIT_WIDTH)


ALONE = "Going alone (status quo)"
SHARED = "Shared (its share)"


def going_alone_frame(allocation) -> pd.DataFrame:
    """Per partner with a status-quo cost: what going alone costs over the horizon and its share when shared
    (partner, label, series, amount, saving, payback)."""
    rows = []
    for p in allocation.partners:
        if p.status_quo is None:
            continue
        payback = f"year {p.payback_year}" if p.payback_year else "not within the horizon"
        for series, amount in ((ALONE, p.status_quo), (SHARED, p.share)):
            rows.append({"partner": p.partner, "label": _wrapped(p.partner), "series": series,
                         "amount": float(amount), "saving": float(p.saving), "payback": payback})
    return pd.DataFrame(rows, columns=["partner", "label", "series", "amount", "saving", "payback"])


def going_alone(frame: pd.DataFrame, currency: str, horizon: int,
                title: str = "Going alone against sharing: each partner's cost") -> alt.Chart:
    """Two bars per partner: the status quo over the horizon (orange) and its share of the shared service (blue)."""
    labels = list(dict.fromkeys(frame["label"]))
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("label:N", title="Partner government", sort=labels, axis=alt.Axis(**_LINES_AXIS)),
        xOffset=alt.XOffset("series:N", sort=[ALONE, SHARED]),
        y=alt.Y("amount:Q", title=f"Cost over {horizon} years ({currency})",
                axis=alt.Axis(labelExpr=MONEY_LABELS)),
        color=alt.Color("series:N", title="Cost", sort=[ALONE, SHARED],
                        scale=alt.Scale(domain=[ALONE, SHARED], range=list(PAIR_COLOURS)), legend=legend("bottom")),
        tooltip=[alt.Tooltip("partner:N", title="Partner"), alt.Tooltip("series:N", title="Cost"),
                 alt.Tooltip("amount:Q", title=currency, format=",.2f"),
                 alt.Tooltip("saving:Q", title=f"Saving ({currency})", format=",.2f"),
                 alt.Tooltip("payback:N", title="Pays back in")],
    ).properties(title=title, width=700, height=300, autosize=FIT_WIDTH)


def expected_loss_frame(simulation, titles: dict[str, str] | None = None) -> pd.DataFrame:
    """Per risk of a risk.quantify.Simulation: risk_id, title, eal, p90, p99, priced (own figures or derived)."""
    titles = titles or {}
    return pd.DataFrame([{"risk_id": r.risk_id, "title": titles.get(r.risk_id, ""), "eal": r.eal, "p90": r.p90,
                          "p99": r.p99, "priced": PRICED_DERIVED if r.derived else PRICED_OWN}
                         for r in simulation.risks],
                        columns=["risk_id", "title", "eal", "p90", "p99", "priced"])


def expected_loss(frame: pd.DataFrame, currency: str,
                  title: str = "Expected loss a year, risk by risk") -> alt.LayerChart:
    """Horizontal bars, the largest first; a risk priced from its level (derived) in light blue, one priced by its
    own figures in dark blue; the amount written at the end of each bar."""
    order = frame.sort_values(["eal", "risk_id"], ascending=[False, True])["risk_id"].tolist()
    data = frame.assign(text=frame["eal"].map(lambda v: f"{v:,.0f}"))
    room = alt.Scale(domain=[0, max(1.0, float(data["eal"].max() if len(data) else 1)) * 1.18])
    y = alt.Y("risk_id:N", title="Risk", sort=order, axis=alt.Axis(labelOverlap=False))
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("eal:Q", title=f"Expected annual loss ({currency})", scale=room,
                axis=alt.Axis(labelExpr=MONEY_LABELS)),
        y=y,
        color=alt.Color("priced:N", title="Priced by", scale=alt.Scale(domain=[PRICED_OWN, PRICED_DERIVED],
                                                                       range=["#08519c", "#9ecae1"]),
                        legend=legend("bottom")),
        tooltip=[alt.Tooltip("risk_id:N", title="Risk"), alt.Tooltip("title:N", title="Title"),
                 alt.Tooltip("eal:Q", title=f"Expected a year ({currency})", format=",.2f"),
                 alt.Tooltip("p90:Q", title="1 year in 10 worse than", format=",.2f"),
                 alt.Tooltip("p99:Q", title="1 year in 100 worse than", format=",.2f"),
                 alt.Tooltip("priced:N", title="Priced by")],
    )
    text = alt.Chart(data).mark_text(align="left", dx=4, fontSize=11).encode(
        x=alt.X("eal:Q", scale=room), y=y, text=alt.Text("text:N"))
    return _rows(bars + text, title, len(data), 22)


INHERENT_CURVE = "Before controls (inherent)"
RESIDUAL_CURVE = "With controls (residual)"


def exceedance_frame(points: Sequence[tuple[float, float, float]]) -> pd.DataFrame:
    """The two loss exceedance curves of risk.quantify.Comparison.exceedance() as long rows: loss, chance, curve.
    Only losses above zero (the x axis is logarithmic)."""
    rows = []
    for x, before, after in points:
        if x > 0:
            rows.append({"loss": x, "chance": before, "curve": INHERENT_CURVE})
            rows.append({"loss": x, "chance": after, "curve": RESIDUAL_CURVE})
    return pd.DataFrame(rows, columns=["loss", "chance", "curve"])


def _log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 times each power of ten from `low` to `high`: a log axis's labels as people count money."""
    import math

    if not (low > 0 and high > 0):
        return []
    return [m * 10.0 ** k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
            for m in (1, 2, 5) if low <= m * 10.0 ** k <= high]


BAD_YEARS = pd.DataFrame({"chance": [0.1, 0.01], "label": ["1 year in 10", "1 year in 100"]})


def loss_exceedance(frame: pd.DataFrame, currency: str,
                    title: str = "How likely is a bad year: the chance of losing more"
                    ) -> alt.LayerChart:
    """Two lines (inherent orange and dashed, residual blue) over a logarithmic money axis, the chance in percent;
    dotted rules mark the chances of one year in 10 and one in 100 (where a line crosses one, read the loss)."""
    curves = [INHERENT_CURVE, RESIDUAL_CURVE]
    ticks = _log_ticks(float(frame["loss"].min()), float(frame["loss"].max())) if len(frame) else []
    y = alt.Y("chance:Q", title="Chance a year's loss is higher", axis=alt.Axis(format="%"),
              scale=alt.Scale(domain=[0, 1]))
    lines = alt.Chart(frame).mark_line(strokeWidth=2.5, interpolate="monotone").encode(
        x=alt.X("loss:Q", title=f"Loss in one year ({currency}, logarithmic scale)", scale=alt.Scale(type="log"),
                axis=alt.Axis(values=ticks, labelExpr=MONEY_LABELS, labelOverlap=True)),
        y=y,
        color=alt.Color("curve:N", title="Risks", sort=curves, scale=alt.Scale(domain=curves,
                                                                               range=list(PAIR_COLOURS)),
                        legend=legend("bottom")),
        strokeDash=alt.StrokeDash("curve:N", sort=curves, scale=alt.Scale(domain=curves, range=[[6, 3], [1, 0]]),
                                  legend=None),
        tooltip=[alt.Tooltip("curve:N", title="Risks"),
                 alt.Tooltip("loss:Q", title=f"A year's loss above ({currency})", format=",.0f"),
                 alt.Tooltip("chance:Q", title="Chance", format=".1%")],
    )
    rules = alt.Chart(BAD_YEARS).mark_rule(strokeDash=[2, 3], color="#636363").encode(y=y)
    # at the left edge (a pixel position to the right would widen the chart past a column's width, and fit-x then
    # squeezes the plot to nothing); both curves are near 100% there, so the labels stay clear of them
    labels = alt.Chart(BAD_YEARS).mark_text(align="left", baseline="bottom", dx=4, dy=-2, fontSize=11,
                                            color="#636363").encode(y=y, x=alt.XValue(0), text=alt.Text("label:N"))
    return (lines + rules + labels).properties(title=title, width=700, height=320, autosize=FIT_WIDTH)


AVOIDED = "Expected loss avoided a year"
ACTIONS_COST = "Cost of its actions"


def treatment_value_frame(reductions: Sequence, action_costs: dict[str, float]) -> pd.DataFrame:
    """Per risk whose treatments lower its expected loss or whose actions cost something: risk_id, series (loss
    avoided a year, cost of its actions), amount. `reductions` are risk.quantify.Reduction."""
    rows = []
    for r in reductions:
        avoided, spent = max(0.0, r.reduction), action_costs.get(r.risk_id, 0.0)
        if avoided > 0.005 or spent > 0:
            rows.append({"risk_id": r.risk_id, "series": AVOIDED, "amount": avoided})
            rows.append({"risk_id": r.risk_id, "series": ACTIONS_COST, "amount": spent})
    return pd.DataFrame(rows, columns=["risk_id", "series", "amount"])


def treatment_value(frame: pd.DataFrame, currency: str,
                    title: str = "What the treatments buy: loss avoided a year beside what the actions cost"
                    ) -> alt.Chart:
    """Two bars per risk: the fall in expected annual loss from inherent to residual (blue) and the cost of the
    risk's actions (orange); the largest loss avoided first."""
    avoided = frame[frame["series"] == AVOIDED].sort_values(["amount", "risk_id"], ascending=[False, True])
    order = avoided["risk_id"].tolist()
    series = [AVOIDED, ACTIONS_COST]
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("amount:Q", title=f"Amount ({currency})", axis=alt.Axis(labelExpr=MONEY_LABELS)),
        y=alt.Y("risk_id:N", title="Risk", sort=order, axis=alt.Axis(labelOverlap=False)),
        yOffset=alt.YOffset("series:N", sort=series),
        color=alt.Color("series:N", title="Per risk", sort=series,
                        scale=alt.Scale(domain=series, range=[PAIR_COLOURS[1], PAIR_COLOURS[0]]),
                        legend=legend("bottom")),
        tooltip=[alt.Tooltip("risk_id:N", title="Risk"), alt.Tooltip("series:N", title="What"),
                 alt.Tooltip("amount:Q", title=currency, format=",.2f")],
    )
    return _rows(chart, title, len(order), 30)


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
