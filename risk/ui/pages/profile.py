"""Profile: where the proposal's risks sit on its matrix before and after controls, and how each category
stands."""

import pandas as pd
import streamlit as st

from risk import charts, scoring
from risk.services.profile import proposal_profile
from risk.ui import common

proposal = common.require_proposal()
profile = proposal_profile(common.engine(), proposal.id)
matrix = profile.matrix
st.title(f"Risk profile: {common.md(proposal.title)}")
st.caption(f"Matrix: {matrix.title or matrix.name}. Levels are looked up from likelihood and impact, never "
           "multiplied. Each cell shows how many risks sit there and their ids.")

views = profile.risks
scored = [v for v in views if v.residual.level]
a, b, c, d = st.columns(4)
a.metric("Risks", len(views))
b.metric("Scored after controls", len(scored))
c.metric("Over appetite", sum(v.over_appetite for v in views))
d.metric("With disagreement", sum(bool(v.inherent.flags) for v in views))

left, right = st.columns(2)
with left:
    cells = charts.heatmap_cells(matrix, [(v.risk.risk_id, v.inherent.likelihood, v.inherent.impact) for v in views])
    st.altair_chart(charts.heatmap(cells, matrix.levels, "Inherent risk (before controls)"), key="heat_inherent")
with right:
    cells = charts.heatmap_cells(matrix, [(v.risk.risk_id, v.residual.likelihood, v.residual.impact) for v in views])
    st.altair_chart(charts.heatmap(cells, matrix.levels, "Residual risk (with controls)"), key="heat_residual")

counts = pd.DataFrame([{"category": scoring.CATEGORIES[v.risk.category], "level": v.residual.level or "Not scored"}
                       for v in views])
if len(counts):
    counts = counts.groupby(["category", "level"]).size().reset_index(name="count")
    order = {name: k for k, name in enumerate(["Not scored", *matrix.levels])}
    counts["level_rank"] = counts["level"].map(order)
    st.altair_chart(charts.category_levels(counts, ["Not scored", *matrix.levels],
                                           "Risks per category by residual level"), key="category_levels")

over = [v for v in views if v.over_appetite]
if over:
    st.subheader("Over appetite")
    st.dataframe(pd.DataFrame([{"Risk": v.risk.risk_id, "Title": v.risk.title, "Residual": v.residual.level,
                                "Appetite": v.appetite, "Owner": v.owner_partner} for v in over]),
                 hide_index=True, width="stretch", key="over_table")
