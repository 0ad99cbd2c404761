"""Review: one screen per proposal for the county managers who decide: the headline numbers, the ten highest
residual risks in plain sentences, the category profile, both heat maps and partner exposure."""

import streamlit as st

from risk import charts
from risk.services import proposals as ps
from risk.services.profile import proposal_profile
from risk.services.register_export import export_packet, file_stem
from risk.services.summary import risk_line, top_risks
from risk.services.views import partner_exposure_frame, risk_frame
from risk.ui import common

proposal = common.require_proposal()
eng = common.engine()
profile = proposal_profile(eng, proposal.id)
matrix = profile.matrix
views = profile.risks
linked = ps.proposal_partners(eng, proposal.id)
partners = ", ".join(f"{p.name}{' (lead)' if role == 'lead' else ''}" for p, role in linked)
st.title(f"Review: {common.md(proposal.title)}")
st.caption(f"{common.md(proposal.service_type)} · {common.md(proposal.status)} · partners: {common.md(partners)} · "
           f"matrix: {common.md(matrix.title or matrix.name)}")

by_level = {name: sum(v.residual.level == name for v in views) for name in matrix.levels}
unresolved = sum(bool(v.residual.flags or v.inherent.flags) and "consensus" not in (v.inherent.source,
                                                                                     v.residual.source) for v in views)
open_actions = sum(a.status in ps.OPEN_ACTION_STATUSES for _rid, a in ps.actions(eng, proposal.id))
a, b, c, d = st.columns(4)
a.metric("Risks", len(views))
b.metric("Over appetite", sum(v.over_appetite for v in views))
c.metric("Unresolved disagreements", unresolved, help="Disagreement flags on a value the team has not yet agreed")
d.metric("Open actions", open_actions)
cols = st.columns(len(matrix.levels))
for col, name in zip(cols, reversed(matrix.levels), strict=True):
    col.metric(f"{common.md(name)} (residual)", by_level[name])

st.subheader("The ten highest residual risks")
for line in map(risk_line, top_risks(profile, 10)):
    st.markdown(f"- **{common.md(line.heading)}**: {common.md(line.sentence)}")

pid = proposal.id
if views:
    common.chart(lambda: charts.category_profile(risk_frame(profile), matrix.levels), "review_categories",
                 "category-profile", pid)
    common.chart(lambda: charts.partner_exposure(partner_exposure_frame(eng, profile), matrix.levels),
                 "review_partners", "partner-exposure", pid)
left, right = st.columns(2)
for column, kind, title in ((left, "inherent", "Inherent risk (before controls)"),
                            (right, "residual", "Residual risk (with controls)")):
    with column:
        common.chart(lambda kind=kind, title=title: charts.heatmap(charts.heatmap_cells(
            matrix, [(v.risk.risk_id, getattr(v, kind).likelihood, getattr(v, kind).impact) for v in views]),
            matrix.levels, title), f"review_{kind}", f"{kind}-heat-map", pid)

# One click: Streamlit calls `data` when the button is pressed, in a worker thread where st commands are ignored, so
# the button's own spinner stands in for a progress bar (2-8 s for the demo proposals)
me = common.actor()  # made on a worker thread, as this account (the service checks it may see the proposal)
st.download_button("Meeting packet (PDF)", data=lambda: export_packet(eng, pid, actor=me),
                   file_name=f"{file_stem(proposal.title, 'proposal')}-packet.pdf", mime="application/pdf",
                   on_click="ignore", key="export_packet", type="primary", icon=":material/picture_as_pdf:",
                   help="Summary, heat maps, category profile, the top risks in sentences and the open actions, "
                        "stamped with the SHA-256 of the data. Made when you click, from the data as it is then "
                        "(a few seconds, with a spinner on the button)")
