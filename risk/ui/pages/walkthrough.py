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
steps, shared, done = ps.walkthrough_state(proposal)
# what the signed-in account may do here (risk/access.py); the services refuse the rest whatever is shown
can_steer = common.may("edit_proposal", proposal.id)  # move the team's walkthrough on, mark categories done
can_risks = common.may("edit_risks", proposal.id)
can_agree = common.may("record_consensus", proposal.id)
can_act = common.may("edit_actions", proposal.id)
# The step on screen is this person's (?step= in the address); the proposal keeps the team's step, where a walk
# resumes. A colleague moving on therefore never changes what is on this screen, so a card being filled in here is
# never dropped, and a button here acts on the step it shows.
current = st.query_params.get("step") if st.query_params.get("step") in [*steps, "summary"] else shared
st.query_params["step"] = current
st.title(f"Walkthrough: {common.md(proposal.title)}")
st.progress(len(done) / len(steps), text=f"{len(done)} of {len(steps)} categories done")

labels = {c: ("✓ " if c in done else "") + scoring.CATEGORIES[c] for c in steps} | {"summary": "Summary"}
picked = st.segmented_control("Step", [*steps, "summary"], default=current, format_func=labels.get,
                              key=f"walk_nav_{proposal.id}_{current}", label_visibility="collapsed")
if picked and picked != current:
    if picked != shared and can_steer:
        common.run(ps.move_walkthrough, proposal_id=proposal.id, to=picked)  # where the team resumes
    st.query_params["step"] = picked
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
    gaps = ps.walkthrough_gaps(profile, steps, done)
    for line in gaps:
        st.warning(common.md(line), icon=":material/pending:")
    if not gaps:
        st.success("Every category has been walked through and every risk is scored before and after controls. "
                   "The register and the profile are ready for the county managers.", icon=":material/task_alt:")
    a, b = st.columns(2)
    common.page_link("register", "Open the register", icon=":material/table_rows:", container=a)
    common.page_link("profile", "Open the profile", icon=":material/grid_on:", container=b)
    st.stop()

category = current
name = scoring.CATEGORIES[category]
st.header(f"{steps.index(category) + 1}. {name} risks")
st.markdown(f"**Covers:** {covers(category)}.")
with st.expander("Questions for the discussion", expanded=True):
    st.markdown("\n".join(f"- {q}" for q in PROMPTS[category]))
with st.expander("The scales the team scores on"):
    scales_table()



OWN_FORM = f"own_risk_{proposal.id}_{category}"


@common.guarded("Walkthrough")
def add_own_risk(category: str, token: str) -> None:
    """Add the typed-in risk; a new form instance (empty fields, a new token) follows a success. The token makes a
    double click add the risk once."""
    fields = {f: st.session_state.get(f"own_{f}_{token}", "") for f in ("title", "cause", "event", "consequence")}
    if common.run(ps.add_risk, proposal_id=proposal.id, category=category, request_token=token,
                  complete_statement=True, success=f"Added “{fields['title'].strip()}”.",
                  **fields) is not common.FAILED:
        common.renew(OWN_FORM)


mine = [v for v in profile.risks if v.risk.category == category]
added = {v.risk.template_id for v in profile.risks if v.risk.template_id}
catalogue_col, own_col = st.columns(2)
with catalogue_col:
    st.subheader("Start from the catalogue")
    for t in templates(category):
        box = st.container(border=True)
        head, button = box.columns([3, 1], vertical_alignment="center")
        head.markdown(f"**{common.md(t.title)}**")
        if t.template_id in added:
            button.button("Added", key=f"tpl_{proposal.id}_{t.template_id}", disabled=True, icon=":material/check:",
                          width="stretch")
        elif button.button("Add", key=f"tpl_{proposal.id}_{t.template_id}", icon=":material/add:", width="stretch",
                           disabled=not can_risks):
            if common.run(ps.add_risk, proposal_id=proposal.id, category=category, title=t.title, cause=t.cause,
                          event=t.event, consequence=t.consequence, treatment=t.treatment, tags=list(t.tags),
                          template_id=t.template_id, success=f"Added “{t.title}”.") is not common.FAILED:
                st.rerun()
        box.caption(common.md(t.sentence))

with own_col:
    st.subheader("Add the team's own risk")
    st.caption("Write it as cause, event and consequence.")
    token = common.once_token(OWN_FORM)
    limits = ps.RISK_TEXT_LIMITS
    title = st.text_input("Short title", key=f"own_title_{token}", max_chars=limits["title"])
    cause = st.text_area("Cause: because…", key=f"own_cause_{token}", height=80, max_chars=limits["cause"])
    event = st.text_area("Event: … may occur", key=f"own_event_{token}", height=80, max_chars=limits["event"])
    consequence = st.text_area("Consequence: leading to…", key=f"own_consequence_{token}", height=80,
                               max_chars=limits["consequence"])
    if cause or event or consequence:
        st.info(common.md(scoring.risk_sentence(cause or "…", event or "…", consequence or "…")),
                icon=":material/format_quote:")
    st.button("Add this risk", type="primary", key=f"own_add_{token}", on_click=add_own_risk, args=(category, token),
              help="Title, cause, event and consequence are all needed", disabled=not can_risks)
    if not can_risks:
        st.caption("The team's facilitator and assessors add risks; you can read them.")

st.subheader(f"{name} risks of this proposal ({len(mine)})")
if not mine:
    st.info("No risks in this category yet: add one from the catalogue or write the team's own.")
for view in mine:
    risk_card(view, partners, expanded=st.session_state.get("open_risk") == view.risk.id, can_edit=can_risks,
              can_agree=can_agree, can_act=can_act)

nxt = steps[steps.index(category) + 1] if steps.index(category) + 1 < len(steps) else "summary"
if not can_steer:  # a reader or an assessor moves their own screen on; the team's progress is the facilitator's
    if st.button(f"Next: {labels[nxt].lstrip('✓ ')}", icon=":material/arrow_forward:",
                 key=f"walk_next_{proposal.id}_{category}"):
        st.query_params["step"] = nxt
        st.rerun()
elif st.button(f"Done with {name}: go to {labels[nxt].lstrip('✓ ')}", type="primary", icon=":material/arrow_forward:",
               key=f"walk_next_{proposal.id}_{category}") and common.run(
        ps.move_walkthrough, proposal_id=proposal.id, to=nxt, mark_done=category) is not common.FAILED:
    st.query_params["step"] = nxt
    st.rerun()
