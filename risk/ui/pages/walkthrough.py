"""Walkthrough: one step per category, then a summary. Each step shows what the category covers, questions for
the discussion and the catalogue's templates; the team adds its own risks and scores them together."""

import pandas as pd
import streamlit as st

from risk import scoring
from risk.catalogue import templates
from risk.services import proposals as ps
from risk.services.profile import proposal_profile
from risk.ui import common
from risk.ui.risk_card import risk_card, scales_table
from risk.walkthrough import PROMPTS, covers

proposal = common.require_proposal()
eng = common.engine()
steps, current, done = ps.walkthrough_state(proposal)
st.title(f"Walkthrough: {common.md(proposal.title)}")
st.progress(len(done) / len(steps), text=f"{len(done)} of {len(steps)} categories done")

labels = {c: ("✓ " if c in done else "") + scoring.CATEGORIES[c] for c in steps} | {"summary": "Summary"}
picked = st.segmented_control("Step", [*steps, "summary"], default=current, format_func=labels.get,
                              key=f"walk_nav_{current}", label_visibility="collapsed")
if picked and picked != current and common.run(ps.move_walkthrough, proposal_id=proposal.id,
                                               to=picked) is not common.FAILED:
    st.rerun()

profile = proposal_profile(eng, proposal.id)
partners = {p.id: p.name for p, _ in ps.proposal_partners(eng, proposal.id)}

if current == "summary":
    st.header("Summary")
    rows = [{"Category": scoring.CATEGORIES[v.risk.category], "Risk": f"{v.risk.risk_id} {v.risk.title}",
             "Inherent": v.inherent.level or "not scored", "Residual": v.residual.level or "not scored",
             "Over appetite": "yes" if v.over_appetite else "", "Owner": v.owner_partner,
             "Treatment": v.risk.treatment or ""} for v in profile.risks]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="walk_summary")
    missing = [scoring.CATEGORIES[c] for c in steps if c not in done]
    if missing:
        st.warning("Not yet walked through: " + ", ".join(missing), icon=":material/pending:")
    else:
        st.success("Every category has been walked through. The register and the profile are ready for the "
                   "county managers.", icon=":material/task_alt:")
    a, b = st.columns(2)
    a.page_link(common.PAGES["register"], label="Open the register", icon=":material/table_rows:")
    b.page_link(common.PAGES["profile"], label="Open the profile", icon=":material/grid_on:")
    st.stop()

category = current
name = scoring.CATEGORIES[category]
st.header(f"{steps.index(category) + 1}. {name} risks")
st.markdown(f"**Covers:** {covers(category)}.")
with st.expander("Questions for the discussion", expanded=True):
    st.markdown("\n".join(f"- {q}" for q in PROMPTS[category]))
with st.expander("The scales the team scores on"):
    scales_table()



def add_own_risk(category: str) -> None:
    """Add the typed-in risk and empty the fields (in a callback, the only place a widget's value can be reset)."""
    fields = {f: st.session_state.get(f"own_{f}_{category}", "") for f in ("title", "cause", "event", "consequence")}
    if common.run(ps.add_risk, proposal_id=proposal.id, category=category,
                  success=f"Added “{fields['title']}”.", **fields) is not common.FAILED:
        for f in fields:
            st.session_state[f"own_{f}_{category}"] = ""


mine = [v for v in profile.risks if v.risk.category == category]
added = {v.risk.template_id for v in profile.risks if v.risk.template_id}
catalogue_col, own_col = st.columns(2)
with catalogue_col:
    st.subheader("Start from the catalogue")
    for t in templates(category):
        box = st.container(border=True)
        head, button = box.columns([5, 1], vertical_alignment="center")
        head.markdown(f"**{common.md(t.title)}**")
        if t.template_id in added:
            button.button("Added", key=f"tpl_{t.template_id}", disabled=True, icon=":material/check:")
        elif button.button("Add", key=f"tpl_{t.template_id}", icon=":material/add:"):
            if common.run(ps.add_risk, proposal_id=proposal.id, category=category, title=t.title, cause=t.cause,
                          event=t.event, consequence=t.consequence, treatment=t.treatment, tags=list(t.tags),
                          template_id=t.template_id, success=f"Added “{t.title}”.") is not common.FAILED:
                st.rerun()
        box.caption(common.md(t.sentence))

with own_col:
    st.subheader("Add the team's own risk")
    st.caption("Write it as cause, event and consequence.")
    title = st.text_input("Short title", key=f"own_title_{category}")
    cause = st.text_area("Cause: because…", key=f"own_cause_{category}", height=80)
    event = st.text_area("Event: … may occur", key=f"own_event_{category}", height=80)
    consequence = st.text_area("Consequence: leading to…", key=f"own_consequence_{category}", height=80)
    if cause or event or consequence:
        st.info(common.md(scoring.risk_sentence(cause or "…", event or "…", consequence or "…")),
                icon=":material/format_quote:")
    st.button("Add this risk", type="primary", key=f"own_add_{category}", on_click=add_own_risk, args=(category,))

st.subheader(f"{name} risks of this proposal ({len(mine)})")
if not mine:
    st.info("No risks in this category yet: add one from the catalogue or write the team's own.")
for view in mine:
    risk_card(view, partners, expanded=st.session_state.get("open_risk") == view.risk.id)

nxt = steps[steps.index(category) + 1] if steps.index(category) + 1 < len(steps) else "summary"
if st.button(f"Done with {name}: go to {labels[nxt].lstrip('✓ ')}", type="primary", icon=":material/arrow_forward:",
             key="walk_next") and common.run(ps.move_walkthrough, proposal_id=proposal.id, to=nxt,
                                             mark_done=category) is not common.FAILED:
    st.rerun()
