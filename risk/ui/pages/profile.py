"""Profile: where the proposal's risks sit on its matrix before and after controls (and at target), what the
treatments buy, how far apart the assessors were, and each category and partner's exposure."""

import streamlit as st

from risk import charts
from risk.services import rounds as rs
from risk.services.profile import proposal_profile
from risk.services.views import disagreement_frame, partner_exposure_frame, risk_frame
from risk.ui import common

proposal = common.require_proposal()
eng = common.engine()
profile = proposal_profile(eng, proposal.id)
matrix = profile.matrix
views = profile.risks
st.title(f"Risk profile: {common.md(proposal.title)}")
st.caption(f"Matrix: {common.md(matrix.title or matrix.name)}. Levels are looked up from likelihood and impact, never "
           "multiplied. Each cell shows how many risks sit there and their ids.")

a, b, c, d = st.columns(4)
a.metric("Risks", len(views))
b.metric("Scored after controls", sum(bool(v.residual.level) for v in views))
c.metric("Over appetite", sum(v.over_appetite for v in views))
d.metric("With disagreement", sum(bool(v.inherent.flags) for v in views))

axis = st.segmented_control("Likelihood on the", ["vertical", "horizontal"], default="vertical", key="likelihood_axis",
                            format_func=lambda a: f"{a} axis") or "vertical"
points = {
    "inherent": [(v.risk.risk_id, v.inherent.likelihood, v.inherent.impact) for v in views],
    "residual": [(v.risk.risk_id, v.residual.likelihood, v.residual.impact) for v in views],
    "target": [(v.risk.risk_id, v.risk.target_likelihood, v.risk.target_impact) for v in views],
}
titles = {"inherent": "Inherent risk (before controls)", "residual": "Residual risk (with controls)",
          "target": "Target risk (set by the owners)"}
has_target = any(lik and imp for _r, lik, imp in points["target"])
for column, kind in zip(st.columns(2), ["inherent", "residual"], strict=True):
    with column:
        common.chart(lambda kind=kind: charts.heatmap(charts.heatmap_cells(matrix, points[kind]), matrix.levels,
                                                      titles[kind], likelihood_axis=axis),
                     f"heat_{kind}", f"{kind}-heat-map", proposal.id, axis)
shown = ["inherent", "residual", *(["target"] if has_target else [])]
left, right = st.columns(2)
if has_target:
    with left:
        common.chart(lambda: charts.heatmap(charts.heatmap_cells(matrix, points["target"]), matrix.levels,
                                            titles["target"], likelihood_axis=axis),
                     "heat_target", "target-heat-map", proposal.id, axis)
with right:
    st.markdown("**Which risks are in a cell?**")
    p, l_col, i_col = st.columns(3)
    kind = p.selectbox("Heat map", shown, format_func=titles.get, key="cell_kind")
    lik = l_col.selectbox("Likelihood", [1, 2, 3, 4, 5], index=2, key="cell_likelihood")
    imp = i_col.selectbox("Impact", [1, 2, 3, 4, 5], index=2, key="cell_impact")
    ids = {r for r, li, im in points[kind] if (li, im) == (lik, imp)}
    inside = [v for v in views if v.risk.risk_id in ids]
    if inside:
        st.markdown("\n".join(f"- **{common.md(v.risk.risk_id)}** {common.md(v.risk.title)}" for v in inside))
    else:
        st.caption(f"No risk sits at likelihood {lik}, impact {imp} ({matrix.level(lik, imp)}).")

pid = proposal.id
if views:
    common.chart(lambda: charts.category_profile(risk_frame(profile), matrix.levels), "category_profile",
                 "category-profile", pid)
    common.chart(lambda: charts.movement(risk_frame(profile), matrix.levels), "movement", "movement", pid)
rounds = rs.list_rounds(eng, pid)
if views and (any(v.owner_partner for v in views) or any(r.per_partner and r.status != "open" for r in rounds)):
    common.chart(lambda: charts.partner_exposure(partner_exposure_frame(eng, profile), matrix.levels),
                 "partner_exposure", "partner-exposure", pid)
elif views:
    st.markdown("**Each partner: the risks it owns and those where it is hit hardest**")
    st.caption("Nothing to show yet: no risk has an owner partner (set one on a risk's card in the walkthrough), "
               "and no workshop round has scored the impact on each partner.")
if any(r.status != "open" for r in rounds):
    common.chart(lambda: charts.disagreement(disagreement_frame(eng, pid)), "disagreement", "disagreement", pid)
