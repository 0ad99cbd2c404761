"""Proposal: what would be shared and how it is scored; the partner governments and their strengths; the team."""

import pandas as pd
import streamlit as st

from risk import scoring
from risk.models import LifecyclePhase, PartnerKind, ProposalStatus, ServiceType, TeamRole
from risk.services import proposals as ps
from risk.services.matrices import list_matrices
from risk.services.strengths import proposal_strengths, set_strength
from risk.strengths import CAPABILITIES, STRENGTH_SCALE
from risk.ui import common

eng = common.engine()
new = st.session_state.get("proposal_mode") == "new" or common.proposal_id() is None
proposal = None if new else common.require_proposal()
st.title("New proposal" if new else common.md(proposal.title))

AGGREGATION_LABELS = {
    "upper_median": "Upper median (default): the middle score, the higher one when the panel is even",
    "max": "Maximum: the highest score (precautionary, for safety and legal risks)",
    "one_jurisdiction_one_vote": "One jurisdiction, one vote: each partner's median, then the median of those",
}

with st.form("proposal_form"):
    st.subheader("The proposal")
    title = st.text_input("Title", value="" if new else proposal.title, key="p_title",
                          placeholder="e.g. Regional 911/CAD consolidation")
    c1, c2, c3 = st.columns(3)
    services = [s.value for s in ServiceType]
    service = c1.selectbox("Service", services, index=services.index(proposal.service_type) if proposal else 0,
                           key="p_service")
    phases = [p.value for p in LifecyclePhase]
    phase = c2.selectbox("Lifecycle phase", phases, index=phases.index(proposal.phase) if proposal else 1,
                         key="p_phase")
    statuses = [s.value for s in ProposalStatus]
    status = c3.selectbox("Status", statuses, index=statuses.index(proposal.status) if proposal else 0,
                          key="p_status")
    description = st.text_area("Description", value="" if new else proposal.description, key="p_description",
                               placeholder="What would be shared, by whom, and what it should save.")
    c4, c5 = st.columns(2)
    matrices = {m.name: m for m in list_matrices(eng)}
    names = list(matrices)
    matrix = c4.selectbox("Risk matrix", names, index=names.index(proposal.matrix) if proposal else 0,
                          format_func=lambda n: f"{matrices[n].title or n} ({len(matrices[n].levels)} levels)",
                          key="p_matrix")
    methods = list(scoring.AGGREGATIONS)
    aggregation = c5.selectbox("How several assessors' scores combine", methods,
                               index=methods.index(proposal.aggregation) if proposal else 0,
                               format_func=AGGREGATION_LABELS.get, key="p_aggregation")
    cyber = st.toggle("Include cybersecurity as a sixth category", value=bool(proposal and proposal.cybersecurity),
                      key="p_cyber")
    st.markdown("**Risk appetite per category**: the highest residual level the partners will tolerate "
                "(Averse: Very Low, Minimal: Low, Cautious: Moderate, Open: High, Eager: Very High).")
    current = (proposal.appetite if proposal else None) or scoring.default_appetite()
    cols = st.columns(len(scoring.CATEGORIES))
    appetite = {
        key: cols[k].selectbox(name, scoring.APPETITES,
                               index=scoring.APPETITES.index(current.get(key, scoring.DEFAULT_APPETITE)),
                               key=f"p_appetite_{key}")
        for k, (key, name) in enumerate(scoring.CATEGORIES.items())
    }
    submitted = st.form_submit_button("Create proposal" if new else "Save changes", type="primary")
if submitted:
    fields = dict(title=title, service_type=service, phase=phase, status=status, description=description,
                  matrix=matrix, aggregation=aggregation, cybersecurity=cyber, appetite=appetite)
    if new:
        created = common.run(ps.create_proposal, success=f"Created “{title}”. Now add its partner governments.",
                             **fields)
        if created is not common.FAILED:
            common.open_proposal(created)
            st.session_state.pop("proposal_mode", None)
            st.rerun()
    elif common.run(ps.update_proposal, proposal_id=proposal.id, success="Saved the proposal.",
                    **fields) is not common.FAILED:
        st.rerun()

if new:
    st.info("Create the proposal first; then add partner governments, their strengths and the assessment team.",
            icon=":material/info:")
    st.stop()

pid = proposal.id
linked = ps.proposal_partners(eng, pid)
partners_tab, strengths_tab, team_tab = st.tabs(["Partner governments", "Strengths", "Assessment team"])

with partners_tab:
    if linked:
        st.dataframe(pd.DataFrame([{
            "Government": p.name, "Kind": p.kind, "Role": "Lead / host" if role == "lead" else "Participant",
            "Population": p.population, "IT budget ($)": p.it_budget,
        } for p, role in linked]), hide_index=True, width="stretch", key="partners_table",
            column_config={"IT budget ($)": st.column_config.NumberColumn(format="dollar")})
    else:
        st.info("No partner governments yet: add the county, cities or districts that would share the service.")
    with st.form("add_partner", clear_on_submit=True):
        st.markdown("**Add a partner government**")
        others = [p for p in ps.list_partners(eng) if p.id not in {q.id for q, _ in linked}]
        existing = st.selectbox("An existing government", [p.id for p in others], index=None,
                                format_func={p.id: p.name for p in others}.get, key="partner_existing",
                                placeholder="…or leave empty and describe a new one below")
        a, b, c, d = st.columns([3, 2, 2, 2])
        name = a.text_input("Name", key="partner_name", placeholder="e.g. City of Brookfield")
        kind = b.selectbox("Kind", [k.value for k in PartnerKind], key="partner_kind")
        population = c.number_input("Population", min_value=0, step=1000, value=None, key="partner_population")
        budget = d.number_input("Annual IT budget ($)", min_value=0, step=10_000, value=None, key="partner_budget")
        lead = st.checkbox("This government leads or hosts the service", key="partner_lead")
        add = st.form_submit_button("Add partner", type="primary")
    if add:
        partner_id = existing
        if partner_id is None:
            partner_id = common.run(ps.add_partner, name=name, kind=kind, population=population, it_budget=budget)
        if partner_id is not common.FAILED and common.run(
            ps.link_partner, proposal_id=pid, partner_id=partner_id, role="lead" if lead else "participant",
            success="Added the partner government.",
        ) is not common.FAILED:
            st.rerun()

with strengths_tab:
    if not linked:
        st.info("Add partner governments first.")
    else:
        st.caption("Seek the strengths of each participating government: how well placed is each partner to "
                   "support each capability (0 none, 1 minimal, 2 basic, 3 solid, 4 strong, 5 excellent)? "
                   "The best-placed partner is named for each capability. Edits are saved at once.")
        grid = proposal_strengths(eng, pid)
        names = [p.name for p, _ in linked]
        table = pd.DataFrame({n: [grid.scores.get(n, {}).get(cap, 0) for cap in CAPABILITIES] for n in names},
                             index=list(CAPABILITIES))
        table["Best placed to lead"] = [", ".join(grid.best.get(cap, [])) or "nobody yet" for cap in CAPABILITIES]
        edited = st.data_editor(
            table, key="strengths_editor", width="stretch",
            column_config={n: st.column_config.NumberColumn(n, min_value=0, max_value=5, step=1,
                                                            help=", ".join(f"{k} {v}" for k, v in
                                                                           STRENGTH_SCALE.items()))
                           for n in names} | {"Best placed to lead": st.column_config.TextColumn(disabled=True)},
        )
        ids = {p.name: p.id for p, _ in linked}
        changed = False
        for cap in CAPABILITIES:
            for n in names:
                value = edited.loc[cap, n]
                if pd.notna(value) and int(value) != int(table.loc[cap, n]):
                    changed |= common.run(set_strength, proposal_id=pid, partner_id=ids[n], capability=cap,
                                          score=int(value)) is not common.FAILED
        if changed:
            st.session_state["flash"] = "Saved the strengths."
            st.session_state.pop("strengths_editor", None)
            st.rerun()

with team_tab:
    members = ps.team(eng, pid)
    partner_name = {p.id: p.name for p, _ in linked}
    if members:
        st.dataframe(pd.DataFrame([{"Name": m.name, "Partner": partner_name.get(m.partner_id, "—"),
                                    "Team role": m.team_role, "Expertise": m.expertise} for m in members]),
                     hide_index=True, width="stretch", key="team_table")
    else:
        st.info("No team yet. A Shared Service Assessment Team has a facilitator and assessors from every partner.")
    with st.form("add_member", clear_on_submit=True):
        st.markdown("**Add a team member**")
        a, b, c = st.columns([3, 3, 2])
        m_name = a.text_input("Name", key="member_name", placeholder="First and last name")
        m_partner = b.selectbox("Partner government", list(partner_name), format_func=partner_name.get, index=None,
                                key="member_partner", placeholder="Choose a partner")
        m_role = c.selectbox("Team role", [r.value for r in TeamRole], index=1, key="member_role")
        m_expertise = st.text_input("Expertise", key="member_expertise", placeholder="e.g. 911 communications director")
        add_member = st.form_submit_button("Add to the team", type="primary")
    if add_member and common.run(ps.add_team_member, proposal_id=pid, name=m_name, partner_id=m_partner,
                                 team_role=m_role, expertise=m_expertise,
                                 success=f"Added {m_name} to the team.") is not common.FAILED:
        st.rerun()
