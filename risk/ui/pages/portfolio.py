"""Portfolio: every proposal at a glance, or a welcome with the two ways to start on an empty database."""

import streamlit as st

from risk import config
from risk.services.portfolio import load_demo
from risk.ui import common
from risk.ui.common import MAX_IN_CHART
from risk.wording import count

st.title("Shared-service risk portfolio")
st.caption("Proposals to share technology between counties, cities and districts, and the risks their "
           "assessment teams have found: legal, operational, financial, reputational and societal.")

eng = common.engine()
if not common.proposal_titles() and common.any_proposal():
    st.subheader("Welcome")
    st.markdown("You are not on the team of any proposal yet, and no partner government of yours takes part in "
                "one. Ask the facilitator of a proposal or your administrator to add you to its team, or start a "
                "proposal of your own.")
    if st.button("New proposal", icon=":material/add:", key="new_proposal"):
        common.go("proposal", pid=None)
    st.stop()
if not common.proposal_titles():
    st.subheader("Welcome")
    st.markdown(
        "This workbench walks a **Shared Service Assessment Team** through the risks of a shared-service "
        "proposal: the partner governments score each risk blind, agree a consensus, and the register and risk "
        "profile follow. Start with the demo portfolio to look around, create your own proposal, or import a register "
        "your governments already keep in a spreadsheet."
    )
    left, right, third = st.columns(3)
    if third.button("Import a register", icon=":material/upload_file:", key="welcome_import",
                    help="A spreadsheet (CSV, Excel) or a workbench JSON export"):
        common.go("import")
    if left.button("Load the demo portfolio", icon=":material/auto_awesome:", type="primary", key="load_demo"):
        with st.spinner("Loading three demo proposals..."):
            result = load_demo(eng, actor=common.actor() or "")
        common.flash("Loaded the demo portfolio: three proposals with scored risks.")
        common.open_proposal(result.proposal_ids[0])
        st.rerun()
    if right.button("New proposal", icon=":material/add:", key="new_proposal"):
        common.go("proposal", pid=None)
    st.stop()

frame = common.portfolio_frame()
overview = common.portfolio_overview()
st.subheader(count(len(overview), "proposal"))
st.dataframe(
    overview.drop(columns=["id"]), hide_index=True, width="stretch", key="portfolio_table",
    column_config={
        "Very High": st.column_config.NumberColumn("Very High", help="Risks whose residual level is Very High"),
        "Over appetite": st.column_config.NumberColumn("Over appetite", help="Residual level above the "
                                                       "category's risk appetite"),
        "Progress": st.column_config.TextColumn("Walkthrough", help="Categories the team has walked through"),
        "Proposal": st.column_config.TextColumn("Proposal", width="large"),
        "Partners": st.column_config.TextColumn("Partners", width="large"),
        "Decisions": st.column_config.TextColumn("Decisions", help="The partner governments' decisions: how many "
                                                 "decided, and how many are stale (the assessment changed since), "
                                                 "rejected or sent back. The Review page has each one"),
    },
)
ids = overview["id"].tolist()
titles = dict(zip(overview["id"], overview["Proposal"], strict=True))
pick_col, open_col, new_col = st.columns([3, 1, 1], vertical_alignment="bottom")
st.session_state["portfolio_pick"] = common.proposal_id() if common.proposal_id() in ids else ids[0]
chosen = pick_col.selectbox("Open a proposal", ids, format_func=common.unique_labels(titles).__getitem__,
                            key="portfolio_pick",
                            on_change=lambda: common.open_proposal(st.session_state["portfolio_pick"]))
if open_col.button("Open its profile", icon=":material/grid_on:", key="open_profile"):
    common.go("profile", pid=chosen)
if new_col.button("New proposal", icon=":material/add:", key="new_proposal"):
    common.go("proposal", pid=None)



@st.cache_data(show_spinner=False, max_entries=16)
def _needs_review(url: str, version: int, actor: str) -> list[dict]:
    from risk.services.decisions import review_due

    return review_due(common.engine(), actor=actor)


if st.toggle("Show what needs review", key="portfolio_due",
             help="Stale decisions, conditions past their due date and risks past their next review date, across "
                  "the proposals you may see (risk review due prints the same)"):
    due = _needs_review(config.database_url(), common.data_version(), common.actor() or "")
    if not due:
        st.success("Nothing needs review: no stale decision, no condition or risk past its date.",
                   icon=":material/check_circle:")
    else:
        kinds = {"decision": "Stale decision", "condition": "Condition past due", "risk": "Risk past its review"}
        st.dataframe([{"What": kinds[d["kind"]], "Proposal": d["proposal"], "Which": d["item"], "Due": d["due"] or "",
                       "Detail": d["detail"]} for d in due], hide_index=True, width="stretch", key="needs_review")
        links = st.container(horizontal=True)
        for pid_, title in list(dict.fromkeys((d["proposal_id"], d["proposal"]) for d in due))[:12]:
            page = "review" if any(d["proposal_id"] == pid_ and d["kind"] != "risk" for d in due) else "register"
            links.page_link(common.PAGES[page], label=f"{'Review' if page == 'review' else 'Register'}: {title}",
                            query_params=common.carried(proposal=pid_), icon=":material/arrow_forward:")

st.subheader("Residual risk across the portfolio, by category")
if len(frame):
    worst = common.portfolio_derived("worst")  # what it derives is made at the server's start (common.warm_home)
    compare = st.multiselect("Compare proposals side by side (for example alternatives for one service)",
                             list(worst.index), default=list(worst.index[:MAX_IN_CHART]), key="portfolio_compare",
                             max_selections=MAX_IN_CHART,
                             help=f"Up to {MAX_IN_CHART} proposals; the ones with the worst residual risk are shown "
                                  "first.")
    if compare:  # the cells of the proposals compared only; the chart is rebuilt when they change, not otherwise
        common.portfolio_chart(common.portfolio_derived(("cells", tuple(compare))), tuple(compare))
st.dataframe(common.portfolio_derived("category_summary"), width="stretch", key="category_summary")
