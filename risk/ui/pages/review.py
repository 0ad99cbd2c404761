"""Review: one screen per proposal for the county managers who decide: the headline numbers, the ten highest
residual risks in plain sentences, the category profile, both heat maps and partner exposure, and each partner
government's decision (docs/DECISIONS.md): where they stand, stale decisions with what changed, and for a
reviewer the form to record their government's decision."""

import streamlit as st

from risk import charts, config
from risk.rules import ConditionStatus
from risk.services import decisions as ds
from risk.services import proposals as ps
from risk.services.profile import proposal_profile
from risk.services.register_export import export_packet, file_stem
from risk.services.toplines import risk_line, top_risks
from risk.services.views import partner_exposure_frame, risk_frame
from risk.ui import common, profile_charts

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
                 "category-profile", proposal=pid)
    common.chart(lambda: charts.partner_exposure(partner_exposure_frame(eng, profile), matrix.levels),
                 "review_partners", "partner-exposure", proposal=pid)
points = profile_charts.points(profile)
for column, kind in zip(st.columns(2), ("inherent", "residual"), strict=True):
    with column:
        common.chart(lambda kind=kind: charts.heatmap(charts.heatmap_cells(matrix, points[kind]), matrix.levels,
                                                      profile_charts.TITLES[kind]),
                     f"review_{kind}", f"{kind}-heat-map", proposal=pid)

# One click: Streamlit calls `data` when the button is pressed, in a worker thread where st commands are ignored, so
# the button's own spinner stands in for a progress bar (2-8 s for the demo proposals)
me = common.actor()  # made on a worker thread, as this account (the service checks it may see the proposal)
st.download_button("Meeting packet (PDF)", data=lambda: export_packet(eng, pid, actor=me),
                   file_name=f"{file_stem(proposal.title, 'proposal')}-packet.pdf", mime="application/pdf",
                   on_click="ignore", key="export_packet", type="primary", icon=":material/picture_as_pdf:",
                   help="Summary, heat maps, category profile, the top risks in sentences and the open actions, "
                        "stamped with the SHA-256 of the data. Made when you click, from the data as it is then "
                        "(a few seconds, with a spinner on the button)")


# --- each partner government's decision (docs/DECISIONS.md) ------------------------------------------------------
st.subheader("Each government's decision")


@st.cache_data(show_spinner=False, max_entries=64)
def _decisions(url: str, version: int, proposal_id: int) -> list:
    """The decisions and where they stand, computed once per change of the data (a stale check compares the
    snapshot with the assessment now)."""
    return ds.list_decisions(common.engine(), proposal_id)


decided = _decisions(config.database_url(), common.data_version(), pid)
st.markdown(common.md(ds.standing(decided)))
if any(v.decision for v in decided):
    st.dataframe([{"Partner": v.partner, "Decision": ds.WORDS.get(v.decision or "", "not decided yet"),
                   "By": v.by or "", "When": v.recorded_at.strftime("%Y-%m-%d %H:%M") if v.recorded_at else "",
                   "Stale": "yes: the assessment changed since" if v.stale else "",
                   "Conditions": "; ".join(
                       f"{c.text} ({', '.join(x for x in (c.owner, f'due {c.due_date}' if c.due_date else '') if x)}"
                       f"{', ' if c.owner or c.due_date else ''}{c.status}{', overdue' if c.overdue else ''})"
                       for c in v.conditions),
                   "Snapshot SHA-256": (v.sha256 or "")[:16]} for v in decided],
                 hide_index=True, width="stretch", key="review_decisions")
    for v in decided:
        if v.stale:
            st.warning(f"**{common.md(v.partner)}** decided on an earlier state of the assessment. Changed since: "
                       + common.md("; ".join(v.changed_since)), icon=":material/history:")
        if v.decision and v.rationale:
            st.caption(f"{common.md(v.partner)}: {common.md(v.rationale)}")

me_roles = common.my_roles(pid)
is_admin = "admin" in me_roles
if "reviewer" in me_roles or is_admin:
    # a government's reviewer records its own government's decision; an administrator records one for a reviewer
    # (a decision taken in a meeting), naming the reviewer whose decision it is
    deciders = ds.reviewers_by_partner(eng, pid)
    own = list(deciders) if is_admin else ds.governments_of(eng, common.actor(), pid)
    mine = [v for v in decided if v.partner in own]
    if is_admin and not any(deciders.values()):
        st.caption("No partner government has a reviewer on this proposal's team yet: add one with the reviewer "
                   "role on the Proposal page, and link their account, to record their government's decision.")
    elif mine:
        gen = common.generation(f"decide_{pid}")  # drawn afresh once a decision is recorded
        with st.form(f"decide_{pid}", clear_on_submit=False):
            if is_admin:
                st.markdown("**Record a government's decision** on the assessment as it stands now (a snapshot of "
                            "it is kept with the decision), for the reviewer whose decision it is")
                g1, g2 = st.columns(2)
                government = g1.selectbox("Government", [v.partner for v in mine if deciders.get(v.partner)],
                                          key=f"decision_partner_{pid}")
                government_of = {u: g for g, us in deciders.items() for u in us}
                by = g2.selectbox("Decided by (its reviewer)", sorted(government_of), key=f"decision_by_{pid}",
                                  format_func=lambda u: f"{u} ({government_of[u]})",
                                  help="The reviewer of that government whose decision this is; the audit names "
                                       "both you and them")
            else:
                government, by = mine[0].partner, None
                st.markdown(f"**Record the decision of {common.md(government)}** on the assessment as it stands "
                            "now (a snapshot of it is kept with the decision)")
            word = st.radio("Decision", list(ds.WORDS), format_func=lambda w: ds.WORDS[w].capitalize(),
                            horizontal=True, key=f"decision_word_{pid}_{gen}")
            why = st.text_area("Rationale", key=f"decision_why_{pid}_{gen}", max_chars=5000,
                               placeholder="The council's resolution, the vote, the reasons")
            st.markdown("Conditions (for an approval with conditions): one per row, with who sees to it and by when")
            conditions = st.data_editor(
                [{"text": "", "owner": "", "due_date": None, "risk_id": None}], num_rows="dynamic",
                key=f"decision_conditions_{pid}_{gen}", hide_index=True, width="stretch",
                column_config={
                    "text": st.column_config.TextColumn("Condition", width="large", max_chars=1000),
                    "owner": st.column_config.TextColumn("Owner", max_chars=100),
                    "due_date": st.column_config.DateColumn("Due", format="YYYY-MM-DD"),
                    "risk_id": st.column_config.SelectboxColumn("Risk (if any)",
                                                                options=[v.risk.risk_id for v in views])})
            if st.form_submit_button("Record the decision", type="primary"):
                rows = [{k: v.isoformat()[:10] if hasattr(v, "isoformat") else v for k, v in row.items()
                         if v is not None and str(v).strip() not in ("", "NaT", "nan")}
                        for row in conditions]
                rows = [row for row in rows if row]
                if common.run(ds.record_decision, proposal_id=pid, partner=government, decision=word,
                              rationale=why, conditions=rows, by=by,
                              success=f"Recorded the decision of {government}.") is not common.FAILED:
                    common.renew(f"decide_{pid}")
                    st.rerun()
        stale = [v for v in mine if v.stale and v.decision_id]
        if stale and st.button(f"Re-affirm the decision of {stale[0].partner} on the assessment as it is now",
                               key=f"reaffirm_{pid}"):
            if common.run(ds.reaffirm_decision, proposal_id=pid, decision_id=stale[0].decision_id,
                          success=f"Re-affirmed the decision of {stale[0].partner}.") is not common.FAILED:
                st.rerun()

conditions_now = [(v.partner, c) for v in decided for c in v.conditions]
if conditions_now and common.may("update_conditions", pid):
    with st.form(f"condition_status_{pid}"):
        st.markdown("**A condition met, missed or waived**")
        k1, k2 = st.columns([3, 1])
        labels = {c.id: f"{partner}: {c.text} ({c.status}{', overdue' if c.overdue else ''})"
                  for partner, c in conditions_now}
        which = k1.selectbox("Condition", list(labels), format_func=lambda i: labels.get(i, f"condition {i}"),
                             key=f"condition_pick_{pid}")
        statuses = [s.value for s in ConditionStatus]  # the rule's own list (risk/rules.py)
        status = k2.selectbox("Status", statuses, index=statuses.index("met"), key=f"condition_to_{pid}")
        if st.form_submit_button("Save the status"):
            if common.run(ds.set_condition_status, proposal_id=pid, condition_id=which, status=status,
                          success="Saved the condition's status.") is not common.FAILED:
                st.rerun()

@st.cache_data(show_spinner=False, max_entries=64)
def _snapshots(url: str, version: int, proposal_id: int) -> list:
    return ds.list_snapshots(common.engine(), proposal_id)


shots = _snapshots(config.database_url(), common.data_version(), pid)
if shots:
    with st.expander("What changed between two states of the assessment", icon=":material/compare_arrows:"):
        choices = {f"Snapshot {x.id}: {x.taken_at:%Y-%m-%d %H:%M}, {x.reason}": x.id for x in shots}
        left_, right_ = st.columns(2)
        then = left_.selectbox("From", list(choices), key=f"compare_from_{pid}")
        now_label = "The assessment as it is now"
        upto = right_.selectbox("To", [now_label, *reversed(list(choices))], key=f"compare_to_{pid}")
        try:
            diff = ds.compare_snapshots(eng, pid, choices[then], "now" if upto == now_label else choices[upto])
        except ds.RefusedError as exc:
            st.error(common.md(exc), icon=":material/error:")
            diff = None
        if diff is not None:
            from risk import snapshots as snapshot_words

            if snapshot_words.is_empty(diff):
                st.success("Nothing the snapshot covers has changed.", icon=":material/check_circle:")
            else:
                a_, b_, c_, d_ = st.columns(4)
                a_.metric("Risks added", len(diff["added"]))
                b_.metric("Risks removed", len(diff["removed"]))
                c_.metric("Levels up", sum(m["direction"] == "up" for m in diff["level_moves"]))
                d_.metric("Levels down", sum(m["direction"] == "down" for m in diff["level_moves"]))
                for line in snapshot_words.in_words(diff, limit=40):
                    st.markdown(f"- {common.md(line)}")
                if diff["level_moves"]:
                    moves = charts.level_moves_frame(diff["level_moves"])
                    common.chart(lambda: charts.level_moves(moves, matrix.levels), f"review_moves_{pid}",
                                 "level-moves", choices[then], upto, proposal=pid)

# --- assessment cycles (risk/services/cycles.py) -------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def _cycle(url: str, version: int, proposal_id: int) -> dict:
    from risk.services import cycles

    return cycles.cycle_changes(common.engine(), proposal_id)


if proposal.previous_id:
    st.subheader("Against the last cycle")
    changes = _cycle(config.database_url(), common.data_version(), pid)
    tags = [r["tag"] for r in changes["risks"]]
    st.caption(f"Started from “{common.md(changes['previous_title'] or 'a proposal since removed')}”: "
               f"{tags.count('New')} new, {tags.count('Modified')} modified, {tags.count('Removed')} removed, "
               f"{tags.count('Unchanged')} unchanged. Scores are given afresh; the previous levels are last "
               "cycle's.")
    st.dataframe([{"Risk": r["risk_id"], "Title": r["title"], "Against the last cycle": r["tag"],
                   "What changed": ", ".join(r["changed"]),
                   "Previous residual level": (r["previous"] or {}).get("residual") or "",
                   "Residual level now": (r["now"] or {}).get("residual") or "not scored yet"}
                  for r in changes["risks"]], hide_index=True, width="stretch")
if common.may("edit_proposal", pid):  # its facilitators (and administrators) start the next cycle
    opened = f"cycle_open_{pid}"
    if not st.session_state.get(opened):
        if st.button("Start the next assessment cycle…", key=f"cycle_ask_{pid}", icon=":material/event_repeat:"):
            st.session_state[opened] = True
            st.rerun()
    else:
        with st.container(border=True):
            st.caption("A new proposal with every risk and all its fields, its actions, the partners, team and costs "
                       "carried; the scores are given afresh and this assessment is kept as its baseline.")
            next_title = st.text_input("Title of the new cycle", key=f"cycle_title_{pid}", max_chars=200,
                                       placeholder=f"{proposal.title} (review)")
            if st.button("Start it", key=f"cycle_start_{pid}", type="primary"):
                from risk.services import cycles

                made = common.run(cycles.start_next_cycle, proposal_id=pid, title=next_title or None,
                                  success="Started the next cycle: the risks are carried, the scores to be given "
                                          "afresh.")
                if made is not common.FAILED:
                    st.session_state[opened] = False
                    common.open_proposal(made)
                    st.rerun()
