"""Portfolio: the proposals in the database, or a welcome on an empty one."""

import pandas as pd
import streamlit as st

from risk.services.proposals import list_proposals
from risk.ui.common import engine

st.title("Shared-Service Risk Workbench")
st.caption("Assess the legal, operational, financial, reputational and societal risks of sharing technology "
           "between counties, cities and districts.")

proposals = list_proposals(engine())
if not proposals:
    st.info("No proposals yet. Create one with the `risk` command, or load the demo portfolio once it is "
            "available.", icon=":material/waving_hand:")
else:
    st.subheader(f"{len(proposals)} proposals")
    st.dataframe(
        pd.DataFrame([{"Proposal": p.title, "Service": p.service_type, "Status": p.status, "Phase": p.phase}
                      for p in proposals]),
        hide_index=True, width="stretch", key="portfolio_table",
    )
