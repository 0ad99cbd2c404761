"""Proposal: what would be shared and how it is scored; the partner governments and their strengths; the team."""

import pandas as pd
import streamlit as st

from risk import scoring
from risk.models import LifecyclePhase, PartnerKind, ProposalStatus, ServiceType, TeamRole
from risk.services import proposals as ps
from risk.services import signin_links
from risk.services.matrices import list_matrices
from risk.services.strengths import proposal_strengths, set_strength
from risk.strengths import CAPABILITIES, STRENGTH_SCALE
from risk.ui import common
from risk.wording import count

eng = common.engine()
proposal = None if common.proposal_id() is None else common.require_proposal()
new = proposal is None
st.title("New proposal" if new else common.md(proposal.title))

AGGREGATION_LABELS = {
    "upper_median": "Upper median (default): the middle score, the higher one when the panel is even",
    "max": "Maximum: the highest score (precautionary, for safety and legal risks)",
    "one_jurisdiction_one_vote": "One jurisdiction, one vote: each partner's median, then the median of those",
}
# One form per proposal (and one per instance of the new-proposal form), its widgets keyed by that id and the
# form's generation, so nothing typed for one proposal can be shown or saved for another.
form_name = "new_proposal" if new else f"proposal_{proposal.id}"
k = common.once_token(form_name) if new else f"{proposal.id}_{common.generation(form_name)}"
if new and (made := ps.created_with(eng, k)) is not None:
    # this form instance already created a proposal: a second click interrupted the run that created it before the
    # browser had its new address, so this run came with the old one. Open what the first click created (the form
    # starts a new instance for the next new proposal), never an empty form that looks as if nothing was made.
    common.renew(form_name)
    common.open_proposal(made)
    st.rerun()
on_screen = None if new else common.seen(form_name, proposal.version, widget=f"p_title_{k}")
# what the signed-in account may change here (risk/access.py): the rest is shown, not offered. The services refuse.
can_edit = common.may("create_proposal") if new else common.may("edit_proposal", proposal.id)
if not can_edit:
    st.caption("You can read this proposal; its facilitator or an administrator changes it.")

with st.form(f"proposal_form_{k}"):
    st.subheader("The proposal")
    title = st.text_input("Title", value="" if new else proposal.title, key=f"p_title_{k}", max_chars=200,
                          placeholder="e.g. Regional 911/CAD consolidation")
    c1, c2, c3 = st.columns(3)
    services = [s.value for s in ServiceType]
    service = c1.selectbox("Service", services, index=services.index(proposal.service_type) if proposal else 0,
                           key=f"p_service_{k}")
    phases = [p.value for p in LifecyclePhase]
    phase = c2.selectbox("Lifecycle phase", phases, index=phases.index(proposal.phase) if proposal else 1,
                         key=f"p_phase_{k}")
    statuses = [s.value for s in ProposalStatus]
    status = c3.selectbox("Status", statuses, index=statuses.index(proposal.status) if proposal else 0,
                          key=f"p_status_{k}")
    description = st.text_area("Description", value="" if new else proposal.description, key=f"p_description_{k}",
                               max_chars=20000, placeholder="What would be shared, by whom, and what it should save.")
    c4, c5 = st.columns(2)
    matrices = {m.name: m for m in list_matrices(eng)}
    names = list(matrices)
    matrix = c4.selectbox("Risk matrix", names, index=names.index(proposal.matrix) if proposal else 0,
                          format_func=lambda n: f"{matrices[n].title or n} ({len(matrices[n].levels)} levels)",
                          key=f"p_matrix_{k}")
    methods = list(scoring.AGGREGATIONS)
    aggregation = c5.selectbox("How several assessors' scores combine", methods,
                               index=methods.index(proposal.aggregation) if proposal else 0,
                               format_func=AGGREGATION_LABELS.get, key=f"p_aggregation_{k}")
    cyber = st.toggle("Include cybersecurity as a sixth category", value=bool(proposal and proposal.cybersecurity),
                      key=f"p_cyber_{k}")
    st.markdown("**Risk appetite per category**: the highest residual level the partners will tolerate "
                "(Averse: Very Low, Minimal: Low, Cautious: Moderate, Open: High, Eager: Very High).")
    current = (proposal.appetite if proposal else None) or scoring.default_appetite()
    cols = st.columns(len(scoring.CATEGORIES))
    appetite = {
        key: cols[n].selectbox(name, scoring.APPETITES,
                               index=scoring.APPETITES.index(current.get(key, scoring.DEFAULT_APPETITE)),
                               key=f"p_appetite_{key}_{k}")
        for n, (key, name) in enumerate(scoring.CATEGORIES.items())
    }
    submitted = st.form_submit_button("Create proposal" if new else "Save changes", type="primary",
                                      key=f"p_submit_{k}", disabled=not can_edit)
if submitted:
    fields = dict(title=title, service_type=service, phase=phase, status=status, description=description,
                  matrix=matrix, aggregation=aggregation, cybersecurity=cyber, appetite=appetite)
    if new:
        # the token makes a double click or a repeated submit open the proposal the first one created
        created = common.run(ps.create_proposal, request_token=k, **fields,
                             success=f"Created “{title.strip()}”. Now add its partner governments.")
        if created is not common.FAILED:
            common.open_proposal(created)  # first: a second click that cuts this run short then opens it too
            common.renew(form_name)
            st.rerun()
    elif common.run(ps.update_proposal, proposal_id=proposal.id, expected_version=on_screen,
                    on_conflict=lambda: common.renew(form_name), success="Saved the proposal.",
                    **fields) is not common.FAILED:
        common.renew(form_name)
        st.rerun()

if new:
    st.info("Create the proposal first; then add partner governments, their strengths and the assessment team.",
            icon=":material/info:")
    st.stop()

pid = proposal.id
linked = ps.proposal_partners(eng, pid)
can_partners, can_team = common.may("edit_partners", pid), common.may("edit_team", pid)
# keyed, so a save (and the message it shows above) leaves the user on the tab they were on
partners_tab, strengths_tab, team_tab = st.tabs(["Partner governments", "Strengths", "Assessment team"],
                                                key=f"proposal_tabs_{pid}", on_change="rerun")

with partners_tab:
    if linked:
        st.dataframe(pd.DataFrame([{
            "Government": p.name, "Kind": p.kind, "Role": "Lead / host" if role == "lead" else "Participant",
            "Population": p.population, "IT budget ($)": p.it_budget,
        } for p, role in linked]), hide_index=True, width="stretch", key=f"partners_table_{pid}",
            column_config={"Population": st.column_config.NumberColumn(format="localized"),
                           "IT budget ($)": st.column_config.NumberColumn(format="localized")})
    else:
        st.info("No partner governments yet: add the county, cities or districts that would share the service.")
    if can_partners:
        pk = common.once_token(f"add_partner_{pid}")
        with st.form(f"add_partner_{pid}_{pk}"):
            st.markdown("**Add a partner government**")
            others = [p for p in ps.list_partners(eng) if p.id not in {q.id for q, _ in linked}]
            existing = st.selectbox("An existing government", [p.id for p in others], index=None,
                                    format_func={p.id: p.name for p in others}.get, key=f"partner_existing_{pk}",
                                    placeholder="…or leave empty and describe a new one below")
            a, b, c, d = st.columns([3, 2, 2, 2])
            name = a.text_input("Name", key=f"partner_name_{pk}", placeholder="e.g. City of Brookfield", max_chars=200)
            kind = b.selectbox("Kind", [k.value for k in PartnerKind], key=f"partner_kind_{pk}")
            population = c.number_input("Population", min_value=0, step=1000, value=None,
                                        key=f"partner_population_{pk}")
            budget = d.number_input("Annual IT budget ($)", min_value=0, step=10_000, value=None,
                                    key=f"partner_budget_{pk}")
            lead = st.checkbox("This government leads or hosts the service", key=f"partner_lead_{pk}")
            add = st.form_submit_button("Add partner", type="primary", key=f"partner_submit_{pk}")
        if add:
            partner_id = existing
            if partner_id is None:
                partner_id = common.run(ps.add_partner, proposal_id=pid, name=name, kind=kind,
                                        population=population, it_budget=budget, request_token=pk)
            if partner_id is not common.FAILED and common.run(
                ps.link_partner, proposal_id=pid, partner_id=partner_id, role="lead" if lead else "participant",
                success="Added the partner government.",
            ) is not common.FAILED:
                common.renew(f"add_partner_{pid}")
                st.rerun()

with strengths_tab:
    if not linked:
        st.info("Add partner governments first.")
    else:
        st.caption("Seek the strengths of each participating government: how well placed is each partner to "
                   "support each capability (0 none, 1 minimal, 2 basic, 3 solid, 4 strong, 5 excellent)? "
                   "The best-placed partner is named for each capability. Edits are saved at once.")
        grid_name = f"strengths_editor_{pid}"
        ids = {p.name: p.id for p, _ in linked}

        def save_strengths(pending: dict[int, dict], shown: dict) -> None:
            """Each edited score, against the score its cell showed."""
            saved = 0
            for row, changes in pending.items():
                cap = shown["caps"][row]
                for n, value in changes.items():
                    if n in ids and value is not None and common.run(
                            set_strength, proposal_id=pid, partner_id=ids[n], capability=cap, score=int(value),
                            expected=shown["values"][n][row]) is not common.FAILED:
                        saved += 1
            if saved:
                st.toast(f"Saved {count(saved, 'strength score')}.", icon=":material/check_circle:")

        common.apply_grid_edits(grid_name, save_strengths)
        grid = proposal_strengths(eng, pid)
        names = [p.name for p, _ in linked]
        table = pd.DataFrame({n: [grid.scores.get(n, {}).get(cap, 0) for cap in CAPABILITIES] for n in names},
                             index=list(CAPABILITIES))
        table["Best placed to lead"] = [", ".join(grid.best.get(cap, [])) or "nobody yet" for cap in CAPABILITIES]
        common.editable_grid(
            grid_name, table, {"caps": list(CAPABILITIES), "values": {n: table[n].tolist() for n in names}},
            width="stretch", num_rows="fixed", disabled=not can_partners,
            column_config={n: st.column_config.NumberColumn(n, min_value=0, max_value=5, step=1,
                                                            help=", ".join(f"{k} {v}" for k, v in
                                                                           STRENGTH_SCALE.items()))
                           for n in names} | {"Best placed to lead": st.column_config.TextColumn(disabled=True)},
        )

with team_tab:
    members = ps.team(eng, pid)
    partner_name = {p.id: p.name for p, _ in linked}
    if members:
        usernames = signin_links.member_accounts(eng, pid)
        st.dataframe(pd.DataFrame([{"Name": m.name, "Partner": partner_name.get(m.partner_id, "—"),
                                    "Team role": m.team_role, "Expertise": m.expertise,
                                    "Signs in as": usernames.get(m.id, "—")} for m in members]),
                     hide_index=True, width="stretch", key=f"team_table_{pid}")
    else:
        st.info("No team yet. A Shared Service Assessment Team has a facilitator and assessors from every partner.")
    if can_team:
        mk = common.once_token(f"add_member_{pid}")
        with st.form(f"add_member_{pid}_{mk}"):
            st.markdown("**Add a team member**")
            a, b, c = st.columns([3, 3, 2])
            m_name = a.text_input("Name", key=f"member_name_{mk}", placeholder="First and last name", max_chars=200)
            m_partner = b.selectbox("Partner government", list(partner_name), format_func=partner_name.get, index=None,
                                    key=f"member_partner_{mk}", placeholder="Choose a partner")
            m_role = c.selectbox("Team role", [r.value for r in TeamRole], index=1, key=f"member_role_{mk}")
            m_expertise = st.text_input("Expertise", key=f"member_expertise_{mk}", max_chars=500,
                                        placeholder="e.g. 911 communications director")
            add_member = st.form_submit_button("Add to the team", type="primary", key=f"member_submit_{mk}")
        if add_member and common.run(ps.add_team_member, proposal_id=pid, name=m_name, partner_id=m_partner,
                                     team_role=m_role, expertise=m_expertise, request_token=mk,
                                     success=f"Added {m_name.strip()} to the team.") is not common.FAILED:
            common.renew(f"add_member_{pid}")
            st.rerun()
    if can_team and members:
        lk = common.generation(f"link_member_{pid}")
        with st.form(f"link_member_{pid}_{lk}"):
            st.markdown("**Link a team member to an account**")
            st.caption("A member is linked by itself to the account with the same full name and partner government. "
                       "Link one here when the names differ; leave the username empty to unlink.")
            a, b = st.columns([3, 3])
            l_member = a.selectbox("Team member", [m.id for m in members], key=f"link_who_{lk}",
                                   format_func={m.id: m.name for m in members}.get)
            l_username = b.text_input("Username", key=f"link_username_{lk}", max_chars=40,
                                      placeholder="the account's username")
            link = st.form_submit_button("Link", key=f"link_submit_{lk}")
        if link and common.run(ps.link_team_member, member_id=l_member, username=l_username or None,
                               success="Saved the link between the team member and the account.") \
                is not common.FAILED:
            common.renew(f"link_member_{pid}")
            st.rerun()
