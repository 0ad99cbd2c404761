"""Activity: the proposal's history from the audit log, in words: who did what and when, each changed field before
and after; filtered by person, risk and kind of change, and downloadable as CSV for the records."""

import pandas as pd
import streamlit as st

from risk import config
from risk.services import activity
from risk.services.register_export import file_stem
from risk.ui import common
from risk.wording import count

proposal = common.require_proposal()
eng = common.engine()
st.title(f"Activity: {common.md(proposal.title)}")
st.caption("Every change to this proposal, newest first, as the audit log recorded it. Blind scores are shown "
           "without their values. `risk audit verify` checks that this record is complete and unchanged.")


@st.cache_data(show_spinner=False, max_entries=8)
def history(url: str, version: int, pid: int) -> list[activity.Entry]:
    """The history, read again only after a change (the data version is the newest audit event)."""
    return activity.proposal_activity(common._engine_for(url), pid)

entries = history(config.database_url(), common.data_version(), proposal.id)
people = sorted({e.actor for e in entries})
risk_ids = sorted({e.risk_id for e in entries if e.risk_id})
kinds = [k for k in activity.KINDS if any(e.kind == k for e in entries)]
a, b, c = st.columns(3)
chosen_people = a.multiselect("Who", people, key=f"act_people_{proposal.id}", placeholder="Everyone")
chosen_risks = b.multiselect("Risk", risk_ids, key=f"act_risks_{proposal.id}", placeholder="All risks")
chosen_kinds = c.multiselect("Kind of change", kinds, key=f"act_kinds_{proposal.id}", placeholder="Every kind")
shown = activity.filtered(entries, people=chosen_people, risk_ids=chosen_risks, kinds=chosen_kinds)

st.subheader(count(len(shown), "change"))
if not shown:
    st.info("Nothing matches the filters." if entries else "Nothing has been recorded for this proposal yet.",
            icon=":material/history:")
else:
    rows = [{"When (UTC)": e.at[:16].replace("T", " "), "Who": e.actor, "Risk": e.risk_id or "",
             "What": e.what, "Changes": "; ".join(f"{n}: {b} → {a}" for n, b, a in e.changes)} for e in shown]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key=f"activity_table_{proposal.id}",
                 column_config={"When (UTC)": st.column_config.TextColumn(width=125),
                                "Who": st.column_config.TextColumn(width=150),
                                "Risk": st.column_config.TextColumn(width=70),
                                "What": st.column_config.TextColumn(width=320),
                                "Changes": st.column_config.TextColumn(width="large",
                                                                       help="Each changed field: before → after")})
    st.download_button("Download as CSV", data=activity.activity_csv(shown),
                       file_name=f"{file_stem(proposal.title, 'activity')}.csv", mime="text/csv",
                       on_click="ignore", key="activity_csv", icon=":material/download:")
