"""The frame of the workbench: page config, the database, and navigation over risk/ui/pages."""

import gc

import streamlit as st

from risk.ui import common

st.set_page_config(page_title="Shared-Service Risk Workbench", page_icon=":material/shield:", layout="wide")
common.engine()  # created and migrated once per process

pages = st.navigation([
    st.Page("risk/ui/pages/portfolio.py", title="Portfolio", icon=":material/dashboard:", default=True),
])
pages.run()

# Streamlit runs a full garbage collection after every rerun; freezing the long-lived objects once the heavy
# imports are loaded keeps that pass short (ARCHITECTURE.md, performance facts).
if not st.session_state.get("_gc_frozen"):
    gc.freeze()
    st.session_state["_gc_frozen"] = True
